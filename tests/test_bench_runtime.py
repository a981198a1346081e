"""``goodregions bench runtime`` in a quick configuration (the real figures take minutes)."""

import importlib.util
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from goodregions.runtime.bench_runtime import make_synthetic_video
from goodregions.runtime.cli import main
from goodregions.runtime.deblur_command import model_available
from goodregions.runtime.memory import summarise_rss

pytest.importorskip("onnxruntime")


def test_synthetic_video_has_the_requested_frames(tmp_path):
    path = make_synthetic_video(tmp_path / "v.mp4", 12, shape=(72, 128))
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 128 and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12


def test_quick_stream_row(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GOODREGIONS_MODEL", raising=False)
    path = tmp_path / "bench.json"
    plot = tmp_path / "rss.png"
    assert main(["bench", "runtime", "--skip", "score", "deblur", "--stream-frames", "10", "--repeats", "1",
                 "--rss-every", "4", "--rss-plot", str(plot), "--json", str(path)]) == 0
    out = capsys.readouterr().out
    if not model_available():
        assert "no window-scorer model" in out
    record = json.loads(path.read_text())
    (row,) = record["rows"]
    assert row["frames"] == 10 and row["dropped"] == 0 and row["peak_rss_mb"] > 0 and record["environment"]["cores"] >= 1
    assert [frame for frame, _ in row["rss_samples"]] == [4, 8, 10] and record["rss_every"] == 4
    memory = row["memory"]
    assert memory["warm_frame"] == 4  # a run shorter than the 300 warm-up frames is measured from its first sample
    assert 50 < memory["warm_mb"] <= memory["sampled_peak_mb"] <= row["peak_rss_mb"] + 1
    assert memory["growth_mb"] == pytest.approx(memory["last_mb"] - memory["warm_mb"], abs=0.11)
    assert isinstance(memory["slope_mb_per_1000_frames"], float) and isinstance(memory["flat"], bool)
    assert "memory: " in out and "MiB per 1000 frames" in out
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_streaming_peak_is_that_of_the_child_alone():
    """ru_maxrss survives exec (a child reports its parent's peak); VmHWM, which peak_rss_mb reads, does not."""
    ballast = np.ones(300 * 2**20 // 8)  # this process now peaks above 300 MiB
    del ballast
    code = "from goodregions.runtime.memory import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert child < 250


def test_memory_summary_and_verdict():
    samples = [[100 * i, 400.0 + (0.0 if i < 3 else 0.01 * i)] for i in range(1, 31)]
    flat = summarise_rss(samples)
    assert flat["warm_frame"] == 300 and flat["warm_mb"] == 400.03 and flat["flat"] and flat["threshold_mb"] == 32.0
    assert flat["slope_mb_per_1000_frames"] == pytest.approx(0.1, abs=1e-6) and flat["trend_mb"] == 0.3
    leaking = summarise_rss([[100 * i, 400.0 + 3.0 * i] for i in range(1, 31)])
    assert not leaking["flat"] and leaking["growth_mb"] == 81.0 and leaking["slope_mb_per_1000_frames"] == pytest.approx(30.0)
    noisy = summarise_rss([[100 * i, 440.0 + (-20.0 if i == 3 else 20.0 if i == 30 else 0.0)] for i in range(1, 31)])
    assert noisy["growth_mb"] == 40.0 and noisy["trend_mb"] < 10 and noisy["flat"]  # two outliers are not a leak
    assert summarise_rss([[5, 90.0]])["slope_mb_per_1000_frames"] is None
    with pytest.raises(ValueError, match="samples is empty"):
        summarise_rss([])


def test_an_explicit_model_that_does_not_exist_is_an_error(tmp_path, capsys):
    assert main(["bench", "runtime", "--model", str(tmp_path / "absent.onnx"), "--stream-frames", "8"]) == 2
    assert "does not exist" in capsys.readouterr().err
