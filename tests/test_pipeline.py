"""The deblurring pipeline on synthetic blur with a known kernel: colour, dtypes, selectors, fallbacks."""

from pathlib import Path

import numpy as np
import pytest

from goodregions.kernels_fast import deconvolve, kernel_similarity
from goodregions.runtime.pipeline import Deblurrer, Result, default_kernel_size

from conftest import SAMPLES, blur

pytest.importorskip("onnxruntime")

from goodregions.runtime.selectors import SELECTORS  # noqa: E402

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_scorer.onnx"
SIZE = 260  # > one 228 window, so grid selectors have a few windows
# The hook kernel spans 13 px: two pixels of margin on each side keep its mass off the
# support's border, where the estimator warns that the blur may be larger.
KERNEL_SIZE = 17
GAINS = np.array([0.9, 1.0, 0.75])  # RGB: each channel a scaled copy (blur is linear, so still a blur of one scene)


@pytest.fixture(scope="module")
def pair(sharp_sample, hook_kernel):
    blurred, sharp = blur(sharp_sample, hook_kernel, size=SIZE, noise=0.005, seed=1)
    return np.clip(blurred, 0.0, 1.0), sharp


def aligned_rmse(reference, image, *, border=20, max_shift=4):
    """RMSE of ``image`` against ``reference`` on the interior, at the best integer shift (blind
    estimates are defined up to a translation)."""
    inner = reference[border:-border, border:-border]
    best = np.inf
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            moved = image[border + dy:image.shape[0] - border + dy, border + dx:image.shape[1] - border + dx]
            best = min(best, float(np.sqrt(np.mean((moved - inner) ** 2))))
    return best


def test_gray_float_recovers_the_kernel_and_sharpens(pair, hook_kernel):
    blurred, sharp = pair
    result = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(blurred)
    assert isinstance(result, Result)
    assert result.image.dtype == np.float64 and result.image.shape == blurred.shape
    assert result.kernel.shape == (KERNEL_SIZE, KERNEL_SIZE) and abs(result.kernel.sum() - 1.0) < 1e-9
    assert kernel_similarity(result.kernel, hook_kernel) > 0.75
    assert aligned_rmse(sharp, result.image) < 0.75 * aligned_rmse(sharp, blurred)
    assert set(result.timings) == {"score", "estimate", "deconvolve"}
    assert result.window == (20, 20, 228, 228) and result.selector == "center" and result.provider is None


def test_rgb_uint8_keeps_dtype_and_deconvolves_every_channel(pair, hook_kernel):
    blurred, sharp = pair
    rgb = np.round(np.clip(blurred[..., None] * GAINS, 0, 1) * 255).astype(np.uint8)
    result = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(rgb)
    assert result.image.dtype == np.uint8 and result.image.shape == rgb.shape
    assert kernel_similarity(result.kernel, hook_kernel) > 0.75
    for channel, gain in enumerate(GAINS):
        restored = result.image[..., channel] / 255.0
        assert aligned_rmse(sharp * gain, restored) < 0.8 * aligned_rmse(sharp * gain, rgb[..., channel] / 255.0)


def test_uint16_rgb_keeps_dtype_with_documented_rounding(pair):
    blurred, _ = pair
    rgb16 = np.round(blurred[..., None] * GAINS * 65535).astype(np.uint16)
    deblurrer = Deblurrer(selector="center", kernel_size=KERNEL_SIZE)
    result = deblurrer.deblur(rgb16)
    assert result.image.dtype == np.uint16
    # Same result as the float pipeline, scaled, rounded and clipped to the uint16 range.
    expected = np.clip(np.rint(deconvolve(rgb16, result.kernel) * 65535), 0, 65535).astype(np.uint16)
    np.testing.assert_array_equal(result.image, expected)


def test_float32_stays_float32_and_unclipped(pair):
    blurred, _ = pair
    result = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(blurred.astype(np.float32))
    assert result.image.dtype == np.float32
    assert result.image.min() < 0.0 or result.image.max() > 1.0  # ringing overshoot is not clipped


def test_rgba_passes_alpha_through_unchanged(pair):
    blurred, _ = pair
    rgb = np.round(blurred[..., None] * GAINS * 255).astype(np.uint8)
    alpha = np.random.default_rng(0).integers(0, 256, blurred.shape, dtype=np.uint8)
    result = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(np.dstack([rgb, alpha]))
    assert result.image.shape == (SIZE, SIZE, 4) and result.image.dtype == np.uint8
    np.testing.assert_array_equal(result.image[..., 3], alpha)
    separate = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(rgb, alpha=alpha)
    assert separate.alpha is alpha and separate.image.shape == rgb.shape
    np.testing.assert_array_equal(separate.image, result.image[..., :3])
    with pytest.raises(ValueError, match="either"):
        Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(np.dstack([rgb, alpha]), alpha=alpha)


def test_luma_only_changes_luminance_and_keeps_chroma(pair):
    blurred, _ = pair
    rgb = np.clip(blurred[..., None] * GAINS + np.array([0.02, 0.0, 0.05]), 0, 1)
    full = Deblurrer(selector="center", kernel_size=KERNEL_SIZE).deblur(rgb)
    luma = Deblurrer(selector="center", kernel_size=KERNEL_SIZE, luma_only=True).deblur(rgb)
    weights = np.array([0.299, 0.587, 0.114])

    def chroma(image):  # BT.601 Cr and Cb, offsets dropped
        y = image @ weights
        return 0.713 * (image[..., 0] - y), 0.564 * (image[..., 2] - y)

    for before, after in zip(chroma(rgb), chroma(luma.image)):
        np.testing.assert_allclose(after, before, atol=1e-9)
    np.testing.assert_allclose(luma.image @ weights, deconvolve(rgb @ weights, luma.kernel), atol=1e-9)
    assert not np.allclose(full.image, luma.image)


def test_small_image_falls_back_to_whole_with_a_warning(pair):
    small = pair[0][:150, :170]
    with pytest.warns(UserWarning, match="falls back to 'whole'"):
        result = Deblurrer(selector="xu", kernel_size=21).deblur(small)
    assert result.selector == "whole" and result.window == (0, 0, 170, 150)
    assert any("falls back" in text for text in result.warnings)


def test_nan_is_refused_clearly(pair):
    image = pair[0].copy()
    image[5, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Deblurrer(selector="center").deblur(image)


@pytest.mark.filterwarnings("ignore:the estimated 113x113 kernel reaches the border")  # a 113 px blur fits no 228 window
def test_kernel_too_large_for_the_window_is_reduced_with_a_warning(pair):
    with pytest.warns(UserWarning, match="using kernel_size=113"):
        result = Deblurrer(selector="center", kernel_size=121).estimate(pair[0])
    assert result.kernel_size == 113


def test_kernel_touching_its_border_warns_with_a_larger_size(pair):
    with pytest.warns(UserWarning, match="try kernel_size=17"):
        result = Deblurrer(selector="center", kernel_size=7).deblur(pair[0])
    assert result.touches_border


def test_warn_false_only_records(pair, recwarn):
    result = Deblurrer(selector="center", kernel_size=7).deblur(pair[0], warn=False)
    assert result.warnings and not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("selector", SELECTORS)
def test_every_selector_runs_through_the_deblurrer(selector, pair):
    blurred = pair[0]
    box = (10, 20, 200, 180) if selector == "box" else None
    deblurrer = Deblurrer(selector=selector, model=TINY if selector == "cnn" else None, kernel_size=KERNEL_SIZE, box=box, rng=0)
    result = deblurrer.deblur(blurred, warn=False)
    assert result.selector == selector
    x, y, w, h = result.window
    assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE
    if selector == "box":
        assert result.window == box
    if selector == "cnn":
        assert result.provider == "CPUExecutionProvider" and result.scores.scores.size > 1
    if selector in ("cnn", "fergus", "xu"):
        assert result.score == pytest.approx(float(result.scores.scores.max()))
    else:
        assert result.scores is None


def test_default_kernel_size_rule():
    assert default_kernel_size((1080, 1920)) == 31
    assert default_kernel_size((512, 700, 3)) == 31
    assert default_kernel_size((256, 400)) == 15
    assert default_kernel_size((120, 160)) == 11
    assert default_kernel_size((12, 40)) == 5


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="selector"):
        Deblurrer(selector="best")
    with pytest.raises(ValueError, match="box"):
        Deblurrer(selector="box")
    with pytest.raises(ValueError, match="odd"):
        Deblurrer(selector="center", kernel_size=10)
    with pytest.raises(TypeError, match="ndarray"):
        Deblurrer(selector="center").deblur([[0.5]])


def test_candidates_vote_among_the_selectors_best_windows(hook_kernel):
    import cv2

    from goodregions.kernels_fast import convolve, estimate_kernel
    from goodregions.runtime.consensus import most_agreeing
    from goodregions.runtime.selectors import select_windows

    # The whole 380 x 380 sample, so that a few windows overlap little enough to be candidates.
    sharp = cv2.imread(str(SAMPLES / "synthetic_sharp.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    noise = np.random.default_rng(2).normal(0.0, 0.005, sharp.shape)
    blurred = np.clip(convolve(sharp, hook_kernel, mode="same") + noise, 0.0, 1.0)
    ranked = [s.box for s in select_windows(blurred, 3, selector="xu")]
    assert len(ranked) == 3
    result = Deblurrer(selector="xu", kernel_size=KERNEL_SIZE, candidates=3).deblur(blurred, warn=False)
    assert result.candidates == tuple(ranked) and result.window in ranked
    kernels = [estimate_kernel(blurred[y:y + h, x:x + w], KERNEL_SIZE, prior="l0") for x, y, w, h in ranked]
    assert result.window == ranked[most_agreeing(kernels)]
    np.testing.assert_array_equal(result.kernel, kernels[ranked.index(result.window)])
    single = Deblurrer(selector="xu", kernel_size=KERNEL_SIZE).deblur(blurred, warn=False)
    assert single.candidates == (single.window,) == (ranked[0],)


def test_candidates_need_a_ranking_selector():
    with pytest.raises(ValueError, match="candidates=3 needs a scored selector"):
        Deblurrer(selector="center", candidates=3)
    with pytest.raises(ValueError, match="candidates must be an int >= 1"):
        Deblurrer(selector="xu", candidates=0)
