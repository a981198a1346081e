"""Window geometry: the grid of square windows a kernel may be estimated from.

Numpy only, so that the runtime can use the same grid as the training labels. A window is
a box ``(x, y, w, h)``: column and row of its top-left pixel, width and height, in pixels.

The grid starts at the top-left pixel and steps by ``stride``; along an axis of length
``L`` it holds

    n = (L - size) // stride + 1   windows when L >= size, and 0 otherwise,

so a 450 x 450 image gives 12 x 12 = 144 windows of 228 at a stride of 20 (``222 // 20 + 1``)
and a 447 x 447 one 11 x 11 = 121. The grid is anchored at the top-left corner: the last
``(L - size) % stride`` rows (columns) at the bottom (right) lie in no window, and every
window lies wholly inside the image.
"""

from __future__ import annotations

import numpy as np

from goodregions.kernels_fast._validate import check_int
from goodregions.runtime.defaults import WINDOW_SIZE, WINDOW_STRIDE

__all__ = ["count_windows", "window_boxes", "cut_windows"]


def _image_shape(shape):
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple (H, W) or (H, W, C), got {shape!r}; pass image.shape") from None
    if len(dims) not in (2, 3) or any(
        isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims
    ):
        raise ValueError(f"shape must be (H, W) or (H, W, C) of non-negative ints, got {shape!r}; pass image.shape")
    return int(dims[0]), int(dims[1])


def count_windows(shape, *, size=WINDOW_SIZE, stride=WINDOW_STRIDE):
    """Return the number of window rows and columns on an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``, for example ``image.shape``.
    size : int
        Side of the square windows in pixels (default ``WINDOW_SIZE``).
    stride : int
        Step between neighbouring windows in pixels (default ``WINDOW_STRIDE``).

    Returns
    -------
    rows, cols : int
        ``n(H)`` and ``n(W)`` with ``n(L) = (L - size) // stride + 1`` for ``L >= size``
        and 0 otherwise; the grid holds ``rows * cols`` windows.

    Raises
    ------
    TypeError, ValueError
        ``shape`` is not a 2- or 3-tuple of non-negative ints, or ``size`` or ``stride`` is
        not a positive int.
    """
    height, width = _image_shape(shape)
    size = check_int(size, name="size", low=1, unit="pixels")
    stride = check_int(stride, name="stride", low=1, unit="pixels")

    def along(length):
        return (length - size) // stride + 1 if length >= size else 0

    return along(height), along(width)


def window_boxes(shape, *, size=WINDOW_SIZE, stride=WINDOW_STRIDE):
    """Return the boxes of the window grid on an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    size, stride : int
        Window side and step in pixels; see :func:`count_windows`.

    Returns
    -------
    boxes : ndarray of int64, shape (N, 4)
        Rows ``(x, y, w, h)`` with ``w == h == size``, in row-major order (``y`` outer,
        ``x`` inner), ``N = rows * cols`` from :func:`count_windows`. Empty, shape (0, 4),
        when the image is smaller than one window along either axis.

    Examples
    --------
    >>> window_boxes((450, 450)).shape
    (144, 4)
    >>> window_boxes((100, 120), size=64, stride=32).tolist()
    [[0, 0, 64, 64], [32, 0, 64, 64], [0, 32, 64, 64], [32, 32, 64, 64]]
    """
    rows, cols = count_windows(shape, size=size, stride=stride)
    ys, xs = np.meshgrid(np.arange(rows) * stride, np.arange(cols) * stride, indexing="ij")
    boxes = np.empty((rows * cols, 4), dtype=np.int64)
    boxes[:, 0] = xs.ravel()
    boxes[:, 1] = ys.ravel()
    boxes[:, 2] = size
    boxes[:, 3] = size
    return boxes


def cut_windows(image, boxes):
    """Cut equally sized boxes out of an image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any dtype; it is kept.
    boxes : array_like of int, shape (N, 4)
        ``(x, y, w, h)`` rows, all with the same ``w`` and ``h``, each inside the image, as
        :func:`window_boxes` returns them.

    Returns
    -------
    windows : ndarray, shape (N, h, w) or (N, h, w, C)
        A copy with the dtype of ``image``; shape (0, 0, 0) (plus ``C``) when ``boxes`` is
        empty.

    Raises
    ------
    TypeError
        ``image`` is not an ndarray, or ``boxes`` does not hold integers.
    ValueError
        Bad shapes, boxes of different sizes, or a box reaching outside the image.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got shape {image.shape}")
    boxes = np.asarray(boxes)
    if boxes.size == 0:
        return np.empty((0, 0, 0) + image.shape[2:], dtype=image.dtype)
    if boxes.dtype.kind not in "iu":
        raise TypeError(f"boxes must hold integers (x, y, w, h), got dtype {boxes.dtype}; use window_boxes")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) of (x, y, w, h), got shape {boxes.shape}")
    x, y, w, h = (boxes[:, i].astype(np.int64) for i in range(4))
    if np.any(w != w[0]) or np.any(h != h[0]) or w[0] < 1 or h[0] < 1:
        raise ValueError(
            f"boxes must all have the same positive width and height, got widths {np.unique(w)[:5]} "
            f"and heights {np.unique(h)[:5]}; cut boxes of different sizes separately"
        )
    outside = (x < 0) | (y < 0) | (x + w > image.shape[1]) | (y + h > image.shape[0])
    if np.any(outside):
        first = boxes[np.argmax(outside)].tolist()
        raise ValueError(
            f"boxes must lie inside the image of shape {image.shape}, got box {first} (x, y, w, h) "
            f"among {int(outside.sum())} outside; compute them with window_boxes(image.shape)"
        )
    # views[y, x] is the (h, w[, C]) window with top-left pixel (y, x); fancy indexing copies.
    views = np.lib.stride_tricks.sliding_window_view(image, (int(h[0]), int(w[0])), axis=(0, 1))
    windows = views[y, x]  # (N, [C,] h, w): sliding_window_view puts the window axes last
    if image.ndim == 3:
        windows = np.moveaxis(windows, 1, -1)
    return np.ascontiguousarray(windows)
