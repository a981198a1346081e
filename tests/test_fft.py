import numpy as np
import pytest
import scipy.fft
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from goodregions.kernels_fast import convolve, fast_shape, pad_periodic, psf_to_otf
from goodregions.kernels_fast.fft import _pad_periodic, _psf_to_otf, _smooth_length

import naive

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(9, 40),
    width=st.integers(9, 40),
    kh=st.integers(1, 8),
    kw=st.integers(1, 8),
    mode=st.sampled_from(["same", "valid"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_convolve_matches_scipy(height, width, kh, kw, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    image = rng.random((height, width)).astype(dtype)
    kernel = rng.random((kh, kw))
    expected = scipy.signal.convolve2d(image.astype(np.float64), kernel / kernel.sum(), mode=mode)
    np.testing.assert_allclose(convolve(image, kernel, mode=mode), expected, atol=TOLERANCE[dtype])


def test_convolve_orientation_is_true_convolution():
    image = np.zeros((9, 9))
    image[4, 4] = 1.0
    kernel = np.zeros((3, 3))
    kernel[0, 2] = 1.0  # top-right
    # Convolving an impulse reproduces the kernel itself, not its 180° rotation.
    np.testing.assert_allclose(convolve(image, kernel)[3:6, 3:6], kernel, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(size=st.tuples(st.integers(8, 33), st.integers(8, 33)), ks=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_psf_to_otf_matches_twin_and_circular_convolution(size, ks, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.random((ks, ks))
    kernel /= kernel.sum()
    otf = psf_to_otf(kernel, size)
    np.testing.assert_allclose(otf, naive.psf_to_otf(kernel, size), atol=1e-12)
    image = rng.random(size)
    via_fft = np.fft.irfft2(np.fft.rfft2(image) * otf, s=size)
    np.testing.assert_allclose(via_fft, naive.circular_convolve(image, kernel), atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(size=st.tuples(st.integers(16, 33), st.integers(16, 33)), dy=st.integers(-3, 3), dx=st.integers(-3, 3),
       seed=st.integers(0, 2**16))
def test_psf_to_otf_shift_by_whole_pixels_is_the_translated_kernel(size, dy, dx, seed):
    kernel = np.zeros((11, 11))
    kernel[3:8, 3:8] = np.random.default_rng(seed).random((5, 5))
    translated = np.roll(kernel, (dy, dx), axis=(0, 1))  # the margin of 3 keeps every entry inside
    np.testing.assert_allclose(psf_to_otf(kernel, size, shift=(dy, dx)), psf_to_otf(translated, size), atol=1e-12)


def test_psf_to_otf_fractional_shifts_compose_and_undo():
    kernel, shape = np.random.default_rng(3).random((7, 7)), (32, 31)
    ramp = lambda shift: psf_to_otf(np.ones((1, 1)), shape, shift=shift)  # a delta's OTF: the ramp alone
    moved = psf_to_otf(kernel, shape, shift=(0.5, -0.25))
    np.testing.assert_allclose(moved * ramp((0.5, -0.25)), psf_to_otf(kernel, shape, shift=(1.0, -0.5)), atol=1e-12)
    np.testing.assert_allclose(moved * ramp((-0.5, 0.25)), psf_to_otf(kernel, shape), atol=1e-12)


@pytest.mark.parametrize("shift", [(1.0,), (0.0, float("nan")), "ab", None])
def test_psf_to_otf_rejects_a_bad_shift(shift):
    with pytest.raises(ValueError, match="shift must be two finite numbers"):
        psf_to_otf(np.ones((3, 3)), (8, 8), shift=shift)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(3, 30), st.integers(3, 30)),
    extra=st.tuples(st.integers(0, 12), st.integers(0, 12)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_pad_periodic_matches_twin_and_round_trips(shape, extra, dtype, seed):
    image = np.random.default_rng(seed).random(shape).astype(dtype)
    out = (shape[0] + extra[0], shape[1] + extra[1])
    padded = pad_periodic(image, out)
    np.testing.assert_array_equal(padded[: shape[0], : shape[1]], image.astype(np.float64))
    np.testing.assert_allclose(padded, naive.pad_periodic(image.astype(np.float64), out), atol=1e-12)


def test_pad_periodic_wraps_smoothly():
    rng = np.random.default_rng(0)
    image = np.cumsum(rng.random((40, 50)), axis=1) / 50.0  # strong left-right ramp
    padded = _pad_periodic(image, 60, 70)
    # Every step, including the wrap from the last column back to the first, stays small.
    steps = np.abs(np.diff(padded, axis=1, append=padded[:, :1]))
    assert steps.max() < 0.12
    assert np.abs(image[:, -1] - image[:, 0]).max() > 0.5


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 5000))
def test_fast_shape_is_5_smooth_and_not_smaller(n):
    (m,) = fast_shape((n,))
    assert m >= n
    for prime in (2, 3, 5):
        while m % prime == 0:
            m //= prime
    assert m == 1


@pytest.mark.parametrize(
    "image, error, match",
    [
        (np.full((8, 8), np.nan), ValueError, "NaN"),
        (np.zeros((0, 5)), ValueError, "empty"),
        (np.zeros((4, 4, 4)), ValueError, "alpha"),
        (np.zeros((8, 8), dtype=np.int32), TypeError, "uint8, uint16"),
        (np.zeros((8, 8), dtype=np.complex128), TypeError, "dtype"),
        (np.full((8, 8), 255.0), ValueError, r"\[0, 1\]"),
        ([[0.0, 1.0]], TypeError, "numpy.ndarray"),
    ],
)
def test_convolve_rejects_bad_images(image, error, match):
    with pytest.raises(error, match=match):
        convolve(image, np.ones((3, 3)))


def test_integer_images_are_scaled_to_unit_range():
    image8 = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    image16 = image8.astype(np.uint16) * 257  # the same values at 16 bits
    np.testing.assert_allclose(convolve(image8, np.ones((3, 3))), convolve(image16, np.ones((3, 3))), atol=1e-12)
    np.testing.assert_allclose(convolve(image8, np.ones((1, 1))), image8 / 255.0, atol=1e-12)


@pytest.mark.parametrize(
    "kernel, error, match",
    [
        (np.zeros((3, 3)), ValueError, "positive sum"),
        (np.array([[1.0, -0.5, 1.0]]), ValueError, "non-negative"),
        (np.ones(3), ValueError, "2-D"),
        (np.full((3, 3), np.inf), ValueError, "NaN or inf"),
    ],
)
def test_convolve_rejects_bad_kernels(kernel, error, match):
    with pytest.raises(error, match=match):
        convolve(np.zeros((8, 8)), kernel)


def test_convolve_valid_needs_a_large_enough_image():
    with pytest.raises(ValueError, match="valid"):
        convolve(np.zeros((4, 4)), np.ones((5, 5)), mode="valid")


def test_jitted_otf_twin_on_even_kernel():
    kernel = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_allclose(_psf_to_otf(kernel, (8, 9)), naive.psf_to_otf(kernel, (8, 9)), atol=1e-12)


def test_threaded_otf_equals_single_threaded():
    kernel = np.random.default_rng(3).random((7, 5))
    np.testing.assert_allclose(_psf_to_otf(kernel, (40, 33), 2), _psf_to_otf(kernel, (40, 33)), atol=1e-12)


def test_single_precision_padding_is_the_double_one_rounded():
    image = np.random.default_rng(4).random((21, 30))
    padded = _pad_periodic(image, 32, 45, np.float32)
    assert padded.dtype == np.float32
    np.testing.assert_allclose(padded, _pad_periodic(image, 32, 45), rtol=0, atol=1e-7)


def test_jitted_smooth_length_agrees_with_scipy():
    lengths = [_smooth_length(n) for n in range(1, 400)]
    assert lengths == [scipy.fft.next_fast_len(n, real=True) for n in range(1, 400)]
