"""L0-regularised latent image update by half-quadratic splitting (HQS).

Solves, on a periodic (padded) image,

    min_S ||k * S - B||^2 + lambda_grad ||grad S||_0 + lambda_dark ||D(S)||_0

where D is the dark channel. Auxiliary variables for the gradients (and the dark
channel) are thresholded in closed form; the S-step is one FFT division. Their
weights grow by ``kappa`` each step until ``beta_max``.

References
----------
J. Pan, Z. Hu, Z. Su, M.-H. Yang, "Deblurring text images via L0-regularized intensity
and gradient prior", CVPR 2014, eqs. (8)-(12). J. Pan, D. Sun, H. Pfister, M.-H. Yang,
"Blind image deblurring using dark channel prior", CVPR 2016, eqs. (6)-(11).
"""

import numpy as np

from ._jit import njit
from .dark import _dark_channel


@njit
def _gradient_denominator(height, width):
    """|F(dx)|^2 + |F(dy)|^2 of circular forward differences, on the rfft2 grid."""
    half = width // 2 + 1
    denominator = np.empty((height, half))
    for u in range(height):
        wy = 2.0 - 2.0 * np.cos(2.0 * np.pi * u / height)
        for v in range(half):
            denominator[u, v] = wy + 2.0 - 2.0 * np.cos(2.0 * np.pi * v / width)
    return denominator


@njit
def _gradient_step(latent, threshold, beta, target):
    """Threshold the circular forward gradients of ``latent`` and write beta * D^T(g) into target.

    L0 proximal step: a gradient pair is kept only where |g|^2 >= threshold.
    """
    height, width = latent.shape
    gx = np.empty((height, width))
    gy = np.empty((height, width))
    for i in range(height):
        down = (i + 1) % height
        for j in range(width):
            right = (j + 1) % width
            h = latent[i, right] - latent[i, j]
            v = latent[down, j] - latent[i, j]
            if h * h + v * v < threshold:
                h = 0.0
                v = 0.0
            gx[i, j] = h
            gy[i, j] = v
    for i in range(height):
        up = (i - 1) % height
        for j in range(width):
            left = (j - 1) % width
            # Adjoint of the forward difference: D^T g [j] = g[j - 1] - g[j].
            target[i, j] = beta * ((gx[i, left] - gx[i, j]) + (gy[up, j] - gy[i, j]))


@njit
def _dark_step(latent, threshold, mu, patch, target):
    """Add mu * u to target, where u is latent with small dark-channel pixels set to 0."""
    height, width = latent.shape
    dark, argmin = _dark_channel(latent, patch)
    pixels = latent.copy()
    flat = pixels.ravel()
    for i in range(height):
        for j in range(width):
            if dark[i, j] * dark[i, j] < threshold:
                flat[argmin[i, j]] = 0.0
    for i in range(height):
        for j in range(width):
            target[i, j] += mu * pixels[i, j]


@njit
def _restore_l0(blurred, otf, lambda_grad, lambda_dark, patch, kappa, beta_max):
    """HQS latent update on a periodic image.

    Parameters
    ----------
    blurred : (H, W) float64, already padded to be periodic.
    otf : (H, W // 2 + 1) complex128, ``rfft2`` of the centred kernel.
    lambda_grad, lambda_dark : L0 weights; ``lambda_dark == 0`` drops the dark term.
    patch : dark-channel window width.
    kappa, beta_max : continuation factor and final penalty weight.
    """
    height, width = blurred.shape
    numerator_data = np.conj(otf) * np.fft.rfft2(blurred)
    kernel_power = np.abs(otf) ** 2
    gradient_power = _gradient_denominator(height, width)
    latent = blurred.copy()
    target = np.empty((height, width))
    beta = 2.0 * lambda_grad
    mu = 2.0 * lambda_dark
    use_dark = lambda_dark > 0.0
    while beta < beta_max:
        _gradient_step(latent, lambda_grad / beta, beta, target)
        denominator = kernel_power + beta * gradient_power
        if use_dark:
            _dark_step(latent, lambda_dark / mu, mu, patch, target)
            denominator = denominator + mu
            mu = min(mu * kappa, beta_max)
        spectrum = (numerator_data + np.fft.rfft2(target)) / denominator
        latent = np.fft.irfft2(spectrum, s=(height, width))
        beta *= kappa
    return latent
