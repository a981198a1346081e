"""``goodregions deblur`` through ``main(argv)``: inputs, outputs, refusals, bad files, JSON, overlay."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from goodregions.runtime.cli import main
from goodregions.runtime.image_io import read_image, write_image

from conftest import blur

pytest.importorskip("onnxruntime")

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_scorer.onnx"
FAST = ["--selector", "center", "--kernel-size", "15", "--prior", "l0", "--method", "wiener"]


@pytest.fixture(scope="module")
def blurred_rgb(sharp_sample, hook_kernel):
    blurred, _ = blur(sharp_sample, hook_kernel, size=240, noise=0.005, seed=2)
    return np.round(np.clip(blurred[..., None] * [0.9, 1.0, 0.8], 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def inputs(tmp_path, blurred_rgb):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", blurred_rgb)
    write_image(folder / "b.jpg", blurred_rgb[:, ::-1].copy())
    (folder / "notes.txt").write_text("not an image")  # skipped inside a folder: not an image suffix
    return folder


def test_single_file_to_file(inputs, tmp_path, capsys):
    out = tmp_path / "result.png"
    assert main(["deblur", str(inputs / "a.png"), "-o", str(out), *FAST]) == 0
    image, alpha = read_image(out)
    assert image.shape == (240, 240, 3) and image.dtype == np.uint8 and alpha is None
    assert "result.png" in capsys.readouterr().out


def test_folder_and_glob_inputs_to_a_folder(inputs, tmp_path):
    out = tmp_path / "out"
    assert main(["deblur", str(inputs), "-o", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]
    globbed = tmp_path / "globbed"
    assert main(["deblur", str(inputs / "*.png"), "-o", str(globbed), *FAST]) == 0
    assert sorted(p.name for p in globbed.iterdir()) == ["a.png"]


def test_existing_output_is_refused_before_any_work_and_overwrite_replaces(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.jpg").write_bytes(b"keep me")
    assert main(["deblur", str(inputs), "-o", str(out), *FAST]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not (out / "a.png").exists()  # checked every output first: nothing was written
    assert (out / "b.jpg").read_bytes() == b"keep me"
    assert main(["deblur", str(inputs), "-o", str(out), *FAST, "--overwrite"]) == 0
    assert read_image(out / "b.jpg")[0].shape == (240, 240, 3)


def test_bad_files_are_reported_and_the_others_processed(inputs, tmp_path, capsys):
    corrupt = inputs / "corrupt.png"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    out = tmp_path / "out"
    code = main(["deblur", str(corrupt), str(inputs / "notes.txt"), str(inputs / "a.png"), "-o", str(out), *FAST])
    assert code == 1
    err = capsys.readouterr().err
    assert "corrupt.png" in err and "notes.txt" in err and "could not decode" in err and "2 of 3 inputs failed" in err
    assert (out / "a.png").is_file()


def test_when_every_input_fails_the_summary_says_nothing_was_written(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["deblur", str(inputs / "notes.txt"), "-o", str(out), *FAST]) == 1
    assert "1 of 1 inputs failed (see above); nothing was written" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_json_overlay_and_kernel_outputs(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["deblur", str(inputs), "-o", str(out), "--selector", "cnn", "--model", str(TINY), "--kernel-size", "15",
                 "--json", "--overlay", "--save-kernel"])
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["input"]).name for r in records] == ["a.png", "b.jpg"]
    for record in records:
        assert record["selector"] == "cnn" and record["provider"] == "CPUExecutionProvider"
        assert set(record["scores"]) == {"best", "median", "count"} and record["scores"]["best"] >= record["scores"]["median"]
        assert {"read", "score", "estimate", "deconvolve", "write", "total"} <= set(record["timings"])
        assert record["kernel_size"] == 15 and isinstance(record["touches_border"], bool) and len(record["window"]) == 4
        assert record["candidates"] == [record["window"]]
    overlay = cv2.imread(str(out / "a.overlay.png"))
    assert overlay.shape == (240, 240, 3)
    kernel = np.load(out / "a.kernel.npy")
    assert kernel.shape == (15, 15) and abs(kernel.sum() - 1.0) < 1e-9
    assert (out / "a.kernel.png").is_file()


def test_16_bit_and_alpha_survive_the_command(tmp_path, blurred_rgb):
    source = tmp_path / "deep.png"
    alpha = np.full(blurred_rgb.shape[:2], 40000, np.uint16)
    write_image(source, blurred_rgb.astype(np.uint16) * 257, alpha=alpha)
    out = tmp_path / "deep_out.png"
    assert main(["deblur", str(source), "-o", str(out), *FAST]) == 0
    image, read_alpha = read_image(out)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(read_alpha, alpha)


def test_usage_errors(inputs, tmp_path, capsys):
    assert main(["deblur", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["deblur", str(inputs / "a.png"), "-o", str(tmp_path / "o"), "--box", "0", "0", "100", "100"]) == 2
    assert "--selector box" in capsys.readouterr().err
    assert main(["deblur", str(inputs / "a.png"), "-o", str(tmp_path / "o"), "--selector", "center", "--candidates", "3"]) == 2
    assert "needs a scored selector" in capsys.readouterr().err
    assert main(["deblur", str(inputs / "a.png"), "-o", str(inputs / "a.png"), *FAST, "--overwrite"]) == 2
    assert "replace the input" in capsys.readouterr().err
    assert main(["deblur", str(inputs / "a.png"), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
