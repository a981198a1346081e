"""``goodregions bench runtime`` in a quick configuration (the real figures take minutes)."""

import json

import cv2
import pytest

from goodregions.runtime.bench_runtime import make_synthetic_video
from goodregions.runtime.cli import main
from goodregions.runtime.deblur_command import model_available

pytest.importorskip("onnxruntime")


def test_synthetic_video_has_the_requested_frames(tmp_path):
    path = make_synthetic_video(tmp_path / "v.mp4", 12, shape=(72, 128))
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 128 and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12


def test_quick_stream_row(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GOODREGIONS_MODEL", raising=False)
    path = tmp_path / "bench.json"
    assert main(["bench", "runtime", "--skip", "score", "deblur", "--stream-frames", "8", "--repeats", "1",
                 "--json", str(path)]) == 0
    if not model_available():
        assert "no window-scorer model" in capsys.readouterr().out
    record = json.loads(path.read_text())
    (row,) = record["rows"]
    assert row["frames"] == 8 and row["dropped"] == 0 and row["peak_rss_mb"] > 0 and record["environment"]["cores"] >= 1


def test_an_explicit_model_that_does_not_exist_is_an_error(tmp_path, capsys):
    assert main(["bench", "runtime", "--model", str(tmp_path / "absent.onnx"), "--stream-frames", "8"]) == 2
    assert "does not exist" in capsys.readouterr().err
