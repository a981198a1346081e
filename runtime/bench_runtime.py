"""Speed of the runtime (``goodregions bench runtime``): scoring, deblurring and streaming.

Rows:

(a) window scoring of a 1920x1080 frame, ``dense`` and ``windows`` modes, with the model of
    ``--model``, ``$GOODREGIONS_MODEL`` or the bundled one; skipped with a message when none
    exists (nothing is built on the fly);
(b) ``deblur`` of a 1920x1080 colour photo end to end (read, score, estimate, deconvolve,
    write; hyper-Laplacian on every channel), with the ``cnn`` selector when a model exists,
    else ``fergus``, next to ``whole`` in the same run;
(c) streaming 1280x720 synthetic video with kernel reuse and ``--luma-only``: frames per
    second and memory, in a separate ``goodregions stream`` process so that its memory is its
    own (its peak is ``VmHWM``, see :mod:`.memory`). The RSS is sampled every ``rss_every``
    frames; the record holds the samples, the RSS after 300 frames (warm), the last and the
    peak, the growth from the warm sample to the end, the least-squares slope, and whether the
    fitted trend is flat (:func:`.memory.summarise_rss`).

Timings are medians of ``repeats`` runs after one untimed warm-up run (Numba compilation
and the model load are excluded). The photo is the bundled real blurred sample resized to
1920x1080. The video is a moving 1280x720 crop (panning 2 px and 1 px per frame) of the
same photo upscaled to 2560x1600 and blurred once with a fixed 15 px diagonal motion kernel,
encoded with mp4v to a temporary file before the timing starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from goodregions.kernels_fast._validate import check_int

from .bench_report import add_json_option, check_json_option, environment, median_seconds, save_json
from .samples import sample_path

__all__ = ["make_synthetic_video", "run_runtime_benchmark"]

_FRAME = (1080, 1920)
_VIDEO = (720, 1280)
_CANVAS = (1600, 2560)


def _photo(shape):
    """The bundled real blurred photo resized to ``shape`` (H, W), uint8 RGB."""
    image = cv2.imread(str(sample_path("real_blurred.jpg")), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB)


def _diagonal_kernel(size):
    kernel = np.eye(size)
    return kernel / kernel.sum()


def make_synthetic_video(path, frames, *, shape=_VIDEO, fps=25.0):
    """Write ``frames`` frames of a panning crop of a blurred photo to ``path`` (mp4v); return ``path``.

    The canvas is the bundled photo upscaled to 2560x1600 and blurred once with a 15 px
    diagonal kernel; frame ``i`` is the ``shape`` crop at ``(2 i, i)``, bouncing at the edges.
    """
    canvas = cv2.filter2D(cv2.resize(cv2.imread(str(sample_path("real_blurred.jpg")), cv2.IMREAD_COLOR),
                                     (_CANVAS[1], _CANVAS[0]), interpolation=cv2.INTER_CUBIC),
                          -1, _diagonal_kernel(15), borderType=cv2.BORDER_REFLECT)
    height, width = shape
    span_x, span_y = _CANVAS[1] - width, _CANVAS[0] - height
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"OpenCV cannot write the temporary video {str(path)!r}")
    try:
        for i in range(frames):
            x = (2 * i) % (2 * span_x)
            y = i % (2 * span_y)
            x, y = (x if x <= span_x else 2 * span_x - x), (y if y <= span_y else 2 * span_y - y)
            writer.write(np.ascontiguousarray(canvas[y:y + height, x:x + width]))
    finally:
        writer.release()
    return path


def _row(name, seconds, runs, **extra):
    print(f"{name:58} {seconds * 1e3:10.0f} ms   ({', '.join(f'{t:.2f}' for t in runs)} s)")
    return {"name": name, "median_seconds": seconds, "runs_seconds": runs, **extra}


def _scoring_rows(model, repeats):
    from .scorer import WindowScorer

    scorer = WindowScorer(model)
    frame = _photo(_FRAME)
    rows = []
    for mode in ("dense", "windows"):
        scorer.score(frame, mode=mode)  # warm-up: onnxruntime allocates its arenas on the first run
        seconds, runs = median_seconds(lambda: scorer.score(frame, mode=mode), repeats=repeats)
        rows.append(_row(f"score {mode} 1920x1080 ({scorer.metadata['model_name']}, {scorer.provider})", seconds, runs,
                         provider=scorer.provider, model=scorer.model_path))
    return rows, scorer


def _deblur_rows(selectors, scorer, repeats, folder):
    from .image_io import read_image, write_image
    from .pipeline import Deblurrer

    source = Path(folder) / "photo_1920x1080.png"
    write_image(source, _photo(_FRAME), overwrite=True)
    rows = []
    for selector in selectors:
        deblurrer = Deblurrer(selector=selector, scorer=scorer if selector == "cnn" else None)
        stages = []

        def once():
            start = time.perf_counter()
            image, alpha = read_image(source)
            read = time.perf_counter() - start
            result = deblurrer.deblur(image, alpha=alpha, warn=False)  # the benchmark times, it does not judge
            start = time.perf_counter()
            write_image(Path(folder) / "deblurred.png", result.image, alpha=result.alpha, overwrite=True)
            stages.append({"read": read, **result.timings, "write": time.perf_counter() - start})

        once()  # warm-up
        stages.clear()
        seconds, runs = median_seconds(once, repeats=repeats)
        median_stages = {key: float(np.median([s[key] for s in stages])) for key in stages[0]}
        rows.append(_row(f"deblur 1920x1080 RGB end to end, selector {selector}", seconds, runs, stages=median_stages))
        print("    stages (median s): " + ", ".join(f"{key} {value:.3f}" for key, value in median_stages.items()))
    return rows


def _stream_row(frames, model, folder, *, rss_every, rss_plot):
    from .memory import plot_rss, summarise_rss

    video = make_synthetic_video(Path(folder) / "synthetic_720p.mp4", frames)
    command = [sys.executable, "-m", "goodregions.runtime.cli", "stream", str(video), "-o", str(Path(folder) / "out.mp4"),
               "--luma-only", "--json", "--overwrite", "--rss-every", str(rss_every)]
    command += ["--model", str(model)] if model is not None else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the stream benchmark failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    record = json.loads(lines[-1])
    memory = summarise_rss(record["rss_samples"])
    print(f"{f'stream 1280x720 luma-only, {frames} frames':58} {record['fps']:10.1f} frames/s, peak RSS "
          f"{record['peak_rss_mb']:.0f} MiB, {record['dropped']} dropped, {record['estimates_done']} estimates")
    slope = memory["slope_mb_per_1000_frames"]
    print(f"    memory: {'flat' if memory['flat'] else 'GROWING'}: RSS {memory['warm_mb']:.0f} MiB at frame "
          f"{memory['warm_frame']}, {memory['last_mb']:.0f} MiB at frame {record['frames']} ({memory['growth_mb']:+.1f} MiB); "
          f"fitted {'n/a' if slope is None else f'{slope:+.2f}'} MiB per 1000 frames, {memory['trend_mb']:+.1f} MiB over "
          f"the run (flat: at most {memory['threshold_mb']:.0f} MiB); {len(record['rss_samples'])} samples")
    if rss_plot is not None:
        title = f"RSS of goodregions stream, 1280x720 --luma-only, {record['frames']} frames"
        if plot_rss(record["rss_samples"], rss_plot, title=title):
            print(f"    memory plot: {rss_plot}")
        else:
            print("    note: no memory plot: matplotlib is missing (install the plot extra)")
    return {"name": "stream 1280x720 luma-only", **record, "memory": memory}


def run_runtime_benchmark(*, json_path=None, model=None, repeats=5, stream_frames=3000, skip=(), rss_every=100,
                          rss_plot=None):
    """Run the rows of the module docstring; print them and optionally save JSON.

    Parameters
    ----------
    json_path : path, optional
        Also save the record here.
    model : path, optional
        Window scorer for rows (a) and (b); default ``$GOODREGIONS_MODEL``, else the bundled one.
    repeats : int
        Timed runs per figure (>= 1; the reported figure is their median).
    stream_frames : int
        Frames of the streaming row (3000 for the reported figure; fewer for a quick check).
    skip : collection of str
        Rows to leave out: any of "score", "deblur", "stream".
    rss_every : int
        Frames between the memory samples of the streaming row.
    rss_plot : path, optional
        Also save a PNG of the streaming row's RSS against the frame (needs matplotlib, the
        ``plot`` extra; without it a note is printed and the benchmark goes on).

    Returns
    -------
    dict
        The record: environment, settings and rows.
    """
    from goodregions.kernels_fast import warmup

    from .deblur_command import model_available

    check_int(repeats, name="repeats", low=1)
    check_int(stream_frames, name="stream_frames", low=1)
    check_int(rss_every, name="rss_every", low=1, unit="frames between memory samples", hint="100 suits 3000 frames")
    if model is not None and not Path(model).is_file():
        raise FileNotFoundError(f"--model {str(model)!r} does not exist; pass an .onnx file, or leave --model out to use "
                                "$GOODREGIONS_MODEL or the bundled model")
    compile_seconds = warmup()
    print(f"warm-up (compilation or cache load, excluded below): {compile_seconds:.1f} s")
    rows, notes, scorer = [], [], None
    have_model = model_available(model)
    if not have_model:
        note = ("no window-scorer model (no --model, no $GOODREGIONS_MODEL, none bundled): the scoring row is skipped "
                "and deblur uses the fergus selector")
        print(f"note: {note}")
        notes.append(note)
    with tempfile.TemporaryDirectory(prefix="goodregions-bench-") as folder:
        if have_model and "score" not in skip:
            score_rows, scorer = _scoring_rows(model, repeats)
            rows += score_rows
        if "deblur" not in skip:
            if have_model and scorer is None:
                from .scorer import WindowScorer

                scorer = WindowScorer(model)
            rows += _deblur_rows(("cnn" if have_model else "fergus", "whole"), scorer, repeats, folder)
        if "stream" not in skip:
            rows.append(_stream_row(stream_frames, model if have_model else None, folder, rss_every=rss_every,
                                    rss_plot=rss_plot))
    record = {"benchmark": "runtime", "repeats": repeats, "stream_frames": stream_frames, "rss_every": rss_every,
              "compile_seconds_excluded": compile_seconds, "notes": notes, "environment": environment(), "rows": rows}
    if json_path is not None:
        save_json(json_path, record)
    return record


def add_bench_runtime_parser(benches):
    """Add ``runtime`` to the ``goodregions bench`` subparsers."""
    runtime = benches.add_parser("runtime", help="speed of scoring, deblurring a 1080p photo and streaming 720p video")
    add_json_option(runtime)
    runtime.add_argument("--model", metavar="ONNX", help="window scorer (default $GOODREGIONS_MODEL or the bundled one)")
    runtime.add_argument("--repeats", type=int, default=5, help="timed runs per figure after warm-up (default 5)")
    runtime.add_argument("--stream-frames", type=int, default=3000, metavar="N", help="frames of the streaming row (default 3000)")
    runtime.add_argument("--skip", nargs="+", choices=("score", "deblur", "stream"), default=(), help="rows to leave out")
    runtime.add_argument("--rss-every", type=int, default=100, metavar="N", help="frames between memory samples of the stream (default 100)")
    runtime.add_argument("--rss-plot", metavar="PNG", help="also plot the stream's memory against the frame (needs the plot extra; an existing file needs --overwrite)")
    runtime.set_defaults(handler=_run_bench_runtime)
    return runtime


def _run_bench_runtime(args):
    from .image_io import check_writable

    check_json_option(args)
    if args.rss_plot is not None:
        check_writable(args.rss_plot, overwrite=args.overwrite)
    run_runtime_benchmark(json_path=args.json, model=args.model, repeats=args.repeats, stream_frames=args.stream_frames,
                          skip=set(args.skip), rss_every=args.rss_every, rss_plot=args.rss_plot)
    return 0
