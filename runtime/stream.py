"""Deblur a video stream: estimate the kernel now and then in the background, deconvolve every frame.

:func:`deblur_stream` reads frames from a video file, a camera, a network stream or any
iterable of arrays, and yields ``(deblurred frame, FrameInfo)`` pairs. Three threads share the
work, joined by bounded queues:

* a reader decodes frames into a queue of ``queue_size`` frames. A *live* source (camera,
  ``rtsp://`` and other URLs) never waits: when the queue is full, the oldest queued frame is
  dropped and counted, so the output stays current. A file or iterable is never dropped from:
  the reader waits instead.
* an estimator thread runs window selection and kernel estimation
  (:meth:`Deblurrer.estimate`) on the luminance of a requested frame. The Numba and
  onnxruntime cores release the GIL, so frames keep flowing with the previous kernel
  meanwhile. Requests coalesce: a new one replaces one still waiting.
* the caller's thread deconvolves each frame with the latest kernel by Wiener filtering
  (``kernels_fast.WienerDeconvolver``, made once per kernel and frame size), so each frame
  costs one periodic padding and one FFT pair per deconvolved plane.

A new estimate is requested on frame 0, on every ``reestimate_every``-th frame, and when the
frame differs from the one the current kernel was requested on:

* scene change: the total-variation distance between the 32-bin luminance histograms
  (half the L1 distance, in [0, 1]) exceeds ``change_threshold``. Histograms ignore where
  things are, so panning moves it slowly (about 0.03 over 30 frames of a 2 px/frame pan over
  foliage in our tests) while a cut to another scene moves it by 0.3 or more.
* blur change: the sharpness ratio ``var(Laplacian(luminance / 2)) / var(Laplacian(luminance / 4))``
  (``/ n``: downscaled by n) changed by more than the factor ``1 + sharpness_change`` either
  way. Blur removes the fine scale before the coarse one, while the content largely cancels
  in the ratio. In our tests panning and mp4v compression moved it by up to 15% from frame
  to frame (hence the default 0.3), a 9 px motion blur turning into a 3 px one by 20-30%
  (below the default: caught by the periodic re-estimation) and a Gaussian blur of sigma 3
  by a factor of 3. Blurs much larger than 4 px at the 1/2 scale change it little.

The first frame waits for the first kernel. Each later kernel of the same blur is
deconvolved translated, to a fraction of a pixel, onto the first one
(:mod:`.kernel_registration`): two estimates of one blur often sit up to a pixel apart, and
the picture would jump at every new kernel (BENCHMARKS.md).
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np

from goodregions.kernels_fast import WienerDeconvolver
from goodregions.kernels_fast._validate import check_int

from .kernel_registration import KernelRegistration
from .memory import peak_rss_mb  # re-exported: the streaming figures report it
from .video_source import SourceError, frames_of, open_source

__all__ = ["DeblurStream", "FrameInfo", "SourceError", "StreamStats", "deblur_stream", "open_source", "peak_rss_mb"]

_BINS = 32  # luminance histogram of the scene-change test
_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class FrameInfo:
    """What happened to one output frame.

    Attributes
    ----------
    index : int
        Output frame number, from 0.
    source_index : int
        Position in the source (larger than ``index`` once frames were dropped).
    kernel_version : int
        How many kernels had arrived when this frame was deconvolved (1 = the first).
    estimate_requested : bool
        A new estimate was requested on this frame (periodic or change-triggered).
    window : tuple of int
        ``(x, y, w, h)`` the kernel in use was estimated on.
    dropped : int
        Frames dropped so far (live sources only).
    seconds : float
        Deconvolution time of this frame.
    """

    index: int
    source_index: int
    kernel_version: int
    estimate_requested: bool
    window: tuple
    dropped: int
    seconds: float


@dataclass
class StreamStats:
    """Running totals of a :class:`DeblurStream` (complete once the iteration ended)."""

    frames: int = 0
    dropped: int = 0
    estimates_requested: int = 0
    estimates_done: int = 0
    requested_on: list = field(default_factory=list)
    kernel_shifts: list = field(default_factory=list)  # (dy, dx) each kernel in use was deconvolved translated by
    seconds: float = 0.0
    end_reason: str = "not started"
    live: bool = False

    @property
    def fps(self):
        """Output frames per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _check_frame(frame, index):
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or not (
            frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise TypeError(f"frame {index} must be a uint8 array (H, W) or (H, W, 3), got "
                        f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}; convert frames to 8 bits")


class DeblurStream:
    """Iterator of ``(frame, FrameInfo)``; see :func:`deblur_stream`. ``stats`` fills as it runs."""

    def __init__(self, source, *, deblurrer, reestimate_every=30, change_threshold=0.2, sharpness_change=0.3,
                 luma_only=True, queue_size=8, live=None, order="rgb", weight=None, align_kernels=True):
        reestimate_every = check_int(reestimate_every, name="reestimate_every", low=1, unit="frames")
        queue_size = check_int(queue_size, name="queue_size", low=1, unit="frames")
        for name, value in (("change_threshold", change_threshold), ("sharpness_change", sharpness_change)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number or None (off), got {value!r}")
        if order not in ("rgb", "bgr"):
            raise ValueError(f"order must be 'rgb' or 'bgr' (channel order of frames in and out), got {order!r}")
        self.deblurrer, self.every, self.luma_only = deblurrer, reestimate_every, bool(luma_only)
        self.change_threshold, self.sharpness_change, self.order = change_threshold, sharpness_change, order
        self.weight = WienerDeconvolver.check_weight(weight)
        self._registration = KernelRegistration() if align_kernels else None
        self._source, live, self.fps, self._source_order = open_source(source, live=live)
        self._owns_capture = isinstance(self._source, cv2.VideoCapture) and not isinstance(source, cv2.VideoCapture)
        self.stats = StreamStats(live=live)
        self._frames = queue.Queue(maxsize=queue_size)
        self._requests = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest = None  # (Estimate, request number) from the estimator thread
        self._arrived = threading.Event()
        self._worker_error = None
        self._generator = self._run()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._generator)

    def close(self):
        """Stop the threads and release the capture (also done when the iteration ends)."""
        if inspect.getgeneratorstate(self._generator) == inspect.GEN_CREATED and self._owns_capture:
            self._source.release()  # never started: no threads to stop, and the generator's finally will not run
        self._generator.close()

    # -- threads -----------------------------------------------------------------------------
    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _read(self):
        index = 0
        try:
            for frame in frames_of(self._source):
                if self._stop.is_set():
                    return
                if self.stats.live:
                    while True:
                        try:
                            self._frames.put_nowait(("frame", index, frame))
                            break
                        except queue.Full:
                            try:  # drop the oldest queued frame: live output stays current
                                self._frames.get_nowait()
                                self.stats.dropped += 1
                            except queue.Empty:
                                pass
                else:
                    self._put(("frame", index, frame))
                index += 1
            self._put(("end", index, None))
        except Exception as error:  # handed to the consumer, which raises it as SourceError
            self._put(("error", index, error))

    def _estimate(self):
        while True:
            request = self._requests.get()
            if request is None:
                return
            number, luminance = request
            try:
                found = self.deblurrer.estimate(luminance, warn=False)  # catch_warnings is not thread-safe
            except Exception as error:  # re-raised in the consumer's thread
                self._worker_error = error
                self._arrived.set()
                return
            with self._lock:
                self._latest = (found, number)
                self.stats.estimates_done += 1
            self._arrived.set()

    def _request(self, luminance):
        try:  # coalesce: a request still waiting is replaced by the newer frame
            self._requests.get_nowait()
        except queue.Empty:
            pass
        self.stats.estimates_requested += 1
        self._requests.put((self.stats.estimates_requested, luminance))

    # -- consumer ----------------------------------------------------------------------------
    def _planes(self, frame):
        """Return ``(planes to deconvolve as float64 [0, 1], luminance, recompose(results) -> frame)``."""
        if frame.ndim == 2:
            luminance = frame.astype(np.float64) * (1.0 / 255.0)
            return [luminance], luminance, lambda latent: _to_uint8(latent[0])
        code = cv2.COLOR_RGB2YCrCb if self.order == "rgb" else cv2.COLOR_BGR2YCrCb
        ycrcb = cv2.cvtColor(frame, code)
        luminance = ycrcb[..., 0].astype(np.float64) * (1.0 / 255.0)
        if self.luma_only:
            def recompose(latent):
                ycrcb[..., 0] = _to_uint8(latent[0])  # Cr and Cb kept: deconvolve Y only
                return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB if self.order == "rgb" else cv2.COLOR_YCrCb2BGR)
            return [luminance], luminance, recompose
        planes = [frame[..., c].astype(np.float64) * (1.0 / 255.0) for c in range(3)]
        return planes, luminance, lambda latent: np.dstack([_to_uint8(p) for p in latent])

    @staticmethod
    def _sketch(luminance):
        """The 32-bin luminance histogram (sums to 1) and the two-scale sharpness ratio, from the 1/2 and 1/4 scales."""
        half = cv2.resize(luminance, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        quarter = cv2.resize(half, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        histogram = np.bincount(np.clip(quarter * _BINS, 0, _BINS - 1).astype(np.intp).ravel(), minlength=_BINS)
        fine, coarse = cv2.Laplacian(half, cv2.CV_64F).var(), cv2.Laplacian(quarter, cv2.CV_64F).var()
        return histogram / histogram.sum(), float((fine + 1e-12) / (coarse + 1e-12))

    def _changed(self, sketch, reference):
        if reference is None:
            return True
        if self.change_threshold is not None and 0.5 * float(np.abs(sketch[0] - reference[0]).sum()) > self.change_threshold:
            return True
        if self.sharpness_change is not None:
            ratio = (sketch[1] + 1e-12) / (reference[1] + 1e-12)
            return not (1.0 / (1.0 + self.sharpness_change) <= ratio <= 1.0 + self.sharpness_change)
        return False

    def _run(self):
        to_rgb = self._source_order == "bgr" and self.order == "rgb"  # captures decode BGR
        reader = threading.Thread(target=self._read, name="goodregions-reader", daemon=True)
        worker = threading.Thread(target=self._estimate, name="goodregions-estimator", daemon=True)
        start = time.perf_counter()
        self.stats.end_reason = "running"
        reader.start()
        worker.start()
        estimate, version, deconvolver, deconvolver_key, reference, index, shift = None, 0, None, None, None, 0, (0.0, 0.0)
        try:
            while True:
                kind, source_index, frame = self._frames.get()
                if kind == "end":
                    if self.stats.live:  # a camera or network stream has no end of its own: it stopped delivering
                        self.stats.end_reason = (f"live source disconnected (or ended) after {source_index} frames, "
                                                 f"{self.stats.dropped} of them dropped under load")
                    else:
                        self.stats.end_reason = f"source ended after {source_index} frames"
                    expected = self._expected_frames()
                    if expected and source_index < expected:
                        self.stats.end_reason += f" of the {expected} it announced (truncated or damaged file?)"
                    return
                if kind == "error":
                    delivered = (f"the {index} frames before it were delivered ({self.stats.dropped} dropped under load)"
                                 if self.stats.live else "the frames before it were delivered")
                    self.stats.end_reason = f"source failed after {source_index} frames: {type(frame).__name__}: {frame}"
                    raise SourceError(f"the frame source failed after {source_index} frames ({type(frame).__name__}: {frame}); "
                                      f"{delivered}") from frame
                _check_frame(frame, source_index)
                if to_rgb and frame.ndim == 3:
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                planes, luminance, recompose = self._planes(frame)
                sketch = self._sketch(luminance)
                requested = index % self.every == 0 or self._changed(sketch, reference)
                if requested:
                    reference = sketch
                    self.stats.requested_on.append(index)
                    self._request(luminance)
                if estimate is None:
                    self._arrived.wait()  # the first frame waits for the first kernel
                if self._worker_error is not None:
                    raise self._worker_error
                with self._lock:  # held only to read: the estimator thread writes _latest
                    latest = None if self._latest is None else self._latest[0]
                if latest is not None and latest is not estimate:
                    estimate, version = latest, version + 1
                    shift = (0.0, 0.0) if self._registration is None else self._registration.shift_for(estimate.kernel)
                    self.stats.kernel_shifts.append(shift)
                    for message in estimate.warnings:  # issued in the consumer's thread
                        warnings.warn(message, UserWarning, stacklevel=3)  # same text: shown once
                tick = time.perf_counter()
                height, width = luminance.shape
                key = (version, height, width)
                if key != deconvolver_key:  # new kernel or frame size: pad size and OTF computed once
                    deconvolver = WienerDeconvolver(estimate.kernel, (height, width), weight=self.weight, shift=shift)
                    deconvolver_key = key
                latent = [deconvolver(plane) for plane in planes]
                output = recompose(latent)
                seconds = time.perf_counter() - tick
                info = FrameInfo(index=index, source_index=source_index, kernel_version=version, estimate_requested=requested,
                                 window=estimate.window, dropped=self.stats.dropped, seconds=seconds)
                index += 1
                self.stats.frames = index
                self.stats.seconds = time.perf_counter() - start
                yield output, info
        except GeneratorExit:
            self.stats.end_reason = f"stopped by the consumer after {index} frames"
            raise
        finally:
            self.stats.seconds = time.perf_counter() - start
            self._shutdown(reader, worker)

    def _expected_frames(self):
        if isinstance(self._source, cv2.VideoCapture) and not self.stats.live:
            count = self._source.get(cv2.CAP_PROP_FRAME_COUNT)
            return int(count) if np.isfinite(count) and count > 0 else None
        return None

    def _shutdown(self, reader, worker):
        self._stop.set()
        try:
            self._requests.get_nowait()
        except queue.Empty:
            pass
        self._requests.put(None)
        deadline = time.perf_counter() + _JOIN_SECONDS
        while reader.is_alive() and time.perf_counter() < deadline:  # unblock a reader waiting on a full queue
            try:
                self._frames.get_nowait()
            except queue.Empty:
                pass
            reader.join(timeout=0.05)
        worker.join(timeout=_JOIN_SECONDS)
        if self._owns_capture and not reader.is_alive():  # never release under a read in progress
            self._source.release()


def _to_uint8(latent):
    return np.clip(np.rint(latent * 255.0), 0.0, 255.0).astype(np.uint8)


def deblur_stream(frames_or_source, *, deblurrer, reestimate_every=30, change_threshold=0.2, sharpness_change=0.3,
                  luma_only=True, queue_size=8, live=None, order="rgb", weight=None, align_kernels=True):
    """Deblur a stream of frames, re-estimating the kernel in the background.

    Parameters
    ----------
    frames_or_source : str, Path, int, cv2.VideoCapture or iterable of ndarray
        A video file, a camera index, a URL (``rtsp://``, ``http://``...), an opened capture,
        or frames: uint8 ``(H, W)`` gray or ``(H, W, 3)`` in ``order``.
    deblurrer : Deblurrer
        Chooses the window and estimates the kernel (its ``selector``, ``kernel_size`` and
        ``prior``); its ``method`` is not used: frames are Wiener-filtered.
    reestimate_every : int
        Request a new kernel every this many frames (and on frame 0).
    change_threshold : float or None
        Scene-change trigger: total-variation distance of the luminance histograms (in [0, 1])
        to the frame of the last request. None turns it off.
    sharpness_change : float or None
        Blur-change trigger: the two-scale sharpness ratio (module docstring) left
        ``[ref / (1 + s), ref * (1 + s)]``. None turns it off.
    luma_only : bool
        Deconvolve only Y of YCrCb (BT.601, OpenCV's 8-bit conversion) and keep Cr and Cb:
        a third of the work of deconvolving R, G and B.
    queue_size : int
        Frames buffered between the reader and the deconvolution.
    live : bool or None
        Drop frames when behind (see the module docstring). None: True for cameras and URLs,
        False for files and iterables.
    order : {"rgb", "bgr"}
        Channel order of the frames yielded (and of iterable frames). Captures decode BGR and
        are converted when ``order="rgb"``.
    weight : float, optional
        Wiener regularisation weight (default ``kernels_fast``'s 1e-2).
    align_kernels : bool
        Deconvolve each new kernel of the same blur translated onto the first one, so that
        the picture does not jump when the kernel is re-estimated (module docstring). The
        translations are in ``stats.kernel_shifts``. False uses each kernel as estimated.

    Returns
    -------
    DeblurStream
        An iterator of ``(frame, FrameInfo)``, frame uint8 of the input's shape. Its ``stats``
        (:class:`StreamStats`) hold frames, drops, requests and the reason the stream ended;
        ``close()`` stops it early. The capture it opened is released when it ends.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        A source that does not exist or cannot be opened, bad options (at the call), or a
        frame that is not uint8 gray or colour (while iterating).
    SourceError
        While iterating: the source raised; the frames before were yielded. A capture whose
        reads stop early ends normally, with ``stats.end_reason`` saying so.
    """
    return DeblurStream(frames_or_source, deblurrer=deblurrer, reestimate_every=reestimate_every,
                        change_threshold=change_threshold, sharpness_change=sharpness_change, luma_only=luma_only,
                        queue_size=queue_size, live=live, order=order, weight=weight, align_kernels=align_kernels)
