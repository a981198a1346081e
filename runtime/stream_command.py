"""``goodregions stream``: deblur a video file, camera or network stream into an MP4 file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

__all__ = ["add_stream_parser", "run_stream", "write_stream"]

_DEFAULT_FPS = 25.0


def write_stream(stream, output, *, fps=None, max_frames=None, progress=None, memory=None):
    """Write the frames of a :class:`~goodregions.runtime.stream.DeblurStream` (BGR order) to ``output``.

    The ``mp4v`` writer opens on the first frame (its size sets the video's) and is released in
    ``finally``, so whatever was written stays a playable file when the source fails, the user
    presses Ctrl-C or ``max_frames`` stops the stream.

    Parameters
    ----------
    stream : DeblurStream
        Made with ``order="bgr"``.
    output : path
        ``.mp4`` file; it must not be open elsewhere.
    fps : float, optional
        Frame rate written into the file; default the source's, else 25.
    max_frames : int, optional
        Stop after this many frames (at least 1).
    progress : tqdm, optional
        Updated once per frame.
    memory : RssSampler, optional
        Updated once per frame, after the frame was written.

    Returns
    -------
    int
        Frames written.

    Raises
    ------
    TypeError, ValueError
        ``max_frames`` is not an int >= 1 (the stream is closed), or OpenCV cannot open a
        writer for ``output``.
    SourceError
        From the stream, after the writer was released.
    """
    import cv2

    from goodregions.kernels_fast._validate import check_int

    writer, written = None, 0
    try:
        if max_frames is not None:
            check_int(max_frames, name="max_frames", low=1)
        for frame, _ in stream:
            if writer is None:
                height, width = frame.shape[:2]
                rate = fps or stream.fps or _DEFAULT_FPS
                writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"mp4v"), rate, (width, height), frame.ndim == 3)
                if not writer.isOpened():
                    raise ValueError(f"OpenCV cannot write {str(output)!r} with the mp4v codec; use an .mp4 name in a writable folder")
            writer.write(frame)
            written += 1
            if progress is not None:
                progress.update(1)
            if memory is not None:
                memory.update(1)
            if max_frames is not None and written >= max_frames:
                break
    finally:
        stream.close()
        if writer is not None:
            writer.release()
    return written


def run_stream(args):
    """Handler of ``goodregions stream``: 0 when the source ended, 1 when it failed mid-stream."""
    from tqdm import tqdm

    from .deblur_command import model_available
    from .image_io import check_writable
    from .memory import RssSampler
    from .pipeline import Deblurrer
    from .scorer import InferenceError, ModelError
    from .stream import SourceError, deblur_stream, peak_rss_mb

    output = Path(args.output)
    if output.suffix.lower() != ".mp4":
        raise ValueError(f"-o must name an .mp4 file (the writer uses the mp4v codec), got {str(output)!r}")
    check_writable(output, overwrite=args.overwrite, inputs=[args.source])
    memory = None if args.rss_every is None else RssSampler(args.rss_every)
    selector = args.selector
    if selector == "cnn" and args.model is None and not model_available():
        print("goodregions stream: note: no window-scorer model is available (no --model, no $GOODREGIONS_MODEL, none "
              "bundled); using --selector xu instead of cnn", file=sys.stderr)
        selector = "xu"
    try:
        deblurrer = Deblurrer(selector=selector, model=args.model, kernel_size=args.kernel_size, prior=args.prior,
                              box=tuple(args.box) if args.box else None, candidates=args.candidates)
    except ModelError as error:
        print(f"goodregions stream: error: {error}", file=sys.stderr)
        return 2
    live = {"auto": None, "yes": True, "no": False}[args.live]
    stream = deblur_stream(args.source, deblurrer=deblurrer, reestimate_every=args.reestimate_every,
                           change_threshold=args.change_threshold or None, sharpness_change=args.sharpness_change or None,
                           luma_only=args.luma_only, queue_size=args.queue_size, live=live, order="bgr",
                           align_kernels=not args.no_align_kernels)
    output.parent.mkdir(parents=True, exist_ok=True)
    status = 0
    start = time.perf_counter()
    progress = tqdm(desc="stream", unit="frame", disable=None, file=sys.stderr, total=args.max_frames)
    try:
        written = write_stream(stream, output, max_frames=args.max_frames, progress=progress, memory=memory)
    except (SourceError, InferenceError) as error:
        written, status = stream.stats.frames, 1
        print(f"goodregions stream: error: {error}; the {written} frames before it are in {output}", file=sys.stderr)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    stats = stream.stats
    record = {
        "source": str(args.source), "output": str(output), "frames": written, "dropped": stats.dropped, "live": stats.live,
        "estimates_requested": stats.estimates_requested, "estimates_done": stats.estimates_done,
        "seconds": round(seconds, 3), "fps": round(written / seconds, 2) if seconds > 0 else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1), "end_reason": stats.end_reason, "luma_only": args.luma_only,
        "candidates": args.candidates,
        "kernel_shifts": [[round(dy, 3), round(dx, 3)] for dy, dx in stats.kernel_shifts],  # registration, per kernel
    }
    if memory is not None:
        record["rss_samples"] = memory.finish()  # [frame, MiB] pairs
    if status == 0 and stats.live and stats.end_reason.startswith("live source"):  # unexpected for a camera: say so
        print(f"goodregions stream: note: {stats.end_reason}; the {written} frames written are in {output}", file=sys.stderr)
    if args.json:
        print(json.dumps(record))
    else:
        print(f"{record['frames']} frames to {output} in {record['seconds']:.1f} s ({record['fps']:.1f} frames/s), "
              f"{record['dropped']} dropped, {record['estimates_done']} kernel estimates; peak memory "
              f"{record['peak_rss_mb']:.0f} MiB; {stats.end_reason}")
    return status


def add_stream_parser(commands):
    """Add the ``stream`` subcommand to the ``commands`` subparsers of the ``goodregions`` parser."""
    from goodregions.kernels_fast import PRIORS

    from .arg_types import add_candidates_option, box_checked, odd_int, positive_int
    from .defaults import PRIOR
    from .selectors import SELECTORS

    stream = commands.add_parser("stream", help="deblur a video file, camera or rtsp:// stream into an .mp4 file")
    stream.add_argument("source", metavar="SRC", help="video file, camera index (0, 1, ...) or URL (rtsp://...)")
    stream.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video (mp4v codec)")
    stream.add_argument("--selector", choices=SELECTORS, default="cnn", help="window selector (default cnn; without a model: xu)")
    add_candidates_option(stream, when="at each new estimate, ")
    stream.add_argument("--box", type=int, nargs=4, metavar=("X", "Y", "W", "H"), help="window for --selector box")
    stream.add_argument("--model", metavar="ONNX", help="window-scorer model (default $GOODREGIONS_MODEL or the bundled one)")
    stream.add_argument("--kernel-size", type=odd_int, metavar="N", help="odd kernel support (default: from the frame size)")
    stream.add_argument("--prior", choices=PRIORS, default=PRIOR, help=f"estimation prior (default {PRIOR})")
    stream.add_argument("--luma-only", action="store_true", help="deconvolve only the luminance (about 3x faster)")
    stream.add_argument("--reestimate-every", type=int, default=30, metavar="N", help="new kernel every N frames (default 30)")
    stream.add_argument("--change-threshold", type=float, default=0.2, metavar="T",
                        help="scene-change trigger: distance of luminance histograms, 0-1 (default 0.2; 0: off)")
    stream.add_argument("--sharpness-change", type=float, default=0.3, metavar="S",
                        help="blur-change trigger: relative change of the two-scale sharpness ratio (default 0.3; 0: off)")
    stream.add_argument("--no-align-kernels", action="store_true",
                        help="use each new kernel as estimated, even if the picture then moves by up to a pixel "
                             "(default: register it to the first kernel of its blur)")
    stream.add_argument("--queue-size", type=int, default=8, metavar="N", help="frames buffered after decoding (default 8)")
    stream.add_argument("--live", choices=("auto", "yes", "no"), default="auto",
                        help="drop frames when behind: auto = for cameras and URLs, not files (default auto)")
    stream.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N frames")
    stream.add_argument("--rss-every", type=positive_int, metavar="N",
                        help="sample the resident memory every N frames; the samples go into the --json summary")
    stream.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    stream.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    stream.set_defaults(handler=box_checked(run_stream))
    return stream
