"""Slow reference twins of the jitted cores, written for clarity, not speed."""

import numpy as np

# --- fft, latent and kernel-update twins -------------------------------------------------
# The vectorised NumPy estimator in kernels_fast.reference doubles as the benchmark
# baseline; the element-by-element twins below are independent of it.
from goodregions.kernels_fast.reference import (  # noqa: F401  (re-exported twins)
    correlations,
    edge_threshold,
    pad_periodic,
    project_kernel,
    restore_l0,
    solve_kernel_cg,
    sparsity_weights,
    usefulness_map,
)


def psf_to_otf(kernel, shape):
    """OTF by explicit placement: kernel entry (i, j) goes to ((i - h//2) % H, (j - w//2) % W)."""
    padded = np.zeros(shape)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            padded[(i - kernel.shape[0] // 2) % shape[0], (j - kernel.shape[1] // 2) % shape[1]] += kernel[i, j]
    return np.fft.rfft2(padded)


def circular_convolve(image, kernel):
    """Circular true convolution by summing shifted copies, kernel centred at (h//2, w//2)."""
    result = np.zeros_like(image)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            result += kernel[i, j] * np.roll(image, (i - kernel.shape[0] // 2, j - kernel.shape[1] // 2), axis=(0, 1))
    return result


def circular_correlations(px, py, bx, by, kernel_size):
    """R(t) = sum_x p(x) p(x + t) and c(d) = sum_x p(x) b(x + d) over a periodic domain,
    as direct sums of shifted products."""
    def correlate(a, b, dy, dx):
        return np.sum(a * np.roll(b, (-dy, -dx), axis=(0, 1)))

    lags = kernel_size - 1
    margin = kernel_size // 2
    auto = np.empty((2 * lags + 1, 2 * lags + 1))
    for dy in range(-lags, lags + 1):
        for dx in range(-lags, lags + 1):
            auto[dy + lags, dx + lags] = correlate(px, px, dy, dx) + correlate(py, py, dy, dx)
    cross = np.empty((kernel_size, kernel_size))
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            cross[dy + margin, dx + margin] = correlate(px, bx, dy, dx) + correlate(py, by, dy, dx)
    return auto, cross


def periodic_gradients(image):
    """Forward differences of a periodic image, one pixel at a time."""
    height, width = image.shape
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    for i in range(height):
        for j in range(width):
            gx[i, j] = image[i, (j + 1) % width] - image[i, j]
            gy[i, j] = image[(i + 1) % height, j] - image[i, j]
    return gx, gy


def normal_operator(autocorrelation, kernel):
    """(A k)(d) = sum_{d'} R(d - d') k(d') by explicit sums; R centred at kernel_size - 1."""
    size = kernel.shape[0]
    centre = size - 1
    result = np.zeros_like(kernel)
    for a in range(size):
        for b in range(size):
            for c in range(size):
                for d in range(size):
                    result[a, b] += autocorrelation[centre + a - c, centre + b - d] * kernel[c, d]
    return result


# --- deconv and metrics twins (kernels_fast/deconv.py, metrics.py, image_quality.py) ---
# Vectorised NumPy, computed in the dtype of the input (float32 stays float32), so the
# tests can compare the float64 jitted cores against float32 arithmetic too.


def _deconv_otf(kernel, shape, dtype):
    """OTF of ``kernel`` (centre rolled to (0, 0)) in the complex dtype matching ``dtype``."""
    padded = np.zeros(shape, dtype=dtype)
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    padded = np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), axis=(0, 1))
    return np.fft.rfft2(padded)


def _difference_power(shape, dtype):
    """|F(d_x)|^2 + |F(d_y)|^2 of circular forward differences on the rfft2 grid."""
    u = np.arange(shape[0], dtype=dtype)[:, None]
    v = np.arange(shape[1] // 2 + 1, dtype=dtype)[None, :]
    return (2 - 2 * np.cos(2 * np.pi * u / shape[0])) + (2 - 2 * np.cos(2 * np.pi * v / shape[1]))


def deconv_wiener(padded, kernel, weight):
    """Twin of ``deconv._wiener``: X = conj(K) Y / (|K|^2 + weight |D|^2)."""
    dtype = padded.dtype
    otf = _deconv_otf(kernel.astype(dtype), padded.shape, dtype)
    denominator = np.abs(otf) ** 2 + dtype.type(weight) * _difference_power(padded.shape, dtype)
    spectrum = np.conj(otf) * np.fft.rfft2(padded) / denominator
    return np.fft.irfft2(spectrum, s=padded.shape)


def shrink(v, lam, alpha):
    """Twin of ``deconv._shrink``: argmin_w lam |w|^alpha + (w - v)^2 / 2, element-wise.

    Independent of the lookup table: for alpha < 1, bisection for the largest stationary
    point between the inflection point of the stationarity condition and |v|, then an
    explicit energy comparison with w = 0.
    """
    v = np.asarray(v, dtype=np.float64)
    magnitude = np.abs(v)
    if alpha == 1.0:
        return np.sign(v) * np.maximum(magnitude - lam, 0.0)
    low = np.full_like(magnitude, (lam * alpha * (1 - alpha)) ** (1 / (2 - alpha)))
    high = np.maximum(magnitude, low)
    for _ in range(200):  # f(w) = w + lam alpha w^(alpha - 1) - |v| increases on [low, high]
        middle = 0.5 * (low + high)
        positive = middle + lam * alpha * middle ** (alpha - 1) - magnitude > 0
        high = np.where(positive, middle, high)
        low = np.where(positive, low, middle)
    w = 0.5 * (low + high)
    has_root = w + lam * alpha * w ** (alpha - 1) - magnitude <= 1e-9 * np.maximum(magnitude, 1)
    energy = lam * w**alpha + 0.5 * (w - magnitude) ** 2
    keep = has_root & (energy < 0.5 * magnitude**2)
    return np.where(keep, np.sign(v) * w, 0.0)


def deconv_hqs(padded, kernel, weight, alpha, beta_max, beta_start=1.0, beta_rate=2 * np.sqrt(2)):
    """Twin of ``deconv._hqs``: half-quadratic splitting with the shrink twin above."""
    dtype = padded.dtype
    otf = _deconv_otf(kernel.astype(dtype), padded.shape, dtype)
    numerator = np.conj(otf) * np.fft.rfft2(padded)
    difference_power = _difference_power(padded.shape, dtype)
    latent = padded.copy()
    beta = beta_start
    while beta < beta_max:
        wx = shrink(np.roll(latent, -1, axis=1) - latent, 1 / beta, alpha).astype(dtype)
        wy = shrink(np.roll(latent, -1, axis=0) - latent, 1 / beta, alpha).astype(dtype)
        adjoint = (np.roll(wx, 1, axis=1) - wx) + (np.roll(wy, 1, axis=0) - wy)  # D^T w
        penalty = dtype.type(beta * weight)
        denominator = np.abs(otf) ** 2 + penalty * difference_power
        spectrum = (numerator + penalty * np.fft.rfft2(adjoint)) / denominator
        latent = np.fft.irfft2(spectrum, s=padded.shape)
        beta *= beta_rate
    return latent


def kernel_similarity(kernel_a, kernel_b):
    """Twin of ``metrics._kernel_similarity`` through scipy's full 2-D correlation."""
    import scipy.signal

    correlation = scipy.signal.correlate2d(kernel_a, kernel_b, mode="full")
    return correlation.max() / (np.linalg.norm(kernel_a) * np.linalg.norm(kernel_b))


def best_shift_ssd(reference, image, border, max_shift):
    """Twin of ``metrics._best_shift_ssd``: every shift scored in full with array slices."""
    height, width = reference.shape
    interior = reference[border : height - border, border : width - border]
    scores = []
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            window = image[border + dy : height - border + dy, border + dx : width - border + dx]
            scores.append(np.sum((interior - window) ** 2))
    return min(scores)


def interpolated_ssd(reference, image, border, dy, dx):
    """Twin of ``metrics._interpolated_ssd`` with scipy's bilinear map_coordinates."""
    import scipy.ndimage

    height, width = reference.shape
    rows, cols = np.mgrid[border : height - border, border : width - border].astype(float)
    coordinates = [np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1)]
    values = scipy.ndimage.map_coordinates(image, coordinates, order=1, mode="nearest")
    return np.sum((reference[border : height - border, border : width - border] - values) ** 2)


def ssim(reference, image, data_range=1.0):
    """Twin of ``image_quality.ssim`` on gray images: Wang et al.'s formula window by window.

    Every 11 x 11 window wholly inside the image, Gaussian weights of sigma 1.5 summing to 1,
    weighted means, variances and covariance computed directly from their definitions.
    """
    offsets = np.arange(-5, 6)
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    weights /= weights.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(5, reference.shape[0] - 5):
        for j in range(5, reference.shape[1] - 5):
            x = reference[i - 5 : i + 6, j - 5 : j + 6]
            y = image[i - 5 : i + 6, j - 5 : j + 6]
            mu_x, mu_y = np.sum(weights * x), np.sum(weights * y)
            var_x, var_y = np.sum(weights * (x - mu_x) ** 2), np.sum(weights * (y - mu_y) ** 2)
            cov = np.sum(weights * (x - mu_x) * (y - mu_y))
            values.append((2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
    return float(np.mean(values))


# --- end of deconv and metrics twins -------------------------------------------------------
