"""The translation between two estimates of one blur kernel.

A blind kernel is only defined up to a translation, and a translated kernel moves the
deblurred image the opposite way. Two estimates of one blur, from two noisy frames, often
sit up to a pixel apart: the estimator centres each on its centre of mass rounded to a
pixel, and the sub-pixel phase of a blind estimate is not fixed by the image
(BENCHMARKS.md). Deconvolving with the second kernel translated by the offset measured
here keeps the picture where the first one put it.
"""

import numpy as np
import scipy.signal

from ._validate import as_kernel

__all__ = ["kernel_offset"]


def _parabola_vertex(before, peak, after):
    """Offset in (-0.5, 0.5) of the vertex of the parabola through three samples around a peak."""
    curvature = before - 2.0 * peak + after
    if curvature >= 0.0:  # flat or not a maximum: keep the sample
        return 0.0
    return float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))


def kernel_offset(kernel, reference):
    """The translation that lays ``kernel`` over ``reference``, to a fraction of a pixel.

    Parameters
    ----------
    kernel, reference : ndarray, shape (h, w) and (h', w')
        Non-negative kernels with a positive sum, centres at ``(h // 2, w // 2)``; sizes may
        differ.

    Returns
    -------
    similarity : float
        The peak normalised cross-correlation, as :func:`kernel_similarity`: near 1 when the
        two are one blur, so the offset means something.
    offset : tuple of float
        ``(dy, dx)``: ``kernel`` translated by it, ``kernel(p - offset)``, best matches
        ``reference``. The whole-pixel part is the cross-correlation's peak, the fraction
        the vertex of a parabola through the peak and its two neighbours on each axis.
        Antisymmetric: swapping the arguments negates it.

    Raises
    ------
    TypeError, ValueError
        A kernel that :func:`deconvolve` would refuse.
    """
    kernel = as_kernel(kernel, name="kernel")
    reference = as_kernel(reference, name="reference")
    # correlation[i, j] pairs reference[p] with kernel[p - (i - h + 1, j - w + 1)].
    correlation = scipy.signal.correlate2d(reference, kernel, mode="full")
    i, j = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    similarity = float(correlation[i, j] / (np.linalg.norm(kernel) * np.linalg.norm(reference)))
    fraction_y = fraction_x = 0.0
    if 0 < i < correlation.shape[0] - 1:
        fraction_y = _parabola_vertex(correlation[i - 1, j], correlation[i, j], correlation[i + 1, j])
    if 0 < j < correlation.shape[1] - 1:
        fraction_x = _parabola_vertex(correlation[i, j - 1], correlation[i, j], correlation[i, j + 1])
    (h, w), (rh, rw) = kernel.shape, reference.shape
    dy = i - (h - 1) + h // 2 - rh // 2 + fraction_y
    dx = j - (w - 1) + w // 2 - rw // 2 + fraction_x
    return similarity, (float(dy), float(dx))
