"""FFT helpers: fast sizes, PSF to OTF, smooth periodic padding and convolution.

Convention: kernels are *true convolution* kernels, centred at ``(h // 2, w // 2)``,
so ``convolve(latent, kernel, mode="same")`` equals
``scipy.signal.convolve2d(latent, kernel, mode="same")``.
"""

import math

import numpy as np
import scipy.fft

from ._jit import njit
from ._validate import as_float_image, as_kernel

__all__ = ["fast_shape", "psf_to_otf", "pad_periodic", "convolve"]


def fast_shape(shape):
    """Return the smallest shape >= ``shape`` whose sides are fast real-FFT lengths (5-smooth)."""
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


@njit
def _smooth_length(n):
    """Smallest 2^a 3^b 5^c >= n, inside jitted code (where scipy's next_fast_len is not available)."""
    length = max(int(n), 1)
    while True:
        rest = length
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return length
        length += 1


@njit
def _psf_to_otf(kernel, shape, workers=1):
    # PSF centre rolled to (0, 0) so that multiplying by the OTF is a centred convolution.
    # A float32 kernel gives a complex64 OTF, for the single-precision solves. Frame-sized
    # OTFs pass workers > 1: threads only pay off on large transforms.
    height, width = shape
    kh, kw = kernel.shape
    padded = np.zeros((height, width), dtype=kernel.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[(i - kh // 2) % height, (j - kw // 2) % width] += kernel[i, j]
    return scipy.fft.rfft2(padded, workers=workers)


def psf_to_otf(kernel, shape, *, shift=(0.0, 0.0)):
    """Return the real-FFT optical transfer function of ``kernel`` for an image of ``shape``.

    Parameters
    ----------
    kernel : ndarray, shape (h, w)
        Non-negative convolution kernel; it is normalised to sum 1.
    shape : tuple of int
        (H, W) of the (padded) image; each side must be at least the kernel's.
    shift : tuple of float
        ``(dy, dx)``: the OTF of the kernel translated by this many pixels, ``kernel(p - shift)``,
        fractions included (a phase ramp, exact on the periodic domain). Deconvolving with
        it moves the result by ``-shift``; :func:`kernel_offset` measures the one that keeps
        the result in register with another kernel's.

    Returns
    -------
    otf : ndarray of complex128, shape (H, W // 2 + 1)
        ``numpy.fft.rfft2`` of the kernel zero-padded to ``shape`` with its centre
        ``(h // 2, w // 2)`` rolled to (0, 0), times the ramp of ``shift``.
    """
    kernel = as_kernel(kernel)
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2 or shape[0] < kernel.shape[0] or shape[1] < kernel.shape[1]:
        raise ValueError(
            f"shape must be (H, W) at least as large as the kernel {kernel.shape}, got {shape}"
        )
    try:
        dy, dx = (float(value) for value in shift)
    except (TypeError, ValueError):
        dy = dx = math.nan
    if not (math.isfinite(dy) and math.isfinite(dx)):
        raise ValueError(f"shift must be two finite numbers (dy, dx) in pixels, got {shift!r}")
    otf = _psf_to_otf(kernel, shape)
    if dy == 0.0 and dx == 0.0:
        return otf
    # The ramp separates into a column and a row: two short exponentials, not H * W.
    ramp_rows = np.exp(-2j * np.pi * dy * np.fft.fftfreq(shape[0]))[:, None]
    ramp_cols = np.exp(-2j * np.pi * dx * np.fft.rfftfreq(shape[1]))[None, :]
    return otf * ramp_rows * ramp_cols


@njit
def _cross_fade(a, b, step, steps):
    # Cosine ramp from a (step 0) to b (step steps): continuous value and slope at both ends.
    weight = 0.5 - 0.5 * np.cos(np.pi * step / steps)
    return (1.0 - weight) * a + weight * b


@njit
def _fill_periodic(image, out):
    """Write ``image`` and its smooth wrap-around padding into ``out`` (float32 or float64),
    so that the single-precision solves pad straight into their own precision."""
    height, width = image.shape
    out_height, out_width = out.shape
    out[:height, :width] = image
    steps = out_width - width + 1
    for i in range(height):
        for j in range(width, out_width):
            out[i, j] = _cross_fade(image[i, width - 1], image[i, 0], j - width + 1, steps)
    steps = out_height - height + 1
    for i in range(height, out_height):
        for j in range(out_width):
            out[i, j] = _cross_fade(out[height - 1, j], out[0, j], i - height + 1, steps)


def _pad_periodic(image, out_height, out_width, dtype=np.float64):
    # Not jitted itself: a cached jitted caller of _fill_periodic came back from Numba's
    # cache with code that rounds differently from a fresh compile (1 ulp, which the
    # blind estimator can amplify), and every caller is Python anyway. float32 is for the
    # single-precision Wiener solve.
    padded = np.empty((out_height, out_width), dtype=dtype)
    _fill_periodic(image, padded)
    return padded


def pad_periodic(image, shape):
    """Pad ``image`` at the bottom and right so that it wraps around smoothly.

    The padding cross-fades from the last row (column) back to the first with a cosine
    ramp, so the padded image is continuous when tiled periodically and circular FFT
    filtering leaves no ringing seam at the image borders.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Float image.
    shape : tuple of int
        (H', W') with H' >= H and W' >= W.

    Returns
    -------
    padded : ndarray of float64, shape (H', W')
        ``padded[:H, :W] == image``.

    Notes
    -----
    This is a cheap variant of the smooth wrap-around padding of Liu & Jia: where they
    solve a Laplace equation over the padding, we blend the opposite borders row by row
    and then column by column.

    References
    ----------
    R. Liu and J. Jia, "Reducing boundary artifacts in image deconvolution", ICIP 2008.
    """
    image = as_float_image(image, name="image", allow_color=False)
    out_height, out_width = (int(n) for n in shape)
    if out_height < image.shape[0] or out_width < image.shape[1]:
        raise ValueError(f"shape must be at least the image shape {image.shape}, got {tuple(shape)}")
    return _pad_periodic(image, out_height, out_width)


@njit
def _convolve_full(image, kernel, fft_height, fft_width):
    height, width = image.shape
    kh, kw = kernel.shape
    padded_image = np.zeros((fft_height, fft_width))
    padded_image[:height, :width] = image
    padded_kernel = np.zeros((fft_height, fft_width))
    padded_kernel[:kh, :kw] = kernel
    product = np.fft.rfft2(padded_image) * np.fft.rfft2(padded_kernel)
    full = np.fft.irfft2(product, s=(fft_height, fft_width))
    return np.ascontiguousarray(full[: height + kh - 1, : width + kw - 1])


def convolve(image, kernel, *, mode="same"):
    """True 2-D convolution of ``image`` with ``kernel`` through the FFT, zero boundary.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        uint8, uint16 or float image in [0, 1] (see the package dtype policy).
    kernel : ndarray, shape (h, w)
        Non-negative kernel; it is normalised to sum 1.
    mode : {"same", "valid"}
        ``"same"``: (H, W), centred like ``scipy.signal.convolve2d(..., mode="same")``.
        ``"valid"``: (H - h + 1, W - w + 1), only pixels that see no boundary; use it to
        synthesise realistic blur from a larger sharp crop.

    Returns
    -------
    ndarray of float64
    """
    image = as_float_image(image, name="image", allow_color=False)
    kernel = as_kernel(kernel)
    if mode not in ("same", "valid"):
        raise ValueError(f"mode must be 'same' or 'valid', got {mode!r}")
    kh, kw = kernel.shape
    height, width = image.shape
    if mode == "valid" and (height < kh or width < kw):
        raise ValueError(
            f"mode='valid' needs an image at least as large as the kernel {kernel.shape}, "
            f"got image shape {image.shape}"
        )
    fft_height, fft_width = fast_shape((height + kh - 1, width + kw - 1))
    full = _convolve_full(image, kernel, fft_height, fft_width)
    if mode == "same":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        return full[top : top + height, left : left + width].copy()
    return full[kh - 1 : height, kw - 1 : width].copy()
