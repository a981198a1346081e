"""Score every window of a frame with an exported ONNX window scorer (onnxruntime, never torch).

A :class:`WindowScorer` loads a model written by ``goodregions export-onnx``: it verifies the
``NAME.onnx.sha256`` checksum, opens an onnxruntime session on the providers asked for, checks
the metadata contract (input ``image`` ``(N, 1, H, W)`` float32 in [0, 1]; outputs
``logit_map`` ``(N, 1, h, w)`` and ``logits`` ``(N,)``; window size, stride and logit-map
geometry in ``metadata_props``) and refuses anything else with a :class:`ModelError`.

:meth:`WindowScorer.score` gives the logit of every window of the grid of
:func:`goodregions.export.windows.window_boxes` (``sigmoid(logit)`` = P(good window)):

``mode="windows"``
    The paper's exact mode: every window is cut out and scored on its own, in batches,
    through the ``logits`` output. Cost grows with the number of windows (3,655 on a
    1080p frame at a stride of 20).
``mode="dense"``
    One pass of the fully convolutional model over the whole frame gives its
    ``logit_map``; a box filter over an integral image then gives every window's mean
    logit at once. A window ``(x, y, s, s)`` averages the ``c x c`` cells (``c`` =
    cells per window) starting at cell ``(y / m, x / m)``, ``m`` the map stride. When ``x``
    and ``y`` are multiples of ``m`` and the model is unpadded (``logit_map_exact`` true,
    as for ``edge``), the block is exactly the window's own logit map and dense scores equal
    the ``windows`` ones up to float rounding. Otherwise they are approximations: a window
    stride that is not a multiple of ``m`` rounds ``x / m`` and ``y / m`` half up to the
    nearest cell: the block is shifted by at most ``m / 2`` pixels and samples the image at
    the frame's phase of the stride-``m`` grid rather than the window's own, which a strided
    nonlinear model does not see as the same (on the test model, errors reach half the
    spread of the scores: prefer strides that are multiples of ``m``); and for padded models
    (``logit_map_exact`` false, as ``resnet34s``) the cells near a window's border see real
    pixels where the window's own pass saw zero padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goodregions.export.windows import cut_windows, window_boxes
from goodregions.kernels_fast._validate import as_float_image, check_int, to_luminance

from .model_file import BUNDLED_MODEL, MODEL_ENV, ModelError, int_entry, open_session

__all__ = [
    "BUNDLED_MODEL",
    "MODEL_ENV",
    "ImageTooSmallError",
    "InferenceError",
    "MapGeometry",
    "ModelError",
    "ScoreMap",
    "WindowScorer",
    "image_to_luminance",
]

SCORE_MODES = ("dense", "windows")
_INPUT_NAME, _OUTPUT_NAMES = "image", ("logit_map", "logits")


class InferenceError(Exception):
    """onnxruntime failed while running a valid model, or the model returned non-finite scores."""


class ImageTooSmallError(ValueError):
    """The image holds no whole window; fall back to the ``whole`` selector."""


@dataclass(frozen=True)
class MapGeometry:
    """Where the cells of a model's ``logit_map`` sit on its input (from the metadata).

    Attributes
    ----------
    stride : int
        Input pixels between neighbouring cells.
    offset : int
        Cell ``(i, j)`` sees input rows ``stride * i + offset`` onwards (minus the padding).
    receptive_field : int
        Rows (and columns) of input each cell sees.
    cells_per_window : int
        Side of a window's own logit map, measured by running the model on one window.
    exact : bool
        True when a frame's logit-map block equals the window's own map (unpadded model).
    """

    stride: int
    offset: int
    receptive_field: int
    cells_per_window: int
    exact: bool


@dataclass(frozen=True, eq=False)
class ScoreMap:
    """Scores of every window of a grid.

    Attributes
    ----------
    scores : ndarray of float32, shape (rows, cols)
        One score per grid window, higher is better: logits for the CNN (``mode`` "dense" or
        "windows"), heuristic values for the selectors' ``mode`` "fergus" and "xu".
    boxes : ndarray of int64, shape (rows * cols, 4)
        ``(x, y, w, h)`` of each window, row-major, matching ``scores.ravel()``.
    window_size, stride : int
        Grid geometry.
    mode : str
        How the scores were made: "dense", "windows", or a heuristic selector's name.
    """

    scores: np.ndarray
    boxes: np.ndarray
    window_size: int
    stride: int
    mode: str

    def top(self, k=1):
        """Return the ``k`` best windows, best first (ties keep row-major order).

        Parameters
        ----------
        k : int
            Number of windows, >= 1; fewer come back when the grid holds fewer.

        Returns
        -------
        boxes : ndarray of int64, shape (min(k, N), 4)
        scores : ndarray of float32, shape (min(k, N),)

        Notes
        -----
        Neighbouring windows overlap heavily; ``selectors.select_windows`` applies
        non-maximum suppression on top of this ranking.
        """
        k = check_int(k, name="k", low=1)
        flat = self.scores.ravel()
        order = np.argsort(-flat, kind="stable")[:k]
        return self.boxes[order], flat[order]


def image_to_luminance(image, *, name="image"):
    """Validate ``image`` and return its luminance as C-contiguous float32 ``(H, W)`` in [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8 (/255), uint16 (/65535) or float in [0, 1]; colour in RGB order is converted to
        BT.601 luminance. An ``(H, W, 4)`` array is refused: drop the alpha channel
        (``read_image`` already returns it apart).
    name : str
        Parameter name for error messages.

    Raises
    ------
    TypeError, ValueError
        See :func:`goodregions.kernels_fast._validate.as_float_image` (NaN, inf, range, shape).
    """
    return np.ascontiguousarray(to_luminance(as_float_image(image, name=name, allow_color=True)), dtype=np.float32)


def _positive_option(value, name):
    return check_int(value, name=name, low=1, unit="pixels", hint="leave it None to use the model's")


class WindowScorer:
    """Score every window of an image with an ONNX window scorer.

    Parameters
    ----------
    model : path, optional
        ``.onnx`` file with its ``.onnx.sha256`` alongside. Default: ``$GOODREGIONS_MODEL``,
        else the bundled ``goodregions.models/goodregions-edge.onnx``.
    providers : {"auto", "cpu", "cuda"} or list of str
        "auto" uses CUDA when onnxruntime lists it, else the CPU; "cuda" asks for CUDA and
        falls back to the CPU with a warning; a list of provider names (each must be listed by
        ``onnxruntime.get_available_providers()``) is passed to onnxruntime as is.
    window_size, stride : int, optional
        Window side and grid step in pixels; default the model's ``window_size`` and
        ``window_stride`` metadata (228 and 20 for the shipped models).
    batch_size : int
        Windows per onnxruntime call in ``mode="windows"``.

    Attributes
    ----------
    provider : str
        The execution provider that actually runs (``session.get_providers()[0]``).
    metadata : dict of str
        The model's ``metadata_props``.
    geometry : MapGeometry
    sha256 : str

    Raises
    ------
    ModelError
        No model, missing or mismatching checksum, a file onnxruntime cannot load, or a
        model that breaks the contract.
    ImportError
        onnxruntime is not installed (``pip install "goodregions[cpu]"``).
    ValueError
        Bad ``providers``, ``window_size``, ``stride`` or ``batch_size``.

    Warns
    -----
    RuntimeWarning
        CUDA was asked for (``providers="cuda"``, or listed but not usable under "auto") and
        the session runs on the CPU. Python's warning filter shows it once per process.
    """

    def __init__(self, model=None, *, providers="auto", window_size=None, stride=None, batch_size=64):
        self.batch_size = _positive_option(batch_size, "batch_size")
        self._session, label, self.sha256, self.metadata = open_session(model, providers)
        self.model_path = label
        self.providers = tuple(self._session.get_providers())  # the truth: get_available_providers() may list CUDA without a GPU
        self.provider = self.providers[0]
        self.window_size = int_entry(self.metadata, "window_size", label, minimum=1) if window_size is None else _positive_option(window_size, "window_size")
        self.stride = int_entry(self.metadata, "window_stride", label, minimum=1) if stride is None else _positive_option(stride, "stride")
        self.geometry = self._probe_geometry(label)

    def _probe_geometry(self, label):
        """Read the map geometry and measure a window's own map size by running one zero window."""
        meta = self.metadata
        map_stride = int_entry(meta, "logit_map_stride", label, minimum=1)
        offset = int_entry(meta, "logit_map_offset", label, minimum=-(10**6))
        field = int_entry(meta, "logit_map_receptive_field", label, minimum=1)
        meta_cells = int_entry(meta, "logit_map_cells_per_window", label, minimum=1)
        window = np.zeros((1, 1, self.window_size, self.window_size), dtype=np.float32)
        try:
            logit_map, logits = self._session.run(list(_OUTPUT_NAMES), {_INPUT_NAME: window})
        except Exception as error:
            raise ModelError(f"{label}: the model fails on one {self.window_size}x{self.window_size} window "
                             f"({type(error).__name__}: {str(error).strip()[:200]}); choose a larger window_size") from error
        if logit_map.ndim != 4 or logit_map.shape[:2] != (1, 1) or logit_map.shape[2] != logit_map.shape[3] or logits.shape != (1,):
            raise ModelError(f"{label}: outputs have shapes {logit_map.shape} and {logits.shape}; expected (1, 1, c, c) and (1,)")
        cells = int(logit_map.shape[2])
        if cells < 1:
            raise ModelError(f"{label}: a {self.window_size}x{self.window_size} window gives an empty logit map; the window must "
                             f"be at least the receptive field ({field} px): choose a larger window_size")
        if self.window_size == int(meta["window_size"]) and cells != meta_cells:
            raise ModelError(f"{label}: a window gives a {cells}x{cells} logit map but the metadata says {meta_cells}; the metadata is wrong")
        return MapGeometry(stride=map_stride, offset=offset, receptive_field=field, cells_per_window=cells,
                           exact=meta["logit_map_exact"] == "true")

    def __repr__(self):
        return (f"WindowScorer({self.model_path!r}, provider={self.provider!r}, window_size={self.window_size}, "
                f"stride={self.stride}, model_name={self.metadata['model_name']!r})")

    def _run(self, output, batch):
        try:
            (result,) = self._session.run([output], {_INPUT_NAME: batch})
        except Exception as error:  # onnxruntime's pybind errors: out of memory, bad shape, ...
            raise InferenceError(f"onnxruntime failed on input {batch.shape} with {self.provider} "
                                 f"({type(error).__name__}: {str(error).strip()[:300]})") from error
        if not np.all(np.isfinite(result)):
            raise InferenceError(f"the model returned NaN or inf for input {batch.shape}; the model file may be damaged")
        return result

    def score_windows(self, windows):
        """Return the logits of equally sized windows, in batches of ``batch_size``.

        Parameters
        ----------
        windows : ndarray of float32, shape (N, h, w)
            Gray windows in [0, 1] (for example from ``cut_windows`` of a luminance image).

        Returns
        -------
        ndarray of float32, shape (N,)
        """
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 3:
            raise ValueError(f"windows must have shape (N, h, w), got {windows.shape}")
        logits = [self._run("logits", np.ascontiguousarray(windows[i:i + self.batch_size, None]))
                  for i in range(0, len(windows), self.batch_size)]
        return np.concatenate(logits) if logits else np.empty(0, dtype=np.float32)

    def score(self, image, *, mode="dense"):
        """Score every window of the grid on ``image``.

        Parameters
        ----------
        image : ndarray, shape (H, W) or (H, W, 3)
            uint8, uint16 or float in [0, 1] (RGB converted to luminance); see
            :func:`image_to_luminance`. Values are not clipped.
        mode : {"dense", "windows"}
            "dense": one pass over the frame plus a box filter of the logit map (fast;
            exact for unpadded models when ``stride`` is a multiple of the map stride);
            "windows": every window scored on its own (the paper's exact mode).

        Returns
        -------
        ScoreMap
            Logits over the grid of ``window_boxes(image.shape, size=window_size, stride=stride)``.

        Raises
        ------
        ImageTooSmallError
            (a ValueError) The image is smaller than one window along either side.
        TypeError, ValueError
            Bad image or mode.
        InferenceError
            onnxruntime failed, or returned non-finite logits.
        """
        if mode not in SCORE_MODES:
            raise ValueError(f"mode must be one of {SCORE_MODES}, got {mode!r}")
        luminance = image_to_luminance(image)
        boxes = window_boxes(luminance.shape, size=self.window_size, stride=self.stride)
        if len(boxes) == 0:
            raise ImageTooSmallError(
                f"image of shape {luminance.shape} is smaller than one {self.window_size}x{self.window_size} window; use "
                "selector 'whole' (the whole image) or a smaller window_size"
            )
        rows, cols = (luminance.shape[0] - self.window_size) // self.stride + 1, (luminance.shape[1] - self.window_size) // self.stride + 1
        if mode == "windows":
            flat = np.concatenate([self.score_windows(cut_windows(luminance, boxes[i:i + self.batch_size]))
                                   for i in range(0, len(boxes), self.batch_size)])
        else:
            logit_map = self._run("logit_map", luminance[None, None])[0, 0]  # (1, 1, h, w) -> (h, w)
            flat = _dense_means(logit_map, boxes, self.geometry)
        scores = flat.astype(np.float32).reshape(rows, cols)
        scores.flags.writeable = False
        boxes.flags.writeable = False
        return ScoreMap(scores=scores, boxes=boxes, window_size=self.window_size, stride=self.stride, mode=mode)


def integral_image(values):
    """Return the float64 integral image ``(H + 1, W + 1)`` of ``values`` ``(H, W)``, zero first row and column."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    np.cumsum(values, axis=0, dtype=np.float64, out=integral[1:, 1:])
    np.cumsum(integral[1:, 1:], axis=1, out=integral[1:, 1:])
    return integral


def box_sums(integral, top, left, height, width):
    """Sums of the ``height x width`` blocks at ``(top, left)`` (int arrays) from an :func:`integral_image`."""
    bottom, right = top + height, left + width
    return integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]


def _dense_means(logit_map, boxes, geometry):
    """Mean logit of each window's ``c x c`` block of the frame's logit map (float64, shape (N,))."""
    cells, step = geometry.cells_per_window, geometry.stride
    rows, cols = logit_map.shape
    # Half-up rounding to the nearest cell (exact for multiples of the map stride), clamped to the map.
    top = np.clip(np.floor(boxes[:, 1] / step + 0.5).astype(np.int64), 0, max(rows - cells, 0))
    left = np.clip(np.floor(boxes[:, 0] / step + 0.5).astype(np.int64), 0, max(cols - cells, 0))
    height, width = min(cells, rows), min(cells, cols)
    return box_sums(integral_image(logit_map), top, left, height, width) / (height * width)
