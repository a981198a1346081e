"""``goodregions demo``: estimate the kernel of the bundled synthetic blur, deblur it, and
write pictures a person can look at, with the numbers that say how well it went."""

import json
import time
from pathlib import Path

import cv2
import numpy as np

from .image_io import check_writable, read_image, write_image, write_kernel
from .samples import sample_path

_OUTPUTS = ("blurred.png", "deblurred.png", "kernel_estimated.png", "kernel_true.png", "summary.json")


def _kernel_picture(kernel, size):
    picture = np.round(255.0 * kernel / kernel.max()).astype(np.uint8)
    return cv2.resize(picture, (size, size), interpolation=cv2.INTER_NEAREST)


def run_demo(out_dir, *, prior="dark", overwrite=False):
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
