"""Image-against-image quality measures: PSNR and SSIM, with the array checks they share.

References
----------
Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4), 2004 (SSIM).
"""

import math
import numbers

import cv2
import numpy as np

__all__ = ["psnr", "ssim"]

# SSIM constants of Wang et al. 2004: an 11 x 11 Gaussian window of sigma 1.5, K1 and K2.
SSIM_SIGMA, SSIM_RADIUS, SSIM_K1, SSIM_K2 = 1.5, 5, 0.01, 0.03


def _as_real_array(array, name):
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray, got {type(array).__name__}; wrap it with numpy.asarray(...)"
        )
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (int or float), got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    result = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{name} contains NaN or inf; replace them (numpy.nan_to_num) before calling")
    return result


def _check_data_range(data_range):
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real):
        raise TypeError(f"data_range must be a positive number, got {type(data_range).__name__}")
    data_range = float(data_range)
    if not (math.isfinite(data_range) and data_range > 0.0):
        raise ValueError(f"data_range must be finite and > 0, got {data_range}; use 1.0 for [0, 1] images")
    return data_range


def _check_pair(reference, image, data_range=None):
    """Both arrays as float64 after the checks of :func:`psnr` (the scale check only with a ``data_range``)."""
    reference = _as_real_array(reference, "reference")
    image = _as_real_array(image, "image")
    if reference.shape != image.shape:
        raise ValueError(
            f"reference and image must have the same shape, got {reference.shape} and {image.shape}"
        )
    if data_range is not None:
        peak = float(np.max(np.abs(reference)))
        if peak > 1.5 * data_range:
            raise ValueError(
                f"reference reaches {peak:.4g}, far above data_range={data_range:g}; pass the full "
                f"scale of the images, for example data_range=255 for uint8"
            )
    return reference, image


def psnr(reference, image, *, data_range=1.0):
    """Peak signal-to-noise ratio of ``image`` against ``reference``, in decibels.

    Parameters
    ----------
    reference, image : ndarray, same shape (any, for example (H, W) or (H, W, 3))
        Real arrays (integer or float), compared as they are, in float64: no dtype
        scaling, so pass ``data_range=255`` for uint8 images.
    data_range : float
        The full scale of the values (1.0 for [0, 1] images).

    Returns
    -------
    psnr : float
        10 log10(data_range^2 / MSE); ``inf`` for identical images.

    Raises
    ------
    TypeError
        An argument is not an ndarray of real numbers, or ``data_range`` is not a number.
    ValueError
        Shapes differ, an array is empty or holds NaN or inf, ``data_range`` is not
        positive, or ``reference`` exceeds 1.5 * ``data_range`` (usually a uint8 image
        with the default ``data_range=1.0``).
    """
    data_range = _check_data_range(data_range)
    reference, image = _check_pair(reference, image, data_range)
    mse = float(np.mean((reference - image) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _ssim_map(reference, image, c1, c2):
    """Per-pixel SSIM of two float64 (H, W) images over the windows wholly inside them.

    Separable Gaussian filtering (weights sum 1); the border of the filter's output, whose
    windows reach outside the image, is cut off, as the "valid" filtering of Wang et al.
    """
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    weights = np.exp(-offsets**2 / (2.0 * SSIM_SIGMA**2))
    weights /= weights.sum()
    r = SSIM_RADIUS

    def local_mean(values):
        return cv2.sepFilter2D(values, cv2.CV_64F, weights, weights, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_x, mu_y = local_mean(reference), local_mean(image)
    # Gaussian-weighted (population) moments, as in Wang et al.'s reference implementation.
    var_x = local_mean(reference * reference) - mu_x * mu_x
    var_y = local_mean(image * image) - mu_y * mu_y
    cov = local_mean(reference * image) - mu_x * mu_y
    return ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))


def ssim(reference, image, *, data_range=1.0):
    """Structural similarity index of ``image`` against ``reference`` (Wang et al. 2004).

    Parameters
    ----------
    reference, image : ndarray, shape (H, W) or (H, W, C), same shape
        Real arrays, compared as they are in float64 (no dtype scaling: pass
        ``data_range=255`` for uint8). H and W must be at least 11, the window side.
        Channels are scored separately and averaged.
    data_range : float
        The full scale of the values (1.0 for [0, 1] images).

    Returns
    -------
    ssim : float
        The mean of the SSIM map over every 11 x 11 window wholly inside the image; at most
        1, exactly 1 for identical images, symmetric in its arguments.

    Raises
    ------
    TypeError, ValueError
        As :func:`psnr`; also an image smaller than 11 x 11 or not 2-D or 3-D.

    Notes
    -----
    With Gaussian-weighted local means mu, variances sigma^2 and covariance sigma_xy
    (window sigma 1.5, 11 x 11),

        SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

    C1 = (K1 L)^2, C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03, L = ``data_range``.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4), 2004, eqs. (13) and (17).
    """
    data_range = _check_data_range(data_range)
    reference, image = _check_pair(reference, image, data_range)
    side = 2 * SSIM_RADIUS + 1
    if reference.ndim not in (2, 3) or min(reference.shape[:2]) < side:
        raise ValueError(f"reference and image must be (H, W) or (H, W, C) with H, W >= {side} (the SSIM window), "
                         f"got shape {reference.shape}; compare larger images")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    if reference.ndim == 2:
        return float(np.mean(_ssim_map(reference, image, c1, c2)))
    return float(np.mean([np.mean(_ssim_map(np.ascontiguousarray(reference[..., c]), np.ascontiguousarray(image[..., c]), c1, c2))
                          for c in range(reference.shape[2])]))
