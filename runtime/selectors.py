"""Choose the window a blur kernel is estimated from: the learned scorer and the baselines.

Selectors (``SELECTORS``), each on the window grid of
:func:`goodregions.export.windows.window_boxes` (``window_size`` x ``window_size`` windows every
``stride`` pixels, anchored at the top-left corner), except ``whole`` and ``box``:

``cnn``
    The ONNX window scorer (:class:`~goodregions.runtime.scorer.WindowScorer`): the window
    with the highest logit.
``fergus``
    Fergus et al. 2006 asked the user for a patch rich in edges and texture and free of
    saturation. Made automatic: score = standard deviation of the luminance over the window;
    a window with more than 1% of its pixels clipped (>= 0.98 or <= 0.02) is penalised by -1,
    which ranks it below every unsaturated window (a std lies in [0, 0.5]) while keeping the
    order among saturated ones when nothing else exists.
``xu``
    Xu & Jia 2010's usefulness map ``r = |sum of grad B| / (sum of |grad B| + 0.5)`` over 5 x 5
    neighbourhoods (the estimator's own) with forward-difference gradients; score = mean
    over the window of ``r * |grad B|`` (``kernels_fast.useful_edge_strength``): strong
    edges wider than the neighbourhood, which guide kernel estimation, and not thin
    structures whose gradients cancel.
``whole``
    The whole image (no score).
``center``
    The grid window whose centre is nearest the image centre (no score; ties go to the
    first in row-major order). It lies on the grid, so it can sit up to ``stride / 2`` pixels
    plus the grid's unused bottom/right margin away from the exact centre.
``random``
    A uniformly drawn grid window, seeded by ``rng`` (no score).
``box``
    A user-given ``(x, y, w, h)``, checked against the image (no score).

References
----------
R. Fergus, B. Singh, A. Hertzmann, S. T. Roweis and W. T. Freeman, "Removing camera shake from
a single photograph", SIGGRAPH 2006 (section 4: the user-selected patch).
L. Xu and J. Jia, "Two-phase kernel estimation for robust motion deblurring", ECCV 2010, eq. (2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goodregions.export.windows import window_boxes
from goodregions.kernels_fast import useful_edge_strength
from goodregions.kernels_fast._validate import check_int

from .defaults import WINDOW_SIZE, WINDOW_STRIDE
from .scorer import SCORE_MODES, ImageTooSmallError, ScoreMap, WindowScorer, box_sums, image_to_luminance, integral_image

__all__ = ["MIN_BOX_SIDE", "SELECTORS", "Selection", "select_window", "select_windows"]

SELECTORS = ("cnn", "fergus", "xu", "whole", "center", "random", "box")
# Smallest side of a user box: twice the smallest training kernel (11 px), rounded up. The
# estimator further needs a shorter side of at least 2 * kernel_size.
MIN_BOX_SIDE = 32
SATURATION_LOW, SATURATION_HIGH, SATURATION_FRACTION = 0.02, 0.98, 0.01


@dataclass(frozen=True, eq=False)
class Selection:
    """A chosen window.

    Attributes
    ----------
    box : tuple of int
        ``(x, y, w, h)``: column and row of the top-left pixel, width and height.
    score : float or None
        The window's score (a logit for ``cnn``); None for selectors without scores.
    selector : str
        One of ``SELECTORS``.
    scores : ScoreMap or None
        Every grid window's score, for ``cnn``, ``fergus`` and ``xu``.
    """

    box: tuple
    score: float | None
    selector: str
    scores: ScoreMap | None


def _check_box(box, shape):
    """Validate a user box ``(x, y, w, h)`` against an image of ``shape`` (H, W)."""
    try:
        values = list(box)
    except TypeError:
        raise TypeError(f"box must be a sequence (x, y, w, h) of 4 ints, got {type(box).__name__} {box!r}") from None
    if len(values) != 4:
        raise ValueError(f"box must hold 4 ints (x, y, w, h), got {len(values)} values: {box!r}")
    x, y, w, h = (check_int(v, name=f"box {part}") for v, part in zip(values, "xywh"))
    height, width = shape
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise ValueError(f"box {(x, y, w, h)} is too small for a kernel estimate: width and height must be at least "
                         f"{MIN_BOX_SIDE} px (and 2 x the kernel size); enlarge it")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"box {(x, y, w, h)} (x, y, w, h) reaches outside the image of {width}x{height} (W x H); keep "
                         f"0 <= x, x + w <= {width}, 0 <= y and y + h <= {height}")
    return x, y, w, h


def _grid(shape, window_size, stride):
    boxes = window_boxes(shape, size=window_size, stride=stride)
    if len(boxes) == 0:
        raise ImageTooSmallError(f"image of shape {shape} is smaller than one {window_size}x{window_size} window; use "
                                 "selector 'whole' or a smaller window_size")
    rows = (shape[0] - window_size) // stride + 1
    return boxes, rows, len(boxes) // rows


def _window_means(values, boxes, window_size):
    return box_sums(integral_image(values), boxes[:, 1], boxes[:, 0], window_size, window_size) / float(window_size * window_size)


def score_fergus(luminance, *, window_size, stride):
    """Fergus-style texture score of every grid window (see the module docstring)."""
    boxes, rows, cols = _grid(luminance.shape, window_size, stride)
    mean = _window_means(luminance, boxes, window_size)
    variance = np.maximum(_window_means(np.square(luminance, dtype=np.float64), boxes, window_size) - mean**2, 0.0)
    clipped = ((luminance >= SATURATION_HIGH) | (luminance <= SATURATION_LOW)).astype(np.float64)
    saturated = _window_means(clipped, boxes, window_size) > SATURATION_FRACTION
    scores = np.sqrt(variance) - saturated.astype(np.float64)
    return _score_map(scores, boxes, rows, cols, window_size, stride, "fergus")


def score_xu(luminance, *, window_size, stride):
    """Xu-Jia usefulness score of every grid window (see the module docstring)."""
    boxes, rows, cols = _grid(luminance.shape, window_size, stride)
    scores = _window_means(useful_edge_strength(luminance), boxes, window_size)
    return _score_map(scores, boxes, rows, cols, window_size, stride, "xu")


def _score_map(scores, boxes, rows, cols, window_size, stride, mode):
    scores = scores.astype(np.float32).reshape(rows, cols)
    scores.flags.writeable = False
    boxes.flags.writeable = False
    return ScoreMap(scores=scores, boxes=boxes, window_size=window_size, stride=stride, mode=mode)


def _overlap(box, boxes):
    """Intersection over union of one box with each of ``boxes``."""
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def _suppress(score_map, k, max_overlap):
    """Greedy non-maximum suppression: indices of up to ``k`` windows, best first."""
    flat = score_map.scores.ravel()
    order = np.argsort(-flat, kind="stable")
    kept = []
    for index in order:
        if not kept or np.all(_overlap(score_map.boxes[index], score_map.boxes[kept]) <= max_overlap):
            kept.append(int(index))
            if len(kept) == k:
                break
    return kept


def _scored(score_map, k, name, max_overlap):
    flat = score_map.scores.ravel()
    return [Selection(box=tuple(int(v) for v in score_map.boxes[i]), score=float(flat[i]), selector=name, scores=score_map)
            for i in _suppress(score_map, k, max_overlap)]


def _unscored(boxes, name):
    return [Selection(box=tuple(int(v) for v in b), score=None, selector=name, scores=None) for b in boxes]


def select_windows(image, k, *, selector="cnn", scorer=None, box=None, rng=None, window_size=WINDOW_SIZE,
                   stride=WINDOW_STRIDE, mode="dense", max_overlap=0.5):
    """Return up to ``k`` windows of ``image``, best first.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8, uint16 or float in [0, 1]; RGB is converted to luminance. Drop an alpha channel
        first (``read_image`` returns it apart; an ``(H, W, 4)`` array is refused).
    k : int
        Number of windows wanted, >= 1.
    selector : str
        One of ``SELECTORS`` (see the module docstring).
    scorer : WindowScorer, optional
        For ``cnn``; default ``WindowScorer(window_size=window_size, stride=stride)`` with the
        default model (loading costs time: pass one scorer to many calls).
    box : sequence of 4 ints, optional
        ``(x, y, w, h)`` for ``selector="box"`` (required there, refused elsewhere).
    rng : numpy.random.Generator, int or None
        Seed or generator of ``random``.
    window_size, stride : int or None
        Grid geometry in pixels. With ``cnn`` they must match the scorer's (None takes the
        scorer's); for the other selectors None means ``WINDOW_SIZE`` / ``WINDOW_STRIDE``.
    mode : {"dense", "windows"}
        Scoring mode of ``cnn`` (see :meth:`WindowScorer.score`).
    max_overlap : float
        Non-maximum suppression of ``cnn``, ``fergus`` and ``xu``: a window is skipped when
        its intersection over union with a better kept one exceeds this (1 keeps every window).

    Returns
    -------
    list of Selection
        Best first. Fewer than ``k`` when fewer candidates exist: ``whole`` and ``box`` give
        one; suppression or a small grid may leave fewer. ``random`` draws distinct windows;
        ``center`` lists them by distance from the centre.

    Raises
    ------
    ImageTooSmallError
        (a ValueError) A grid selector on an image smaller than one window; ``whole`` works.
    TypeError, ValueError
        Bad image, selector, box, k, geometry or mode.
    ModelError, InferenceError
        From the scorer.
    """
    k = check_int(k, name="k", low=1)
    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {SELECTORS}, got {selector!r}")
    if mode not in SCORE_MODES:
        raise ValueError(f"mode must be one of {SCORE_MODES}, got {mode!r}")
    if box is not None and selector != "box":
        raise ValueError(f"box is only used with selector='box', got selector={selector!r}; pass selector='box' or drop box")
    if not (isinstance(max_overlap, (int, float)) and 0.0 <= max_overlap <= 1.0):
        raise ValueError(f"max_overlap must be a number in [0, 1], got {max_overlap!r}")
    if selector == "cnn":
        return _select_cnn(image, int(k), scorer, window_size, stride, mode, max_overlap)
    luminance = image_to_luminance(image)
    height, width = luminance.shape
    if selector == "whole":
        return _unscored([(0, 0, width, height)], "whole")
    if selector == "box":
        if box is None:
            raise ValueError("selector='box' needs box=(x, y, w, h) in pixels")
        return _unscored([_check_box(box, luminance.shape)], "box")
    window_size = WINDOW_SIZE if window_size is None else check_int(window_size, name="window_size", low=1)
    stride = WINDOW_STRIDE if stride is None else check_int(stride, name="stride", low=1)
    if selector == "fergus":
        return _scored(score_fergus(luminance, window_size=window_size, stride=stride), k, "fergus", max_overlap)
    if selector == "xu":
        return _scored(score_xu(luminance, window_size=window_size, stride=stride), k, "xu", max_overlap)
    boxes, _, _ = _grid(luminance.shape, window_size, stride)
    if selector == "center":
        centres = boxes[:, :2] + window_size / 2.0
        distance = np.hypot(centres[:, 0] - width / 2.0, centres[:, 1] - height / 2.0)
        return _unscored(boxes[np.argsort(distance, kind="stable")[:k]], "center")
    generator = np.random.default_rng(rng)  # a Generator passes through; an int or None seeds a new one
    return _unscored(boxes[generator.choice(len(boxes), size=min(int(k), len(boxes)), replace=False)], "random")


def _select_cnn(image, k, scorer, window_size, stride, mode, max_overlap):
    if scorer is None:
        scorer = WindowScorer(window_size=window_size, stride=stride)
    elif not isinstance(scorer, WindowScorer):
        raise TypeError(f"scorer must be a WindowScorer, got {type(scorer).__name__}")
    for name, wanted, actual in (("window_size", window_size, scorer.window_size), ("stride", stride, scorer.stride)):
        if wanted is not None and wanted != actual:
            raise ValueError(f"{name}={wanted!r} differs from the scorer's {actual}; build WindowScorer(..., {name}={wanted!r}) "
                             f"or pass {name}=None to use the scorer's")
    return _scored(scorer.score(image, mode=mode), k, "cnn", max_overlap)


def select_window(image, *, selector="cnn", scorer=None, box=None, rng=None, window_size=WINDOW_SIZE,
                  stride=WINDOW_STRIDE, mode="dense"):
    """Return the best window of ``image`` by ``selector``.

    The same as ``select_windows(image, 1, ...)[0]``; see :func:`select_windows` for the
    parameters and errors.

    Returns
    -------
    Selection
        ``box`` ``(x, y, w, h)``; ``score`` (a logit for ``cnn``, the heuristic value for
        ``fergus`` and ``xu``, None otherwise); ``scores``, the grid's ScoreMap when scored.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((300, 400), 0.5)
    >>> select_window(image, selector="center").box
    (80, 40, 228, 228)
    """
    return select_windows(image, 1, selector=selector, scorer=scorer, box=box, rng=rng, window_size=window_size,
                          stride=stride, mode=mode)[0]
