"""Evaluation of an ONNX scorer on label shards, through the runtime (no torch)."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from goodregions.export.label_store import shard_name, write_shard
from goodregions.export.scorer_eval import bootstrap_auc, evaluate_scorer, roc_auc
from goodregions.export.windows import window_boxes

TINY_MODEL = Path(__file__).parent / "fixtures" / "tiny_scorer.onnx"


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=40), 1)  # rounding creates ties
    labels = rng.random(40) < 0.4
    pairs = [(p, n) for p, n in itertools.product(scores[labels], scores[~labels])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(scores, labels) == pytest.approx(expected)


def _write_sample(folder, index, blurred, similarities):
    boxes = window_boxes(blurred.shape)
    write_shard(
        folder / shard_name("validation", 0, index, 0),
        {
            "subset": "validation", "image_name": f"img{index}.png", "blurred": blurred.astype(np.float32),
            "kernel": np.ones((3, 3)) / 9, "boxes": boxes, "similarities": similarities,
            "labels": similarities > 0.75, "noise_sigma": 0.01, "seed": 0, "image_index": index, "repeat": 0,
        },
    )


def test_a_scorer_that_finds_texture_picks_the_good_windows(tmp_path):
    # Texture in the left part of a flat image; windows over it are the "good" ones.
    rng = np.random.default_rng(0)
    image = np.full((268, 308), 0.5)
    image[:, :150] += 0.3 * rng.random((268, 150)) - 0.15
    boxes = window_boxes(image.shape)
    similarities = np.where(boxes[:, 0] < 40, 0.9, 0.3)
    _write_sample(tmp_path, 0, image, similarities)
    record = evaluate_scorer(TINY_MODEL, tmp_path, subset="validation")
    assert record["samples"] == 1 and record["windows"] == len(boxes)
    assert record["auc"] > 0.9
    assert record["top1"] == pytest.approx(0.9) and record["best"] == pytest.approx(0.9)


def test_missing_subset_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no validation shards"):
        evaluate_scorer(TINY_MODEL, tmp_path, subset="validation")


def test_bootstrap_interval_brackets_the_auc_and_is_seeded():
    rng = np.random.default_rng(3)
    scores, labels = [], []
    for _ in range(30):  # 30 samples of 20 windows; the score is informative but noisy
        good = rng.random(20) < rng.uniform(0.1, 0.9)
        scores.append(good + rng.normal(scale=1.0, size=20))
        labels.append(good)
    auc = roc_auc(np.concatenate(scores), np.concatenate(labels))
    low, high = bootstrap_auc(scores, labels, resamples=300, rng=0)
    assert low < auc < high and high - low < 0.2
    assert bootstrap_auc(scores, labels, resamples=300, rng=0) == (low, high)


def test_bootstrap_of_a_perfect_scorer_is_one():
    labels = [np.array([True, False, True]), np.array([False, True, False])]
    scores = [label.astype(float) for label in labels]
    assert bootstrap_auc(scores, labels, resamples=50, rng=1) == (1.0, 1.0)
