"""The ``goodregions estimate`` and ``demo`` commands, run through ``main(argv)``."""

import json

import numpy as np
import pytest

from goodregions.kernels_fast import kernel_similarity, warmup
from goodregions.runtime.cli import main
from goodregions.runtime.defaults import GOOD_SIMILARITY, PRIOR
from goodregions.runtime.samples import sample_path

BLURRED = str(sample_path("synthetic_blurred.png"))


def test_warmup_compiles_everything_and_reports_time():
    assert warmup() >= 0.0


def test_estimate_prints_json_and_saves_a_npy_kernel(tmp_path, capsys):
    out = tmp_path / "kernel.npy"
    assert main(["estimate", BLURRED, "--kernel-size", "31", "--prior", "l0", "-o", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kernel_size"] == 31 and record["prior"] == "l0" and record["output"] == str(out)
    assert record["level_kernel_sizes"][-1] == 31
    kernel = np.load(out)
    assert kernel.shape == (31, 31) and kernel.sum() == pytest.approx(1.0)
    true_kernel = np.load(str(sample_path("synthetic_kernel.npy")))
    # Good by the product's own label threshold; the estimator's accuracy itself is what
    # ``goodregions bench accuracy`` measures, over 368 cases.
    assert kernel_similarity(kernel, true_kernel) > GOOD_SIMILARITY


def test_estimate_never_replaces_its_input(tmp_path, capsys):
    image = tmp_path / "blurred.png"
    image.write_bytes(open(BLURRED, "rb").read())
    before = image.read_bytes()
    assert main(["estimate", str(image), "--kernel-size", "21", "-o", str(tmp_path / "." / "blurred.png"), "--overwrite"]) == 2
    assert "is the input itself, which is never replaced" in capsys.readouterr().err
    assert image.read_bytes() == before


def test_estimate_creates_a_missing_output_folder(tmp_path):
    out = tmp_path / "new" / "deeper" / "kernel.npy"
    assert main(["estimate", BLURRED, "--kernel-size", "21", "--prior", "l0", "-o", str(out)]) == 0
    assert np.load(out).shape == (21, 21) and sorted(p.name for p in out.parent.iterdir()) == ["kernel.npy"]


def test_estimate_png_output_and_no_silent_overwrite(tmp_path, capsys):
    out = tmp_path / "kernel.png"
    assert main(["estimate", BLURRED, "--kernel-size", "21", "--prior", "l0", "-o", str(out)]) == 0
    before = out.read_bytes()
    assert main(["estimate", BLURRED, "--kernel-size", "21", "--prior", "l0", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["estimate", BLURRED, "--kernel-size", "21", "--prior", "l0", "-o", str(out), "--overwrite"]) == 0


def test_estimate_reports_bad_inputs_in_one_line(tmp_path, capsys):
    assert main(["estimate", str(tmp_path / "missing.png"), "--kernel-size", "31"]) == 2
    assert "does not exist" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["estimate", str(corrupt), "--kernel-size", "31"]) == 2
    assert "could not decode" in capsys.readouterr().err
    array = tmp_path / "blurred.npy"
    np.save(array, np.zeros((64, 64)))
    assert main(["estimate", str(array), "--kernel-size", "31"]) == 2
    assert "NumPy array file" in capsys.readouterr().err
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    assert main(["estimate", str(video), "--kernel-size", "31"]) == 2
    assert "is a video, and this reads still images: deblur videos with `goodregions stream`" in capsys.readouterr().err
    assert main(["estimate", BLURRED, "--kernel-size", "31", "-o", str(tmp_path / "k.txt")]) == 2
    assert ".npy or .png" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["estimate", BLURRED, "--kernel-size", "30"])
    assert stop.value.code == 2
    assert "odd" in capsys.readouterr().err


def test_a_corrupt_file_gets_our_one_line_error_and_no_opencv_log(tmp_path, capfd):
    import cv2

    level = cv2.utils.logging.getLogLevel()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["estimate", str(corrupt), "--kernel-size", "31"]) == 2
    err = capfd.readouterr().err  # file-descriptor level: OpenCV writes from C++
    assert err.startswith("goodregions estimate: error: could not decode") and err.count("\n") == 1
    assert cv2.utils.logging.getLogLevel() == level


def test_estimate_warns_when_the_kernel_is_cut_off(capsys):
    assert main(["estimate", BLURRED, "--kernel-size", "9", "--prior", "l0"]) == 0
    assert "--kernel-size 19" in capsys.readouterr().err


def test_demo_writes_pictures_and_a_good_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prior"] == PRIOR == "l0"  # the demo shows what deblur and stream do
    assert summary["kernel_similarity"] > GOOD_SIMILARITY
    assert summary["psnr_deblurred_db"] > summary["psnr_blurred_db"] + 3.0
    for name in ("blurred.png", "deblurred.png", "kernel_estimated.png", "kernel_true.png"):
        assert (out / name).stat().st_size > 0
    assert main(["demo", "-o", str(out), "--prior", "l0"]) == 2  # refuses to overwrite
