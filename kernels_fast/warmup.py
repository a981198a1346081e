"""Compile every jitted core once, on tiny inputs, so later calls run at full speed."""

import time

import numpy as np


def warmup():
    """Compile (or load from the on-disk cache) every jitted core; return the seconds taken."""
    from .deconv import DECONVOLUTION_METHODS, deconvolve
    from .estimate import estimate_kernel
    from .fft import convolve
    from .metrics import error_ratio, kernel_similarity

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    sharp = rng.random((24, 24))
    kernel = np.zeros((5, 5))
    kernel[2, 1:4] = 1.0 / 3.0
    blurred = convolve(sharp, kernel, mode="same")
    for prior in ("l0", "dark"):
        estimate_kernel(blurred, 5, prior=prior)
    for method in DECONVOLUTION_METHODS:
        deconvolve(blurred, kernel, method=method)
        deconvolve(np.stack([blurred] * 3, axis=-1), kernel, method=method)
    kernel_similarity(kernel, kernel)
    error_ratio(sharp, blurred, kernel, kernel)
    return time.perf_counter() - start
