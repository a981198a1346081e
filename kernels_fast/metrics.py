"""Measures of a blur-kernel estimate: kernel similarity, the error ratio and the alignment
it rests on. Image-against-image measures (PSNR, SSIM) are in ``image_quality``.

References
----------
Z. Hu and M.-H. Yang, "Good regions to deblur", ECCV 2012 (kernel similarity).
A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind
deconvolution algorithms", CVPR 2009 (error ratio).
"""

import math

import numpy as np

from ._jit import njit
from ._validate import as_float_image, as_kernel, check_int
from .deconv import DECONVOLUTION_METHODS, deconvolve
from .image_quality import _as_real_array, _check_pair

__all__ = ["kernel_similarity", "error_ratio", "best_shift"]


@njit
def _kernel_similarity(kernel_a, kernel_b):
    """max over shifts of (a star b)(shift) / (||a||_2 ||b||_2), by direct correlation.

    Shift (dy, dx) pairs a[i, j] with b[i - dy, j - dx]; all shifts with any overlap are
    visited, (ha + hb - 1) (wa + wb - 1) of them.
    """
    ha, wa = kernel_a.shape
    hb, wb = kernel_b.shape
    best = 0.0
    for dy in range(-(hb - 1), ha):
        for dx in range(-(wb - 1), wa):
            total = 0.0
            for i in range(max(0, dy), min(ha, hb + dy)):
                for j in range(max(0, dx), min(wa, wb + dx)):
                    total += kernel_a[i, j] * kernel_b[i - dy, j - dx]
            if total > best:
                best = total
    norm_a = np.sqrt(np.sum(kernel_a * kernel_a))
    norm_b = np.sqrt(np.sum(kernel_b * kernel_b))
    return best / (norm_a * norm_b)


@njit
def _shifted_ssd(reference, image, border, dy, dx, bound):
    """sum (reference[p] - image[p + (dy, dx)])^2 over the interior; stops once above bound."""
    height, width = reference.shape
    total = 0.0
    for i in range(border, height - border):
        for j in range(border, width - border):
            difference = reference[i, j] - image[i + dy, j + dx]
            total += difference * difference
        if total > bound:  # this shift cannot win: skip the remaining rows
            break
    return total


@njit
def _best_shift_ssd(reference, image, border, max_shift):
    """min over integer shifts |d| <= max_shift of sum (reference[p] - image[p + d])^2.

    p runs over reference[border:H - border, border:W - border]; border >= max_shift keeps
    every shifted window inside ``image``. The zero shift is scored first so that the
    early exit of ``_shifted_ssd`` prunes most other shifts after a few rows; the result
    is still the exact minimum.
    """
    best = _shifted_ssd(reference, image, border, 0, 0, np.inf)
    best_dy = 0
    best_dx = 0
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            if dy != 0 or dx != 0:
                total = _shifted_ssd(reference, image, border, dy, dx, best)
                if total < best:
                    best = total
                    best_dy = dy
                    best_dx = dx
    return best, best_dy, best_dx


@njit
def _interpolated_ssd(reference, image, border, dy, dx):
    """sum (reference[p] - image(p + (dy, dx)))^2 with bilinear interpolation of ``image``
    at fractional shifts; samples are clamped to the image."""
    height, width = reference.shape
    total = 0.0
    for i in range(border, height - border):
        y = min(max(i + dy, 0.0), height - 1.0)
        y0 = min(int(y), height - 2)
        fy = y - y0
        for j in range(border, width - border):
            x = min(max(j + dx, 0.0), width - 1.0)
            x0 = min(int(x), width - 2)
            fx = x - x0
            value = (1.0 - fy) * ((1.0 - fx) * image[y0, x0] + fx * image[y0, x0 + 1]) + fy * (
                (1.0 - fx) * image[y0 + 1, x0] + fx * image[y0 + 1, x0 + 1]
            )
            difference = reference[i, j] - value
            total += difference * difference
    return total


@njit
def _aligned_ssd(reference, image, border, max_shift, step):
    """Best SSD over integer shifts, then over fractional shifts of ``step`` pixels within
    one pixel of the best integer shift (Levin et al. search quarter pixels)."""
    best, best_dy, best_dx = _best_shift_ssd(reference, image, border, max_shift)
    if step >= 1.0:
        return best
    count = int(np.round(1.0 / step))
    for a in range(-count + 1, count):
        for b in range(-count + 1, count):
            if a != 0 or b != 0:
                total = _interpolated_ssd(reference, image, border, best_dy + a * step, best_dx + b * step)
                if total < best:
                    best = total
    return best


def kernel_similarity(kernel_a, kernel_b):
    """Hu & Yang's kernel similarity: the peak normalised cross-correlation of two kernels.

    Parameters
    ----------
    kernel_a, kernel_b : ndarray, shape (h, w) and (h', w')
        Non-negative kernels with a positive sum; sizes may differ. Each is normalised to
        sum 1 (the measure is scale invariant anyway).

    Returns
    -------
    similarity : float
        In [0, 1] (up to rounding); 1 exactly when one kernel is a shifted copy of the
        other, so a kernel embedded at any offset in a larger zero array scores 1.
        Symmetric in its arguments.

    Raises
    ------
    TypeError
        A kernel is not an ndarray of real numbers.
    ValueError
        A kernel is not 2-D, is empty, holds NaN or inf, has negative entries or a
        non-positive sum.

    Notes
    -----
    S(a, b) = max_z sum_p a(p) b(p - z) / (||a||_2 ||b||_2), the maximum over every
    relative shift z with overlap. By Cauchy-Schwarz S <= 1, with equality iff b is a
    shifted multiple of a.

    References
    ----------
    Z. Hu and M.-H. Yang, "Good regions to deblur", ECCV 2012, eq. (11).
    """
    kernel_a = as_kernel(kernel_a, name="kernel_a")
    kernel_b = as_kernel(kernel_b, name="kernel_b")
    return float(_kernel_similarity(kernel_a, kernel_b))


def _check_border(border, default, shape):
    if border is None:
        border = default
    border = check_int(border, name="border", low=0, hint=f"use None for the kernel size {default}")
    if 2 * border >= min(shape):
        raise ValueError(
            f"border={border} leaves nothing to compare in an image of shape {shape}; "
            f"use an image larger than {2 * border} pixels on each side or a smaller border"
        )
    return border


def error_ratio(sharp, blurred, estimated_kernel, true_kernel, *, method="hyper_laplacian", border=None, shift_step=0.25,
                latent_estimated=None, latent_true=None):
    """Levin et al.'s error ratio: deconvolution error with the estimated kernel over the true one.

    Parameters
    ----------
    sharp : ndarray, shape (H, W)
        The ground-truth sharp image, gray, in [0, 1] (uint8, uint16 or float; see
        :func:`deconvolve` for the dtype policy). Colour images are not accepted: pass
        their luminance.
    blurred : ndarray, shape (H, W)
        The blurred (and noisy) observation of ``sharp``, same shape and policy.
    estimated_kernel, true_kernel : ndarray, shape (h, w) and (h', w')
        Non-negative true-convolution kernels, centre at (h // 2, w // 2); sizes may
        differ and the estimated kernel may be off-centre.
    method : {"hyper_laplacian", "wiener", "tv_l0"}
        The :func:`deconvolve` method used for both kernels (with its default weight).
    border : int or None
        Pixels cropped on each side before the SSD; None uses the largest kernel side.
    shift_step : {0.25, 0.5, 1.0}
        Alignment resolution in pixels. 0.25 follows Levin et al.'s evaluation code, which
        aligns on a quarter-pixel grid: a blind estimate is only defined up to a
        translation, and a half-pixel offset alone can triple the SSD of a sharp image.
        1.0 restricts the search to integer shifts.
    latent_estimated, latent_true : ndarray, shape (H, W), optional
        ``deconvolve(blurred, kernel, method=method)`` of each kernel when the caller has it
        already (an evaluation scoring one kernel several ways); it is used as given, so it
        must be exactly that. None deconvolves here.

    Returns
    -------
    ratio : float
        SSD_estimated / SSD_true, >= 0; exactly 1.0 when the two kernels are equal. Levin
        et al. count an estimate as successful when the ratio is below about 3. It is
        ``inf`` if the true kernel restores ``sharp`` exactly and the estimate does not.

    Raises
    ------
    TypeError
        An image or kernel has an unsupported type or dtype, or ``border`` is not an int.
    ValueError
        Shapes differ or are not (H, W), values are invalid (see :func:`deconvolve`),
        ``method`` is unknown, or ``border`` is negative or too large for the image.

    Notes
    -----
    x_e = deconvolve(blurred, estimated_kernel) and x_t = deconvolve(blurred, true_kernel).
    Each is aligned to ``sharp`` by the integer shift d with |d_y|, |d_x| <= s,
    s = min(border, largest kernel side // 2), minimising
    SSD(x) = sum_p (sharp(p) - x(p + d))^2 over the cropped interior, then refined to the
    best fractional shift on a ``shift_step`` grid within one pixel of d (bilinear
    interpolation), and
    ratio = SSD(x_e) / SSD(x_t). Aligning both, with the same search, makes the ratio
    exactly 1 for the true kernel and invariant to where the estimate is centred.

    References
    ----------
    A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind
    deconvolution algorithms", CVPR 2009, section 5.
    """
    if not isinstance(method, str) or method not in DECONVOLUTION_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, DECONVOLUTION_METHODS))}, got {method!r}"
        )
    sharp = as_float_image(sharp, name="sharp", allow_color=False)
    blurred = as_float_image(blurred, name="blurred", allow_color=False)
    if sharp.shape != blurred.shape:
        raise ValueError(
            f"sharp and blurred must have the same shape, got {sharp.shape} and {blurred.shape}; "
            f"crop them to a common size"
        )
    estimated_kernel = as_kernel(estimated_kernel, name="estimated_kernel")
    true_kernel = as_kernel(true_kernel, name="true_kernel")
    kernel_side = max(estimated_kernel.shape + true_kernel.shape)
    border = _check_border(border, kernel_side, sharp.shape)
    max_shift = min(border, kernel_side // 2)
    if shift_step not in (0.25, 0.5, 1.0):
        raise ValueError(f"shift_step must be 0.25, 0.5 or 1.0 pixels, got {shift_step!r}")
    latent_true = _given_latent(latent_true, "latent_true", sharp.shape)
    if latent_true is None:
        latent_true = deconvolve(blurred, true_kernel, method=method)
    ssd_true = _aligned_ssd(sharp, latent_true, border, max_shift, shift_step)
    if estimated_kernel.shape == true_kernel.shape and np.array_equal(estimated_kernel, true_kernel):
        return 1.0  # the same deconvolution twice: skip the second one
    latent_estimated = _given_latent(latent_estimated, "latent_estimated", sharp.shape)
    if latent_estimated is None:
        latent_estimated = deconvolve(blurred, estimated_kernel, method=method)
    ssd_estimated = _aligned_ssd(sharp, latent_estimated, border, max_shift, shift_step)
    if ssd_true == 0.0:
        return 1.0 if ssd_estimated == 0.0 else math.inf
    return float(ssd_estimated / ssd_true)


def _given_latent(latent, name, shape):
    if latent is None:
        return None
    latent = _as_real_array(latent, name)  # no range check: a deconvolution overshoots [0, 1]
    if latent.shape != shape:
        raise ValueError(f"{name} must have the shape of blurred, {shape}, got {latent.shape}; pass the deconvolution of "
                         "blurred itself, or None")
    return np.ascontiguousarray(latent)


def best_shift(reference, image, *, border, max_shift):
    """The integer translation that best aligns ``image`` to ``reference``.

    Parameters
    ----------
    reference, image : ndarray, shape (H, W)
        Gray images of the same shape (for example a sharp image and a deconvolution with a
        blind kernel estimate, which is only defined up to a translation).
    border : int
        Pixels left out on each side of ``reference``; at least ``max_shift``, so every
        shifted window stays inside ``image``.
    max_shift : int
        Largest shift tried along each axis, >= 0.

    Returns
    -------
    dy, dx : int
        The shift minimising ``sum_p (reference(p) - image(p + d))^2`` over
        ``reference[border:H - border, border:W - border]``: compare that interior with
        ``image[border + dy:H - border + dy, border + dx:W - border + dx]``. Ties keep the
        zero shift, then the first in row-major order.

    Raises
    ------
    TypeError, ValueError
        Bad arrays (see :func:`~goodregions.kernels_fast.image_quality.psnr`), different shapes, ``max_shift`` negative or above
        ``border``, or a border that leaves nothing to compare.
    """
    reference, image = _check_pair(reference, image)
    if reference.ndim != 2:
        raise ValueError(f"reference and image must be gray (H, W) images, got shape {reference.shape}; pass the luminance")
    max_shift = check_int(max_shift, name="max_shift", low=0)
    border = _check_border(border, 0, reference.shape)
    if max_shift > border:
        raise ValueError(f"max_shift={max_shift} exceeds border={border}: shifted windows would leave the image; "
                         f"use a border of at least {max_shift}")
    _, dy, dx = _best_shift_ssd(np.ascontiguousarray(reference), np.ascontiguousarray(image), border, max_shift)
    return int(dy), int(dx)
