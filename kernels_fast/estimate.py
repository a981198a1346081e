"""Blind kernel estimation: coarse-to-fine MAP with an L0 gradient prior, optionally
with the dark-channel prior.

References
----------
J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark channel
prior", CVPR 2016 (``prior="dark"``). J. Pan, Z. Hu, Z. Su, M.-H. Yang, "Deblurring text
images via L0-regularized intensity and gradient prior", CVPR 2014 (``prior="l0"``).
"""

import dataclasses
import math
import time

import cv2
import numpy as np

from ._validate import as_float_image, check_kernel_size, to_luminance
from .estimator_config import EstimatorConfig
from .fft import _pad_periodic, _psf_to_otf, fast_shape
from .kernel_update import (
    _correlations,
    _edge_threshold,
    _periodic_gradients,
    _project_kernel,
    _select_edges,
    _solve_kernel_cg,
    _sparsity_weights,
    _spectra,
)
from .latent import _restore_l0

__all__ = ["EstimatorConfig", "EstimationDiagnostics", "estimate_kernel", "PRIORS", "useful_edge_strength"]

PRIORS = ("dark", "l0")

# The kernel "touches its border" when its outermost ring holds an entry of at least
# this fraction of its peak: a stray speck there is noise, a strong one is a cut-off path.
_BORDER_PEAK_RATIO = 0.25

# Xu & Jia's r-map window. A 5×5 window measured better than one the size of the kernel.
_USEFULNESS_WINDOW = 5

# The latent update runs in single precision (see latent._restore_l0). The tests switch it
# to double precision to compare the estimator with its NumPy twin exactly.
_LATENT_DTYPES = (np.float32, np.complex64)


@dataclasses.dataclass(frozen=True)
class EstimationDiagnostics:
    """What :func:`estimate_kernel` did.

    Attributes
    ----------
    kernel_sizes, image_shapes : per pyramid level, coarse to fine.
    level_seconds : wall time per level.
    iterations : alternations run per level.
    touches_border : True when the final kernel's outermost ring holds an entry of at
        least a quarter of its peak, a sign that ``kernel_size`` is too small for the blur.
    """

    kernel_sizes: tuple
    image_shapes: tuple
    level_seconds: tuple
    iterations: tuple
    touches_border: bool

    @property
    def total_seconds(self):
        return float(sum(self.level_seconds))


def _odd_ceil(value):
    size = int(math.ceil(value - 1e-9))
    return size + 1 - size % 2


def _dark_patch(config, scale):
    """The dark-channel window at a pyramid level: the finest level's, scaled, odd, at least 3."""
    return max(3, _odd_ceil(config.dark_patch * scale))


def _pyramid(image, kernel_size, config):
    """Yield (scale, kernel size, image at that scale) per level, coarse to fine.

    A generator, so each level is resized only when the caller reaches it.
    """
    ratio = config.scale_ratio
    levels = max(int(math.floor(math.log(config.coarsest_kernel_size / kernel_size) / math.log(ratio))), 0) + 1
    for level in reversed(range(levels)):
        scale = ratio**level
        if level == 0:
            yield scale, kernel_size, image
            continue
        size = max(3, _odd_ceil(kernel_size * scale))
        # The shorter side stays at least twice the kernel, as the public check demands.
        shape = (max(int(round(image.shape[0] * scale)), 2 * size), max(int(round(image.shape[1] * scale)), 2 * size))
        yield scale, size, cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _resize_kernel(kernel, size, factor):
    """Magnify a kernel by ``factor`` (the image scale change between levels) about its
    centre, into a (size, size) support.

    The factor must be the exact image ratio, not the ratio of the (rounded, odd) kernel
    sizes, or each level would start from a kernel of the wrong extent.
    """
    centre_in = (kernel.shape[0] - 1) / 2.0
    centre_out = (size - 1) / 2.0
    transform = np.array([[factor, 0.0, centre_out - factor * centre_in], [0.0, factor, centre_out - factor * centre_in]])
    resized = cv2.warpAffine(kernel, transform, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return _project_kernel(np.ascontiguousarray(resized), 0.0, 0.0)


def _usefulness_map(blurred_gx, blurred_gy, window):
    """Xu & Jia's r-map: |sum of gradients| / (sum of gradient magnitudes + 0.5) over a
    window. Structures narrower than the window have gradients that cancel (small r):
    after blurring they mislead kernel estimation, so the edge mask avoids them.

    Reference: L. Xu and J. Jia, "Two-phase kernel estimation for robust motion
    deblurring", ECCV 2010, eq. (2).
    """
    size = (window, window)
    sum_x = cv2.boxFilter(blurred_gx, -1, size, normalize=False, borderType=cv2.BORDER_REFLECT)
    sum_y = cv2.boxFilter(blurred_gy, -1, size, normalize=False, borderType=cv2.BORDER_REFLECT)
    magnitude = cv2.boxFilter(np.hypot(blurred_gx, blurred_gy), -1, size, normalize=False, borderType=cv2.BORDER_REFLECT)
    return np.hypot(sum_x, sum_y) / (magnitude + 0.5)


def useful_edge_strength(image):
    """Per pixel, ``r * |grad image|``: how much an edge there helps kernel estimation.

    ``r`` is the estimator's own usefulness map (Xu & Jia's r-map over 5 x 5 neighbourhoods)
    and the gradients are forward differences, zero in the last column and row. Strong
    edges wider than the neighbourhood score high; flat areas and thin structures whose
    gradients cancel score low. The ``xu`` window selector averages it over each window.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8, uint16 or float in [0, 1]; colour (RGB) is converted to luminance.

    Returns
    -------
    ndarray of float64, shape (H, W)
    """
    image = to_luminance(as_float_image(image, name="image", allow_color=True))
    gx, gy = np.zeros_like(image), np.zeros_like(image)
    gx[:, :-1] = np.diff(image, axis=1)
    gy[:-1, :] = np.diff(image, axis=0)
    return _usefulness_map(gx, gy, _USEFULNESS_WINDOW) * np.hypot(gx, gy)


def _initial_kernel(size):
    # A small centred plus: no preferred direction, not a pure delta.
    kernel = np.zeros((size, size))
    c = size // 2
    kernel[c, c] = 0.5
    for di, dj in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        kernel[c + di, c + dj] = 0.125
    return kernel


def _estimate_level(blurred, kernel, lambdas, config, use_dark, patch):
    """Alternate latent and kernel updates on one pyramid level; returns the new kernel and lambdas.

    Both updates work on the periodic domain of the latent update, the image and its
    wrap-around padding: the kernel's data term then sees every blurred pixel, where
    leaving out a half-kernel margin at the border lost a fifth of them (BENCHMARKS.md).
    """
    kernel_size = kernel.shape[0]
    height, width = blurred.shape
    fft_height, fft_width = fast_shape((height + kernel_size - 1, width + kernel_size - 1))
    real_dtype, complex_dtype = _LATENT_DTYPES
    padded = _pad_periodic(blurred, fft_height, fft_width)
    padded_latent_input = padded.astype(real_dtype)
    blurred_gx, blurred_gy = _periodic_gradients(padded)
    blurred_spectra = _spectra(blurred_gx, blurred_gy)
    useful = None
    if config.useful_edge_fraction < 1.0:
        usefulness = _usefulness_map(blurred_gx, blurred_gy, _USEFULNESS_WINDOW)
        useful = usefulness >= np.quantile(usefulness, 1.0 - config.useful_edge_fraction)
    lambda_grad, lambda_dark = lambdas
    threshold = -1.0
    for _ in range(config.iterations_per_level):
        otf = _psf_to_otf(kernel, (fft_height, fft_width)).astype(complex_dtype)
        latent = _restore_l0(
            padded_latent_input, otf, lambda_grad, lambda_dark if use_dark else 0.0, patch, config.kappa, config.beta_max,
            config.dark_weight_ratio,
        )
        latent = np.clip(latent, 0.0, 1.0).astype(np.float64)
        latent_gx, latent_gy = _periodic_gradients(latent)
        if useful is not None:
            latent_gx = np.where(useful, latent_gx, 0.0)
            latent_gy = np.where(useful, latent_gy, 0.0)
        if threshold < 0.0:
            threshold = _edge_threshold(latent_gx, latent_gy, int(config.edge_pixels_per_kernel_pixel * kernel_size))
        else:
            threshold /= config.edge_decay
        selected_gx, selected_gy = _select_edges(latent_gx, latent_gy, threshold)
        autocorrelation, crosscorrelation = _correlations(selected_gx, selected_gy, *blurred_spectra, kernel_size)
        weight = config.kernel_weight * max(autocorrelation[kernel_size - 1, kernel_size - 1], 1e-12)
        weights = np.full(kernel.shape, weight)
        kernel = _solve_kernel_cg(autocorrelation, crosscorrelation, weights, config.cg_iterations, kernel)
        for _ in range(config.sparse_reweightings):
            weights = _sparsity_weights(kernel, weight, config.sparsity_exponent)
            kernel = _solve_kernel_cg(autocorrelation, crosscorrelation, weights, config.cg_iterations, kernel)
        kernel = _project_kernel(kernel, config.threshold_ratio, config.min_component_mass)
        lambda_grad = max(lambda_grad / config.lambda_decay, config.lambda_floor)
        lambda_dark = max(lambda_dark / config.lambda_decay, config.lambda_floor)
    return kernel, (lambda_grad, lambda_dark)


def estimate_kernel(blurred, kernel_size, *, prior="dark", config=None, return_diagnostics=False):
    """Estimate the blur kernel of ``blurred`` by coarse-to-fine MAP.

    Parameters
    ----------
    blurred : ndarray, shape (H, W) or (H, W, 3)
        Blurred image in [0, 1]: uint8 (/255), uint16 (/65535) or float. Colour (RGB
        order) is converted to BT.601 luminance. The shorter side must be at least
        ``2 * kernel_size``.
    kernel_size : int
        Odd support of the kernel, >= 3; it should exceed the blur extent by a few pixels.
    prior : {"dark", "l0"}
        ``"dark"``: L0 gradients plus the dark-channel prior (Pan et al. 2016).
        ``"l0"``: L0 gradients only (Pan et al. 2014), faster.
    config : EstimatorConfig, optional
        Algorithm settings; defaults to ``EstimatorConfig()``.
    return_diagnostics : bool
        Also return an :class:`EstimationDiagnostics`.

    Returns
    -------
    kernel : ndarray of float64, shape (kernel_size, kernel_size)
        Non-negative, sums to 1, centre of mass at the centre pixel, true-convolution
        convention: ``blurred ≈ scipy.signal.convolve2d(latent, kernel, mode="same")``.
    diagnostics : EstimationDiagnostics
        Only if ``return_diagnostics``.

    Raises
    ------
    TypeError, ValueError
        See the package dtype policy; also for an unknown ``prior`` or a bad ``kernel_size``.

    Notes
    -----
    Each pyramid level (ratio sqrt(1/2), from a kernel of about 5 px) alternates:

    1. the latent update ``min_S ||k*S - B||^2 + lg ||grad S||_0 + ld ||D(S)||_0`` by
       half-quadratic splitting with closed-form FFT solves (``latent._restore_l0``);
    2. the kernel update ``min_k ||k * grad S_e - grad B||^2 + w ||k||^2`` on the selected
       edges ``S_e``, by conjugate gradients on the kernel support, followed by the
       projection (clip, threshold at max/20, prune components, normalise, re-centre).

    References
    ----------
    Pan et al., CVPR 2016, Algorithm 1 and eqs. (6)-(12); Pan et al., CVPR 2014.
    """
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if config is None:
        config = EstimatorConfig()
    elif not isinstance(config, EstimatorConfig):
        raise TypeError(f"config must be an EstimatorConfig, got {type(config).__name__}")
    image = to_luminance(as_float_image(blurred, name="blurred", allow_color=True))
    kernel_size = check_kernel_size(kernel_size, image.shape)
    use_dark = prior == "dark"

    lambdas = (config.lambda_grad, config.lambda_dark)
    kernel = None
    previous_scale = None
    sizes, shapes, seconds, iterations = [], [], [], []
    start = time.perf_counter()
    for scale, size, level_image in _pyramid(image, kernel_size, config):
        kernel = _initial_kernel(size) if kernel is None else _resize_kernel(kernel, size, scale / previous_scale)
        previous_scale = scale
        patch = _dark_patch(config, scale)
        kernel, lambdas = _estimate_level(level_image, kernel, lambdas, config, use_dark, patch)
        sizes.append(size)
        shapes.append(level_image.shape)
        seconds.append(time.perf_counter() - start)
        iterations.append(config.iterations_per_level)
        start = time.perf_counter()

    if not return_diagnostics:
        return kernel
    ring = np.ones(kernel.shape, dtype=bool)
    ring[1:-1, 1:-1] = False
    diagnostics = EstimationDiagnostics(
        kernel_sizes=tuple(sizes),
        image_shapes=tuple(shapes),
        level_seconds=tuple(seconds),
        iterations=tuple(iterations),
        touches_border=bool(kernel[ring].max() >= _BORDER_PEAK_RATIO * kernel.max()),
    )
    return kernel, diagnostics
