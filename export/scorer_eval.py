"""Evaluate a shipped ONNX window scorer on labelled shards, through the runtime.

The model is scored exactly as the runtime uses it (``WindowScorer``, dense mode, the
window grid of the labels), so the numbers describe the shipped file, not a checkpoint.
No torch is needed.
"""

import numpy as np
from scipy import stats

from goodregions.runtime.defaults import GOOD_SIMILARITY

from .label_store import load_shards

__all__ = ["bootstrap_auc", "evaluate_scorer", "roc_auc"]


def roc_auc(scores, labels):
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged; NaN for one class."""
    labels = np.asarray(labels) > 0.5
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def bootstrap_auc(scores, labels, *, resamples=1000, rng=0):
    """95% interval of the AUC when whole samples are resampled with replacement.

    Windows of one sample share its kernel, so their labels are strongly correlated (a large
    blur fails everywhere); resampling samples, not windows, keeps that correlation and gives
    an honest spread for a validation set of a few dozen samples.

    Parameters
    ----------
    scores, labels : sequence of ndarray
        Per sample, the window scores (N_i,) and their good/bad labels (N_i,).
    resamples : int
        Bootstrap draws.
    rng : numpy.random.Generator, int or None
        Seed of the draws.

    Returns
    -------
    (low, high) : tuple of float
        The 2.5th and 97.5th percentiles (draws with one class only are left out).
    """
    generator = np.random.default_rng(rng)
    aucs = []
    for _ in range(resamples):
        picks = generator.integers(0, len(scores), size=len(scores))
        auc = roc_auc(np.concatenate([scores[i] for i in picks]), np.concatenate([labels[i] for i in picks]))
        if np.isfinite(auc):
            aucs.append(auc)
    if not aucs:
        return float("nan"), float("nan")
    low, high = np.percentile(aucs, [2.5, 97.5])
    return float(low), float(high)


def evaluate_scorer(model, label_dir, *, subset="validation", mode="dense"):
    """Score every labelled window with an ONNX scorer and summarise how well it ranks them.

    Parameters
    ----------
    model : path
        The ``.onnx`` file (its ``.onnx.sha256`` must sit next to it).
    label_dir : path
        A ``goodregions label`` folder.
    subset : {"validation", "train"}
        Which shards to use; report models on ``validation`` only (never trained on).
    mode : {"dense", "windows"}
        The scorer's mode.

    Returns
    -------
    dict
        ``samples``, ``windows``, ``positive_fraction``, ``auc`` and ``accuracy`` (logit > 0)
        over all windows, ``auc_interval`` (:func:`bootstrap_auc`), ``auc_per_repeat``
        (repeat index to AUC: each repeat is one kernel draw per image), and per sample the similarity of the top-1 window against the
        median window and the best window (``top1``, ``median``, ``best``: the median over
        samples, plus ``*_mean``), and ``top1_good_fraction``.
    """
    from goodregions.runtime.scorer import WindowScorer

    samples = load_shards(label_dir, subset=subset)  # raises FileNotFoundError when there are none
    window = int(samples[0].boxes[0, 2])
    scorer = WindowScorer(model, window_size=window, stride=20)
    all_scores, all_labels, repeats, top1, median, best = [], [], [], [], [], []
    for sample in samples:
        score_map = scorer.score(sample.blurred, mode=mode)
        lookup = {tuple(box): score for box, score in zip(map(tuple, score_map.boxes), score_map.scores.ravel())}
        scores = np.array([lookup[tuple(box)] for box in sample.boxes], dtype=np.float64)  # (N,)
        all_scores.append(scores)
        all_labels.append(np.asarray(sample.labels, dtype=bool))
        repeats.append(int(sample.repeat))
        top1.append(sample.similarities[int(np.argmax(scores))])
        median.append(np.median(sample.similarities))
        best.append(sample.similarities.max())
    per_repeat = {
        repeat: roc_auc(np.concatenate([s for s, r in zip(all_scores, repeats) if r == repeat]),
                        np.concatenate([l for l, r in zip(all_labels, repeats) if r == repeat]))
        for repeat in sorted(set(repeats))
    }
    interval = bootstrap_auc(all_scores, all_labels)
    scores, labels = np.concatenate(all_scores), np.concatenate(all_labels)
    top1, median, best = np.array(top1), np.array(median), np.array(best)
    return {
        "model": str(model),
        "subset": subset,
        "mode": mode,
        "provider": scorer.provider,
        "samples": len(samples),
        "windows": int(labels.size),
        "positive_fraction": float(labels.mean()),
        "auc": roc_auc(scores, labels),
        "auc_interval": list(interval),
        "auc_per_repeat": per_repeat,
        "accuracy": float(np.mean((scores > 0) == labels)),
        "top1": float(np.median(top1)),
        "median": float(np.median(median)),
        "best": float(np.median(best)),
        "top1_mean": float(top1.mean()),
        "median_mean": float(median.mean()),
        "best_mean": float(best.mean()),
        "top1_good_fraction": float(np.mean(top1 > GOOD_SIMILARITY)),
    }
