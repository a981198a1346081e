"""``goodregions deblur``: deblur image files, folders and globs, one output per image.

Inputs are resolved and every output path is checked before any work starts, so an existing
file (without ``--overwrite``) stops the command before it changes anything. An input that
cannot be read (corrupt, not an image) is reported and skipped; the others are processed and
the command exits with status 1 at the end. ``--contact-sheet`` adds one picture of every
deblurred image (see :mod:`.contact_sheet`), written last.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .arg_types import add_candidates_option, box_checked, odd_int

__all__ = ["IMAGE_SUFFIXES", "add_deblur_parser", "collect_inputs", "model_available", "render_overlay", "run_deblur"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def model_available(model=None):
    """Return True when ``WindowScorer(model)`` would find a model file (explicit, environment or bundled).

    Only existence is checked; loading may still fail (checksum, contract) with a ``ModelError``.
    """
    import importlib.resources

    from .scorer import BUNDLED_MODEL, MODEL_ENV

    if model is not None:
        return Path(model).is_file()
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV]).is_file()
    return (importlib.resources.files("goodregions.models") / BUNDLED_MODEL).is_file()


def collect_inputs(items):
    """Expand files, folders (their image files, sorted, not recursive) and glob patterns.

    Parameters
    ----------
    items : list of str
        What the user typed. A name that exists is taken as is (so a file with ``*`` in its
        name works); otherwise a name with ``*``, ``?`` or ``[`` is a glob pattern.

    Returns
    -------
    list of Path
        Unique paths in the order given. Files named explicitly are kept whatever their
        suffix (so a non-image file gives a clear read error); folders and globs contribute
        only names ending in ``IMAGE_SUFFIXES``.

    Raises
    ------
    FileNotFoundError
        A name that does not exist, or a folder or pattern that holds no image.
    """
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"folder {item!r} holds no image ({', '.join(IMAGE_SUFFIXES)}); pass image files or another folder")
        elif path.exists():
            found = [path]
        elif any(c in item for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"pattern {item!r} matches no image file; check the pattern (quote it to let goodregions expand it)")
        else:
            raise FileNotFoundError(f"input {item!r} does not exist; pass image files, folders or glob patterns")
        paths.extend(found)
    unique = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _plan_outputs(inputs, out, *, save_kernel, overlay):
    """Map every input to its output paths: ``{"image": Path, "overlay": Path?, "kernel_png": ..., "kernel_npy": ...}``."""
    out = Path(out)
    single_file = len(inputs) == 1 and not out.is_dir() and out.suffix.lower() in IMAGE_SUFFIXES
    if not single_file and out.exists() and not out.is_dir():
        raise ValueError(f"-o {str(out)!r} is an existing file, but {len(inputs)} inputs need a folder; pass a folder name")
    if not single_file and len(inputs) == 1 and out.suffix and not out.exists():
        raise ValueError(f"-o {str(out)!r} ends in {out.suffix!r}, not an image suffix ({', '.join(IMAGE_SUFFIXES)}); "
                         "name a .png/.jpg/.tif file, or a folder without a suffix")
    plans, seen = [], {}
    for path in inputs:
        image = out if single_file else out / path.name
        if image.resolve() == path.resolve():
            raise ValueError(f"the output for {str(path)!r} would replace the input itself; choose another -o folder or name")
        if image.resolve() in seen:
            raise ValueError(f"inputs {str(seen[image.resolve()])!r} and {str(path)!r} would both write {str(image)!r}; "
                             "deblur them into separate folders")
        seen[image.resolve()] = path
        plan = {"image": image}
        if overlay:
            plan["overlay"] = image.with_name(f"{image.stem}.overlay.png")
        if save_kernel:
            plan["kernel_png"] = image.with_name(f"{image.stem}.kernel.png")
            plan["kernel_npy"] = image.with_name(f"{image.stem}.kernel.npy")
        plans.append(plan)
    return plans


def render_overlay(image, window, kernel):
    """Draw the chosen window on ``image`` and inset the kernel, scaled up, in a corner.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3|4)
        The input image (uint8, uint16 or float in [0, 1]).
    window : tuple of int
        ``(x, y, w, h)``, outlined in yellow over black.
    kernel : ndarray, shape (k, k)
        Shown white on black, scaled so its peak is white, magnified with nearest-neighbour
        sampling to about a fifth of the shorter image side, in the corner farthest from the
        window's centre.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3), RGB
    """
    import cv2

    from .contact_sheet import kernel_picture, to_display

    picture = to_display(image).copy()
    height, width = picture.shape[:2]
    x, y, w, h = (int(v) for v in window)
    thickness = max(2, min(height, width) // 300)
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (0, 0, 0), thickness + 2)
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (255, 220, 0), thickness)
    side = min(max(kernel.shape[0] * 2, min(height, width) // 5), min(height, width) - 4)
    if side >= kernel.shape[0]:
        inset = cv2.resize(kernel_picture(kernel), (side, side), interpolation=cv2.INTER_NEAREST)
        inset = cv2.copyMakeBorder(inset, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=255)
        size = inset.shape[0]
        # Corner farthest from the window's centre, so the inset hides as little of it as possible.
        top = 0 if y + h / 2 > height / 2 else height - size
        left = 0 if x + w / 2 > width / 2 else width - size
        picture[top:top + size, left:left + size] = inset[..., None]
    return picture


def _summary(scores):
    if scores is None:
        return None
    values = np.asarray(scores.scores, dtype=np.float64).ravel()
    return {"best": round(float(values.max()), 4), "median": round(float(np.median(values)), 4), "count": int(values.size)}


def _make_deblurrer(args):
    """Build the Deblurrer; the default ``cnn`` without any model falls back to ``xu`` with a note."""
    from .pipeline import Deblurrer

    selector = args.selector
    if selector == "cnn" and args.model is None and not model_available():
        print("goodregions deblur: note: no window-scorer model is available (no --model, no $GOODREGIONS_MODEL, none "
              "bundled); using --selector xu instead of cnn", file=sys.stderr)
        selector = "xu"
    return Deblurrer(selector=selector, model=args.model, kernel_size=args.kernel_size, prior=args.prior,
                     method=args.method, luma_only=args.luma_only, box=tuple(args.box) if args.box else None,
                     candidates=args.candidates)


def _process(deblurrer, path, plan, args, sheet=None):
    """Deblur one file, write its outputs and add its row to ``sheet`` (a ContactSheet, if any); return the JSON record."""
    from .image_io import read_image, write_image, write_kernel

    start = time.perf_counter()
    image, alpha = read_image(path)
    read_seconds = time.perf_counter() - start
    result = deblurrer.deblur(image, alpha=alpha, warn=False)  # its warnings are printed per file below
    start = time.perf_counter()
    write_image(plan["image"], result.image, alpha=result.alpha, overwrite=args.overwrite)
    if "overlay" in plan:
        write_image(plan["overlay"], render_overlay(image, result.window, result.kernel), overwrite=args.overwrite)
    if "kernel_png" in plan:
        write_kernel(plan["kernel_png"], result.kernel, overwrite=args.overwrite)
        write_kernel(plan["kernel_npy"], result.kernel, overwrite=args.overwrite)
    if sheet is not None:
        score = "" if result.score is None else f", score {result.score:.2f}"
        sheet.add(image, result.window, result.kernel, result.image,
                  label=[path.name, f"{image.shape[1]}x{image.shape[0]} px", f"selector {result.selector}{score}",
                         f"kernel {result.kernel_size}x{result.kernel_size}"])
    timings = {"read": read_seconds, **result.timings, "write": time.perf_counter() - start}
    timings["total"] = sum(timings.values())
    return {
        "input": str(path),
        "output": str(plan["image"]),
        "selector": result.selector,
        "window": list(result.window),
        "candidates": [list(box) for box in result.candidates],
        "window_score": None if result.score is None else round(float(result.score), 4),
        "scores": _summary(result.scores),
        "provider": result.provider,
        "kernel_size": result.kernel_size,
        "touches_border": result.touches_border,
        "timings": {name: round(seconds, 4) for name, seconds in timings.items()},
        "warnings": list(result.warnings),
        **{key: str(value) for key, value in plan.items() if key != "image"},
    }


def _check_sheet_path(sheet, inputs, plans, *, overwrite):
    """Validate ``--contact-sheet``: a .png or .jpg name that is no input or other output; return it as a Path (or None)."""
    from .image_io import check_writable

    if sheet is None:
        return None
    path = Path(sheet)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--contact-sheet must name a .png or .jpg file, got {sheet!r}; for example --contact-sheet sheet.jpg")
    taken = {p.resolve(): "an input" for p in inputs}
    taken.update({target.resolve(): "an output" for plan in plans for target in plan.values()})
    if path.resolve() in taken:
        raise ValueError(f"--contact-sheet {sheet!r} is also {taken[path.resolve()]} of this command; choose another name")
    check_writable(path, overwrite=overwrite)
    return path


def run_deblur(args):
    """Handler of ``goodregions deblur``; returns 0, 1 when some input failed, 2 for usage errors."""
    from tqdm import tqdm

    from .contact_sheet import ContactSheet
    from .image_io import check_writable, write_image
    from .scorer import InferenceError, ModelError

    inputs = collect_inputs(args.inputs)
    plans = _plan_outputs(inputs, args.output, save_kernel=args.save_kernel, overlay=args.overlay)
    for plan in plans:
        for target in plan.values():
            check_writable(target, overwrite=args.overwrite)
    sheet_path = _check_sheet_path(args.contact_sheet, inputs, plans, overwrite=args.overwrite)
    try:
        deblurrer = _make_deblurrer(args)
    except ModelError as error:
        print(f"goodregions deblur: error: {error}", file=sys.stderr)
        return 2
    for plan in plans:
        plan["image"].parent.mkdir(parents=True, exist_ok=True)
    sheet = None if sheet_path is None else ContactSheet()
    failures = 0
    progress = tqdm(list(zip(inputs, plans)), desc="deblur", unit="image", disable=None, file=sys.stderr)
    for path, plan in progress:
        try:
            record = _process(deblurrer, path, plan, args, sheet)
        except (FileNotFoundError, ValueError, TypeError, InferenceError, OSError) as error:
            failures += 1
            message = f"{type(error).__name__}: {error}"
            if args.json:
                print(json.dumps({"input": str(path), "error": message}), flush=True)
            tqdm.write(f"goodregions deblur: error: {path}: {message}; skipped", file=sys.stderr)
            continue
        for text in record["warnings"]:
            tqdm.write(f"goodregions deblur: warning: {path}: {text}", file=sys.stderr)
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            seconds = record["timings"]
            tqdm.write(f"{path} -> {plan['image']}: {record['selector']} window {tuple(record['window'])}, "
                       f"{record['kernel_size']}x{record['kernel_size']} kernel, {seconds['total']:.2f} s "
                       f"(score {seconds['score']:.2f}, estimate {seconds['estimate']:.2f}, deconvolve {seconds['deconvolve']:.2f})")
    progress.close()
    if sheet is not None and len(sheet):
        sheet_path.parent.mkdir(parents=True, exist_ok=True)
        write_image(sheet_path, sheet.render(), overwrite=args.overwrite)
        print(f"goodregions deblur: contact sheet of {len(sheet)} images: {sheet_path}", file=sys.stderr)
    elif sheet is not None:
        print(f"goodregions deblur: no image was deblurred, so no contact sheet was written to {sheet_path}", file=sys.stderr)
    if failures:
        written = "nothing was written" if failures == len(inputs) else "the others were written"
        print(f"goodregions deblur: {failures} of {len(inputs)} inputs failed (see above); {written}", file=sys.stderr)
        return 1
    return 0


def add_deblur_parser(commands):
    """Add the ``deblur`` subcommand to the ``commands`` subparsers of the ``goodregions`` parser."""
    from goodregions.kernels_fast import DECONVOLUTION_METHODS, PRIORS

    from .defaults import PRIOR
    from .selectors import SELECTORS

    deblur = commands.add_parser("deblur", help="remove the blur of images: kernel from a chosen window, deconvolve all")
    deblur.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders of images, or glob patterns")
    deblur.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output file (one input, with an image suffix) or folder (same file names)")
    deblur.add_argument("--selector", choices=SELECTORS, default="cnn",
                        help="window selector (default cnn; without any model: xu, with a note)")
    add_candidates_option(deblur)
    deblur.add_argument("--box", type=int, nargs=4, metavar=("X", "Y", "W", "H"), help="window for --selector box")
    deblur.add_argument("--kernel-size", type=odd_int, metavar="N", help="odd kernel support (default: 31 from 512 px up, less below)")
    deblur.add_argument("--prior", choices=PRIORS, default=PRIOR, help=f"estimation prior (default {PRIOR})")
    deblur.add_argument("--method", choices=DECONVOLUTION_METHODS, default="hyper_laplacian", help="deconvolution (default hyper_laplacian)")
    deblur.add_argument("--luma-only", action="store_true", help="deconvolve only the luminance of colour images (faster)")
    deblur.add_argument("--save-kernel", action="store_true", help="also write NAME.kernel.png and NAME.kernel.npy next to each output")
    deblur.add_argument("--overlay", action="store_true", help="also write NAME.overlay.png: the window on the input, kernel inset")
    deblur.add_argument("--contact-sheet", metavar="FILE", help="also write one .jpg or .png of all images, a row each: "
                        "input with the window, kernel, output")
    deblur.add_argument("--json", action="store_true", help="print one JSON object per image")
    deblur.add_argument("--overwrite", action="store_true", help="replace existing output files")
    deblur.add_argument("--model", metavar="ONNX", help="window-scorer model (default $GOODREGIONS_MODEL or the bundled one)")
    deblur.set_defaults(handler=box_checked(run_deblur))
    return deblur

