"""Tests of kernels_fast.metrics: twins, properties of the measures, known values, bad input."""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

from goodregions.kernels_fast import metrics
from goodregions.kernels_fast.deconv import DECONVOLUTION_METHODS
from goodregions.kernels_fast.fft import convolve
from goodregions.kernels_fast import best_shift, error_ratio, kernel_similarity, psnr, ssim

import naive
from conftest import line_kernel

SAMPLE = Path(__file__).resolve().parent.parent / "runtime" / "samples" / "synthetic_sharp.png"
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}  # relative, core (float64) against twin


HOOK = line_kernel(11, [(-4, -4), (2, 3), (2, 5)], samples_per_segment=60)


@pytest.fixture(scope="module")
def synthetic():
    """(sharp 96×96 crop of the bundled sample, its blur by HOOK with noise sigma 0.01)."""
    image = cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
    region = image[150:256, 150:256]
    radius = HOOK.shape[0] // 2
    size = region.shape[0] - 2 * radius
    blurred = convolve(region, HOOK, mode="valid") + np.random.default_rng(11).normal(0.0, 0.01, (size, size))
    return region[radius : radius + size, radius : radius + size], blurred


kernels = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**16)).map(
    lambda args: np.random.default_rng(args[2]).random(args[:2]) ** 3  # peaky, like blur kernels
)


# --- jitted cores against their NumPy twins ---------------------------------------------


@settings(max_examples=40, deadline=None)
@given(kernel_a=kernels, kernel_b=kernels, dtype=st.sampled_from([np.float32, np.float64]))
def test_kernel_similarity_core_matches_twin(kernel_a, kernel_b, dtype):
    a, b = kernel_a.astype(dtype), kernel_b.astype(dtype)
    a, b = a / a.sum(), b / b.sum()
    result = metrics._kernel_similarity(a.astype(np.float64), b.astype(np.float64))
    assert result == pytest.approx(naive.kernel_similarity(a, b), rel=TOLERANCE[dtype])


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(7, 24),
    width=st.integers(7, 24),
    max_shift=st.integers(0, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_best_shift_ssd_core_matches_twin(height, width, max_shift, dtype, seed):
    rng = np.random.default_rng(seed)
    reference = rng.random((height, width)).astype(dtype)
    # A shifted, noisy copy so the optimum is not always at zero shift.
    image = np.roll(reference, rng.integers(-2, 3, 2), axis=(0, 1)) + rng.normal(0, 0.05, (height, width)).astype(dtype)
    result, _, _ = metrics._best_shift_ssd(reference.astype(np.float64), image.astype(np.float64), 3, max_shift)
    assert result == pytest.approx(naive.best_shift_ssd(reference, image, 3, max_shift), rel=10 * TOLERANCE[dtype])


@settings(max_examples=20, deadline=None)
@given(dy=st.floats(-1.5, 1.5), dx=st.floats(-1.5, 1.5), seed=st.integers(0, 2**16))
def test_interpolated_ssd_matches_scipy_bilinear_shift(dy, dx, seed):
    rng = np.random.default_rng(seed)
    reference, image = rng.random((2, 20, 22))
    result = metrics._interpolated_ssd(reference, image, 3, dy, dx)
    assert result == pytest.approx(naive.interpolated_ssd(reference, image, 3, dy, dx), rel=1e-9)


def test_quarter_pixel_alignment_undoes_a_half_pixel_shift():
    rng = np.random.default_rng(7)
    reference = scipy.ndimage.gaussian_filter(rng.random((40, 40)), 2.0)
    shifted = scipy.ndimage.shift(reference, (0.5, -0.5), order=1, mode="nearest")
    integer = metrics._aligned_ssd(reference, shifted, 4, 2, 1.0)
    quarter = metrics._aligned_ssd(reference, shifted, 4, 2, 0.25)
    assert quarter < 0.25 * integer  # bilinear there and back smooths a little


# --- kernel similarity ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(kernel=kernels, top=st.integers(0, 6), left=st.integers(0, 6), bottom=st.integers(0, 6), right=st.integers(0, 6))
def test_kernel_similarity_is_one_for_shifted_copies(kernel, top, left, bottom, right):
    embedded = np.pad(kernel, ((top, bottom), (left, right)))
    assert kernel_similarity(kernel, kernel) == pytest.approx(1.0, abs=1e-12)
    assert kernel_similarity(kernel, embedded) == pytest.approx(1.0, abs=1e-12)
    assert kernel_similarity(embedded, kernel) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(kernel_a=kernels, kernel_b=kernels)
def test_kernel_similarity_is_symmetric_and_bounded(kernel_a, kernel_b):
    forward = kernel_similarity(kernel_a, kernel_b)
    assert forward == pytest.approx(kernel_similarity(kernel_b, kernel_a), abs=1e-12)
    assert 0.0 <= forward <= 1.0 + 1e-12


def test_kernel_similarity_separates_different_kernels():
    delta = np.ones((1, 1))
    assert kernel_similarity(HOOK, np.rot90(HOOK)) < 0.5
    # A delta against a k-pixel uniform line: max k_i / ||k|| = (1/k) / (1/sqrt(k)) = 1/sqrt(k).
    line = np.ones((1, 9))
    assert kernel_similarity(delta, line) == pytest.approx(1.0 / 3.0, abs=1e-12)
    assert kernel_similarity(5 * HOOK, HOOK) == pytest.approx(1.0, abs=1e-12)  # scale invariant


# --- error ratio ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", DECONVOLUTION_METHODS)
def test_error_ratio_is_one_for_the_true_kernel(synthetic, method):
    sharp, blurred = synthetic
    assert error_ratio(sharp, blurred, HOOK, HOOK, method=method) == 1.0
    assert error_ratio(sharp, blurred, HOOK.copy(), HOOK, method=method, border=6) == 1.0


@settings(max_examples=10, deadline=None)
@given(top=st.integers(0, 3), left=st.integers(0, 3), bottom=st.integers(0, 3), right=st.integers(0, 3))
def test_error_ratio_ignores_where_the_estimate_is_centred(synthetic, top, left, bottom, right):
    sharp, blurred = synthetic
    embedded = np.pad(HOOK, ((top, bottom), (left, right)))
    assert error_ratio(sharp, blurred, embedded, HOOK, method="wiener") == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("method", DECONVOLUTION_METHODS)
def test_error_ratio_flags_wrong_kernels(synthetic, method):
    sharp, blurred = synthetic
    delta = np.ones((1, 1))
    assert error_ratio(sharp, blurred, delta, HOOK, method=method) > 1.5
    assert error_ratio(sharp, blurred, np.rot90(HOOK), HOOK, method=method) > 1.5
    assert error_ratio(sharp, blurred, HOOK[::-1, ::-1], HOOK, method=method) > 1.5


def test_error_ratio_accepts_uint8(synthetic):
    sharp, blurred = synthetic
    as_uint8 = np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)
    ratio = error_ratio(sharp, as_uint8, np.rot90(HOOK), HOOK, method="wiener")
    assert ratio == error_ratio(sharp, as_uint8 / 255.0, np.rot90(HOOK), HOOK, method="wiener")


# --- psnr -----------------------------------------------------------------------------------


def test_psnr_known_values():
    reference = np.zeros((8, 8))
    assert psnr(reference, np.full((8, 8), 0.1)) == pytest.approx(20.0, abs=1e-12)
    assert psnr(reference, np.full((8, 8), 0.01)) == pytest.approx(40.0, abs=1e-12)
    assert psnr(reference, reference) == math.inf
    as_uint8 = np.full((4, 4, 3), 100, dtype=np.uint8)
    # uint8 is not rescaled and does not overflow: a difference of 1 at full scale 255.
    assert psnr(as_uint8, as_uint8 + np.uint8(1), data_range=255) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(as_uint8 + np.uint8(1), as_uint8, data_range=255) == pytest.approx(20 * math.log10(255), abs=1e-12)
    half = np.zeros((2, 2))
    half[0, 0] = 1.0  # MSE 1/4
    assert psnr(np.zeros((2, 2)), half) == pytest.approx(10 * math.log10(4), abs=1e-12)


# --- ssim and best_shift ------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(height=st.integers(11, 20), width=st.integers(11, 21), noise=st.floats(0.0, 0.3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_ssim_matches_direct_formula_twin(height, width, noise, seed, dtype):
    rng = np.random.default_rng(seed)
    reference = rng.random((height, width)).astype(dtype)
    image = (reference + rng.normal(0.0, noise, reference.shape)).astype(dtype)
    assert ssim(reference, image) == pytest.approx(naive.ssim(reference.astype(np.float64), image.astype(np.float64)),
                                                   rel=1e-9, abs=1e-12)


def test_ssim_properties(synthetic):
    sharp, blurred = synthetic
    assert ssim(sharp, sharp) == 1.0
    assert ssim(sharp, blurred) == pytest.approx(ssim(blurred, sharp), abs=1e-12)  # symmetric
    assert ssim(sharp, blurred) < 0.95
    # More noise, lower SSIM; a constant offset costs only the luminance term, little.
    rng = np.random.default_rng(3)
    noisy = [ssim(sharp, sharp + rng.normal(0.0, sigma, sharp.shape)) for sigma in (0.01, 0.05, 0.2)]
    assert noisy[0] > noisy[1] > noisy[2]
    assert ssim(sharp, sharp + 0.02) > 0.99
    # Invariant to the value scale when data_range follows it; colour channels are averaged.
    assert ssim(255 * sharp, 255 * blurred, data_range=255) == pytest.approx(ssim(sharp, blurred), abs=1e-12)
    colour = np.stack([sharp, blurred, sharp], axis=-1)
    assert ssim(colour, np.stack([blurred, blurred, sharp], axis=-1)) == pytest.approx((ssim(sharp, blurred) + 2) / 3, abs=1e-12)
    # Negatively correlated structure gives a negative SSIM.
    assert ssim(sharp, 1.0 - sharp) < 0.0


@pytest.mark.parametrize(("reference", "image", "match"), [
    (np.zeros((10, 20)), np.zeros((10, 20)), "H, W >= 11"),
    (np.zeros((12, 12)), np.zeros((12, 13)), "same shape"),
    (np.zeros((12, 12)), np.full((12, 12), np.inf), "image contains NaN or inf"),
])
def test_ssim_bad_input(reference, image, match):
    with pytest.raises(ValueError, match=match):
        ssim(reference, image)


def test_best_shift_finds_the_translation(synthetic):
    sharp, _ = synthetic
    for shift in ((0, 0), (2, -3), (-1, 1)):
        moved = np.roll(sharp, shift, axis=(0, 1))  # moved[p + d] = sharp[p]
        assert best_shift(sharp, moved, border=4, max_shift=4) == shift
    with pytest.raises(ValueError, match="max_shift=5 exceeds border=4"):
        best_shift(sharp, sharp, border=4, max_shift=5)
    with pytest.raises(ValueError, match="gray"):
        best_shift(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), border=2, max_shift=1)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel_a", "kernel_b", "error", "match"),
    [
        (np.ones(3), HOOK, ValueError, "kernel_a must be a non-empty 2-D array"),
        (HOOK, np.zeros((3, 3)), ValueError, "kernel_b must have a positive sum"),
        (HOOK, np.array([[1.0, -0.5]]), ValueError, "kernel_b must be non-negative"),
        (HOOK.astype(np.complex128), HOOK, TypeError, "kernel_a must hold real numbers"),
        (HOOK, np.full((3, 3), np.nan), ValueError, "kernel_b contains NaN"),
        (HOOK.tolist(), HOOK, TypeError, "kernel_a must be a numpy.ndarray"),
    ],
)
def test_kernel_similarity_bad_input(kernel_a, kernel_b, error, match):
    with pytest.raises(error, match=match):
        kernel_similarity(kernel_a, kernel_b)


IMAGE = np.full((40, 40), 0.5)


@pytest.mark.parametrize(
    ("arguments", "options", "error", "match"),
    [
        ((IMAGE, IMAGE[:30]), {}, ValueError, r"sharp and blurred must have the same shape, got \(40, 40\) and \(30, 40\)"),
        ((np.stack([IMAGE] * 3, -1), IMAGE), {}, ValueError, r"sharp must have shape \(H, W\)"),
        ((IMAGE, np.where(np.eye(40) > 0, np.nan, 0.5)), {}, ValueError, "blurred contains NaN"),
        ((IMAGE, IMAGE.astype(np.int32)), {}, TypeError, "blurred must be uint8, uint16 or floating"),
        ((IMAGE, IMAGE.astype(np.complex64)), {}, TypeError, "blurred must be uint8, uint16 or floating"),
        ((np.zeros((0, 40)), IMAGE), {}, ValueError, "sharp must not be empty"),
        ((IMAGE, IMAGE), {"method": "lucy"}, ValueError, "method must be one of .*got 'lucy'"),
        ((IMAGE, IMAGE), {"border": -1}, ValueError, "border must be an int >= 0, got -1; use None"),
        ((IMAGE, IMAGE), {"border": 20}, ValueError, r"border=20 leaves nothing to compare in an image of shape \(40, 40\)"),
        ((IMAGE, IMAGE), {"border": 2.5}, TypeError, "border must be an int, got float"),
    ],
)
def test_error_ratio_bad_images_and_options(arguments, options, error, match):
    with pytest.raises(error, match=match):
        error_ratio(*arguments, HOOK, HOOK, **options)


@pytest.mark.parametrize(
    ("estimated", "true", "match"),
    [
        (-HOOK, HOOK, "estimated_kernel must have a positive sum"),
        (HOOK, np.zeros((3, 3)), "true_kernel must have a positive sum"),
        (HOOK[0], HOOK, "estimated_kernel must be a non-empty 2-D array"),
    ],
)
def test_error_ratio_bad_kernels(estimated, true, match):
    with pytest.raises(ValueError, match=match):
        error_ratio(IMAGE, IMAGE, estimated, true)


@pytest.mark.parametrize(
    ("reference", "image", "options", "error", "match"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), {}, ValueError, r"reference and image must have the same shape, got \(4, 4\) and \(4, 5\)"),
        (np.zeros((4, 4)), np.full((4, 4), np.nan), {}, ValueError, "image contains NaN"),
        (np.zeros((4, 4), dtype=np.complex128), np.zeros((4, 4)), {}, TypeError, "reference must hold real numbers"),
        (np.zeros(0), np.zeros(0), {}, ValueError, "reference must not be empty"),
        ([0.0], np.zeros(1), {}, TypeError, "reference must be a numpy.ndarray"),
        (np.full((4, 4), 200, dtype=np.uint8), np.zeros((4, 4)), {}, ValueError, "data_range=255"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {"data_range": 0}, ValueError, "data_range must be finite and > 0, got 0.0"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {"data_range": "1"}, TypeError, "data_range must be a positive number, got str"),
    ],
)
def test_psnr_bad_input(reference, image, options, error, match):
    with pytest.raises(error, match=match):
        psnr(reference, image, **options)


def test_error_ratio_with_given_deconvolutions_equals_its_own(sharp_sample, hook_kernel):
    from goodregions.kernels_fast import deconvolve

    sharp = sharp_sample[:96, :96]
    blurred = convolve(sharp, hook_kernel, mode="same") + np.random.default_rng(3).normal(0, 0.01, sharp.shape)
    estimate = np.roll(np.pad(hook_kernel, 1), 1, axis=0) * 0.8 + 0.2 / 225
    latents = {"latent_estimated": deconvolve(blurred, estimate), "latent_true": deconvolve(blurred, hook_kernel)}
    assert latents["latent_estimated"].min() < 0.0 or latents["latent_estimated"].max() > 1.0  # ringing is allowed
    for step in (0.25, 1.0):
        assert error_ratio(sharp, blurred, estimate, hook_kernel, shift_step=step, **latents) == \
            error_ratio(sharp, blurred, estimate, hook_kernel, shift_step=step)
    with pytest.raises(ValueError, match="latent_true must have the shape of blurred"):
        error_ratio(sharp, blurred, estimate, hook_kernel, latent_true=latents["latent_true"][:-1])
