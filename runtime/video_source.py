"""Frame sources of the streaming pipeline: video files, cameras, network streams and iterables."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["LIVE_SCHEMES", "SourceError", "frames_of", "open_source"]

# URL schemes of live sources, which drop frames rather than fall behind.
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")
# A network stream that stalls would block read() for good: OpenCV's backend gives up after
# these, and the stalled stream then ends like a disconnected one.
URL_OPEN_TIMEOUT_MS, URL_READ_TIMEOUT_MS = 10_000, 5_000


class SourceError(RuntimeError):
    """The frame source failed while streaming; the frames before the failure were delivered."""


def open_source(source, *, live=None):
    """Open a frame source.

    Parameters
    ----------
    source : int, str, Path, cv2.VideoCapture or iterable of ndarray
        A camera index (int or digit string), a URL (``rtsp://``, ``http://``...), a video
        file, an opened capture (not released here), or frames.
    live : bool or None
        Whether the source is live (drops frames when the consumer is behind). None: True
        for cameras and URLs with a scheme of ``LIVE_SCHEMES``, False otherwise.

    Notes
    -----
    A URL is opened with timeouts (``URL_OPEN_TIMEOUT_MS`` to connect, ``URL_READ_TIMEOUT_MS``
    per frame), so a stream that stalls ends the stream like a disconnect rather than hanging.
    A camera whose driver blocks in ``read()`` is not covered: OpenCV offers no timeout there.

    Returns
    -------
    frames : cv2.VideoCapture or iterable
        Read it with :func:`frames_of`.
    live : bool
    fps : float or None
        The capture's frame rate when it reports a plausible one.
    order : {"bgr"} or None
        Channel order of the frames: "bgr" for captures, None (the caller's) for iterables.

    Raises
    ------
    FileNotFoundError
        A path that is not a file (and not a URL or camera index).
    ValueError
        OpenCV cannot open the camera, file or URL.
    TypeError
        Anything else.
    """
    if isinstance(source, cv2.VideoCapture):
        return source, bool(live), _capture_fps(source), "bgr"
    if isinstance(source, (int, np.integer)) or (isinstance(source, str) and source.isdigit()):
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise ValueError(f"source camera {int(source)} cannot be opened; check the index (0 is the first camera) and permissions")
        return capture, True if live is None else bool(live), _capture_fps(capture), "bgr"
    if isinstance(source, (str, Path)):
        text = str(source)
        scheme = text.split("://", 1)[0].lower() if "://" in text else None
        if scheme is None and not Path(text).is_file():
            raise FileNotFoundError(f"source {text!r} is not a video file, a camera index or a URL (rtsp://...)")
        if scheme is None:
            capture = cv2.VideoCapture(text)
        else:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, URL_OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, URL_READ_TIMEOUT_MS]
            capture = cv2.VideoCapture(text, cv2.CAP_ANY, timeouts)
        if not capture.isOpened():
            raise ValueError(f"source {text!r} cannot be opened by OpenCV: not a video, a codec it lacks, or an unreachable URL")
        is_live = scheme in LIVE_SCHEMES if live is None else bool(live)
        return capture, is_live, _capture_fps(capture), "bgr"
    if hasattr(source, "__iter__"):
        return source, bool(live), None, None
    raise TypeError(f"source must be a video path, camera index, URL, cv2.VideoCapture or iterable of frames, got {type(source).__name__}")


def _capture_fps(capture):
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if np.isfinite(fps) and 0 < fps < 1000 else None


def frames_of(source):
    """Iterate a capture (until read fails) or any iterable."""
    if isinstance(source, cv2.VideoCapture):
        while True:
            ok, frame = source.read()
            if not ok:
                return
            yield frame
    else:
        yield from source
