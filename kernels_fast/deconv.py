"""Non-blind deconvolution: Wiener, hyper-Laplacian (Krishnan & Fergus) and TV with ringing removal.

Every method works on a smoothly periodic padding of the image (``fft._pad_periodic``,
to ``fast_shape((H + h - 1, W + w - 1))``), solves in the Fourier domain of that padded
image, and crops back to (H, W). The energies have the form

    1/2 ||k * x - y||^2 + weight * R(grad x)

with circular forward differences for ``grad``: R = 1/2 ||.||^2 (Wiener), sum |.|^0.8
(hyper-Laplacian) or ||.||_1 (TV, followed by an L0-guided ringing correction).

References
----------
D. Krishnan and R. Fergus, "Fast image deconvolution using hyper-Laplacian priors",
NIPS 2009. J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark
channel prior", CVPR 2016 (section 5, ringing suppression).
"""

import math
import numbers
import os

import numpy as np
import scipy.fft

from ._jit import njit
from ._validate import as_float_image, as_kernel, check_int
from .fft import _pad_periodic, _psf_to_otf, fast_shape, psf_to_otf
from .latent import _restore_l0

__all__ = ["DECONVOLUTION_METHODS", "WienerDeconvolver", "deconvolve"]

DECONVOLUTION_METHODS = ("wiener", "hyper_laplacian", "tv_l0")

# Tuned on Set12 blurred by the eight Levin kernels with Gaussian noise sigma = 0.01.
_DEFAULT_WEIGHTS = {"wiener": 1e-2, "hyper_laplacian": 7e-4, "tv_l0": 1.2e-3}

_ALPHA = 0.8  # hyper-Laplacian exponent; natural-image gradients fit 1/2 to 4/5
_BETA_START = 1.0  # continuation of the normalised splitting weight, as in Krishnan & Fergus
_BETA_RATE = 2.0 * math.sqrt(2.0)
_BETA_MAX_HYPER = 256.0  # 6 outer iterations
_BETA_MAX_TV = 2.0**12  # 8 outer iterations: TV is convex, so run the splitting tighter
_L0_RATIO = 1.0 / 6.0  # L0 weight (Pan's un-halved convention) per unit TV weight
_L0_KAPPA = 2.0
_L0_BETA_MAX = 1e5
_BILATERAL_SIGMA_SPACE = 3.0  # pixels, as in Pan et al.'s code
_BILATERAL_SIGMA_RANGE = 0.1
_TABLE_SIZE = 16384  # nodes of the w-subproblem lookup table
_TABLE_REACH = 16.0  # the table covers |v| up to threshold + 16^2; beyond: Newton
_FFT_WORKERS = max(1, min(os.cpu_count() or 1, 4))


@njit
def _difference_responses(height, width):
    """|F(d)|^2 = 2 - 2 cos(omega) of circular forward differences, per axis, on the rfft2 grid."""
    half = width // 2 + 1
    rows = np.empty(height)
    for u in range(height):
        rows[u] = 2.0 - 2.0 * np.cos(2.0 * np.pi * u / height)
    cols = np.empty(half)
    for v in range(half):
        cols[v] = 2.0 - 2.0 * np.cos(2.0 * np.pi * v / width)
    return rows, cols


@njit
def _wiener(padded, otf, weight, workers):
    """Closed-form minimiser of 1/2 ||k * x - y||^2 + weight / 2 ||grad x||^2 on a periodic image.

    ``padded`` is float32 (``fft._pad_periodic`` pads straight into it), so the FFTs run
    in single precision and the result is float32: on a 1080p frame they are several times
    faster, and the result stays within 5e-6 of the double-precision one even at weight
    1e-4, under one step of a 16-bit image (BENCHMARKS.md). Unlike the splitting methods,
    this solve has no large terms that cancel.
    """
    height, width = padded.shape
    spectrum = scipy.fft.rfft2(padded, workers=workers)
    rows, cols = _difference_responses(height, width)
    for u in range(height):
        for v in range(width // 2 + 1):
            k = otf[u, v]
            # Denominator >= 1 at DC (kernel sums to 1) and > 0 elsewhere since weight > 0.
            scale = 1.0 / (k.real * k.real + k.imag * k.imag + weight * (rows[u] + cols[v]))
            spectrum[u, v] = np.conj(k) * spectrum[u, v] * scale
    return scipy.fft.irfft2(spectrum, s=(height, width), workers=workers)


@njit
def _shrink_root(magnitude, lam, alpha):
    """Largest root of w + lam * alpha * w**(alpha - 1) = magnitude (above the threshold).

    The left side is convex in w > 0, so Newton's method started right of the root
    decreases monotonically onto it. The start, one fixed-point step from w = magnitude,
    is already right of the root and close to it for large magnitudes.
    """
    w = magnitude - lam * alpha * magnitude ** (alpha - 1.0)
    if w <= 0.0:
        w = magnitude
    for _ in range(60):
        power = w ** (alpha - 2.0)
        step = (w + lam * alpha * power * w - magnitude) / (1.0 + lam * alpha * (alpha - 1.0) * power)
        w -= step
        if abs(step) <= 1e-14 * w:
            break
    return w


@njit
def _shrink_table(lam, alpha, size, reach):
    """Threshold and lookup table of argmin_w lam |w|^alpha + 1/2 (w - v)^2 for 0 < alpha < 1.

    Below ``threshold`` the minimiser is 0; at the threshold it jumps to ``w_threshold``
    = (2 lam (1 - alpha))^(1 / (2 - alpha)) (where both candidates have equal energy);
    above it is the largest root of the stationarity condition. The table samples that
    smooth branch at ``|v| = threshold + s^2``, s uniform in [0, reach]: dense just above
    the jump, where w(v) bends most, sparse for large |v|, where w ~ |v|, and it never
    straddles the jump.
    """
    w_threshold = (2.0 * lam * (1.0 - alpha)) ** (1.0 / (2.0 - alpha))
    threshold = w_threshold + lam * alpha * w_threshold ** (alpha - 1.0)
    step = reach / (size - 1)
    table = np.empty(size)
    table[0] = w_threshold
    for i in range(1, size):
        s = i * step
        table[i] = _shrink_root(threshold + s * s, lam, alpha)
    return table, threshold, step


@njit
def _shrink(v, lam, alpha, table, threshold, step):
    """argmin_w lam |w|^alpha + 1/2 (w - v)^2: soft threshold for alpha == 1, else the table."""
    magnitude = abs(v)
    if alpha == 1.0:
        w = magnitude - lam
        if w <= 0.0:
            return 0.0
    elif magnitude <= threshold:
        return 0.0
    else:
        position = np.sqrt(magnitude - threshold) / step
        index = int(position)
        if index < table.shape[0] - 1:
            fraction = position - index
            w = table[index] + fraction * (table[index + 1] - table[index])
        else:  # |v| > threshold + reach^2: far beyond any gradient of an image in [0, 1]
            w = _shrink_root(magnitude, lam, alpha)
    return w if v > 0.0 else -w


@njit
def _shrink_gradients(latent, lam, alpha, table, threshold, step, penalty, target):
    """Write penalty * D^T w into target, w the shrunk circular forward gradients of latent.

    Row by row with two row buffers, so no full-size gradient images are allocated.
    D^T is the adjoint of the forward difference: (D^T g)[j] = g[j - 1] - g[j].
    """
    height, width = latent.shape
    wx = np.empty(width)
    wy = np.empty(width)
    wy_up = np.empty(width)
    for j in range(width):  # vertical gradients of the last row wrap to row 0
        wy_up[j] = _shrink(latent[0, j] - latent[height - 1, j], lam, alpha, table, threshold, step)
    for i in range(height):
        down = i + 1 if i + 1 < height else 0
        for j in range(width):
            right = j + 1 if j + 1 < width else 0
            wx[j] = _shrink(latent[i, right] - latent[i, j], lam, alpha, table, threshold, step)
            wy[j] = _shrink(latent[down, j] - latent[i, j], lam, alpha, table, threshold, step)
        target[i, 0] = penalty * ((wx[width - 1] - wx[0]) + (wy_up[0] - wy[0]))
        for j in range(1, width):
            target[i, j] = penalty * ((wx[j - 1] - wx[j]) + (wy_up[j] - wy[j]))
        wy, wy_up = wy_up, wy


@njit
def _hqs(padded, otf, weight, alpha, beta_max, workers):
    """Half-quadratic splitting for 1/2 ||k * x - y||^2 + weight * sum |grad x|^alpha.

    With w the split gradients and beta the normalised splitting weight, alternate
      w-step: w = argmin |w|^alpha + beta / 2 (w - grad x)^2      (per pixel, lam = 1 / beta)
      x-step: (|K|^2 + beta weight |D|^2) X = conj(K) Y + beta weight F(D^T w)
    and multiply beta by _BETA_RATE from _BETA_START until it reaches beta_max.
    """
    height, width = padded.shape
    half = width // 2 + 1
    numerator = np.conj(otf) * scipy.fft.rfft2(padded, workers=workers)
    kernel_power = otf.real * otf.real + otf.imag * otf.imag
    rows, cols = _difference_responses(height, width)
    latent = padded.copy()
    target = np.empty((height, width))
    table = np.zeros(2)
    threshold, step = 0.0, 1.0
    beta = _BETA_START
    while beta < beta_max:
        lam = 1.0 / beta
        if alpha != 1.0:
            table, threshold, step = _shrink_table(lam, alpha, _TABLE_SIZE, _TABLE_REACH)
        penalty = beta * weight
        _shrink_gradients(latent, lam, alpha, table, threshold, step, penalty, target)
        spectrum = scipy.fft.rfft2(target, workers=workers)
        for u in range(height):
            for v in range(half):
                denominator = kernel_power[u, v] + penalty * (rows[u] + cols[v])
                spectrum[u, v] = (numerator[u, v] + spectrum[u, v]) / denominator
        latent = scipy.fft.irfft2(spectrum, s=(height, width), workers=workers)
        beta *= _BETA_RATE
    return latent


def _check_weight(weight, method):
    if weight is None:
        return _DEFAULT_WEIGHTS[method]
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise TypeError(
            f"weight must be a positive real number or None, got {type(weight).__name__}; "
            f"pass for example weight={_DEFAULT_WEIGHTS[method]}"
        )
    weight = float(weight)
    if not (math.isfinite(weight) and weight > 0.0):
        raise ValueError(
            f"weight must be finite and > 0, got {weight}; use None for the default "
            f"{_DEFAULT_WEIGHTS[method]} of method={method!r}"
        )
    return weight


def _wiener_plane(plane, otf, fft_shape, weight):
    """Pad an (H, W) plane periodically into float32, solve, crop back: float32 (H, W)."""
    height, width = plane.shape
    padded = _pad_periodic(plane, fft_shape[0], fft_shape[1], np.float32)
    return _wiener(padded, otf, weight, _FFT_WORKERS)[:height, :width]


def _restore_channel(channel, otf, fft_shape, method, weight):
    """Deconvolve one (H, W) float64 channel; returns the cropped (H, W) float64 result."""
    height, width = channel.shape
    if method == "wiener":
        return _wiener_plane(channel, otf, fft_shape, weight).astype(np.float64)
    padded = _pad_periodic(channel, fft_shape[0], fft_shape[1])
    if method == "hyper_laplacian":
        return _hqs(padded, otf, weight, _ALPHA, _BETA_MAX_HYPER, _FFT_WORKERS)[:height, :width]
    # tv_l0: TV result minus the edge-preserving smoothing of its difference to an L0 result,
    # which holds the ringing (TV keeps it, L0 has none) but little of the texture.
    import cv2  # deferred: only this method needs OpenCV

    latent_tv = _hqs(padded, otf, weight, 1.0, _BETA_MAX_TV, _FFT_WORKERS)[:height, :width]
    latent_l0 = _restore_l0(padded, otf, _L0_RATIO * weight, 0.0, 1, _L0_KAPPA, _L0_BETA_MAX, 0.0)
    difference = (latent_tv - latent_l0[:height, :width]).astype(np.float32)
    smoothed = cv2.bilateralFilter(
        difference, -1, _BILATERAL_SIGMA_RANGE, _BILATERAL_SIGMA_SPACE, borderType=cv2.BORDER_REFLECT
    )
    return latent_tv - smoothed.astype(np.float64)


def deconvolve(blurred, kernel, *, method="hyper_laplacian", weight=None):
    """Non-blind deconvolution of a gray or colour image with a known blur kernel.

    Parameters
    ----------
    blurred : ndarray, shape (H, W) or (H, W, 3)
        The blurred image in [0, 1]: uint8 (divided by 255), uint16 (divided by 65535),
        float16, float32 or float64. Colour channels are deconvolved independently with
        the same kernel.
    kernel : ndarray, shape (h, w)
        Non-negative true-convolution kernel, centre at (h // 2, w // 2), so that
        ``blurred ~ scipy.signal.convolve2d(latent, kernel, mode="same")``. It is
        normalised to sum 1.
    method : {"hyper_laplacian", "wiener", "tv_l0"}
        ``"wiener"``: closed-form Tikhonov with a gradient regulariser, one FFT pair
        (fastest, some ringing and noise). ``"hyper_laplacian"``: Krishnan & Fergus,
        sharper edges, little noise. ``"tv_l0"``: TV deconvolution with Pan et al.'s
        ringing suppression (slowest, cleanest near strong edges).
    weight : float or None
        Regularisation weight (see Notes); None picks the method's default, tuned for
        Gaussian noise of standard deviation about 0.01: 1e-2 for ``"wiener"``, 7e-4 for
        ``"hyper_laplacian"`` and 1.2e-3 for ``"tv_l0"``. Larger values give smoother results.

    Returns
    -------
    latent : ndarray of float64, same shape as ``blurred``
        The deconvolved image. It is not clipped: values slightly outside [0, 1] (noise,
        ringing overshoot) are returned as they are; clip them yourself for display.

    Raises
    ------
    TypeError
        ``blurred``, ``kernel`` or ``weight`` has an unsupported type or dtype (for
        example int32, complex or bool).
    ValueError
        Wrong shape (not (H, W) or (H, W, 3); RGBA), empty, NaN or inf, values far outside
        [0, 1], a kernel with negative entries or a non-positive sum, an unknown
        ``method``, or a non-positive ``weight``.

    Notes
    -----
    The image is padded to ``fast_shape((H + h - 1, W + w - 1))`` with a smooth periodic
    continuation, so the circular model holds, then cropped back. With K, Y, D the
    transforms of the kernel, blurred image and forward differences:

    * ``"wiener"`` minimises 1/2 ||k * x - y||^2 + weight / 2 ||grad x||^2, so
      X = conj(K) Y / (|K|^2 + weight (|D_x|^2 + |D_y|^2)).
    * ``"hyper_laplacian"`` minimises 1/2 ||k * x - y||^2 + weight sum |grad x|^0.8 by
      half-quadratic splitting (Krishnan & Fergus, eqs. 2-5) with beta from 1 to 256 by
      factors of 2 sqrt(2). The w-subproblem for alpha = 0.8 has no closed form; it is
      solved by a lookup table per beta (built by Newton's method on the smooth branch
      above the exact hard threshold), as their paper suggests.
    * ``"tv_l0"`` computes x_tv minimising 1/2 ||k * x - y||^2 + weight ||grad x||_1
      (anisotropic TV, same splitting with soft thresholding, beta up to 2^12) and x_l0,
      the L0-gradient restoration of ``latent._restore_l0`` with weight ``weight / 6``,
      and returns x_tv - bilateral(x_tv - x_l0) with spatial sigma 3 and range sigma 0.1
      (Pan et al. 2016, section 5).

    References
    ----------
    D. Krishnan and R. Fergus, "Fast image deconvolution using hyper-Laplacian priors",
    NIPS 2009, eqs. (2)-(5) and section 3.1 (lookup tables). J. Pan, D. Sun, H. Pfister,
    M.-H. Yang, "Blind image deblurring using dark channel prior", CVPR 2016, section 5.
    """
    if not isinstance(method, str) or method not in DECONVOLUTION_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, DECONVOLUTION_METHODS))}, got {method!r}; "
            f"use method='hyper_laplacian' if unsure"
        )
    weight = _check_weight(weight, method)
    blurred = as_float_image(blurred, name="blurred", allow_color=True)
    kernel = as_kernel(kernel, name="kernel")
    height, width = blurred.shape[:2]
    kh, kw = kernel.shape
    fft_shape = fast_shape((height + kh - 1, width + kw - 1))
    # Computed once, shared by all channels; single precision for the single-precision Wiener solve.
    otf = _psf_to_otf(kernel.astype(np.float32) if method == "wiener" else kernel, fft_shape, _FFT_WORKERS)
    if blurred.ndim == 2:
        return np.ascontiguousarray(_restore_channel(blurred, otf, fft_shape, method, weight))
    latent = np.empty_like(blurred)
    for channel in range(blurred.shape[2]):
        plane = np.ascontiguousarray(blurred[:, :, channel])
        latent[:, :, channel] = _restore_channel(plane, otf, fft_shape, method, weight)
    return latent


class WienerDeconvolver:
    """Wiener deconvolution of many planes of one size with one kernel, as in a video stream.

    The padded size and the OTF are computed once, here; each call then costs one periodic
    padding and one FFT pair. The solve is :func:`deconvolve`'s ``"wiener"`` one.

    Parameters
    ----------
    kernel : ndarray, shape (h, w)
        Non-negative blur kernel; it is normalised to sum 1.
    plane_shape : tuple of int
        (H, W) of every plane that will be deconvolved.
    weight : float or None
        Regularisation weight; None takes ``deconvolve``'s Wiener default, 1e-2.
    shift : tuple of float
        ``(dy, dx)``: deconvolve with the kernel translated by this much, fractions included,
        which moves the result by ``-shift`` (see :func:`psf_to_otf`).

    Raises
    ------
    TypeError, ValueError
        A bad kernel, weight or shift, or a plane shape that is not two positive ints.
    """

    def __init__(self, kernel, plane_shape, *, weight=None, shift=(0.0, 0.0)):
        kernel = as_kernel(kernel, name="kernel")
        self.weight = self.check_weight(weight)
        try:
            height, width = plane_shape
        except (TypeError, ValueError) as error:
            # not a sequence: a TypeError; a sequence of another length: a ValueError
            raise type(error)(f"plane_shape must be (H, W), got {plane_shape!r}; pass frame.shape[:2]") from None
        self.plane_shape = (check_int(height, name="plane_shape H", low=1), check_int(width, name="plane_shape W", low=1))
        self._fft_shape = fast_shape((self.plane_shape[0] + kernel.shape[0] - 1, self.plane_shape[1] + kernel.shape[1] - 1))
        self._otf = psf_to_otf(kernel, self._fft_shape, shift=shift).astype(np.complex64)

    @staticmethod
    def check_weight(weight):
        """Return the weight a deconvolver would use: the default for None, else ``weight`` checked."""
        return _check_weight(weight, "wiener")

    def __call__(self, plane):
        """Deconvolve a float32 or float64 (H, W) plane already in [0, 1]; returns float32 (H, W).

        For speed only the shape is checked: pass planes that the caller has validated
        (for example with :func:`deconvolve`'s rules) once per stream or per frame.
        """
        if not isinstance(plane, np.ndarray) or plane.shape != self.plane_shape or plane.dtype.kind != "f":
            got = f"{plane.dtype} {plane.shape}" if isinstance(plane, np.ndarray) else type(plane).__name__
            raise ValueError(f"plane must be a float array of shape {self.plane_shape}, got {got}; make a new "
                             f"WienerDeconvolver for another size")
        return _wiener_plane(plane, self._otf, self._fft_shape, self.weight)
