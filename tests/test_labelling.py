"""Window grid and window labelling: geometry properties, shards, resuming, refusals.

The labelling tests use tiny synthetic scenes written by a fixture (64-pixel windows at a
stride of 32, kernels of 11 and 13 pixels), so they need no shared data and run in seconds.
"""

import json
import os

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodregions.export import label_store, labelling
from goodregions.export.labelling import (
    LabelSettings,
    label_windows,
    list_sources,
    load_shards,
    parse_kernel_sizes,
    shard_name,
    summary,
)
from goodregions.export.windows import count_windows, cut_windows, window_boxes
from goodregions.kernels_fast import estimate_kernel, kernel_similarity
from goodregions.runtime.cli import main
from goodregions.runtime.defaults import GOOD_SIMILARITY, WINDOW_SIZE, WINDOW_STRIDE

from conftest import SHARED_DATA

SEEDED = settings(deadline=None, derandomize=True, max_examples=200)
TINY = LabelSettings(kernel_sizes=(11, 13), window_size=64, window_stride=32)
SHARD_KEYS = {
    "blurred", "kernel", "boxes", "similarities", "labels", "image_name", "subset", "settings",
    "noise_sigma", "threshold", "seconds", "seed", "image_index", "repeat", "support",
}


def _count(length, size, stride):
    return (length - size) // stride + 1 if length >= size else 0


# ---------------------------------------------------------------- window geometry


@SEEDED
@given(
    height=st.integers(0, 300), width=st.integers(0, 300), size=st.integers(1, 120), stride=st.integers(1, 50)
)
def test_window_counts_follow_the_formula(height, width, size, stride):
    rows, cols = count_windows((height, width), size=size, stride=stride)
    assert (rows, cols) == (_count(height, size, stride), _count(width, size, stride))
    boxes = window_boxes((height, width, 3), size=size, stride=stride)
    assert boxes.shape == (rows * cols, 4) and boxes.dtype == np.int64
    if len(boxes):
        x, y, w, h = boxes.T
        assert np.all((w == size) & (h == size) & (x >= 0) & (y >= 0))
        assert np.all((x + w <= width) & (y + h <= height))  # inside the image
        assert x.max() + stride + size > width and y.max() + stride + size > height  # no window left out
        assert len({(int(a), int(b)) for a, b in zip(x, y)}) == len(boxes)


def test_window_grid_of_the_runtime_defaults():
    assert window_boxes((450, 450)).shape == (144, 4)  # (450 - 228) // 20 + 1 = 12 per axis
    assert window_boxes((447, 447)).shape == (121, 4)
    assert count_windows((WINDOW_SIZE, WINDOW_SIZE + WINDOW_STRIDE)) == (1, 2)
    assert window_boxes((WINDOW_SIZE - 1, 1000)).shape == (0, 4)  # smaller than one window


@SEEDED
@given(height=st.integers(8, 40), width=st.integers(8, 40), channels=st.sampled_from([None, 1, 3]))
def test_cut_windows_matches_slicing(height, width, channels):
    shape = (height, width) if channels is None else (height, width, channels)
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    boxes = window_boxes(shape, size=7, stride=5)
    windows = cut_windows(image, boxes)
    assert windows.shape == (len(boxes), 7, 7) + shape[2:] and windows.dtype == np.float32
    for window, (x, y, w, h) in zip(windows, boxes):
        np.testing.assert_array_equal(window, image[y : y + h, x : x + w])


def test_cut_windows_refuses_bad_boxes():
    image = np.zeros((20, 20))
    with pytest.raises(ValueError, match="inside the image"):
        cut_windows(image, [[15, 0, 8, 8]])
    with pytest.raises(ValueError, match="same positive width"):
        cut_windows(image, [[0, 0, 8, 8], [0, 0, 4, 4]])
    with pytest.raises(TypeError, match="integers"):
        cut_windows(image, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="shape"):
        window_boxes((20,))
    with pytest.raises(ValueError, match="stride"):
        window_boxes((20, 20), size=4, stride=0)
    assert cut_windows(image, np.zeros((0, 4), dtype=int)).shape == (0, 0, 0)


# ---------------------------------------------------------------- settings and parsing


def test_parse_kernel_sizes():
    assert parse_kernel_sizes("11-15") == (11, 13, 15)
    assert parse_kernel_sizes("11,21") == (11, 21)
    for bad in ("12", "a-b", "1-2"):
        with pytest.raises(ValueError, match="kernel sizes"):
            parse_kernel_sizes(bad)


def test_label_settings_validation():
    assert LabelSettings().threshold == GOOD_SIMILARITY and LabelSettings().window_size == WINDOW_SIZE
    assert max(LabelSettings().kernel_sizes) == 55
    with pytest.raises(ValueError, match="even"):
        LabelSettings(kernel_margin=3)
    with pytest.raises(ValueError, match="twice the largest support"):
        LabelSettings(kernel_sizes=(31,), window_size=64)
    with pytest.raises(ValueError, match="prior"):
        LabelSettings(prior="tv")


# ---------------------------------------------------------------- labelling


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Two 100 x 130 gray scenes of random flat rectangles (strong edges, like a photo)."""
    folder = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(7)
    paths = []
    for index in range(2):
        image = np.full((100, 130), 0.5)
        for _ in range(14):
            y, x = rng.integers(0, 90), rng.integers(0, 120)
            h, w = rng.integers(8, 40, size=2)
            image[y : y + h, x : x + w] = rng.uniform(0.05, 0.95)
        path = folder / f"scene{index}.png"
        cv2.imwrite(str(path), np.round(image * 255).astype(np.uint8))
        paths.append(path)
    return paths


def _label(out, scenes, **options):
    options = {"settings": TINY, "images": scenes, "workers": 1, "progress": False, **options}
    return label_windows(out, **options)


def _mtimes(folder):
    return {path.name: path.stat().st_mtime_ns for path in folder.glob("*.npz")}


def test_shards_hold_the_labelled_windows(tmp_path, scenes):
    report = _label(tmp_path, scenes, samples_per_image=2, seed=3)
    assert report["computed"] == 4 and report["skipped"] == 0 and report["status"] == "complete"
    assert sorted(_mtimes(tmp_path)) == sorted(shard_name("train", 3, i, r) for i in range(2) for r in range(2))
    for path in tmp_path.glob("*.npz"):
        with np.load(path, allow_pickle=False) as shard:
            assert set(shard.files) == SHARD_KEYS
            blurred, kernel, boxes = shard["blurred"], shard["kernel"], shard["boxes"]
            similarities, labels = shard["similarities"], shard["labels"]
            assert blurred.dtype == np.float32 and blurred.shape == (101 - len(kernel), 131 - len(kernel))
            assert kernel.shape[0] in TINY.kernel_sizes and np.isclose(kernel.sum(), 1.0)
            np.testing.assert_array_equal(boxes, window_boxes(blurred.shape, size=64, stride=32))
            assert labels.dtype == bool and len(labels) == len(similarities) == len(boxes) > 0
            np.testing.assert_array_equal(labels, similarities > GOOD_SIMILARITY)
            assert int(shard["support"]) == len(kernel) + 4 and float(shard["threshold"]) == GOOD_SIMILARITY
            assert str(shard["image_name"]).endswith(f"scene{int(shard['image_index'])}.png")
            assert 0.005 <= float(shard["noise_sigma"]) <= 0.02 and int(shard["seed"]) == 3
            # The stored similarity is the estimator's on exactly the stored window.
            x, y, w, h = boxes[0]
            window = blurred[y : y + h, x : x + w].astype(np.float64)
            estimated = estimate_kernel(window, int(shard["support"]), prior=TINY.prior)
            assert kernel_similarity(estimated, kernel) == pytest.approx(similarities[0], abs=1e-9)
    stats = summary(tmp_path)
    assert stats["samples"] == 4 and stats["windows"] == report["windows"]
    assert stats["positives"] == report["positives"] and set(stats["subsets"]) == {"train"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["settings"] == TINY.fingerprint() and manifest["threshold"] == GOOD_SIMILARITY
    assert manifest["runs"][-1]["status"] == "complete" and manifest["stats"] == stats
    assert {"versions", "git_commit", "total_seconds"} <= set(manifest)


def test_load_shards_for_training(tmp_path, scenes):
    _label(tmp_path, scenes, subset="validation")
    samples = load_shards(tmp_path, "validation")
    assert [s.name for s in samples] == [f"validation-seed0-img000{i}-rep00" for i in range(2)]
    first = samples[0]
    assert cut_windows(first.blurred, first.boxes).shape == (len(first.boxes), 64, 64)
    relabelled = load_shards(tmp_path, threshold=0.0)
    assert all(sample.labels.all() == (sample.similarities > 0.0).all() for sample in relabelled)
    with pytest.raises(FileNotFoundError, match="no train shards"):
        load_shards(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_shards(tmp_path / "missing")


def test_a_second_run_computes_nothing_and_extends(tmp_path, scenes):
    _label(tmp_path, scenes)
    before = _mtimes(tmp_path)
    again = _label(tmp_path, scenes)
    assert again["computed"] == 0 and again["skipped"] == 2 and _mtimes(tmp_path) == before
    more = _label(tmp_path, scenes, samples_per_image=2)  # only the new repeats are computed
    assert more["computed"] == 2 and more["skipped"] == 2
    assert {name: t for name, t in _mtimes(tmp_path).items() if name in before} == before
    runs = json.loads((tmp_path / "manifest.json").read_text())["runs"]
    assert [run["computed"] for run in runs] == [2, 0, 2]


def test_workers_give_the_same_shards(tmp_path, scenes):
    _label(tmp_path / "serial", scenes)
    report = _label(tmp_path / "pool", scenes, workers=2)
    assert report["workers"] == 2 and report["computed"] == 2
    for serial, pooled in zip(load_shards(tmp_path / "serial"), load_shards(tmp_path / "pool")):
        np.testing.assert_array_equal(serial.blurred, pooled.blurred)
        np.testing.assert_array_equal(serial.similarities, pooled.similarities)


def test_a_folder_with_other_settings_is_refused(tmp_path, scenes):
    _label(tmp_path, scenes)
    (tmp_path / "notes.txt").write_text("keep me")
    other = LabelSettings(kernel_sizes=(13,), window_size=64, window_stride=32)
    before = _mtimes(tmp_path)
    with pytest.raises(FileExistsError, match="kernel_sizes.*--overwrite"):
        _label(tmp_path, scenes, settings=other)
    assert _mtimes(tmp_path) == before  # nothing deleted or rewritten
    report = _label(tmp_path, scenes, settings=other, overwrite=True)
    assert report["computed"] == 2 and (tmp_path / "notes.txt").read_text() == "keep me"
    assert json.loads((tmp_path / "manifest.json").read_text())["settings"] == other.fingerprint()


def test_shards_without_a_manifest_are_refused(tmp_path, scenes):
    _label(tmp_path, scenes)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(FileExistsError, match="no manifest.json"):
        _label(tmp_path, scenes)


def test_an_interrupted_shard_write_leaves_no_file(tmp_path):
    class Interrupt:  # np.savez converts each value in turn: this one is reached mid-file
        def __array__(self, dtype=None, copy=None):
            raise KeyboardInterrupt

    target = tmp_path / shard_name("train", 0, 0, 0)
    with pytest.raises(KeyboardInterrupt):
        label_store.write_shard(target, {"blurred": np.zeros((300, 300)), "labels": Interrupt()})
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary file


def test_an_interrupted_run_resumes(tmp_path, scenes, monkeypatch):
    calls = []

    def similarity_then_interrupt(estimated, kernel):
        calls.append(1)
        if len(calls) > 2:  # the first sample (2 windows) completes, then Ctrl-C
            raise KeyboardInterrupt
        return kernel_similarity(estimated, kernel)

    monkeypatch.setattr(labelling, "kernel_similarity", similarity_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _label(tmp_path, scenes)
    assert sorted(_mtimes(tmp_path)) == [shard_name("train", 0, 0, 0)]
    assert json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]["status"] == "interrupted"
    monkeypatch.undo()
    resumed = _label(tmp_path, scenes)
    assert resumed["computed"] == 1 and resumed["skipped"] == 1


def test_a_shard_of_another_image_is_refused(tmp_path, scenes):
    _label(tmp_path, scenes)
    with pytest.raises(FileExistsError, match="made from image"):
        _label(tmp_path, scenes[::-1])


# ---------------------------------------------------------------- command line and data


def test_cli_reports_bad_kernel_sizes(tmp_path, capsys):
    assert main(["label", "--out", str(tmp_path), "--kernel-sizes", "12"]) == 2
    assert "kernel sizes must be odd" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} is missing")
def test_sources_of_the_split():
    train = list_sources("train", data_root=SHARED_DATA)
    singles = [source for source in train if not isinstance(source, tuple)]
    assert len(singles) == 60 and len(train) - len(singles) == 100  # train400 as 100 mosaics
    assert not any(isinstance(source, tuple) for source in list_sources("validation", data_root=SHARED_DATA))
    with pytest.raises(ValueError, match="dev"):
        list_sources("dev", data_root=SHARED_DATA)
