"""``goodregions demo``: estimate the kernel of the bundled synthetic blur, deblur it, and
write pictures a person can look at, with the numbers that say how well it went.

With ``--sample real`` (or ``all``) it also runs the full pipeline (window selection, kernel
estimation on the window, deconvolution of every colour channel) on the bundled real blurred
photo, which has no ground truth: the pictures are for looking at.
"""

import json
import time
from pathlib import Path

import cv2
import numpy as np

from .defaults import PRIOR
from .image_io import check_writable, read_image, write_image, write_kernel
from .samples import sample_path

_OUTPUTS = ("blurred.png", "deblurred.png", "kernel_estimated.png", "kernel_true.png", "summary.json")
_REAL_OUTPUTS = ("real_deblurred.png", "real_overlay.png", "real_kernel.png", "real_kernel.npy", "real_summary.json")
# Pan et al.'s demo deblurs this photo (their 26.blurred.jpg) with a 45 x 45 kernel.
REAL_KERNEL_SIZE = 45


def _kernel_picture(kernel, size):
    picture = np.round(255.0 * kernel / kernel.max()).astype(np.uint8)
    return cv2.resize(picture, (size, size), interpolation=cv2.INTER_NEAREST)


def run_demo(out_dir, *, prior=PRIOR, overwrite=False):
    """Write the demo results into ``out_dir`` and return the summary dict."""
    from goodregions.kernels_fast import deconvolve, estimate_kernel, kernel_similarity, psnr

    out_dir = Path(out_dir)
    for name in _OUTPUTS:
        check_writable(out_dir / name, overwrite=overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    blurred, _ = read_image(sample_path("synthetic_blurred.png"))
    sharp, _ = read_image(sample_path("synthetic_sharp.png"))
    true_kernel = np.load(str(sample_path("synthetic_kernel.npy")))
    blurred = blurred.astype(np.float64) / 255.0
    sharp = sharp.astype(np.float64) / 255.0

    start = time.perf_counter()
    kernel = estimate_kernel(blurred, 31, prior=prior)
    estimate_seconds = time.perf_counter() - start
    start = time.perf_counter()
    deblurred = deconvolve(blurred, kernel, method="hyper_laplacian")
    deconvolve_seconds = time.perf_counter() - start

    # The sample was blurred in "valid" mode from a larger crop, so sharp and blurred align pixel for pixel.
    summary = {
        "prior": prior,
        "kernel_similarity": round(float(kernel_similarity(kernel, true_kernel)), 4),
        "psnr_blurred_db": round(float(psnr(sharp, blurred)), 2),
        "psnr_deblurred_db": round(float(psnr(sharp, deblurred)), 2),
        "estimate_seconds": round(estimate_seconds, 3),
        "deconvolve_seconds": round(deconvolve_seconds, 3),
    }
    to_8bit = lambda image: np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)  # noqa: E731
    write_image(out_dir / "blurred.png", to_8bit(blurred), overwrite=overwrite)
    write_image(out_dir / "deblurred.png", to_8bit(deblurred), overwrite=overwrite)
    write_image(out_dir / "kernel_estimated.png", _kernel_picture(kernel, 155), overwrite=overwrite)
    write_image(out_dir / "kernel_true.png", _kernel_picture(true_kernel, 155), overwrite=overwrite)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run_real_demo(out_dir, *, prior=PRIOR, model=None, overwrite=False, note=print):
    """Deblur the bundled real photo with the full pipeline into ``out_dir``; return the summary dict.

    The selector is ``cnn`` when a window-scorer model is available (``model``,
    ``$GOODREGIONS_MODEL`` or the bundled one), else ``xu`` (announced through ``note``).
    Writes ``real_deblurred.png``, ``real_overlay.png`` (the window on the input, kernel
    inset), ``real_kernel.png``, ``real_kernel.npy`` and ``real_summary.json``.
    """
    from .deblur_command import model_available, render_overlay
    from .pipeline import Deblurrer

    out_dir = Path(out_dir)
    for name in _REAL_OUTPUTS:
        check_writable(out_dir / name, overwrite=overwrite)
    selector = "cnn" if model_available(model) else "xu"
    if selector == "xu":
        note("note: no window-scorer model is available (no --model, no $GOODREGIONS_MODEL, none bundled); "
             "the real sample uses the xu selector instead of cnn")
    out_dir.mkdir(parents=True, exist_ok=True)
    image, alpha = read_image(sample_path("real_blurred.jpg"))
    deblurrer = Deblurrer(selector=selector, model=model, kernel_size=REAL_KERNEL_SIZE, prior=prior)
    result = deblurrer.deblur(image, alpha=alpha, warn=False)
    for message in result.warnings:
        note(f"warning: {message}")
    write_image(out_dir / "real_deblurred.png", result.image, alpha=result.alpha, overwrite=overwrite)
    write_image(out_dir / "real_overlay.png", render_overlay(image, result.window, result.kernel), overwrite=overwrite)
    write_kernel(out_dir / "real_kernel.png", result.kernel, overwrite=overwrite)
    write_kernel(out_dir / "real_kernel.npy", result.kernel, overwrite=overwrite)
    summary = {
        "sample": "real_blurred.jpg",
        "selector": result.selector,
        "provider": result.provider,
        "window": list(result.window),
        "kernel_size": result.kernel_size,
        "prior": prior,
        "touches_border": result.touches_border,
        "timings": {name: round(seconds, 3) for name, seconds in result.timings.items()},
        "warnings": list(result.warnings),
    }
    (out_dir / "real_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
