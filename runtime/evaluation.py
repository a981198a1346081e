"""``goodregions evaluate``: do the CNN's windows give better kernels than the heuristic selectors?

Every (image, kernel) pair is a case (:mod:`goodregions.runtime.evaluation_case`): the sharp
gray image is blurred by the kernel with noise, and each selector's window gives a kernel
estimate, scored against the true kernel and by the deconvolution it gives.

Results folder
--------------
``cases/<key>.json`` and ``cases/<key>.npz``
    One case each: the JSON holds the measures, the ``.npz`` the kernels (``true``, one per
    selector, and the oracle's per-window similarities). The key is
    ``<image folder>-<image file>--<kernel file stem>``. Both are written to hidden temporary
    files and renamed (``os.replace``), the JSON last, so a case whose two files exist is
    complete; an interrupted run resumes with the cases it lacks and never recomputes a
    finished one.
``manifest.json``
    The settings every case was made with (selectors, kernel size, prior, noise, seed, kernel
    orientation, the kernels' checksums, the window grid, the model's checksum and the
    estimator's configuration) and one entry per run. A folder made with other settings is
    refused unless ``overwrite``, which deletes the evaluation's own files and nothing else.
``results.json``, ``summary.md``, ``er_curves.png``, ``grids/``
    The report (:mod:`goodregions.runtime.evaluation_report`), rewritten by every run for the
    cases of that run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from goodregions.kernels_fast import PRIORS
from goodregions.kernels_fast._validate import check_int, check_odd_size

from .defaults import PRIOR, WINDOW_SIZE, WINDOW_STRIDE
from .evaluation_case import EVALUATION_SELECTORS, GRID_SELECTORS, case_rngs, evaluate_case, synthesize_case
from .worker_pool import finishing_run, init_estimator_worker

__all__ = ["EvaluationSettings", "case_paths", "parse_selectors", "check_not_training", "plan_cases", "run_evaluation", "CASES_DIR",
           "MANIFEST_NAME"]

CASES_DIR, MANIFEST_NAME = "cases", "manifest.json"
REPORT_FILES = ("results.json", "summary.md", "er_curves.png")
_FORMAT = 1
_CASE_FILE_RE = re.compile(r"^[A-Za-z0-9._-]+\.(json|npz)$")
_TEMPORARY_RE = re.compile(r"^\..+\.\d+\.tmp$")
_WORKER = {}  # per worker process: the WindowScorer, loaded once by the initializer


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
    """What every case of a results folder shares.

    Attributes
    ----------
    selectors : tuple of str
        Names from ``EVALUATION_SELECTORS``, in the order of the report.
    kernel_size : int
        Odd support of the estimated kernels.
    prior : {"dark", "l0"}
        Estimation prior (default the runtime's).
    noise_sigma : float
        Gaussian noise added to the blur, on the [0, 1] scale.
    seed : int
        Seed of the noise and of the ``random`` selector, combined with each case's key.
    rotate_kernels : bool
        The kernel files store correlation kernels (as Levin et al.'s do): rotated by 180°.
    """

    selectors: tuple = EVALUATION_SELECTORS
    kernel_size: int = 31
    prior: str = PRIOR
    noise_sigma: float = 0.01
    seed: int = 0
    rotate_kernels: bool = False

    def __post_init__(self):
        parse_selectors(",".join(self.selectors))
        check_odd_size(self.kernel_size, name="kernel_size")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if isinstance(self.noise_sigma, bool) or not isinstance(self.noise_sigma, (int, float)) or not 0.0 <= self.noise_sigma <= 0.5:
            raise ValueError(f"noise_sigma (--noise) must be a number in [0, 0.5] on the [0, 1] scale, got {self.noise_sigma!r}; "
                             "for a sigma on the 0-255 scale divide by 255")
        check_int(self.seed, name="seed", low=0)


def parse_selectors(text):
    """Parse ``"cnn,xu,oracle"`` into a tuple of distinct names from ``EVALUATION_SELECTORS``."""
    names = tuple(part.strip() for part in str(text).split(",") if part.strip())
    unknown = [name for name in names if name not in EVALUATION_SELECTORS]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"--selectors must be distinct names from {','.join(EVALUATION_SELECTORS)} separated by commas, got "
                         f"{text!r}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    return names


def check_not_training(images):
    """Refuse images of the split's ``train`` subset (the model was trained on them).

    Images are compared by (folder name, file name) with ``split.json``, which needs no data
    folder; the colour twins of training scenes count as training images too.
    """
    from goodregions.export.split import read_split_spec

    train = read_split_spec()["subsets"]["train"]
    names = {tuple(Path(name).parts[-2:]) for name in [*train["files"], *train.get("color_twins", [])]}
    used = [str(path) for path in images if (Path(path).parent.name, Path(path).name) in names]
    if used:
        raise ValueError(f"--images holds {len(used)} image(s) of the split's train subset, for example {used[:3]}: the window "
                         "scorer was trained on them; evaluate on --subset validation or on other images")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def plan_cases(images, kernels):
    """Return one case per (image, kernel): ``key``, ``image``, ``image_name``, ``kernel_name``, ``kernel``.

    Raises ``ValueError`` when two images share a folder and file name (their keys would clash).
    """
    cases, owners = [], {}
    for image in images:
        image = Path(image)
        name = f"{image.parent.name}/{image.name}"
        if name in owners:
            raise ValueError(f"--images {owners[name]!r} and {str(image)!r} share the folder and file name {name!r}, which "
                             "key the results; evaluate them in separate results folders")
        owners[name] = str(image)
        for kernel_name, kernel in kernels:
            key = re.sub(r"[^A-Za-z0-9._-]", "_", f"{name.replace('/', '-')}--{Path(kernel_name).stem}")
            cases.append({"key": key, "image": image, "image_name": name, "kernel_name": kernel_name, "kernel": kernel})
    return cases


def _write_text(path, text):
    from goodregions.export.label_store import write_atomic

    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def _differences(old, new, prefix=""):
    """Dotted names of the entries that differ between two nested dicts."""
    names = []
    for key in sorted({*old, *new}):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(f"{prefix}{key}")
    return names


def _prepare_folder(folder, fingerprint, overwrite):
    """Create the results folder or check its manifest; return the manifest (see the module docstring)."""
    from .evaluation_report import GRIDS_DIR, is_grid_file

    cases = folder / CASES_DIR
    manifest_path = folder / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else None
    has_cases = cases.is_dir() and any(_CASE_FILE_RE.match(path.name) for path in cases.iterdir())
    problem = None
    if manifest is not None and manifest.get("settings") != fingerprint:
        changed = _differences(manifest.get("settings") or {}, fingerprint)
        problem = f"holds results made with other settings (differing: {', '.join(changed)})"
    elif manifest is None and has_cases:
        problem = f"holds case files but no {MANIFEST_NAME}, so their settings are unknown"
    if problem and not overwrite:
        raise FileExistsError(f"--out {str(folder)!r} {problem}; pass --overwrite to delete the evaluation's files and start "
                              "over, or choose another folder")
    if overwrite:  # only what the evaluation writes
        for directory, own in ((cases, lambda name: _CASE_FILE_RE.match(name) or _TEMPORARY_RE.match(name)),
                               (folder / GRIDS_DIR, is_grid_file), (folder, lambda name: name in (MANIFEST_NAME, *REPORT_FILES))):
            if directory.is_dir():
                for path in directory.iterdir():
                    if path.is_file() and own(path.name):
                        path.unlink()
        manifest = None
    cases.mkdir(parents=True, exist_ok=True)
    return manifest or {"format": _FORMAT, "settings": fingerprint, "runs": []}


def case_paths(folder, key):
    """``(json, npz)`` paths of case ``key`` (keys hold dots, so no ``with_suffix``)."""
    base = Path(folder) / CASES_DIR
    return base / f"{key}.json", base / f"{key}.npz"


def _init_worker(model, use_scorer):
    init_estimator_worker()
    if use_scorer:
        from .scorer import WindowScorer

        _WORKER["scorer"] = WindowScorer(model)


def _run_case(task, scorer=None):
    """Synthesise, evaluate and store one case; return its key and seconds."""
    from goodregions.export.label_store import write_atomic
    from goodregions.export.synthesis import load_gray

    case, settings, grid, folder = task
    start = time.perf_counter()
    noise_rng, pick_rng = case_rngs(settings.seed, case["key"])
    sharp, blurred = synthesize_case(load_gray(case["image"]), case["kernel"], noise_sigma=settings.noise_sigma, rng=noise_rng)
    record, kernels = evaluate_case(sharp, blurred, case["kernel"], selectors=settings.selectors, kernel_size=settings.kernel_size,
                                    prior=settings.prior, window_size=grid["window_size"], stride=grid["stride"],
                                    scorer=scorer if scorer is not None else _WORKER.get("scorer"), rng=pick_rng)
    record = {"format": _FORMAT, "key": case["key"], "image": str(case["image"]), "image_name": case["image_name"],
              "image_sha256": case["image_sha256"], "kernel": case["kernel_name"], "kernel_shape": list(case["kernel"].shape),
              **record, "seconds": time.perf_counter() - start}
    json_path, npz_path = case_paths(folder, case["key"])
    write_atomic(npz_path, lambda handle: np.savez(handle, **kernels))
    _write_text(json_path, json.dumps(record, indent=1))  # last: marks the case complete
    return case["key"], record["seconds"]


def _load_done(folder, case):
    """The stored record of a case, or None when it is not complete; refuse one made from another image."""
    json_path, npz_path = case_paths(folder, case["key"])
    if not (json_path.is_file() and npz_path.is_file()):
        return None
    record = json.loads(json_path.read_text(encoding="utf-8"))
    if record.get("image_sha256") != case["image_sha256"] or record.get("kernel") != case["kernel_name"]:
        raise FileExistsError(f"case {str(json_path)!r} was made from another image or kernel than {case['image_name']!r} and "
                              f"{case['kernel_name']!r}; pass --overwrite to start over or choose another --out folder")
    return record


def _probe_seconds(settings, window_size):
    """Seconds of one estimate on a synthetic window (compilation excluded)."""
    import cv2

    from goodregions.kernels_fast import estimate_kernel, warmup

    warmup()
    generator = np.random.default_rng(0)
    window = cv2.GaussianBlur(generator.random((window_size, window_size)), (0, 0), 2.0)
    start = time.perf_counter()
    estimate_kernel(window, settings.kernel_size, prior=settings.prior)
    return time.perf_counter() - start


def _estimates_per_case(shape, settings, grid):
    """Window-sized estimates one case costs: every window for the oracle, else one per grid selector, plus whole."""
    from goodregions.export.windows import count_windows

    rows, cols = count_windows(shape, size=grid["window_size"], stride=grid["stride"])
    grid_selectors = [name for name in settings.selectors if name in GRID_SELECTORS]
    count = (rows * cols if "oracle" in settings.selectors else min(len(grid_selectors), rows * cols))
    if "whole" in settings.selectors:
        count += shape[0] * shape[1] / grid["window_size"] ** 2
    return count


def run_evaluation(images, kernels, out_dir, *, settings=None, model=None, workers=None, grids=4, overwrite=False,
                   progress=True):
    """Evaluate the selectors on every (image, kernel) case and write the report.

    Parameters
    ----------
    images : sequence of path
        Sharp images (read gray with ``load_gray``); none may be a training image.
    kernels : sequence of (str, ndarray)
        ``(file name, true-convolution kernel)`` pairs, as :func:`~goodregions.runtime.image_io.read_kernels` returns.
    out_dir : str or pathlib.Path
        Results folder (see the module docstring).
    settings : EvaluationSettings, optional
    model : path, optional
        Window-scorer model of ``cnn`` (default as :class:`~goodregions.runtime.scorer.WindowScorer`).
    workers : int, optional
        Processes (default all cores); 1 runs in this process.
    grids : int
        Picture grids to draw (``grids/``), spread over the images.
    overwrite : bool
        Delete the folder's evaluation files first.
    progress : bool
        Print the expected time and a progress bar on stderr.

    Returns
    -------
    dict
        ``computed`` and ``skipped`` (already done) cases, ``seconds``, and the report of
        :func:`~goodregions.runtime.evaluation_report.write_report` under ``report``.

    Raises
    ------
    FileExistsError
        The folder holds results of other settings, or a case of another image.
    FileNotFoundError, TypeError, ValueError, ModelError
        Bad inputs, training images, a model that cannot be loaded.
    """
    from tqdm import tqdm

    from goodregions.kernels_fast import EstimatorConfig

    from .evaluation_report import write_report

    settings = EvaluationSettings() if settings is None else settings
    if not isinstance(settings, EvaluationSettings):
        raise TypeError(f"settings must be an EvaluationSettings, got {type(settings).__name__}")
    if workers is not None:
        check_int(workers, name="workers (--workers)", low=1, hint="or None for one per core")
    check_int(grids, name="grids (--grids)", low=0)
    images = [Path(image) for image in images]
    if not images or not kernels:
        raise ValueError(f"evaluation needs at least one image and one kernel, got {len(images)} and {len(kernels)}")
    check_not_training(images)
    scorer = None
    grid = {"window_size": WINDOW_SIZE, "stride": WINDOW_STRIDE}
    if {"cnn", "cnn-vote"} & set(settings.selectors):
        from .scorer import WindowScorer

        scorer = WindowScorer(model)
        grid = {"window_size": scorer.window_size, "stride": scorer.stride}
    cases = plan_cases(images, kernels)
    hashes = {image: _sha256(image.read_bytes()) for image in images}
    for case in cases:
        case["image_sha256"] = hashes[case["image"]]
    fingerprint = json.loads(json.dumps({
        "settings": dataclasses.asdict(settings), "grid": grid, "deconvolution": "hyper_laplacian",
        "kernels": {name: _sha256(np.ascontiguousarray(kernel).tobytes()) for name, kernel in kernels},
        "model_sha256": None if scorer is None else scorer.sha256, "estimator": dataclasses.asdict(EstimatorConfig()),
    }))
    folder = Path(out_dir)
    manifest = _prepare_folder(folder, fingerprint, overwrite)
    todo = [case for case in cases if _load_done(folder, case) is None]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cases": len(cases), "computed": 0, "skipped": len(cases) - len(todo),
           "workers": workers, "status": "running"}
    manifest["runs"].append(run)
    _write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1))
    if todo and progress:
        from goodregions.export.synthesis import load_gray

        probe = _probe_seconds(settings, grid["window_size"])
        shapes = {}
        for case in todo:
            if case["image"] not in shapes:
                shapes[case["image"]] = load_gray(case["image"]).shape
        estimates = sum(_estimates_per_case(tuple(s - k + 1 for s, k in zip(shapes[case["image"]], case["kernel"].shape)), settings, grid)
                        for case in todo)
        print(f"evaluate: {len(cases)} cases ({run['skipped']} done), about {estimates:.0f} window-sized kernel estimates at "
              f"{probe:.2f} s each (probe) on {workers} worker(s): about {math.ceil(estimates * probe / workers / 60)} min "
              "plus deconvolutions", file=sys.stderr)
    tasks = [(case, settings, grid, str(folder)) for case in todo]
    bar = tqdm(total=len(todo), unit="case", desc="evaluate", disable=not progress, file=sys.stderr)
    start = time.perf_counter()
    pool = None if workers == 1 else ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                                         initializer=_init_worker, initargs=(model, scorer is not None))
    with finishing_run(run, pool, job="evaluation", kept="cases", bar=bar, start=start,
                       save=lambda: _write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1))):
        if pool is None:
            for task in tasks:
                _run_case(task, scorer)
                run["computed"] += 1
                bar.update()
        else:
            for future in as_completed([pool.submit(_run_case, task) for task in tasks]):
                future.result()
                run["computed"] += 1
                bar.update()
            pool.shutdown()
    records = [_load_done(folder, case) for case in cases]
    report = write_report(folder, records, cases, settings=settings, fingerprint=fingerprint, grids=grids)
    return {"computed": run["computed"], "skipped": run["skipped"], "seconds": run["seconds"], "report": report}
