"""The ``goodregions score`` command, run through ``main(argv)`` on the tiny ONNX fixture."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from goodregions.runtime.cli import main  # noqa: E402

TINY = str(Path(__file__).resolve().parent / "fixtures" / "tiny_scorer.onnx")


@pytest.fixture(scope="module")
def square_png(tmp_path_factory):
    """An 8-bit 400 x 500 PNG: flat gray with a textured square at x 250-450, y 150-350."""
    image = np.full((400, 500), 128, dtype=np.uint8)
    image[150:350, 250:450] = np.kron(np.random.default_rng(5).integers(30, 225, (25, 25)), np.ones((8, 8)))
    path = tmp_path_factory.mktemp("score") / "square.png"
    cv2.imwrite(str(path), image)
    return path, image


def test_json_and_modes_agree(square_png, capsys):
    path, _ = square_png
    records = {}
    for mode in ("dense", "windows"):
        assert main(["score", str(path), "--model", TINY, "--mode", mode, "--json", "--top", "3"]) == 0
        records[mode] = json.loads(capsys.readouterr().out)
    dense, windows = records["dense"], records["windows"]
    assert dense["best"]["box"] == windows["best"]["box"] == [240, 140, 228, 228]
    assert dense["best"]["logit"] == pytest.approx(windows["best"]["logit"], abs=1e-4)
    assert dense["grid"] == [9, 14] and len(dense["top"]) == 3
    assert dense["provider"] == "CPUExecutionProvider" and dense["model_name"] == "tiny-test"


def test_heatmap_text_output_and_no_silent_overwrite(square_png, tmp_path, capsys):
    path, image = square_png
    heatmap = tmp_path / "heat.png"
    assert main(["score", str(path), "--model", TINY, "--heatmap", str(heatmap)]) == 0
    out = capsys.readouterr().out
    assert "best window (x, y, w, h) = (240, 140, 228, 228)" in out and "heatmap written" in out
    picture = cv2.imread(str(heatmap), cv2.IMREAD_COLOR)
    assert picture.shape == image.shape + (3,)
    assert np.any(picture[..., 0] != picture[..., 2])  # coloured overlay
    before = heatmap.read_bytes()
    assert main(["score", str(path), "--model", TINY, "--heatmap", str(heatmap)]) == 2
    assert "already exists" in capsys.readouterr().err and heatmap.read_bytes() == before
    assert main(["score", str(path), "--model", TINY, "--heatmap", str(heatmap), "--overwrite"]) == 0
    original = path.read_bytes()
    assert main(["score", str(path), "--model", TINY, "--heatmap", str(path), "--overwrite"]) == 2
    assert "is the input itself" in capsys.readouterr().err and path.read_bytes() == original


def test_sixteen_bit_and_rgba_files(square_png, tmp_path, capsys):
    _, image = square_png
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), image.astype(np.uint16) * 257)
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.dstack([image, image, image, np.full_like(image, 200)]))  # alpha is dropped on reading
    for path in (deep, rgba):
        assert main(["score", str(path), "--model", TINY, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["best"]["box"] == [240, 140, 228, 228]


def test_errors_exit_2(square_png, tmp_path, capsys):
    path, image = square_png
    assert main(["score", str(path), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), image[:200, :200])
    assert main(["score", str(small), "--model", TINY]) == 2
    assert "smaller than one 228x228 window" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.png"), "--model", TINY]) == 2
