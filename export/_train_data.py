"""Training data for :mod:`goodregions.export.train`: shard samples, the window dataset,
the split by image, the validation metrics and the provenance of a run."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats

from goodregions.runtime.defaults import GOOD_SIMILARITY

from .models import dense_window_scores
from .scorer_eval import roc_auc


class Sample(NamedTuple):
    """One labelled blurred image: the windows are cut from ``blurred`` at ``boxes``."""

    blurred: np.ndarray  # (H, W) float32 in [0, 1]
    boxes: np.ndarray  # (K, 4) int64 (x, y, w, h)
    similarities: np.ndarray  # (K,) float64, kernel similarity of each window's estimate
    labels: np.ndarray  # (K,) float32, 1 = good window
    image: str  # source image name: the unit of the train/validation split
    info: dict  # anything else the shard records (labelling settings, lambda, ...)


def _field(record, *names):
    for name in names:
        if name in record:
            return record[name]
    raise ValueError(f"shard sample lacks the field {names[0]!r} (looked for {names}); re-run the labelling")


def _sample_from(record):
    """Adapt one shard record (an ``.npz`` mapping or a labelling object) to a :class:`Sample`."""
    if not hasattr(record, "keys") and hasattr(record, "_asdict"):
        record = record._asdict()
    elif not hasattr(record, "keys") and hasattr(record, "__dict__"):
        record = vars(record)
    blurred = np.asarray(_field(record, "blurred", "image_blurred"), dtype=np.float32)
    boxes = np.asarray(_field(record, "boxes", "window_boxes"), dtype=np.int64).reshape(-1, 4)
    similarities = np.asarray(_field(record, "similarities", "similarity"), dtype=np.float64).ravel()
    labels = np.asarray(_field(record, "labels", "label"), dtype=np.float32).ravel()
    image = str(np.asarray(_field(record, "image_name", "image", "name")).item())
    if blurred.ndim != 2 or not (len(boxes) == len(similarities) == len(labels)):
        raise ValueError(f"shard sample of {image!r} is inconsistent: blurred {blurred.shape}, {len(boxes)} boxes, {len(labels)} labels")
    skip = {"blurred", "image_blurred", "boxes", "window_boxes", "similarities", "similarity", "labels", "label", "kernel", "true_kernel"}
    info = {}
    for key in record.keys():
        if key in skip:
            continue
        value = np.asarray(record[key])
        if value.size == 1 and value.dtype.kind in "biufU":
            info[key] = value.item()
    return Sample(blurred, boxes, similarities, labels, image, info)


def load_samples(shard_dirs, subset, *, required=True):
    """Read the ``subset`` shard samples of the folders ``shard_dirs`` into memory.

    Returns the samples and each folder's labelling settings (from its ``manifest.json``).
    With ``required=False`` a folder without shards of the subset is skipped.
    """
    from .label_store import load_shards

    samples, settings = [], []
    for folder in shard_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"shard folder {folder} does not exist; write it with `goodregions label --out {folder}`")
        try:
            records = load_shards(folder, subset)
        except FileNotFoundError:
            if required:
                raise
            continue
        samples += [_sample_from(record) for record in records]
        manifest = folder / "manifest.json"
        settings.append(json.loads(manifest.read_text(encoding="utf-8")).get("settings", {}) if manifest.is_file() else {})
    return samples, settings


def split_by_image(samples, val_fraction, *, rng):
    """Hold out ``val_fraction`` of the image names (at least one) with all their samples."""
    names = sorted({s.image for s in samples})
    if len(names) < 2:
        raise ValueError(f"need at least 2 source images to hold some out for validation, got {names}; pass validation shards")
    count = min(max(1, round(val_fraction * len(names))), len(names) - 1)
    held_out = set(np.random.default_rng(rng).permutation(names)[:count].tolist())
    return [s for s in samples if s.image not in held_out], [s for s in samples if s.image in held_out]


def data_summary(samples, dirs, settings):
    """Counts and labelling settings of a set of samples, JSON-serialisable.

    ``lambda`` is the similarity threshold of the labels (good when similarity > lambda).
    """
    if not samples:
        return {"samples": 0}
    labels = np.concatenate([s.labels for s in samples])
    first = settings[0] if settings else {}
    if any(other != first for other in settings[1:]):
        raise ValueError("the shard folders were labelled with different settings; train on folders made with one setting")
    thresholds = {s.info["threshold"] for s in samples if "threshold" in s.info}
    return {
        "shards": [str(d) for d in dirs],
        "samples": len(samples),
        "images": len({s.image for s in samples}),
        "windows": int(labels.size),
        "positive_fraction": round(float(labels.mean()), 4),
        "mean_similarity": round(float(np.mean(np.concatenate([s.similarities for s in samples]))), 4),
        "lambda": (first.get("labels") or {}).get("threshold", thresholds.pop() if len(thresholds) == 1 else None),
        "labelling": first,
    }


class WindowDataset(torch.utils.data.Dataset):
    """Every (sample, window) pair, cut on the fly: ``(1, h, w)`` float32 window and label."""

    def __init__(self, samples, *, augment):
        self.samples = samples
        self.augment = augment
        self.index = np.array([(s, k) for s, sample in enumerate(samples) for k in range(len(sample.boxes))], dtype=np.int64)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, item):
        s, k = self.index[item]
        sample = self.samples[s]
        x, y, w, h = sample.boxes[k]
        window = sample.blurred[y : y + h, x : x + w]  # (h, w) view
        if self.augment:
            # One of the 8 symmetries of the square: k90 quarter turns, then maybe a transpose.
            code = int(torch.randint(8, (1,)).item())
            if window.shape[0] != window.shape[1]:
                code = 2 * (code % 2)  # non-square: identity or half turn keep the shape
            window = np.rot90(window, code % 4)
            if code >= 4:
                window = window.T
        window = torch.from_numpy(np.ascontiguousarray(window))[None]  # (1, h, w)
        return window, torch.tensor(sample.labels[k])


@torch.no_grad()
def evaluate(model, samples, *, batch_size, device):
    """Validation metrics, per window and per sample (the window the scorer would pick).

    ``val_top1_similarity`` is the mean similarity of each sample's best-scored window,
    against ``val_median_similarity`` (a window picked blindly) and ``val_best_similarity``
    (an oracle). The ``dense_*`` figures score the whole blurred image in one pass and
    box-filter its logit map as the runtime does: ``dense_max_abs_diff`` against the
    per-window logits (about 1e-6 for exact geometries), their mean Spearman correlation
    per sample, and the share of samples whose top-1 window is the same.
    """
    was_training = model.training
    model.eval()
    geometry = model.geometry(int(samples[0].boxes[0, 2]))
    all_scores, all_labels, top1, median, best, top1_good, dense_top1 = [], [], [], [], [], [], []
    max_diff, spearman, same_top1 = 0.0, [], []
    for sample in samples:
        windows = np.stack([sample.blurred[y : y + h, x : x + w] for x, y, w, h in sample.boxes])  # (K, h, w)
        scores = np.concatenate(
            [model(torch.from_numpy(windows[i : i + batch_size])[:, None].to(device)).cpu().numpy() for i in range(0, len(windows), batch_size)]
        ).astype(np.float64)  # (K,)
        logit_map = model.logit_map(torch.from_numpy(sample.blurred)[None, None].to(device))[0, 0].cpu().numpy()
        dense = dense_window_scores(logit_map, sample.boxes, geometry)  # (K,)
        all_scores.append(scores)
        all_labels.append(sample.labels)
        pick, dense_pick = int(np.argmax(scores)), int(np.argmax(dense))
        top1.append(sample.similarities[pick])
        dense_top1.append(sample.similarities[dense_pick])
        top1_good.append(sample.similarities[pick] >= GOOD_SIMILARITY)
        median.append(np.median(sample.similarities))
        best.append(sample.similarities.max())
        max_diff = max(max_diff, float(np.abs(dense - scores).max()))
        same_top1.append(pick == dense_pick)
        if len(scores) > 1 and np.ptp(scores) > 0 and np.ptp(dense) > 0:
            spearman.append(stats.spearmanr(scores, dense).statistic)
    model.train(was_training)
    scores, labels = np.concatenate(all_scores), np.concatenate(all_labels)
    probabilities = 1.0 / (1.0 + np.exp(-scores))
    eps = 1e-7
    loss = -np.mean(labels * np.log(probabilities + eps) + (1 - labels) * np.log(1 - probabilities + eps))
    return {
        "val_loss": float(loss),
        "val_auc": roc_auc(scores, labels),
        "val_accuracy": float(np.mean((scores > 0) == (labels > 0.5))),
        "val_positive_fraction": float(labels.mean()),
        "val_top1_similarity": float(np.mean(top1)),
        "val_median_similarity": float(np.mean(median)),
        "val_best_similarity": float(np.mean(best)),
        "val_top1_good_fraction": float(np.mean(top1_good)),
        "val_dense_top1_similarity": float(np.mean(dense_top1)),
        "dense_max_abs_diff": max_diff,
        "dense_spearman": float(np.mean(spearman)) if spearman else float("nan"),
        "dense_same_top1": float(np.mean(same_top1)),
    }


def git_commit():
    """The repository's HEAD commit (``+dirty`` when tracked files changed), or ``"unknown"``."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def package_version():
    """The installed goodregions version, or ``"unknown"``."""
    try:
        return importlib.metadata.version("goodregions")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
