"""Window selectors on a synthetic image with a known best region (no torch)."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from goodregions.export.windows import window_boxes  # noqa: E402
from goodregions.runtime.scorer import ImageTooSmallError, WindowScorer  # noqa: E402
from goodregions.runtime.selectors import MIN_BOX_SIDE, SELECTORS, Selection, select_window, select_windows  # noqa: E402

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_scorer.onnx"
SQUARE = (240, 220, 200, 200)  # x, y, w, h of the textured square


@pytest.fixture(scope="module")
def scorer():
    return WindowScorer(TINY, providers="cpu")


@pytest.fixture(scope="module")
def square_image():
    """480 x 480 flat gray with a 200 x 200 square of random 8-pixel blocks in [0.1, 0.9]."""
    image = np.full((480, 480), 0.5)
    x, y, w, h = SQUARE
    image[y:y + h, x:x + w] = np.kron(np.random.default_rng(3).random((25, 25)), np.ones((8, 8))) * 0.8 + 0.1
    return image


def _covers(box, region=SQUARE):
    x, y, w, h = box
    rx, ry, rw, rh = region
    return x <= rx and y <= ry and x + w >= rx + rw and y + h >= ry + rh


@pytest.mark.parametrize("selector, mode", [("cnn", "dense"), ("cnn", "windows"), ("fergus", "dense"), ("xu", "dense")])
def test_scored_selectors_find_the_textured_square(selector, mode, scorer, square_image):
    selection = select_window(square_image, selector=selector, scorer=scorer, mode=mode)
    assert isinstance(selection, Selection) and selection.selector == selector
    assert _covers(selection.box), selection.box
    assert selection.score == pytest.approx(float(selection.scores.scores.max()))
    assert selection.scores.scores.shape == (13, 13)


def test_colour_input(scorer, square_image):
    rgb = np.repeat(np.round(square_image * 255).astype(np.uint8)[..., None], 3, axis=2)
    for selector in ("cnn", "fergus", "xu"):
        assert _covers(select_window(rgb, selector=selector, scorer=scorer).box)


def test_fergus_avoids_saturation():
    image = np.full((300, 600), 0.5)
    image[40:260, 20:260] = np.kron(np.random.default_rng(4).random((22, 24)), np.ones((10, 10))) * 0.2 + 0.4  # mild texture
    image[40:260, 340:580] = np.indices((220, 240)).sum(axis=0) // 10 % 2  # a saturated 0/1 checkerboard: larger std
    selection = select_window(image, selector="fergus")
    assert selection.box[0] + selection.box[2] <= 320  # the mild, unsaturated texture
    assert selection.score >= 0 and selection.scores.scores.min() < 0  # saturated windows are penalised by -1


def test_top_k_with_suppression(scorer, square_image):
    for selector in ("cnn", "fergus", "xu"):
        chosen = select_windows(square_image, 3, selector=selector, scorer=scorer, max_overlap=0.3)
        assert 1 <= len(chosen) <= 3
        scores = [s.score for s in chosen]
        assert scores == sorted(scores, reverse=True)
        for i, first in enumerate(chosen):
            for second in chosen[i + 1:]:
                x0, y0 = max(first.box[0], second.box[0]), max(first.box[1], second.box[1])
                x1 = min(first.box[0] + 228, second.box[0] + 228)
                y1 = min(first.box[1] + 228, second.box[1] + 228)
                inter = max(x1 - x0, 0) * max(y1 - y0, 0)
                assert inter / (2 * 228 * 228 - inter) <= 0.3
    every = select_windows(square_image, 500, selector="xu", max_overlap=1.0)
    assert len(every) == 169 and len({s.box for s in every}) == 169


def test_whole():
    image = np.zeros((50, 70))
    selection = select_window(image, selector="whole")
    assert selection.box == (0, 0, 70, 50) and selection.score is None and selection.scores is None
    assert len(select_windows(image, 5, selector="whole")) == 1


def test_center():
    image = np.full((300, 400), 0.5)
    assert select_window(image, selector="center").box == (80, 40, 228, 228)
    ranked = select_windows(image, 3, selector="center")
    assert ranked[0].box == (80, 40, 228, 228) and len({s.box for s in ranked}) == 3
    assert select_window(np.zeros((228, 228)), selector="center").box == (0, 0, 228, 228)


def test_random_is_seeded_and_on_the_grid(square_image):
    grid = {tuple(b) for b in window_boxes(square_image.shape).tolist()}
    first = select_window(square_image, selector="random", rng=7)
    assert first.box in grid and first.score is None
    assert select_window(square_image, selector="random", rng=7).box == first.box
    assert select_window(square_image, selector="random", rng=np.random.default_rng(7)).box == first.box
    draws = {select_window(square_image, selector="random", rng=seed).box for seed in range(20)}
    assert len(draws) > 5
    several = select_windows(square_image, 10, selector="random", rng=1)
    assert len({s.box for s in several}) == 10 and all(s.box in grid for s in several)


def test_box():
    image = np.zeros((200, 300), dtype=np.uint8)
    assert select_window(image, selector="box", box=(10, 20, 100, 80)).box == (10, 20, 100, 80)
    assert select_window(image, selector="box", box=np.array([0, 0, 300, 200])).box == (0, 0, 300, 200)
    with pytest.raises(ValueError, match="outside the image"):
        select_window(image, selector="box", box=(250, 20, 100, 80))
    with pytest.raises(ValueError, match="outside the image"):
        select_window(image, selector="box", box=(-1, 0, 100, 100))
    with pytest.raises(ValueError, match=f"at least {MIN_BOX_SIDE} px"):
        select_window(image, selector="box", box=(0, 0, 10, 100))
    with pytest.raises(TypeError, match="box x must be an int"):
        select_window(image, selector="box", box=(0.5, 0, 100, 100))
    with pytest.raises(ValueError, match="4 ints"):
        select_window(image, selector="box", box=(0, 0, 100))
    with pytest.raises(ValueError, match="needs box"):
        select_window(image, selector="box")
    with pytest.raises(ValueError, match="only used with selector='box'"):
        select_window(image, selector="fergus", box=(0, 0, 100, 100))


def test_bad_arguments(scorer, square_image):
    with pytest.raises(ValueError, match="selector must be one of"):
        select_window(square_image, selector="best")
    with pytest.raises(ValueError, match="mode"):
        select_window(square_image, selector="cnn", scorer=scorer, mode="sparse")
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        select_windows(square_image, 0, selector="xu")
    with pytest.raises(ValueError, match="differs from the scorer's"):
        select_window(square_image, scorer=scorer, window_size=128)
    with pytest.raises(TypeError, match="WindowScorer"):
        select_window(square_image, scorer="model.onnx")
    with pytest.raises(ValueError, match="NaN"):
        select_window(np.full((300, 300), np.nan), selector="whole")
    with pytest.raises(ValueError, match="alpha"):
        select_window(np.zeros((300, 300, 4), dtype=np.uint8), selector="center")


@pytest.mark.parametrize("selector", ["cnn", "fergus", "xu", "center", "random"])
def test_grid_selectors_refuse_small_images(selector, scorer):
    with pytest.raises(ImageTooSmallError, match="whole"):
        select_window(np.full((200, 500), 0.5), selector=selector, scorer=scorer)


def test_selector_names():
    assert SELECTORS == ("cnn", "fergus", "xu", "whole", "center", "random", "box")


def test_window_size_override(square_image):
    small = WindowScorer(TINY, providers="cpu", window_size=128, stride=16)
    selection = select_window(square_image, scorer=small, window_size=None, stride=None)
    assert selection.box[2:] == (128, 128)
    x, y, w, h = selection.box
    assert x + w > SQUARE[0] and y + h > SQUARE[1] and x < SQUARE[0] + SQUARE[2] and y < SQUARE[1] + SQUARE[3]
    assert select_window(square_image, selector="fergus", window_size=128, stride=16).box[2:] == (128, 128)
