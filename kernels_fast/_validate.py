"""Validation and dtype policy at the public boundary of ``kernels_fast``.

Policy (documented in every public docstring that uses it):

* ``uint8`` images are divided by 255 and ``uint16`` images by 65535, so both land in
  [0, 1]. Other integer dtypes have no agreed full scale and are refused.
* ``float16`` is promoted; ``float32`` and ``float64`` are accepted as they are.
* Complex and boolean arrays, NaN or inf, and empty arrays are refused.
* Float images must lie in [0, 1] up to noise: values outside [-0.5, 1.5] are refused
  (an image in [0, 255] passed as float is the usual cause).
* Computation happens in float64, in C order, so every jitted core compiles once.
"""

import numbers

import numpy as np

_NOISE_MARGIN = 0.5
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, RGB channel order


def as_float_image(image, *, name, allow_color):
    """Return ``image`` as a C-contiguous float64 array in [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8, uint16, float16, float32 or float64.
    name : str
        The parameter name used in error messages.
    allow_color : bool
        Accept (H, W, 3) images (RGB channel order) as well as (H, W).

    Raises
    ------
    TypeError
        Not an ndarray, or an unsupported dtype.
    ValueError
        Wrong shape, empty, non-finite, or out of range.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray, got {type(image).__name__}; "
            f"wrap it with numpy.asarray(...) first"
        )
    expected = "(H, W) or (H, W, 3)" if allow_color else "(H, W)"
    shape_ok = image.ndim == 2 or (allow_color and image.ndim == 3 and image.shape[2] == 3)
    if not shape_ok:
        hint = ""
        if image.ndim == 3 and image.shape[2] == 4:
            hint = "; drop the alpha channel with image[..., :3]"
        elif image.ndim == 3 and not allow_color:
            hint = "; convert to grayscale first"
        raise ValueError(f"{name} must have shape {expected}, got shape {image.shape}{hint}")
    if image.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {image.shape}")
    kind = image.dtype.kind
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image, dtype=np.float64) / 255.0
    if image.dtype == np.uint16:
        return np.ascontiguousarray(image, dtype=np.float64) / 65535.0
    if kind != "f":
        raise TypeError(
            f"{name} must be uint8, uint16 or floating point in [0, 1], got dtype {image.dtype}; "
            f"convert it with image.astype(numpy.float64) / full_scale"
        )
    result = np.ascontiguousarray(image, dtype=np.float64)
    # min and max propagate NaN and reach any inf, so they also do the finiteness check
    # without a third pass over a frame.
    low, high = float(result.min()), float(result.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contains NaN or inf; replace them (numpy.nan_to_num) before calling")
    if low < -_NOISE_MARGIN or high > 1.0 + _NOISE_MARGIN:
        raise ValueError(
            f"{name} must hold values in [0, 1], got range [{low:.4g}, {high:.4g}]; "
            f"divide by the full scale (for example 255) first"
        )
    return result


def to_luminance(image):
    """Return the BT.601 luminance of an (H, W, 3) RGB float image, or the image itself if gray."""
    if image.ndim == 2:
        return image
    return np.ascontiguousarray(image @ _LUMA_WEIGHTS)


def as_kernel(kernel, *, name="kernel"):
    """Return ``kernel`` as a C-contiguous float64 (h, w) array normalised to sum 1.

    Raises
    ------
    TypeError
        Not an ndarray, or a non-real dtype.
    ValueError
        Not 2-D, empty, non-finite, clearly negative, or summing to zero or less.
    """
    if not isinstance(kernel, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(kernel).__name__}")
    if kernel.dtype.kind not in "fiu" or kernel.dtype == np.bool_:
        raise TypeError(f"{name} must hold real numbers, got dtype {kernel.dtype}")
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array, got shape {kernel.shape}; "
            f"pass a single (h, w) kernel (numpy.squeeze removes extra axes)"
        )
    result = np.ascontiguousarray(kernel, dtype=np.float64)
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{name} contains NaN or inf")
    total = result.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum, got {total:.4g}; a blur kernel holds non-negative weights")
    if result.min() < -1e-6 * result.max():
        raise ValueError(
            f"{name} must be non-negative, got a minimum of {result.min():.4g}; "
            f"clip it with numpy.clip(kernel, 0, None)"
        )
    clipped = np.clip(result, 0.0, None)
    return clipped / clipped.sum()


def check_int(value, *, name, low=None, unit="", hint=""):
    """Return ``value`` as an int after checking it is an integer, not a bool, and >= ``low`` if given.

    ``unit`` (for example ``"frames"``) and ``hint`` (how to fix it) extend the message.

    Raises
    ------
    TypeError
        Not an integer (a float, a string, a bool).
    ValueError
        Below ``low``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        unit = f" ({unit})" if unit else ""
        hint = f"; {hint}" if hint else ""
        raise ValueError(f"{name} must be an int >= {low}{unit}, got {value!r}{hint}")
    return int(value)


def check_odd_size(size, *, name, low=3):
    """Return ``size`` as an int after checking it is an odd integer >= ``low`` (so it has a centre pixel)."""
    size = check_int(size, name=name)
    if size < low or size % 2 == 0:
        raise ValueError(
            f"{name} must be an odd integer >= {low} so it has a centre pixel, got {size}; "
            f"try {max(low, size + 1 - size % 2)}"
        )
    return size


def check_kernel_size(kernel_size, image_shape, *, name="kernel_size"):
    """Check that ``kernel_size`` is an odd int >= 3 and small enough for the image.

    The image must be at least twice the kernel on its shorter side, so that the kernel
    is estimated from more than its own support.
    """
    kernel_size = check_odd_size(kernel_size, name=name)
    shortest = min(image_shape[:2])
    if 2 * kernel_size > shortest:
        raise ValueError(
            f"{name}={kernel_size} is too large for an image of shape {image_shape[:2]}: the shorter "
            f"side must be at least 2 * {name} = {2 * kernel_size}; use a larger image or a kernel "
            f"size <= {max(3, (shortest // 2) - 1 + (shortest // 2) % 2)}"
        )
    return kernel_size
