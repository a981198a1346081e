"""One case of ``goodregions evaluate``: a sharp image blurred by a known kernel, every selector
measured on it.

A case is an (image, kernel) pair. :func:`synthesize_case` blurs the gray image at full size
with ``synthesize_blur(..., border="valid")`` and adds Gaussian noise, and crops the matching
sharp region with ``crop_valid``; its random streams (the noise, and the ``random``
selector's draw) come from the seed and the case's key, so a case does not depend on which
other cases run, in which order or process.

:func:`evaluate_case` runs the selectors on the blurred image. Grid selectors pick a window of
the grid of :func:`~goodregions.export.windows.window_boxes`; ``whole`` takes the whole image;
``oracle`` estimates a kernel on every grid window and keeps the one most similar to the true
kernel, the ceiling of any window selector. Estimates are cached per window (the estimator is
deterministic), so a grid selector reuses the oracle's estimate of its window and the
oracle's similarity is at least every grid selector's. ``cnn-vote`` estimates a kernel on each
of the scorer's ``VOTE_CANDIDATES`` best windows and keeps the one that agrees most with the
others (:func:`~goodregions.runtime.consensus.most_agreeing`); it ranks the same windows as
``cnn``, so the image is scored once for both, and both record that scoring time. Each
selector records the seconds of its own windows' estimates (``cnn-vote``: all its
candidates), even when reused.

Measures per selector: kernel similarity to the true kernel; the error ratio (Levin et al.,
hyper-Laplacian deconvolution, quarter-pixel alignment) and its integer-shift variant; PSNR
and SSIM of the deconvolved image against the sharp one over the interior (a border of the
largest kernel side cut off), after the best integer shift (a blind kernel is defined up to a
translation). The deconvolution is not clipped. Seconds: ``select`` (scoring; for the oracle
every other window's estimate and similarity), ``estimate``, ``deconvolve`` and their
``total``.
"""

from __future__ import annotations

import time
import zlib

import numpy as np

from goodregions.kernels_fast import best_shift, deconvolve, error_ratio, estimate_kernel, kernel_similarity, psnr, ssim

__all__ = ["EVALUATION_SELECTORS", "GRID_SELECTORS", "DECONVOLUTION", "case_rngs", "synthesize_case", "evaluate_case"]

EVALUATION_SELECTORS = ("cnn", "cnn-vote", "fergus", "xu", "whole", "random", "center", "oracle")
GRID_SELECTORS = ("cnn", "cnn-vote", "fergus", "xu", "center", "random", "oracle")
# Windows whose estimates vote in ``cnn-vote``: the scorer's best, after its overlap suppression.
VOTE_CANDIDATES = 5
DECONVOLUTION = "hyper_laplacian"


def case_rngs(seed, key):
    """Return the (noise, random-selector) generators of case ``key`` under ``seed``.

    The key's CRC-32 joins the seed in a ``SeedSequence``, so the streams depend on the case
    itself, not on its position in a run.
    """
    sequence = np.random.SeedSequence([int(seed), zlib.crc32(key.encode("utf-8"))])
    noise, pick = sequence.spawn(2)
    return np.random.default_rng(noise), np.random.default_rng(pick)


def synthesize_case(image, kernel, *, noise_sigma, rng):
    """Blur a gray image with a true-convolution kernel and add noise; return ``(sharp, blurred)``.

    Parameters
    ----------
    image : ndarray of float64, shape (H, W)
        The sharp image at full size, in [0, 1] (``load_gray``).
    kernel : ndarray, shape (h, w)
        Normalised true-convolution kernel.
    noise_sigma : float
        Standard deviation of the Gaussian noise on the [0, 1] scale.
    rng : numpy.random.Generator
        The case's noise stream (:func:`case_rngs`).

    Returns
    -------
    sharp, blurred : ndarray of float64, shape (H - h + 1, W - w + 1)
        Aligned pixel for pixel: ``blurred`` sees only real content ("valid" blur).
    """
    from goodregions.export.synthesis import crop_valid, synthesize_blur

    blurred = synthesize_blur(image, kernel, noise_sigma=noise_sigma, rng=rng, border="valid")
    return np.ascontiguousarray(crop_valid(image, kernel.shape)), blurred


def _interior(shape, side):
    return side, shape[0] - side, side, shape[1] - side


def _measure(sharp, blurred, kernel, true_kernel, latent_true):
    """Similarity, error ratios, PSNR and SSIM of one kernel; also returns the deconvolution seconds.

    ``latent_true``, the deconvolution with the true kernel, is shared by every kernel of a case.
    """
    start = time.perf_counter()
    latent = deconvolve(blurred, kernel, method=DECONVOLUTION)
    seconds = time.perf_counter() - start
    latents = {"latent_estimated": latent, "latent_true": latent_true}
    side = max(kernel.shape + true_kernel.shape)  # the error ratio's own default border
    dy, dx = best_shift(sharp, latent, border=side, max_shift=side // 2)
    top, bottom, left, right = _interior(sharp.shape, side)
    reference, aligned = sharp[top:bottom, left:right], latent[top + dy:bottom + dy, left + dx:right + dx]
    record = {
        "similarity": kernel_similarity(kernel, true_kernel),
        "error_ratio": error_ratio(sharp, blurred, kernel, true_kernel, method=DECONVOLUTION, **latents),
        "error_ratio_integer": error_ratio(sharp, blurred, kernel, true_kernel, method=DECONVOLUTION, shift_step=1.0,
                                           **latents),
        "psnr": psnr(reference, aligned),
        "ssim": ssim(reference, aligned),
        "shift": [dy, dx],
    }
    return record, seconds


def _skip(reason):
    return {"status": "skipped", "reason": reason}


def evaluate_case(sharp, blurred, true_kernel, *, selectors, kernel_size, prior, window_size, stride, scorer=None,
                  rng=None):
    """Run and measure every selector on one case.

    Parameters
    ----------
    sharp, blurred : ndarray of float64, shape (H, W)
        From :func:`synthesize_case`.
    true_kernel : ndarray of float64, shape (h, w)
        The kernel the blur was made with (normalised).
    selectors : sequence of str
        Names from ``EVALUATION_SELECTORS``.
    kernel_size : int
        Odd support of the estimates.
    prior : {"dark", "l0"}
        Estimation prior.
    window_size, stride : int
        The window grid (the scorer's when ``cnn`` runs).
    scorer : WindowScorer, optional
        Needed for ``cnn``.
    rng : numpy.random.Generator, optional
        Draw of the ``random`` selector.

    Returns
    -------
    record : dict
        ``shape``, ``windows`` (grid size), ``reference`` (``true``: the measures of the true
        kernel itself; ``blurred``: PSNR and SSIM of the blurred image) and ``selectors``:
        name to ``{"status": "ok", "box", "score", "similarity", "error_ratio",
        "error_ratio_integer", "psnr", "ssim", "shift", "reused_estimate", "seconds"}`` or
        ``{"status": "skipped", "reason"}``.
    kernels : dict of str to ndarray
        ``true`` and each measured selector's estimate; ``oracle_similarities`` (one per grid
        window, row-major) when the oracle ran.
    """
    from goodregions.export.windows import window_boxes

    from .consensus import most_agreeing
    from .selectors import select_windows

    height, width = blurred.shape
    boxes = [tuple(int(v) for v in box) for box in window_boxes(blurred.shape, size=window_size, stride=stride)]
    estimates, measures = {}, {}  # box -> (kernel, seconds); box -> (measures, deconvolution seconds)

    def estimate(box):
        if box not in estimates:
            x, y, w, h = box
            start = time.perf_counter()
            kernel = estimate_kernel(np.ascontiguousarray(blurred[y:y + h, x:x + w]), kernel_size, prior=prior)
            estimates[box] = kernel, time.perf_counter() - start
        return estimates[box]

    # cnn and cnn-vote rank the same windows: the image is scored once, for as many as cnn-vote needs.
    wanted = {"cnn": VOTE_CANDIDATES if "cnn-vote" in selectors else 1}
    ranked = {}  # selector -> (its windows best first, seconds)

    def rank(selector):
        if selector not in ranked:
            start = time.perf_counter()
            selections = select_windows(blurred, wanted.get(selector, 1), selector=selector, scorer=scorer, rng=rng,
                                        window_size=window_size, stride=stride)
            ranked[selector] = selections, time.perf_counter() - start
        return ranked[selector]

    def measure(box):
        if box not in measures:
            measures[box] = _measure(sharp, blurred, estimates[box][0], true_kernel, latent_true)
        return measures[box]

    latent_true = deconvolve(blurred, true_kernel, method=DECONVOLUTION)
    true_record, _ = _measure(sharp, blurred, true_kernel, true_kernel, latent_true)
    top, bottom, left, right = _interior(sharp.shape, max(true_kernel.shape))
    reference = {"true": true_record, "blurred": {"psnr": psnr(sharp[top:bottom, left:right], blurred[top:bottom, left:right]),
                                                  "ssim": ssim(sharp[top:bottom, left:right], blurred[top:bottom, left:right])}}
    kernels, results = {"true": true_kernel}, {}
    # The oracle goes first so that the grid selectors find their windows already estimated.
    for name in sorted(selectors, key=lambda name: name != "oracle"):
        if name in GRID_SELECTORS and not boxes:
            results[name] = _skip(f"the blurred image of {width}x{height} is smaller than one {window_size}x{window_size} window")
            continue
        if name == "whole" and 2 * kernel_size > min(height, width):
            results[name] = _skip(f"the image of {width}x{height} is shorter than 2 x kernel_size = {2 * kernel_size}")
            continue
        reused = False
        start = time.perf_counter()
        if name == "oracle":
            for box in boxes:
                estimate(box)
            similarities = np.array([kernel_similarity(estimates[box][0], true_kernel) for box in boxes])
            box, score = boxes[int(np.argmax(similarities))], float(similarities.max())
            kernels["oracle_similarities"] = similarities
            select_seconds = time.perf_counter() - start - estimates[box][1]  # every other window's cost
            voting = [box]
        elif name == "whole":
            box, score, select_seconds = (0, 0, width, height), None, 0.0
            voting = [box]
        else:
            selections, select_seconds = rank("cnn" if name == "cnn-vote" else name)
            selections = selections[:VOTE_CANDIDATES if name == "cnn-vote" else 1]
            voting = [tuple(int(v) for v in selection.box) for selection in selections]
            reused = all(candidate in estimates for candidate in voting)
            chosen = most_agreeing([estimate(candidate)[0] for candidate in voting])
            box, score = voting[chosen], selections[chosen].score
        kernel = estimate(box)[0]
        estimate_seconds = sum(estimate(candidate)[1] for candidate in voting)  # cnn-vote pays for every candidate
        measured, deconvolve_seconds = measure(box)
        seconds = {"select": select_seconds, "estimate": estimate_seconds, "deconvolve": deconvolve_seconds}
        seconds["total"] = sum(seconds.values())
        results[name] = {"status": "ok", "box": list(box), "score": None if score is None else float(score), **measured,
                         "reused_estimate": reused, "seconds": seconds}
        kernels[name] = kernel
    ordered = {name: results[name] for name in selectors}
    return {"shape": [height, width], "windows": len(boxes), "reference": reference, "selectors": ordered}, kernels

