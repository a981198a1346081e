"""Does the picture stay still when a stream re-estimates the kernel? (``goodregions bench registration``)

The stream runs as ``goodregions stream`` does by default (``cnn`` selector, ``l0`` prior).
The scene is still: the bundled synthetic sharp image blurred by its bundled kernel, with
fresh Gaussian noise (sigma 0.01) on every frame, so each re-estimate sees another noisy
frame of one blur. The stream re-estimates every ``every`` frames. The consumer waits
``pause`` seconds per frame, so that estimates arrive between frames rather than coalescing.

At each frame where a new kernel takes over, the *jump* is the translation between that
output frame and the one before. It is measured by OpenCV's sub-pixel phase correlation on
the frame less a 40 px border. Two runs see the same frames: one with ``align_kernels``
(the default), and the baseline without it, which deconvolves each kernel as estimated.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from goodregions.kernels_fast._validate import check_int

from .bench_report import add_json_option, check_json_option, environment, save_json
from .defaults import PRIOR
from .samples import sample_path

__all__ = ["run_registration_benchmark"]

_NOISE_SIGMA = 0.01
_BORDER = 40
_VISIBLE_JUMP = 0.5  # pixels


def _still_frames(count, seed):
    from goodregions.kernels_fast import convolve

    sharp = cv2.imread(str(sample_path("synthetic_sharp.png")), cv2.IMREAD_GRAYSCALE) / 255.0
    blurred = convolve(sharp, np.load(str(sample_path("synthetic_kernel.npy"))))
    rng = np.random.default_rng(seed)
    for _ in range(count):
        noisy = blurred + rng.normal(0.0, _NOISE_SIGMA, blurred.shape)
        yield np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)


def _jumps(frames, every, pause, align_kernels, seed, selector, prior, kernel_size):
    from .pipeline import Deblurrer
    from .stream import deblur_stream

    deblurrer = Deblurrer(selector=selector, prior=prior, kernel_size=kernel_size)
    stream = deblur_stream(_still_frames(frames, seed), deblurrer=deblurrer, reestimate_every=every,
                           change_threshold=None, sharpness_change=None, queue_size=2, align_kernels=align_kernels)
    jumps, previous, version = [], None, None
    inner = (slice(_BORDER, -_BORDER), slice(_BORDER, -_BORDER))
    for output, info in stream:
        current = np.ascontiguousarray(output[inner], dtype=np.float32)
        if previous is not None and info.kernel_version != version:
            (dx, dy), _ = cv2.phaseCorrelate(previous, current)
            jumps.append(float(np.hypot(dx, dy)))
        previous, version = current, info.kernel_version
        time.sleep(pause)
    return jumps, [tuple(round(v, 3) for v in shift) for shift in stream.stats.kernel_shifts]


def run_registration_benchmark(*, json_path=None, frames=200, every=10, pause=0.04, seed=0, selector=None, prior=PRIOR,
                               kernel_size=25):
    """Run both streams of the module docstring; print and return the jumps (and save them as JSON).

    ``selector`` None is the stream command's default: ``cnn`` with a model, else ``xu``.
    The bundled blur is 21 px, so ``kernel_size`` 25 holds it.

    Returns
    -------
    dict
        The record: settings, environment and one row per run (``align_kernels`` False, then
        True) with the jumps in pixels, their median and maximum, how many reach half a
        pixel, and the translations the registration applied.
    """
    for name, value in (("frames", frames), ("every", every)):
        check_int(value, name=name, low=2)
    if not (isinstance(pause, (int, float)) and pause >= 0):
        raise ValueError(f"pause must be a number of seconds >= 0, got {pause!r}")
    if selector is None:
        from .deblur_command import model_available

        selector = "cnn" if model_available() else "xu"
    rows = []
    for align_kernels in (False, True):
        jumps, shifts = _jumps(frames, every, pause, align_kernels, seed, selector, prior, kernel_size)
        row = {"align_kernels": align_kernels, "kernel_changes": len(jumps), "jumps_px": jumps,
               "median_jump_px": float(np.median(jumps)) if jumps else None,
               "max_jump_px": max(jumps) if jumps else None,
               "visible_jumps": sum(jump >= _VISIBLE_JUMP for jump in jumps), "kernel_shifts": shifts}
        label = "registered (align_kernels)" if align_kernels else "as estimated (baseline)"
        if jumps:
            print(f"{label:28} {len(jumps):3d} kernel changes: median jump {row['median_jump_px']:.2f} px, "
                  f"max {row['max_jump_px']:.2f} px, {row['visible_jumps']} of >= {_VISIBLE_JUMP} px")
        else:
            print(f"{label:28} no kernel change arrived: use more frames or a longer pause")
        rows.append(row)
    record = {"benchmark": "registration", "frames": frames, "every": every, "pause_seconds": pause, "seed": seed,
              "selector": selector, "prior": prior, "kernel_size": kernel_size, "noise_sigma": _NOISE_SIGMA,
              "border": _BORDER, "environment": environment(), "rows": rows}
    if json_path is not None:
        save_json(json_path, record)
    return record


def add_bench_registration_parser(benches):
    """Add ``registration`` to the ``goodregions bench`` subparsers."""
    parser = benches.add_parser("registration", help="does a stream's picture jump when the kernel is re-estimated?")
    add_json_option(parser)
    parser.add_argument("--frames", type=int, default=200, help="frames of each run (default 200)")
    parser.add_argument("--every", type=int, default=10, help="re-estimate every N frames (default 10)")
    parser.add_argument("--pause", type=float, default=0.04, metavar="S",
                        help="seconds the consumer waits per frame, so that estimates arrive (default 0.04)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the frames' noise (default 0)")
    parser.set_defaults(handler=_run_bench_registration)
    return parser


def _run_bench_registration(args):
    check_json_option(args)
    run_registration_benchmark(json_path=args.json, frames=args.frames, every=args.every, pause=args.pause,
                               seed=args.seed)
    return 0
