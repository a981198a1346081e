"""Numerical core of goodregions: blind kernel estimation, non-blind deconvolution and
metrics, as validating wrappers over Numba-jitted cores.

Compilation is cached on disk (``cache=True``); set ``NUMBA_CACHE_DIR`` to a writable
folder when the package is installed read-only. Call :func:`warmup` once to compile
every core before timing anything.
"""

from .deconv import DECONVOLUTION_METHODS, WienerDeconvolver, deconvolve
from .estimate import PRIORS, EstimationDiagnostics, EstimatorConfig, estimate_kernel, useful_edge_strength
from .fft import convolve, fast_shape, pad_periodic, psf_to_otf
from .image_quality import psnr, ssim
from .kernel_alignment import kernel_offset
from .metrics import best_shift, error_ratio, kernel_similarity
from .warmup import warmup

__all__ = [
    "DECONVOLUTION_METHODS",
    "PRIORS",
    "EstimationDiagnostics",
    "EstimatorConfig",
    "WienerDeconvolver",
    "best_shift",
    "convolve",
    "deconvolve",
    "error_ratio",
    "estimate_kernel",
    "fast_shape",
    "kernel_offset",
    "kernel_similarity",
    "pad_periodic",
    "psf_to_otf",
    "psnr",
    "ssim",
    "useful_edge_strength",
    "warmup",
]
