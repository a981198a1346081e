"""Plain NumPy/SciPy implementation of the blind estimator, vectorised but not jitted.

It follows :mod:`kernels_fast.estimate` step for step. The speed benchmark times it as
the baseline in the same run, and the tests use it as the slow twin of the jitted
pipeline. It is not part of the public API.
"""

import math

import cv2
import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from .estimate import _USEFULNESS_WINDOW, EstimatorConfig, _dark_patch, _initial_kernel, _pyramid
from .fft import fast_shape


def periodic_gradients(image):
    return np.roll(image, -1, axis=1) - image, np.roll(image, -1, axis=0) - image


def pad_periodic(image, shape):
    height, width = image.shape
    out_height, out_width = shape
    padded = np.empty(shape)
    padded[:height, :width] = image
    steps = out_width - width + 1
    weight = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, steps) / steps)
    padded[:height, width:] = (1 - weight) * image[:, -1:] + weight * image[:, :1]
    steps = out_height - height + 1
    weight = (0.5 - 0.5 * np.cos(np.pi * np.arange(1, steps) / steps))[:, None]
    padded[height:, :] = (1 - weight) * padded[height - 1] + weight * padded[0]
    return padded


def psf_to_otf(kernel, shape):
    padded = np.zeros(shape)
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    padded = np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), axis=(0, 1))
    return scipy.fft.rfft2(padded)


def restore_l0(blurred, otf, lambda_grad, lambda_dark, patch, kappa, beta_max, dark_weight_ratio):
    """NumPy twin of ``latent._restore_l0``."""
    height, width = blurred.shape
    numerator_data = np.conj(otf) * scipy.fft.rfft2(blurred)
    u = np.arange(height)[:, None]
    v = np.arange(width // 2 + 1)[None, :]
    gradient_power = (2 - 2 * np.cos(2 * np.pi * u / height)) + (2 - 2 * np.cos(2 * np.pi * v / width))
    kernel_power = np.abs(otf) ** 2
    latent = blurred.copy()
    beta = 2.0 * lambda_grad
    mu = dark_weight_ratio * beta
    while beta < beta_max:
        h = np.roll(latent, -1, axis=1) - latent
        w = np.roll(latent, -1, axis=0) - latent
        small = h * h + w * w < lambda_grad / beta
        h[small] = 0.0
        w[small] = 0.0
        target = beta * ((np.roll(h, 1, axis=1) - h) + (np.roll(w, 1, axis=0) - w))
        denominator = kernel_power + beta * gradient_power
        if lambda_dark > 0:
            # A pixel is the minimum of some window exactly where the grey opening equals it.
            opened = scipy.ndimage.grey_opening(latent, size=(patch, patch), mode="nearest")
            pixels = latent.copy()
            pixels[(opened == latent) & (latent * latent < lambda_dark / mu)] = 0.0
            target += mu * pixels
            denominator = denominator + mu
            mu = min(mu * kappa, beta_max)
        latent = scipy.fft.irfft2((numerator_data + scipy.fft.rfft2(target)) / denominator, s=(height, width))
        beta *= kappa
    return latent


def edge_threshold(gx, gy, pixels_per_direction):
    magnitude = gx * gx + gy * gy
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / (np.pi / 4)).astype(int), 3)
    thresholds = []
    for b in range(4):
        values = np.sort(magnitude[(bins == b) & (magnitude > 0)])
        if values.size:
            thresholds.append(values[max(values.size - pixels_per_direction, 0)])
    return min(thresholds) if thresholds else 0.0


def correlations(px, py, bx, by, kernel_size):
    """Circular correlations over the periodic domain, the shape of the inputs."""
    shape = px.shape
    fpx, fpy = scipy.fft.rfft2(px), scipy.fft.rfft2(py)
    auto = scipy.fft.irfft2(np.abs(fpx) ** 2 + np.abs(fpy) ** 2, s=shape)
    cross = scipy.fft.irfft2(np.conj(fpx) * scipy.fft.rfft2(bx) + np.conj(fpy) * scipy.fft.rfft2(by), s=shape)
    margin = kernel_size // 2
    lags = np.arange(-(kernel_size - 1), kernel_size)
    shifts = np.arange(-margin, margin + 1)
    return auto[np.ix_(lags % shape[0], lags % shape[1])], cross[np.ix_(shifts % shape[0], shifts % shape[1])]


def sparsity_weights(kernel, base_weight, exponent):
    peak = np.abs(kernel).max()
    if peak <= 0:
        return np.full(kernel.shape, base_weight)
    return base_weight * (np.maximum(np.abs(kernel), 0.01 * peak) / peak) ** (exponent - 2.0)


def usefulness_map(gx, gy, window):
    """Xu & Jia's r-map with SciPy box sums (reflect boundary)."""
    box = lambda image: scipy.ndimage.uniform_filter(image, window, mode="reflect") * window * window  # noqa: E731
    return np.hypot(box(gx), box(gy)) / (box(np.hypot(gx, gy)) + 0.5)


def solve_kernel_cg(autocorrelation, crosscorrelation, weight, iterations, initial):
    """``weight``: a scalar or a (kernel_size, kernel_size) array of diagonal weights."""
    kernel_size = initial.shape[0]

    def operator(k):
        full = scipy.signal.fftconvolve(autocorrelation, k, mode="full")
        start = kernel_size - 1
        return full[start : start + kernel_size, start : start + kernel_size] + weight * k

    kernel = initial.copy()
    residual = crosscorrelation - operator(kernel)
    direction = residual.copy()
    norm = np.sum(residual**2)
    tolerance = 1e-12 * max(np.sum(crosscorrelation**2), 1e-300)
    for _ in range(iterations):
        if norm <= tolerance:
            break
        operated = operator(direction)
        curvature = np.sum(direction * operated)
        if curvature <= 0:
            break
        step = norm / curvature
        kernel = kernel + step * direction
        residual = residual - step * operated
        new_norm = np.sum(residual**2)
        direction = residual + (new_norm / norm) * direction
        norm = new_norm
    return kernel


def project_kernel(kernel, threshold_ratio, min_component_mass):
    projected = np.maximum(kernel, 0.0)
    if projected.max() <= 0:
        delta = np.zeros_like(kernel)
        delta[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
        return delta
    projected[projected < threshold_ratio * projected.max()] = 0.0
    labels, count = scipy.ndimage.label(projected > 0, structure=np.ones((3, 3)))
    if count:
        masses = scipy.ndimage.sum(projected, labels, index=np.arange(1, count + 1))
        drop = (masses < min_component_mass * masses.sum()) & (np.arange(count) != np.argmax(masses))
        projected[np.isin(labels, np.flatnonzero(drop) + 1)] = 0.0
    projected /= projected.sum()
    cy, cx = scipy.ndimage.center_of_mass(projected)
    shift = (kernel.shape[0] // 2 - int(np.round(cy)), kernel.shape[1] // 2 - int(np.round(cx)))
    centred = scipy.ndimage.shift(projected, shift, order=0, mode="constant")
    return centred / centred.sum()


def resize_kernel(kernel, size, factor):
    centre_in, centre_out = (kernel.shape[0] - 1) / 2.0, (size - 1) / 2.0
    transform = np.array([[factor, 0.0, centre_out - factor * centre_in], [0.0, factor, centre_out - factor * centre_in]])
    resized = cv2.warpAffine(kernel, transform, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return project_kernel(resized, 0.0, 0.0)


def estimate_level(image, kernel, lambdas, config, use_dark, patch):
    """NumPy twin of :func:`kernels_fast.estimate._estimate_level`."""
    size = kernel.shape[0]
    height, width = image.shape
    fft_shape = fast_shape((height + size - 1, width + size - 1))
    padded = pad_periodic(image, fft_shape)
    bx, by = periodic_gradients(padded)
    useful = None
    if config.useful_edge_fraction < 1.0:
        usefulness = usefulness_map(bx, by, _USEFULNESS_WINDOW)
        useful = usefulness >= np.quantile(usefulness, 1.0 - config.useful_edge_fraction)
    lambda_grad, lambda_dark = lambdas
    threshold = -1.0
    for _ in range(config.iterations_per_level):
        latent = restore_l0(
            padded, psf_to_otf(kernel, fft_shape), lambda_grad, lambda_dark if use_dark else 0.0,
            patch, config.kappa, config.beta_max, config.dark_weight_ratio,
        )
        latent = np.clip(latent, 0.0, 1.0)
        gx, gy = periodic_gradients(latent)
        if useful is not None:
            gx, gy = np.where(useful, gx, 0.0), np.where(useful, gy, 0.0)
        if threshold < 0:
            threshold = edge_threshold(gx, gy, int(config.edge_pixels_per_kernel_pixel * size))
        else:
            threshold /= config.edge_decay
        keep = gx * gx + gy * gy >= threshold
        auto, cross = correlations(np.where(keep, gx, 0.0), np.where(keep, gy, 0.0), bx, by, size)
        weight = config.kernel_weight * max(auto[size - 1, size - 1], 1e-12)
        kernel = solve_kernel_cg(auto, cross, weight, config.cg_iterations, kernel)
        for _ in range(config.sparse_reweightings):
            weights = sparsity_weights(kernel, weight, config.sparsity_exponent)
            kernel = solve_kernel_cg(auto, cross, weights, config.cg_iterations, kernel)
        kernel = project_kernel(kernel, config.threshold_ratio, config.min_component_mass)
        lambda_grad = max(lambda_grad / config.lambda_decay, config.lambda_floor)
        lambda_dark = max(lambda_dark / config.lambda_decay, config.lambda_floor)
    return kernel, (lambda_grad, lambda_dark)


def estimate_kernel(blurred, kernel_size, *, prior="dark", config=None):
    """NumPy twin of :func:`kernels_fast.estimate.estimate_kernel` (gray float64 input)."""
    config = config or EstimatorConfig()
    lambdas = (config.lambda_grad, config.lambda_dark)
    kernel = None
    previous_scale = None
    for scale, size, image in _pyramid(blurred, kernel_size, config):
        kernel = _initial_kernel(size) if kernel is None else resize_kernel(kernel, size, scale / previous_scale)
        previous_scale = scale
        patch = _dark_patch(config, scale)
        kernel, lambdas = estimate_level(image, kernel, lambdas, config, prior == "dark", patch)
    return kernel


def _difference_power(shape):
    u = np.arange(shape[0])[:, None]
    v = np.arange(shape[1] // 2 + 1)[None, :]
    return (2 - 2 * np.cos(2 * np.pi * u / shape[0])) + (2 - 2 * np.cos(2 * np.pi * v / shape[1]))


def deconvolve_wiener(blurred, kernel, weight):
    """Plain NumPy Wiener/Tikhonov deconvolution with a gradient regulariser (one FFT pair)."""
    height, width = blurred.shape
    shape = fast_shape((height + kernel.shape[0] - 1, width + kernel.shape[1] - 1))
    otf = psf_to_otf(kernel, shape)
    spectrum = np.fft.rfft2(pad_periodic(blurred, shape))
    latent = np.fft.irfft2(np.conj(otf) * spectrum / (np.abs(otf) ** 2 + weight * _difference_power(shape)), s=shape)
    return latent[:height, :width]


def _shrink_hyper_laplacian(values, beta, alpha, newton_steps=8):
    """argmin_w |w|^alpha + beta / 2 (w - v)^2, elementwise, by Newton from |v| against w = 0."""
    magnitude = np.abs(values)
    root = magnitude.copy()
    for _ in range(newton_steps):
        safe = np.maximum(root, 1e-12)
        gradient = alpha * safe ** (alpha - 1) + beta * (safe - magnitude)
        curvature = alpha * (alpha - 1) * safe ** (alpha - 2) + beta
        root = np.clip(safe - gradient / curvature, 0.0, magnitude)
    cost_root = root**alpha + 0.5 * beta * (root - magnitude) ** 2
    cost_zero = 0.5 * beta * magnitude**2
    return np.where(cost_root < cost_zero, np.sign(values) * root, 0.0)


def deconvolve_hyper_laplacian(blurred, kernel, weight, *, alpha=0.8, beta_max=256.0):
    """Plain NumPy half-quadratic splitting for 1/2 ||k * x - y||^2 + weight sum |grad x|^alpha."""
    height, width = blurred.shape
    shape = fast_shape((height + kernel.shape[0] - 1, width + kernel.shape[1] - 1))
    otf = psf_to_otf(kernel, shape)
    numerator = np.conj(otf) * np.fft.rfft2(pad_periodic(blurred, shape))
    kernel_power, gradient_power = np.abs(otf) ** 2, _difference_power(shape)
    latent = pad_periodic(blurred, shape)
    beta = 1.0
    while beta <= beta_max:
        gx = _shrink_hyper_laplacian(np.roll(latent, -1, axis=1) - latent, beta, alpha)
        gy = _shrink_hyper_laplacian(np.roll(latent, -1, axis=0) - latent, beta, alpha)
        divergence = (np.roll(gx, 1, axis=1) - gx) + (np.roll(gy, 1, axis=0) - gy)
        penalty = beta * weight
        latent = np.fft.irfft2(
            (numerator + penalty * np.fft.rfft2(divergence)) / (kernel_power + penalty * gradient_power), s=shape
        )
        beta *= 2.0 * math.sqrt(2.0)
    return latent[:height, :width]
