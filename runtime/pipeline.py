"""The deblurring pipeline: choose a window, estimate the blur kernel there, deconvolve the frame.

:class:`Deblurrer` holds the settings (and the loaded window scorer) and runs on one image at a
time; :meth:`Deblurrer.deblur` returns a :class:`Result` with the deblurred image in the input's
dtype, the kernel, the window and the per-stage timings.

Policies
--------
Colour
    Images are gray ``(H, W)``, RGB ``(H, W, 3)`` (RGB channel order: a BGR array from OpenCV
    must be converted by the caller) or RGBA ``(H, W, 4)``, whose alpha is passed through
    unchanged. The kernel is estimated on the BT.601 luminance. Every colour channel is
    deconvolved with it, or, with ``luma_only``, only the luminance Y of YCrCb (BT.601) while
    Cr and Cb are kept: since the Y column of the inverse YCrCb matrix is (1, 1, 1), that is
    ``rgb + (Y_deblurred - Y)`` in every channel, a third of the work.
Dtype
    uint8 and uint16 in, same dtype out: the float result is scaled back to the full scale,
    rounded and clipped to the dtype's range (the documented conversion for integer
    outputs). float32 (and float16, promoted) give float32 and float64 gives float64, both
    unclipped (ringing overshoot stays visible).
Kernel size
    ``kernel_size`` when given, else :func:`default_kernel_size` of the image: 31 when the
    shorter side is at least 512 px, else ``31 * short / 512`` rounded to odd, at least 11.
    Either way it is reduced (with a warning when it was the user's) to the largest odd size
    with ``2 * kernel_size <= `` the window's shorter side, which the estimator needs.
Small images
    A grid selector (``cnn``, ``fergus``, ``xu``, ``center``, ``random``) on an image smaller
    than one window along either side falls back to ``whole`` with a ``UserWarning``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from goodregions.kernels_fast import DECONVOLUTION_METHODS, PRIORS, deconvolve, estimate_kernel
from goodregions.kernels_fast._validate import as_float_image, check_int, check_odd_size, to_luminance

from .defaults import PRIOR, WINDOW_SIZE, WINDOW_STRIDE
from .consensus import most_agreeing
from .selectors import SELECTORS, select_windows

__all__ = ["Deblurrer", "Estimate", "Result", "default_kernel_size"]

# Kernel support of images with a shorter side of at least _FULL_SIZE_SIDE px; smaller images
# scale it down in proportion (blur in pixels scales with resolution), to at least _MIN_KERNEL.
DEFAULT_KERNEL_SIZE = 31
_FULL_SIZE_SIDE = 512
_MIN_KERNEL = 11
_GRID_SELECTORS = ("cnn", "fergus", "xu", "center", "random")
_SCORED_SELECTORS = ("cnn", "fergus", "xu")
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, RGB order


def _largest_odd(limit):
    limit = int(limit)
    return limit if limit % 2 else limit - 1


def default_kernel_size(shape):
    """Return the default odd kernel support for an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.

    Returns
    -------
    int
        31 when ``min(H, W) >= 512``; else ``31 * min(H, W) / 512`` rounded to the nearest
        odd integer, at least 11 (and at most ``min(H, W) // 2``, at least 3).
    """
    short = min(int(shape[0]), int(shape[1]))
    if short >= _FULL_SIZE_SIDE:
        size = DEFAULT_KERNEL_SIZE
    else:
        size = max(_MIN_KERNEL, 2 * int(round((DEFAULT_KERNEL_SIZE * short / _FULL_SIZE_SIDE - 1) / 2)) + 1)
    return max(3, min(size, _largest_odd(short // 2)))


@dataclass(frozen=True, eq=False)
class Estimate:
    """A kernel and where it came from (the first half of the pipeline).

    Attributes
    ----------
    kernel : ndarray of float64, shape (kernel_size, kernel_size)
        Non-negative, sums to 1, true-convolution convention.
    window : tuple of int
        ``(x, y, w, h)`` the kernel was estimated on.
    selector : str
        The selector that chose it (``"whole"`` after a small-image fallback).
    score : float or None
        The window's score, for the scored selectors.
    scores : ScoreMap or None
        Every grid window's score, for ``cnn``, ``fergus`` and ``xu``.
    provider : str or None
        onnxruntime execution provider of the ``cnn`` scorer.
    kernel_size : int
    touches_border : bool
        The kernel reaches its support's outer ring: the blur may be larger.
    timings : dict of str to float
        ``score`` (selection, including scoring) and ``estimate`` seconds.
    warnings : tuple of str
        What was also issued as ``UserWarning``: a small-image fallback, a reduced kernel
        size, a kernel touching its border.
    candidates : tuple of tuple of int
        The windows whose kernels were compared (``Deblurrer(candidates=...)``), best-ranked
        first; ``window`` is one of them. Just ``(window,)`` with one candidate.
    """

    kernel: np.ndarray
    window: tuple
    selector: str
    score: float | None
    scores: object
    provider: str | None
    kernel_size: int
    touches_border: bool
    timings: dict = field(default_factory=dict)
    warnings: tuple = ()
    candidates: tuple = ()


@dataclass(frozen=True, eq=False)
class Result:
    """The output of :meth:`Deblurrer.deblur`.

    Attributes
    ----------
    image : ndarray, same shape and dtype as the input
        The deblurred image (RGBA input: alpha channel unchanged).
    kernel : ndarray of float64, shape (kernel_size, kernel_size)
    window : tuple of int
        ``(x, y, w, h)`` of the window the kernel was estimated on.
    scores : ScoreMap or None
        Every grid window's score, for ``cnn``, ``fergus`` and ``xu``.
    provider : str or None
        onnxruntime execution provider, for ``cnn``.
    timings : dict of str to float
        Seconds per stage: ``score``, ``estimate``, ``deconvolve``.
    touches_border : bool
        The kernel reaches its support's border; try a larger kernel size.
    selector : str
        The selector actually used (``"whole"`` after a small-image fallback).
    score : float or None
        The chosen window's score.
    kernel_size : int
    alpha : ndarray or None
        The ``alpha`` passed to :meth:`Deblurrer.deblur`, unchanged.
    warnings : tuple of str
        The messages also issued as ``UserWarning`` (see :class:`Estimate`).
    candidates : tuple of tuple of int
        The windows whose kernels were compared (see :class:`Estimate`).
    """

    image: np.ndarray
    kernel: np.ndarray
    window: tuple
    scores: object
    provider: str | None
    timings: dict
    touches_border: bool
    selector: str = "cnn"
    score: float | None = None
    kernel_size: int = DEFAULT_KERNEL_SIZE
    alpha: np.ndarray | None = None
    warnings: tuple = ()
    candidates: tuple = ()


def _check_image(image, name="image"):
    """Split RGBA, refuse what the pipeline cannot take; return ``(colour image, alpha or None)``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(image).__name__}; wrap it with numpy.asarray(...)")
    if image.dtype not in (np.uint8, np.uint16) and image.dtype.kind != "f":
        raise TypeError(f"{name} must be uint8, uint16 or float in [0, 1], got dtype {image.dtype}; convert it first")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got {image.shape}")
    if image.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {image.shape}")
    if image.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(image)))
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or inf values; replace them first, for example with "
                             "numpy.nan_to_num(image, nan=0.0), or fix the step that produced them")
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3], image[..., 3]
    return image, None


def _to_dtype(latent, dtype):
    """Float result in [0, 1] scale -> ``dtype``: integers are rounded and clipped, floats kept."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        full_scale = float(np.iinfo(dtype).max)
        return np.clip(np.rint(latent * full_scale), 0.0, full_scale).astype(dtype)
    return latent.astype(np.float64 if dtype == np.float64 else np.float32)


class Deblurrer:
    """Blind deblurring of whole images from a kernel estimated on one chosen window.

    Parameters
    ----------
    selector : str
        One of ``selectors.SELECTORS``: ``"cnn"`` (the ONNX window scorer), ``"fergus"``,
        ``"xu"``, ``"whole"``, ``"center"``, ``"random"`` or ``"box"``.
    scorer : WindowScorer, optional
        For ``cnn``; loaded from ``model`` when not given.
    model : path, optional
        ONNX model for ``cnn`` (default ``$GOODREGIONS_MODEL``, else the bundled one).
    kernel_size : int, optional
        Odd kernel support; default :func:`default_kernel_size` of each image.
    prior : {"l0", "dark"}
        Image prior of :func:`~goodregions.kernels_fast.estimate_kernel`.
    method : {"hyper_laplacian", "wiener", "tv_l0"}
        Non-blind deconvolution of :func:`~goodregions.kernels_fast.deconvolve`.
    luma_only : bool
        Deconvolve only the luminance (Y of YCrCb) of colour images.
    box : tuple of 4 int, optional
        ``(x, y, w, h)`` for ``selector="box"``.
    rng : numpy.random.Generator, int or None
        Seed of the ``random`` selector; one generator serves every call.
    mode : {"dense", "windows"}
        Scoring mode of ``cnn``.
    candidates : int
        With a scored selector (``cnn``, ``fergus``, ``xu``): estimate a kernel on this many of
        its best windows (overlapping ones suppressed) and keep the kernel that agrees most
        with the others (:func:`~goodregions.runtime.consensus.most_agreeing`). Each candidate
        costs one estimate; 1 (the default) keeps the best window. ``goodregions evaluate``
        measures ``cnn`` with 5 as ``cnn-vote``.

    Raises
    ------
    ValueError, TypeError
        Unknown selector, prior or method, a bad kernel size, a box with another selector, or
        ``candidates`` other than 1 with an unscored selector.
    ModelError
        ``cnn`` without a usable model (pass ``model=`` or pick another selector).

    Notes
    -----
    See the module docstring for the colour, dtype, kernel-size and small-image policies.
    """

    def __init__(self, *, selector="cnn", scorer=None, model=None, kernel_size=None, prior=PRIOR,
                 method="hyper_laplacian", luma_only=False, box=None, rng=None, mode="dense", candidates=1):
        if selector not in SELECTORS:
            raise ValueError(f"selector must be one of {SELECTORS}, got {selector!r}; use 'cnn' with a model, else 'xu'")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if method not in DECONVOLUTION_METHODS:
            raise ValueError(f"method must be one of {DECONVOLUTION_METHODS}, got {method!r}")
        if kernel_size is not None:
            check_odd_size(kernel_size, name="kernel_size (None: automatic)")
        if (selector == "box") != (box is not None):
            raise ValueError(f"box=(x, y, w, h) goes with selector='box' and only with it; got selector={selector!r}, box={box!r}")
        check_int(candidates, name="candidates", low=1)
        if candidates > 1 and selector not in _SCORED_SELECTORS:
            raise ValueError(f"candidates={candidates} needs a scored selector {_SCORED_SELECTORS} that ranks its windows, "
                             f"got selector={selector!r}; pass candidates=1 or another selector")
        if selector == "cnn" and scorer is None:
            from .scorer import WindowScorer

            scorer = WindowScorer(model)
        self.selector, self.scorer, self.prior, self.method = selector, scorer, prior, method
        self.kernel_size = None if kernel_size is None else int(kernel_size)
        self.luma_only, self.box, self.mode, self.candidates = bool(luma_only), box, mode, int(candidates)
        self.rng = np.random.default_rng(rng)

    def __repr__(self):
        return (f"Deblurrer(selector={self.selector!r}, kernel_size={self.kernel_size}, prior={self.prior!r}, "
                f"method={self.method!r}, luma_only={self.luma_only}, candidates={self.candidates})")

    @property
    def window_size(self):
        """Side of the grid windows: the scorer's for ``cnn``, else ``WINDOW_SIZE``."""
        return self.scorer.window_size if self.selector == "cnn" else WINDOW_SIZE

    def _select(self, luminance, notes):
        height, width = luminance.shape
        selector = self.selector
        if selector in _GRID_SELECTORS and min(height, width) < self.window_size:
            notes.append(f"image of {width}x{height} is smaller than one {self.window_size}x{self.window_size} window; "
                         f"selector {selector!r} falls back to 'whole' (the kernel is estimated on the whole image)")
            selector = "whole"
        grid = {"window_size": None, "stride": None} if selector == "cnn" else {"window_size": WINDOW_SIZE, "stride": WINDOW_STRIDE}
        count = self.candidates if selector in _SCORED_SELECTORS else 1
        return select_windows(luminance, count, selector=selector, scorer=self.scorer if selector == "cnn" else None,
                              box=self.box, rng=self.rng, mode=self.mode, **grid)

    def _kernel_size(self, image_shape, window, notes):
        limit = _largest_odd(min(window[2], window[3]) // 2)
        if limit < 3:
            raise ValueError(f"window {window} (x, y, w, h) is too small to estimate a kernel from: its shorter side must be "
                             ">= 6 px; use a larger image or box")
        if self.kernel_size is None:
            return min(default_kernel_size(image_shape), limit)
        if self.kernel_size > limit:
            notes.append(f"kernel_size={self.kernel_size} needs a window of at least {2 * self.kernel_size} px, but the "
                         f"window {window} gives {min(window[2:])}; using kernel_size={limit}")
            return limit
        return self.kernel_size

    def estimate(self, image, *, warn=True):
        """Choose a window of ``image`` and estimate the blur kernel on it.

        Parameters
        ----------
        image : ndarray, shape (H, W), (H, W, 3) or (H, W, 4)
            uint8, uint16 or float in [0, 1], RGB(A) order.
        warn : bool
            Issue the messages of ``Estimate.warnings`` as ``UserWarning`` too (pass False
            from threads, where ``warnings.catch_warnings`` is unsafe, and read them there).

        Returns
        -------
        Estimate

        Raises
        ------
        TypeError, ValueError
            A bad image (wrong type, shape or dtype, NaN or inf), or a box outside it.
        InferenceError
            The ``cnn`` scorer failed.

        Warns
        -----
        UserWarning
            Small-image fallback to ``whole``, a reduced kernel size, or a kernel that
            touches its border (try a larger kernel size); unless ``warn`` is False.
        """
        colour, _ = _check_image(image)
        found = self._estimate_luminance(to_luminance(as_float_image(colour, name="image", allow_color=True)))
        _issue(found.warnings, warn)
        return found

    def _estimate_luminance(self, luminance):
        notes = []
        start = time.perf_counter()
        selections = self._select(luminance, notes)
        score_seconds = time.perf_counter() - start
        # Every candidate window is large enough for the first one's kernel size: they share the grid.
        kernel_size = self._kernel_size(luminance.shape, selections[0].box, notes)
        start = time.perf_counter()
        found = []
        for selection in selections:
            x, y, w, h = selection.box
            found.append(estimate_kernel(np.ascontiguousarray(luminance[y:y + h, x:x + w]), kernel_size, prior=self.prior,
                                         return_diagnostics=True))
        chosen = most_agreeing([kernel for kernel, _ in found])
        kernel, diagnostics = found[chosen]
        selection = selections[chosen]
        estimate_seconds = time.perf_counter() - start
        if diagnostics.touches_border:
            notes.append(f"the estimated {kernel_size}x{kernel_size} kernel reaches the border of its support: the blur may "
                         f"be larger; try kernel_size={kernel_size + 10} (--kernel-size {kernel_size + 10})")
        return Estimate(kernel=kernel, window=tuple(selection.box), selector=selection.selector, score=selection.score,
                        scores=selection.scores, provider=self.scorer.provider if selection.selector == "cnn" else None,
                        kernel_size=kernel_size, touches_border=bool(diagnostics.touches_border),
                        timings={"score": score_seconds, "estimate": estimate_seconds}, warnings=tuple(notes),
                        candidates=tuple(tuple(s.box) for s in selections))

    def deblur(self, image, *, alpha=None, warn=True):
        """Estimate the blur of ``image`` on a chosen window and remove it from the whole image.

        Parameters
        ----------
        image : ndarray, shape (H, W), (H, W, 3) RGB or (H, W, 4) RGBA
            uint8, uint16 or float in [0, 1].
        alpha : ndarray, shape (H, W), optional
            An alpha channel kept apart (as :func:`~goodregions.runtime.image_io.read_image`
            returns it); handed back unchanged as ``Result.alpha``.
        warn : bool
            Issue the messages of ``Result.warnings`` as ``UserWarning`` too.

        Returns
        -------
        Result
            ``image`` has the input's shape and dtype (see the module's dtype policy).

        Raises
        ------
        TypeError, ValueError
            A bad image (NaN or inf included), an RGBA image together with ``alpha``, or an
            ``alpha`` of another size.
        InferenceError
            The ``cnn`` scorer failed.
        """
        colour, own_alpha = _check_image(image)
        if alpha is not None:
            if own_alpha is not None:
                raise ValueError("image is RGBA and alpha is given too; pass either an (H, W, 4) image or an RGB image with alpha")
            if not isinstance(alpha, np.ndarray) or alpha.shape != colour.shape[:2]:
                raise ValueError(f"alpha must be an ndarray of shape {colour.shape[:2]} (the image's (H, W)), got "
                                 f"{getattr(alpha, 'shape', type(alpha).__name__)}")
        blurred = as_float_image(colour, name="image", allow_color=True)
        luminance = to_luminance(blurred)
        found = self._estimate_luminance(luminance)
        _issue(found.warnings, warn)

        start = time.perf_counter()
        if blurred.ndim == 3 and self.luma_only:
            # Keep Cr and Cb: changing Y alone shifts R, G and B by the same amount.
            latent = blurred + (deconvolve(luminance, found.kernel, method=self.method) - luminance)[..., None]
        else:
            latent = deconvolve(blurred, found.kernel, method=self.method)
        output = _to_dtype(latent, colour.dtype)
        if own_alpha is not None:
            output = np.dstack([output, own_alpha])
        timings = dict(found.timings, deconvolve=time.perf_counter() - start)
        return Result(image=output, kernel=found.kernel, window=found.window, scores=found.scores, provider=found.provider,
                      timings=timings, touches_border=found.touches_border, selector=found.selector, score=found.score,
                      kernel_size=found.kernel_size, alpha=alpha, warnings=found.warnings,
                      candidates=found.candidates)


def _issue(messages, warn):
    if warn:
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=3)
