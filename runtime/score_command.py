"""``goodregions score``: score every window of an image and optionally draw a heatmap."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from .arg_types import positive_int

__all__ = ["add_score_parser", "render_heatmap", "run_score"]


def render_heatmap(image, score_map, *, best=None, opacity=0.45):
    """Draw ``score_map`` over ``image``: a colour-mapped score per window centre and the best window.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        The scored image (uint8, uint16 or float in [0, 1]).
    score_map : ScoreMap
        Its scores; each window colours the ``stride x stride`` cell around its centre (the
        region no window centre reaches, near the borders, stays uncoloured).
    best : tuple of int, optional
        ``(x, y, w, h)`` outlined in white over black; default the top window of ``score_map``.
    opacity : float
        Weight of the colour map where it covers the image.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        RGB picture, with the JET colour map (blue low, red high) scaled from the lowest to
        the highest score.
    """
    import cv2

    from .scorer import image_to_luminance

    gray = np.round(image_to_luminance(image) * 255.0).clip(0, 255).astype(np.uint8)
    picture = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    scores = score_map.scores.astype(np.float64)
    low, high = float(scores.min()), float(scores.max())
    levels = np.round(255.0 * (scores - low) / (high - low if high > low else 1.0)).astype(np.uint8)
    stride, size = score_map.stride, score_map.window_size
    rows, cols = scores.shape
    cells = cv2.resize(levels, (cols * stride, rows * stride), interpolation=cv2.INTER_NEAREST)
    colours = cv2.applyColorMap(cells, cv2.COLORMAP_JET)  # BGR
    # The cell of window (i, j) is centred on its centre: top-left at (size - stride) / 2.
    top = left = (size - stride) // 2
    bottom = min(top + cells.shape[0], picture.shape[0])
    right = min(left + cells.shape[1], picture.shape[1])
    region = picture[top:bottom, left:right]
    picture[top:bottom, left:right] = cv2.addWeighted(colours[: bottom - top, : right - left], opacity, region, 1.0 - opacity, 0.0)
    if best is None:
        best = tuple(int(v) for v in score_map.top(1)[0][0])
    x, y, w, h = best
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (0, 0, 0), 5)
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 2)
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)


def run_score(args):
    """Handler of ``goodregions score``; returns the exit code (2 for model errors)."""
    from .image_io import check_writable, read_image, write_image
    from .scorer import InferenceError, ModelError, WindowScorer

    if args.heatmap is not None:
        check_writable(args.heatmap, overwrite=args.overwrite, inputs=[args.input])
    image, _ = read_image(args.input)  # alpha plays no part in scoring
    try:
        start = time.perf_counter()
        scorer = WindowScorer(args.model, providers=args.providers)
        load_seconds = time.perf_counter() - start
        start = time.perf_counter()
        score_map = scorer.score(image, mode=args.mode)
        score_seconds = time.perf_counter() - start
    except (ModelError, InferenceError) as error:
        print(f"goodregions score: error: {error}", file=sys.stderr)
        return 2
    boxes, logits = score_map.top(args.top)
    best = tuple(int(v) for v in boxes[0])
    if args.heatmap is not None:
        write_image(args.heatmap, render_heatmap(image, score_map, best=best), overwrite=args.overwrite)
    record = {
        "input": str(args.input),
        "model": scorer.model_path,
        "model_name": scorer.metadata["model_name"],
        "model_sha256": scorer.sha256,
        "provider": scorer.provider,
        "mode": args.mode,
        "window_size": score_map.window_size,
        "stride": score_map.stride,
        "grid": list(score_map.scores.shape),
        "best": {"box": list(best), "logit": float(logits[0]), "probability": float(1.0 / (1.0 + np.exp(-logits[0])))},
        "top": [{"box": [int(v) for v in b], "logit": float(s)} for b, s in zip(boxes, logits)],
        "load_seconds": round(load_seconds, 4),
        "score_seconds": round(score_seconds, 4),
        "heatmap": None if args.heatmap is None else str(args.heatmap),
    }
    if args.json:
        print(json.dumps(record))
    else:
        rows, cols = score_map.scores.shape
        print(
            f"best window (x, y, w, h) = {best}: logit {record['best']['logit']:.3f} (P(good) "
            f"{record['best']['probability']:.3f}) among {rows}x{cols} windows; {args.mode} scoring on {scorer.provider} "
            f"in {score_seconds:.3f} s"
        )
        if args.heatmap is not None:
            print(f"heatmap written to {args.heatmap}")
    return 0


def add_score_parser(commands):
    """Add the ``score`` subcommand to the ``goodregions`` subparsers ``commands``."""
    score = commands.add_parser("score", help="score every window of an image with the ONNX window scorer")
    score.add_argument("input", metavar="IN", help="image file")
    score.add_argument("--model", metavar="PATH", help="ONNX model with PATH.sha256 beside it (default: $GOODREGIONS_MODEL, "
                       "then the bundled model)")
    score.add_argument("--mode", choices=("dense", "windows"), default="dense",
                       help="dense: one pass over the frame (default); windows: every window on its own (exact, slow)")
    score.add_argument("--providers", choices=("auto", "cpu", "cuda"), default="auto", help="onnxruntime providers (default auto)")
    score.add_argument("--top", type=positive_int, default=5, metavar="K", help="windows listed in --json output (default 5)")
    score.add_argument("--heatmap", metavar="OUT.png", help="save the image with a score overlay and the best window")
    score.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    score.add_argument("--overwrite", action="store_true", help="replace an existing heatmap file")
    score.set_defaults(handler=run_score)
    return score
