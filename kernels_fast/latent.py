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

    L0 proximal step: a gradient pair is kept only where |g|^2 >= threshold. The wrap-around
    neighbours are looked up per row, not by a modulo per pixel (which cost two thirds of the time).
    """
    height, width = latent.shape
    gx = np.empty_like(latent)
    gy = np.empty_like(latent)
    for i in range(height):
        row = latent[i]
        below = latent[i + 1] if i + 1 < height else latent[0]
        for j in range(width):
            right = row[j + 1] if j + 1 < width else row[0]
            h = right - row[j]
            v = below[j] - row[j]
            if h * h + v * v < threshold:
                h = 0.0
                v = 0.0
            gx[i, j] = h
            gy[i, j] = v
    for i in range(height):
        above = gy[i - 1] if i > 0 else gy[height - 1]
        # Adjoint of the forward difference: D^T g [j] = g[j - 1] - g[j].
        target[i, 0] = beta * ((gx[i, width - 1] - gx[i, 0]) + (above[0] - gy[i, 0]))
        for j in range(1, width):
            target[i, j] = beta * ((gx[i, j - 1] - gx[i, j]) + (above[j] - gy[i, j]))


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
def _solve_spectrum(numerator_data, spectrum, kernel_power, gradient_power, beta, mu):
    """In place: spectrum <- (numerator_data + spectrum) / (|K|^2 + beta |D|^2 + mu).

    One fused pass; as array expressions this step made four temporaries per iteration
    and cost as much as the FFTs.
    """
    rows, columns = spectrum.shape
    for u in range(rows):
        for v in range(columns):
            scale = 1.0 / (kernel_power[u, v] + beta * gradient_power[u, v] + mu)
            spectrum[u, v] = (numerator_data[u, v] + spectrum[u, v]) * scale


@njit
def _restore_l0(blurred, otf, lambda_grad, lambda_dark, patch, kappa, beta_max, dark_weight_ratio):
    """HQS latent update on a periodic image, in the precision of its inputs.

    The blind estimator passes float32 / complex64: single-precision FFTs run about 2.4x
    as fast here, and the latent only feeds thresholded edge selection (BENCHMARKS.md
    checks that the kernels are as good). The non-blind deconvolution passes float64:
    in single precision the beta-weighted gradient term, which cancels at low
    frequencies, would leave errors of 1e-3 on small images.

    Parameters
    ----------
    blurred : (H, W) float32 or float64, already padded to be periodic.
    otf : (H, W // 2 + 1) complex64 or complex128 (matching), ``rfft2`` of the centred kernel.
    lambda_grad, lambda_dark : L0 weights; ``lambda_dark == 0`` drops the dark term.
    patch : dark-channel window width.
    kappa, beta_max : continuation factor and final penalty weight.
    dark_weight_ratio : the dark term's splitting weight mu starts at this fraction of the
        gradient one, beta = 2 lambda_grad, and grows by kappa with it. Its auxiliary image
        is the latent itself away from the zeroed pixels, so mu also holds every pixel
        to its previous value: a large one freezes the latent early.

    Returns
    -------
    (H, W) latent image, of the dtype of ``blurred``.
    """
    height, width = blurred.shape
    numerator_data = np.conj(otf) * np.fft.rfft2(blurred)
    kernel_power = otf.real**2 + otf.imag**2
    gradient_power = _gradient_denominator(height, width).astype(kernel_power.dtype)
    latent = blurred.copy()
    target = np.empty_like(blurred)
    beta = 2.0 * lambda_grad
    mu = dark_weight_ratio * beta
    use_dark = lambda_dark > 0.0
    while beta < beta_max:
        _gradient_step(latent, lambda_grad / beta, beta, target)
        dark_weight = 0.0
        if use_dark:
            _dark_step(latent, lambda_dark / mu, mu, patch, target)
            dark_weight = mu
            mu = min(mu * kappa, beta_max)
        spectrum = np.fft.rfft2(target)
        _solve_spectrum(numerator_data, spectrum, kernel_power, gradient_power, beta, dark_weight)
        latent = np.fft.irfft2(spectrum, s=(height, width))
        beta *= kappa
    return latent
