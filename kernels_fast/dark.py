"""Dark channel of a gray image by a linear-time min filter (van Herk / Gil-Werman).

The dark channel of Pan et al. is the minimum over a patch centred on each pixel. The
blind estimator also needs *where* that minimum sits, so the filter tracks the argmin.
"""

import numpy as np

from ._jit import njit
from ._validate import as_float_image, check_odd_size

__all__ = ["dark_channel"]


@njit
def _min_filter_1d(values, indices, radius, out_values, out_indices):
    """Centred running minimum of width 2 * radius + 1, windows clipped at the ends.

    van Herk / Gil-Werman: split the (inf-padded) signal into blocks of the window
    width, take prefix minima forward and suffix minima backward inside each block;
    any window spans at most two blocks, so its minimum is min(suffix[start],
    prefix[end]). Three comparisons per sample, whatever the width.
    """
    n = values.shape[0]
    width = 2 * radius + 1
    padded_n = ((n + 2 * radius + width - 1) // width) * width
    padded = np.full(padded_n, np.inf)
    padded_idx = np.full(padded_n, -1, dtype=np.int64)
    padded[radius : radius + n] = values
    padded_idx[radius : radius + n] = indices
    prefix = np.empty(padded_n)
    prefix_idx = np.empty(padded_n, dtype=np.int64)
    suffix = np.empty(padded_n)
    suffix_idx = np.empty(padded_n, dtype=np.int64)
    for start in range(0, padded_n, width):
        prefix[start] = padded[start]
        prefix_idx[start] = padded_idx[start]
        for i in range(start + 1, start + width):
            if padded[i] < prefix[i - 1]:
                prefix[i] = padded[i]
                prefix_idx[i] = padded_idx[i]
            else:
                prefix[i] = prefix[i - 1]
                prefix_idx[i] = prefix_idx[i - 1]
        last = start + width - 1
        suffix[last] = padded[last]
        suffix_idx[last] = padded_idx[last]
        for i in range(last - 1, start - 1, -1):
            if padded[i] <= suffix[i + 1]:
                suffix[i] = padded[i]
                suffix_idx[i] = padded_idx[i]
            else:
                suffix[i] = suffix[i + 1]
                suffix_idx[i] = suffix_idx[i + 1]
    for i in range(n):
        # Window of output i covers padded[i : i + width].
        end = i + width - 1
        if suffix[i] <= prefix[end]:
            out_values[i] = suffix[i]
            out_indices[i] = suffix_idx[i]
        else:
            out_values[i] = prefix[end]
            out_indices[i] = prefix_idx[end]


@njit
def _dark_channel(image, patch):
    """Return the patch minimum of every pixel and the flat index of that minimum."""
    height, width = image.shape
    radius = patch // 2
    row_min = np.empty((height, width))
    row_arg = np.empty((height, width), dtype=np.int64)
    columns = np.arange(width)
    for i in range(height):
        _min_filter_1d(image[i], columns, radius, row_min[i], row_arg[i])
    dark = np.empty((height, width))
    argmin = np.empty((height, width), dtype=np.int64)
    rows = np.arange(height)
    column_values = np.empty(height)
    out_values = np.empty(height)
    out_rows = np.empty(height, dtype=np.int64)
    for j in range(width):
        for i in range(height):
            column_values[i] = row_min[i, j]
        _min_filter_1d(column_values, rows, radius, out_values, out_rows)
        for i in range(height):
            dark[i, j] = out_values[i]
            source_row = out_rows[i]
            argmin[i, j] = source_row * width + row_arg[source_row, j]
    return dark, argmin


def dark_channel(image, *, patch=35):
    """Dark channel: the minimum over a ``patch`` × ``patch`` window centred on each pixel.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Gray image (see the package dtype policy).
    patch : int
        Odd window width; windows are clipped at the image borders.

    Returns
    -------
    dark : ndarray of float64, shape (H, W)
    argmin : ndarray of int64, shape (H, W)
        Flat index (row * W + column) of the pixel holding each minimum.

    References
    ----------
    J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark channel
    prior", CVPR 2016, eq. (1). M. van Herk, "A fast algorithm for local minimum and
    maximum filters on rectangular and octagonal kernels", Pattern Recognition Letters 1992.
    """
    image = as_float_image(image, name="image", allow_color=False)
    return _dark_channel(image, check_odd_size(patch, name="patch", low=1))
