"""Tests of kernels_fast.deconv: twins of the jitted cores, properties, synthetic blur, bad input."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodregions.kernels_fast import deconv
from goodregions.kernels_fast.deconv import DECONVOLUTION_METHODS, WienerDeconvolver, deconvolve
from goodregions.kernels_fast.fft import _pad_periodic, _psf_to_otf, convolve, fast_shape

import naive
from conftest import line_kernel

SAMPLE = Path(__file__).resolve().parent.parent / "runtime" / "samples" / "synthetic_sharp.png"

# Max abs difference between a jitted core and its twin. The Wiener core runs in single
# precision; hyper_laplacian is limited by the lookup table's linear interpolation.
TOLERANCE = {"wiener": 1e-5, "hyper_laplacian": 2e-5, "tv": 1e-11}
# Minimum PSNR gain (dB) over the blurred input (17.3 dB) on the synthetic blur below;
# measured gains are 12.3 (wiener), 13.1 (hyper_laplacian) and 13.1 (tv_l0).
MIN_GAIN_DB = {"wiener": 9.0, "hyper_laplacian": 10.0, "tv_l0": 10.0}


HOOK = line_kernel(15, [(-5, -5), (3, 4), (3, 6)], samples_per_segment=60)


def psnr(reference, image, border):
    inner = (slice(border, -border), slice(border, -border))
    return 10 * np.log10(1.0 / np.mean((reference[inner] - image[inner]) ** 2))


@pytest.fixture(scope="module")
def sharp():
    """A 160×160 crop of the bundled sharp sample (Set12 'boat'), float64 in [0, 1]."""
    image = cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
    return image[100:260, 100:260]


@pytest.fixture(scope="module")
def synthetic(sharp):
    """(sharp crop, blurred crop): blurred from real surrounding content, noise sigma 0.01."""
    radius = HOOK.shape[0] // 2
    size = sharp.shape[0] - 2 * radius
    rng = np.random.default_rng(7)
    blurred = convolve(sharp, HOOK, mode="valid") + rng.normal(0.0, 0.01, (size, size))
    return sharp[radius : radius + size, radius : radius + size], blurred


def _core_inputs(height, width, kh, kw, seed):
    rng = np.random.default_rng(seed)
    image = rng.random((height, width))
    kernel = rng.random((kh, kw))
    kernel /= kernel.sum()
    shape = fast_shape((height + kh - 1, width + kw - 1))
    padded = _pad_periodic(image, shape[0], shape[1])
    return padded, kernel, _psf_to_otf(kernel, shape)


# --- jitted cores against their NumPy twins ---------------------------------------------

sizes = st.integers(5, 26)
kernel_sizes = st.integers(1, 8)
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**16)


@settings(max_examples=20, deadline=None)
@given(height=sizes, width=sizes, kh=kernel_sizes, kw=kernel_sizes, seed=seeds)
def test_wiener_core_matches_twin(height, width, kh, kw, seed):
    padded, kernel, otf = _core_inputs(height, width, kh, kw, seed)
    # The core takes and returns single precision; the twin computes in double.
    result = deconv._wiener(padded.astype(np.float32), otf, 1e-2, 1)
    expected = naive.deconv_wiener(padded, kernel, 1e-2)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=0, atol=TOLERANCE["wiener"])


@settings(max_examples=20, deadline=None)
@given(
    height=sizes,
    width=sizes,
    kh=kernel_sizes,
    kw=kernel_sizes,
    dtype=dtypes,
    seed=seeds,
    prior=st.sampled_from([("hyper_laplacian", 0.8, 7e-4, 256.0), ("tv", 1.0, 1.2e-3, 4096.0)]),
)
def test_hqs_core_matches_twin(height, width, kh, kw, dtype, seed, prior):
    name, alpha, weight, beta_max = prior
    padded, kernel, otf = _core_inputs(height, width, kh, kw, seed)
    padded = padded.astype(dtype)
    result = deconv._hqs(padded.astype(np.float64), otf, weight, alpha, beta_max, 1)
    # The twin gets the same float64 values: its shrinkage thresholds are discontinuous, so
    # a float32 twin can flip a threshold decision and move the whole solution.
    expected = naive.deconv_hqs(padded.astype(np.float64), kernel, weight, alpha, beta_max)
    np.testing.assert_allclose(result, expected, rtol=0, atol=TOLERANCE[name])


@settings(max_examples=30, deadline=None)
@given(
    beta=st.sampled_from([1.0, 2.83, 8.0, 22.6, 64.0, 181.0, 4096.0]),
    alpha=st.sampled_from([0.5, 0.8, 1.0]),
    values=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=50),
)
def test_shrink_matches_exact_minimiser(beta, alpha, values):
    lam = 1.0 / beta
    table, threshold, step = deconv._shrink_table(lam, alpha, deconv._TABLE_SIZE, deconv._TABLE_REACH)
    # Also probe just around the jump and far beyond the table (Newton fallback).
    probes = np.concatenate([values, [threshold * (1 - 1e-9), threshold * (1 + 1e-9), -300.0, 1e3]])
    result = np.array([deconv._shrink(v, lam, alpha, table, threshold, step) for v in probes])
    expected = naive.shrink(probes, lam, alpha)
    np.testing.assert_allclose(result, expected, rtol=0, atol=2e-5 * max(1.0, lam))


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    height=st.integers(4, 33),
    width=st.integers(4, 33),
    delta_size=st.sampled_from([1, 3, 4]),
    color=st.booleans(),
    method=st.sampled_from(DECONVOLUTION_METHODS),
    seed=seeds,
)
def test_delta_kernel_is_identity(height, width, delta_size, color, method, seed):
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if color else (height, width)
    image = rng.random(shape)
    delta = np.zeros((delta_size, delta_size))
    delta[delta_size // 2, delta_size // 2] = 1.0  # the centre, also for even sizes
    result = deconvolve(image, delta, method=method, weight=1e-7)
    assert result.shape == shape and result.dtype == np.float64
    np.testing.assert_allclose(result, image, rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", DECONVOLUTION_METHODS)
def test_delta_kernel_with_default_weight_changes_little(sharp, method):
    delta = np.ones((1, 1))
    assert psnr(sharp, deconvolve(sharp, delta, method=method), 4) > 45.0  # measured 52-57


@pytest.mark.parametrize("method", DECONVOLUTION_METHODS)
def test_synthetic_blur_is_restored(synthetic, method):
    truth, blurred = synthetic
    border = HOOK.shape[0]
    before = psnr(truth, blurred, border)
    after = psnr(truth, deconvolve(blurred, HOOK, method=method), border)
    assert after - before > MIN_GAIN_DB[method], (before, after)
    # The kernel's orientation matters: the 180°-rotated kernel must do clearly worse.
    rotated = psnr(truth, deconvolve(blurred, HOOK[::-1, ::-1], method=method), border)
    assert after - rotated > 5.0, (after, rotated)  # measured about 15


def test_larger_weight_smooths_more(synthetic):
    _, blurred = synthetic
    rough = deconvolve(blurred, HOOK, method="wiener", weight=1e-3)
    smooth = deconvolve(blurred, HOOK, method="wiener", weight=1e-1)
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(rough, axis=1)).mean()


@pytest.mark.parametrize("method", DECONVOLUTION_METHODS)
def test_color_is_channel_wise(synthetic, method):
    _, blurred = synthetic
    color = np.stack([blurred[:60, :50], blurred[10:70, 5:55], blurred[20:80, 10:60]], axis=-1)
    result = deconvolve(color, HOOK, method=method)
    assert result.shape == color.shape and result.dtype == np.float64
    for channel in range(3):
        expected = deconvolve(np.ascontiguousarray(color[..., channel]), HOOK, method=method)
        np.testing.assert_allclose(result[..., channel], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(31, 40), (40, 31), (7, 5), (5, 7)])
@pytest.mark.parametrize("kernel_shape", [(5, 5), (4, 6), (9, 9)])
def test_any_image_and_kernel_size(shape, kernel_shape):
    image = np.random.default_rng(1).random(shape)
    kernel = np.ones(kernel_shape)
    for method in DECONVOLUTION_METHODS:
        result = deconvolve(image, kernel, method=method)
        assert result.shape == shape and result.flags.c_contiguous and np.all(np.isfinite(result))


def test_dtype_policy(synthetic):
    _, blurred = synthetic
    as_float32 = blurred.astype(np.float32)
    np.testing.assert_array_equal(
        deconvolve(as_float32, HOOK, method="wiener"), deconvolve(as_float32.astype(np.float64), HOOK, method="wiener")
    )
    clipped = np.clip(blurred, 0.0, 1.0)
    as_uint8 = np.round(clipped * 255).astype(np.uint8)
    np.testing.assert_allclose(
        deconvolve(as_uint8, HOOK, method="wiener"), deconvolve(as_uint8 / 255.0, HOOK, method="wiener"), atol=1e-12
    )
    as_uint16 = np.round(clipped * 65535).astype(np.uint16)  # documented: divided by 65535
    np.testing.assert_allclose(
        deconvolve(as_uint16, HOOK, method="wiener"), deconvolve(as_uint16 / 65535.0, HOOK, method="wiener"), atol=1e-12
    )
    assert deconvolve(blurred.astype(np.float16), HOOK, method="wiener").dtype == np.float64


def test_result_is_not_clipped():
    bright = np.full((32, 32), 0.98) + np.random.default_rng(3).normal(0.0, 0.01, (32, 32))
    result = deconvolve(bright, HOOK, method="wiener")
    assert result.max() > 1.0


def test_kernel_is_normalised():
    image = np.random.default_rng(4).random((20, 20))
    np.testing.assert_allclose(deconvolve(image, 5 * HOOK), deconvolve(image, HOOK), atol=1e-12)


# --- bad input -----------------------------------------------------------------------------

IMAGE = np.full((16, 16), 0.5)
KERNEL = np.ones((3, 3))


@pytest.mark.parametrize(
    ("blurred", "kernel", "error", "match"),
    [
        (np.where(np.eye(16) > 0, np.nan, 0.5), KERNEL, ValueError, "blurred contains NaN"),
        (np.where(np.arange(256).reshape(16, 16) == 137, np.nan, 0.5), KERNEL, ValueError, "blurred contains NaN"),
        (np.where(np.arange(256).reshape(16, 16) == 137, np.inf, 0.5), KERNEL, ValueError, "blurred contains NaN or inf"),
        (np.where(np.arange(256).reshape(16, 16) == 137, -np.inf, 0.5), KERNEL, ValueError, "blurred contains NaN or inf"),
        (np.full((4, 4, 4, 3), 0.5), KERNEL, ValueError, r"blurred must have shape \(H, W\) or \(H, W, 3\)"),
        (np.full(16, 0.5), KERNEL, ValueError, "blurred must have shape"),
        (np.full((16, 16, 4), 0.5), KERNEL, ValueError, "blurred .*alpha channel"),
        (np.zeros((0, 16)), KERNEL, ValueError, "blurred must not be empty"),
        (np.full((16, 16), 100, dtype=np.int32), KERNEL, TypeError, "blurred must be uint8, uint16 or floating"),
        (IMAGE.astype(np.complex128), KERNEL, TypeError, "blurred must be uint8, uint16 or floating"),
        (IMAGE.tolist(), KERNEL, TypeError, "blurred must be a numpy.ndarray"),
        (IMAGE * 255, KERNEL, ValueError, r"blurred must hold values in \[0, 1\]"),
        (IMAGE, -KERNEL, ValueError, "kernel must have a positive sum"),
        (IMAGE, np.array([[0.5, -0.2, 0.5]]), ValueError, "kernel must be non-negative"),
        (IMAGE, np.zeros((3, 3)), ValueError, "kernel must have a positive sum"),
        (IMAGE, np.ones(3), ValueError, "kernel must be a non-empty 2-D array"),
        (IMAGE, KERNEL.astype(np.complex128), TypeError, "kernel must hold real numbers"),
        (IMAGE, np.where(np.eye(3) > 0, np.nan, 1.0), ValueError, "kernel contains NaN"),
    ],
)
def test_bad_arrays_raise(blurred, kernel, error, match):
    with pytest.raises(error, match=match):
        deconvolve(blurred, kernel)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"method": "richardson_lucy"}, ValueError, "method must be one of 'wiener', 'hyper_laplacian', 'tv_l0', got 'richardson_lucy'"),
        ({"method": None}, ValueError, "method must be one of"),
        ({"weight": 0.0}, ValueError, "weight must be finite and > 0, got 0.0"),
        ({"weight": -1e-3}, ValueError, "weight must be finite and > 0"),
        ({"weight": float("nan")}, ValueError, "weight must be finite and > 0"),
        ({"weight": "0.01"}, TypeError, "weight must be a positive real number or None, got str"),
        ({"weight": True}, TypeError, "weight must be a positive real number"),
    ],
)
def test_bad_options_raise(options, error, match):
    with pytest.raises(error, match=match):
        deconvolve(IMAGE, KERNEL, **options)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        deconvolve(IMAGE, KERNEL, "wiener")  # noqa: the point of the test


# --- WienerDeconvolver: many frames, one kernel ------------------------------------------------


def test_wiener_deconvolver_matches_deconvolve(synthetic):
    _, blurred = synthetic
    deconvolver = WienerDeconvolver(HOOK, blurred.shape)
    expected = deconvolve(blurred, HOOK, method="wiener")
    for plane in (blurred, blurred.astype(np.float32)):
        result = deconvolver(plane)
        assert result.dtype == np.float32 and result.shape == blurred.shape
        # float32 FFTs on both sides; the OTFs round differently (float64 vs float32 kernel)
        assert np.max(np.abs(result - expected)) < 1e-4


def test_wiener_deconvolver_shift_moves_the_result(synthetic):
    _, blurred = synthetic
    still = WienerDeconvolver(HOOK, blurred.shape)(blurred)
    moved = WienerDeconvolver(HOOK, blurred.shape, shift=(2.0, -3.0))(blurred)
    # kernel translated by (2, -3) -> result translated by (-2, +3); compare away from the wrap
    assert np.max(np.abs(moved[20:-20, 20:-20] - still[22:-18, 17:-23])) < 1e-4
    assert np.max(np.abs(moved - still)) > 0.1


def test_wiener_deconvolver_refuses_bad_input():
    deconvolver = WienerDeconvolver(KERNEL, (16, 16))
    with pytest.raises(ValueError, match=r"plane must be a float array of shape \(16, 16\), got float64 \(16, 20\)"):
        deconvolver(np.zeros((16, 20)))
    with pytest.raises(ValueError, match="plane must be a float array .* got uint8"):
        deconvolver(np.zeros((16, 16), np.uint8))
    with pytest.raises(TypeError, match="plane_shape must be \\(H, W\\), got 16"):
        WienerDeconvolver(KERNEL, 16)
    with pytest.raises(ValueError, match="plane_shape must be \\(H, W\\), got \\(16, 16, 3\\)"):
        WienerDeconvolver(KERNEL, (16, 16, 3))
    with pytest.raises(ValueError, match="plane_shape H must be an int >= 1"):
        WienerDeconvolver(KERNEL, (0, 16))
    with pytest.raises(ValueError, match="weight must be finite and > 0"):
        WienerDeconvolver(KERNEL, (16, 16), weight=-1.0)
    assert WienerDeconvolver.check_weight(None) == deconv._DEFAULT_WEIGHTS["wiener"]
