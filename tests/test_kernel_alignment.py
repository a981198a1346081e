"""kernel_offset (kernels_fast) and the stream's KernelRegistration built on it."""

import numpy as np
import pytest

from goodregions.kernels_fast import kernel_offset, kernel_similarity
from goodregions.runtime.kernel_registration import KernelRegistration


def _blob(size, cy, cx, sigma=1.5):
    """A Gaussian of centre (cy, cx) in a (size, size) support: a smooth kernel with a known sub-pixel position."""
    y, x = np.indices((size, size))
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))


def _streak(seed):
    kernel = np.zeros((15, 15))
    kernel[5:9, 4:11] = np.random.default_rng(seed).random((4, 7))
    return kernel


@pytest.mark.parametrize("dy, dx", [(2, -1), (0, 3), (-3, -3), (0, 0)])
def test_a_translated_copy_has_that_offset_and_similarity_1(dy, dx):
    kernel = _streak(0)
    moved = np.roll(kernel, (dy, dx), axis=(0, 1))
    similarity, offset = kernel_offset(kernel, moved)
    assert similarity == pytest.approx(1.0) and offset == pytest.approx((dy, dx), abs=1e-9)
    assert kernel_offset(moved, kernel)[1] == pytest.approx((-dy, -dx), abs=1e-9)
    assert similarity == pytest.approx(kernel_similarity(kernel, moved))


def test_the_offset_is_between_centres_when_sizes_differ():
    kernel = _streak(1)
    larger = np.zeros((21, 21))
    larger[3:18, 3:18] = kernel  # same centre: (7, 7) of 15 is (10, 10) of 21
    assert kernel_offset(kernel, larger)[1] == pytest.approx((0.0, 0.0), abs=1e-9)
    assert kernel_offset(kernel, np.roll(larger, (1, -2), axis=(0, 1)))[1] == pytest.approx((1.0, -2.0), abs=1e-9)


@pytest.mark.parametrize("cy, cx", [(7.3, 6.6), (6.8, 7.0), (7.5, 7.25)])
def test_a_sub_pixel_offset_of_a_smooth_kernel_is_found_within_a_tenth(cy, cx):
    similarity, (dy, dx) = kernel_offset(_blob(15, 7, 7), _blob(15, cy, cx))
    assert similarity > 0.95
    assert abs(dy - (cy - 7)) < 0.1 and abs(dx - (cx - 7)) < 0.1


def test_kernel_offset_rejects_a_bad_kernel():
    with pytest.raises(ValueError, match="kernel contains NaN"):
        kernel_offset(np.full((3, 3), np.nan), np.ones((3, 3)))
    with pytest.raises(ValueError, match="reference must have a positive sum"):
        kernel_offset(np.ones((3, 3)), np.zeros((3, 3)))


def test_registration_lays_each_kernel_of_one_blur_over_the_first():
    registration = KernelRegistration()
    first = _streak(2)
    assert registration.shift_for(first) == (0.0, 0.0)
    assert registration.shift_for(np.roll(first, (1, -1), axis=(0, 1))) == pytest.approx((-1.0, 1.0), abs=1e-9)
    # Measured against the anchor, not the previous kernel: errors do not add up.
    assert registration.shift_for(np.roll(first, (0, 2), axis=(0, 1))) == pytest.approx((0.0, -2.0), abs=1e-9)
    assert registration.anchor is first


def test_another_blur_becomes_the_new_anchor_untranslated():
    registration = KernelRegistration()
    registration.shift_for(_blob(15, 7, 7, sigma=0.6))
    streak = np.zeros((15, 15))
    streak[7, 1:14] = 1.0  # a 13-px line: similarity to the small blob far below 0.75
    assert registration.shift_for(streak) == (0.0, 0.0) and registration.anchor is streak
    assert registration.shift_for(np.roll(streak, 1, axis=0)) == pytest.approx((-1.0, 0.0), abs=1e-9)


def test_registration_rejects_a_bad_threshold():
    with pytest.raises(ValueError, match="min_similarity must lie in"):
        KernelRegistration(min_similarity=0.0)
