"""Kernel update of the blind estimator: edge selection, a support-constrained
conjugate-gradient solve in the gradient domain, and the projection onto valid kernels.

The kernel solves

    min_k  sum_x ( (k * grad S)(x) - grad B(x) )^2  +  weight ||k||^2

over a (kernel_size, kernel_size) support, with x over the whole periodic domain of the
latent update: the image and its smooth wrap-around padding (as in Pan et al.'s code).
Its normal equations only involve the autocorrelation R of the latent gradients (lags
up to kernel_size - 1) and the cross-correlation c of latent and blurred gradients (lags
up to kernel_size // 2), both computed once with one large FFT; the conjugate-gradient
iterations then run on small (3 * kernel_size)-sized FFTs.

References
----------
S. Cho and S. Lee, "Fast motion deblurring", SIGGRAPH Asia 2009 (gradient-domain kernel
estimation with selected edges). J. Pan et al., CVPR 2016, Sec. 4 (kernel step and
pruning). L. Xu and J. Jia, "Two-phase kernel estimation for robust motion deblurring",
ECCV 2010.
"""

import numpy as np

from ._jit import njit
from .fft import _smooth_length


@njit
def _periodic_gradients(image):
    """Forward differences along x and y of a periodic image: the last column (row)
    differs from the first."""
    height, width = image.shape
    gx = np.empty((height, width))
    gy = np.empty((height, width))
    for i in range(height):
        below = (i + 1) % height
        for j in range(width):
            right = (j + 1) % width
            gx[i, j] = image[i, right] - image[i, j]
            gy[i, j] = image[below, j] - image[i, j]
    return gx, gy


@njit
def _edge_threshold(gx, gy, pixels_per_direction):
    """Squared-magnitude threshold that keeps at least ``pixels_per_direction`` gradients
    in each of four orientation bins (0-45, 45-90, 90-135, 135-180 degrees).

    Requiring every orientation to be represented keeps the kernel constrained in all
    directions, instead of being fitted to the dominant edge orientation only.
    """
    height, width = gx.shape
    magnitudes = [np.empty(height * width) for _ in range(4)]
    counts = np.zeros(4, dtype=np.int64)
    for i in range(height):
        for j in range(width):
            h = gx[i, j]
            v = gy[i, j]
            magnitude = h * h + v * v
            if magnitude <= 0.0:
                continue
            # Orientation modulo 180 degrees, binned into quarters.
            angle = np.arctan2(v, h)
            if angle < 0.0:
                angle += np.pi
            if angle >= np.pi:
                angle -= np.pi
            bin_index = min(int(angle / (np.pi / 4.0)), 3)
            magnitudes[bin_index][counts[bin_index]] = magnitude
            counts[bin_index] += 1
    threshold = np.inf
    for b in range(4):
        if counts[b] == 0:
            continue
        values = np.sort(magnitudes[b][: counts[b]])
        rank = max(counts[b] - pixels_per_direction, 0)
        threshold = min(threshold, values[rank])
    if threshold == np.inf:
        threshold = 0.0
    return threshold


@njit
def _select_edges(gx, gy, threshold):
    """Zero every gradient pair whose squared magnitude is below ``threshold``."""
    height, width = gx.shape
    sx = np.zeros((height, width))
    sy = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            if gx[i, j] * gx[i, j] + gy[i, j] * gy[i, j] >= threshold:
                sx[i, j] = gx[i, j]
                sy[i, j] = gy[i, j]
    return sx, sy


@njit
def _spectra(gx, gy):
    """rfft2 of a pair of gradient images: the blurred ones stay the same through a
    pyramid level, so :func:`_correlations` takes them transformed once per level."""
    return np.fft.rfft2(gx), np.fft.rfft2(gy)


@njit
def _correlations(latent_gx, latent_gy, blurred_spectrum_x, blurred_spectrum_y, kernel_size):
    """Circular correlations on the periodic domain of the latent update.

    Returns the autocorrelation R of the latent gradients at lags |t| <= kernel_size - 1,
    shape (2 * kernel_size - 1,) * 2, and the cross-correlation c(d) = sum_x p(x - d) b(x)
    at lags |d| <= kernel_size // 2, shape (kernel_size, kernel_size), where b are the
    blurred gradients given as :func:`_spectra`. Each side of the domain must be at least
    2 * kernel_size - 1, so that no two lags of R fall on the same sample.
    """
    fft_height, fft_width = latent_gx.shape
    margin = kernel_size // 2
    fpx = np.fft.rfft2(latent_gx)
    fpy = np.fft.rfft2(latent_gy)
    auto_spectrum = np.abs(fpx) ** 2 + np.abs(fpy) ** 2
    cross_spectrum = np.conj(fpx) * blurred_spectrum_x + np.conj(fpy) * blurred_spectrum_y
    auto = np.fft.irfft2(auto_spectrum, s=(fft_height, fft_width))
    cross = np.fft.irfft2(cross_spectrum, s=(fft_height, fft_width))
    lags = kernel_size - 1
    autocorrelation = np.empty((2 * lags + 1, 2 * lags + 1))
    for a in range(-lags, lags + 1):
        for b in range(-lags, lags + 1):
            autocorrelation[a + lags, b + lags] = auto[a % fft_height, b % fft_width]
    crosscorrelation = np.empty((kernel_size, kernel_size))
    for a in range(-margin, margin + 1):
        for b in range(-margin, margin + 1):
            crosscorrelation[a + margin, b + margin] = cross[a % fft_height, b % fft_width]
    return autocorrelation, crosscorrelation


@njit
def _apply_normal_operator(autocorrelation_spectrum, kernel, fft_size):
    """(A k)(d) = sum_{d'} R(d - d') k(d'): a full convolution of R with k, cropped to k's support."""
    kernel_size = kernel.shape[0]
    padded = np.zeros((fft_size, fft_size))
    padded[:kernel_size, :kernel_size] = kernel
    full = np.fft.irfft2(np.fft.rfft2(padded) * autocorrelation_spectrum, s=(fft_size, fft_size))
    # R is centred at index kernel_size - 1, so "same" output starts there.
    start = kernel_size - 1
    return np.ascontiguousarray(full[start : start + kernel_size, start : start + kernel_size])


@njit
def _solve_kernel_cg(autocorrelation, crosscorrelation, weight, iterations, initial):
    """Conjugate gradients on (A + diag(weight)) k = c, started from ``initial``.

    ``weight`` is a (kernel_size, kernel_size) array: a constant one is Tikhonov
    regularisation; the re-weighted one of :func:`_sparsity_weights` makes the solve one
    step of iteratively re-weighted least squares for a sparse kernel.
    """
    kernel_size = initial.shape[0]
    # A linear convolution of R (2k - 1) with k needs 3k - 2 samples; a 5-smooth length
    # is several times faster than 3k itself (k = 31 gives the prime factor 31).
    fft_size = _smooth_length(3 * kernel_size - 2)
    padded_r = np.zeros((fft_size, fft_size))
    padded_r[: 2 * kernel_size - 1, : 2 * kernel_size - 1] = autocorrelation
    spectrum = np.fft.rfft2(padded_r)
    kernel = initial.copy()
    residual = crosscorrelation - _apply_normal_operator(spectrum, kernel, fft_size) - weight * kernel
    direction = residual.copy()
    residual_norm = np.sum(residual * residual)
    tolerance = 1e-12 * max(np.sum(crosscorrelation * crosscorrelation), 1e-300)
    for _ in range(iterations):
        if residual_norm <= tolerance:
            break
        operated = _apply_normal_operator(spectrum, direction, fft_size) + weight * direction
        curvature = np.sum(direction * operated)
        if curvature <= 0.0:
            # No usable edges (a flat image): keep the current kernel.
            break
        step = residual_norm / curvature
        kernel += step * direction
        residual -= step * operated
        new_norm = np.sum(residual * residual)
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return kernel


@njit
def _sparsity_weights(kernel, base_weight, exponent):
    """IRLS weights for the penalty base_weight * sum (|k| / max|k|)^exponent.

    The quadratic surrogate of |k|^p at the current kernel has weight proportional to
    |k|^(p - 2); entries are floored at 1% of the peak so the weights stay bounded.
    Normalising by the peak makes the weight at the peak equal ``base_weight``.
    """
    peak = np.abs(kernel).max()
    weights = np.empty(kernel.shape)
    if peak <= 0.0:
        weights[:] = base_weight
        return weights
    floor = 0.01 * peak
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            magnitude = max(abs(kernel[i, j]), floor) / peak
            weights[i, j] = base_weight * magnitude ** (exponent - 2.0)
    return weights


@njit
def _prune_components(kernel, min_mass):
    """Zero 8-connected components of the support holding less than ``min_mass`` of the
    total mass; the heaviest component always survives."""
    size_y, size_x = kernel.shape
    labels = -np.ones((size_y, size_x), dtype=np.int64)
    stack = np.empty(size_y * size_x, dtype=np.int64)
    masses = []
    label = 0
    for i0 in range(size_y):
        for j0 in range(size_x):
            if kernel[i0, j0] <= 0.0 or labels[i0, j0] >= 0:
                continue
            labels[i0, j0] = label
            stack[0] = i0 * size_x + j0
            top = 1
            mass = 0.0
            while top > 0:
                top -= 1
                i = stack[top] // size_x
                j = stack[top] % size_x
                mass += kernel[i, j]
                for di in range(-1, 2):
                    for dj in range(-1, 2):
                        ni = i + di
                        nj = j + dj
                        if 0 <= ni < size_y and 0 <= nj < size_x:
                            if kernel[ni, nj] > 0.0 and labels[ni, nj] < 0:
                                labels[ni, nj] = label
                                stack[top] = ni * size_x + nj
                                top += 1
            masses.append(mass)
            label += 1
    if label == 0:
        return kernel
    total = 0.0
    heaviest = 0
    for index in range(label):
        total += masses[index]
        if masses[index] > masses[heaviest]:
            heaviest = index
    pruned = kernel.copy()
    for i in range(size_y):
        for j in range(size_x):
            index = labels[i, j]
            if index >= 0 and index != heaviest and masses[index] < min_mass * total:
                pruned[i, j] = 0.0
    return pruned


@njit
def _center_kernel(kernel):
    """Shift the kernel by whole pixels so that its centre of mass is nearest the centre."""
    size_y, size_x = kernel.shape
    total = kernel.sum()
    cy = 0.0
    cx = 0.0
    for i in range(size_y):
        for j in range(size_x):
            cy += i * kernel[i, j]
            cx += j * kernel[i, j]
    shift_y = size_y // 2 - int(np.round(cy / total))
    shift_x = size_x // 2 - int(np.round(cx / total))
    centred = np.zeros((size_y, size_x))
    for i in range(size_y):
        for j in range(size_x):
            ni = i + shift_y
            nj = j + shift_x
            if 0 <= ni < size_y and 0 <= nj < size_x:
                centred[ni, nj] = kernel[i, j]
    return centred


@njit
def _project_kernel(kernel, threshold_ratio, min_component_mass):
    """Project onto valid kernels: clip negatives, drop entries below threshold_ratio * max,
    prune small components, normalise to sum 1 and re-centre. A kernel with no positive
    entry becomes a delta."""
    projected = np.maximum(kernel, 0.0)
    peak = projected.max()
    if peak <= 0.0:
        delta = np.zeros(kernel.shape)
        delta[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
        return delta
    cutoff = threshold_ratio * peak
    for i in range(projected.shape[0]):
        for j in range(projected.shape[1]):
            if projected[i, j] < cutoff:
                projected[i, j] = 0.0
    projected = _prune_components(projected, min_component_mass)
    projected /= projected.sum()
    centred = _center_kernel(projected)
    return centred / centred.sum()
