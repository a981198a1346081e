"""Development accuracy benchmark of the blind estimator (``goodregions bench accuracy``).

Protocol: every image of the ``dev`` split (Set12, Set14 and BSD68 test001-test020,
converted to gray) gives its central 255×255 crop. The crop is blurred with each of
Levin et al.'s 8 kernels (their stored arrays rotated by 180°, which is the true
convolution kernel of their captures) from the surrounding image content where there is
some and from a mirror reflection where there is not (``convolve(..., mode="valid")``),
and Gaussian noise of sigma 0.01 is added, seeded per case (``noise_draw`` 0; other draws
are independent replicates, for telling a change from the estimator's flip noise). The
kernel is estimated on the whole crop with ``kernel_size`` 31 for each prior, and scored
by kernel similarity and by the error ratio (hyper-Laplacian deconvolution), aligned on
Levin's quarter-pixel grid and, as a second figure, on integer shifts only.
"""

import dataclasses
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from goodregions.kernels_fast._validate import check_int

from .bench_report import environment, save_json

CROP = 255
KERNEL_SIZE = 31
NOISE_SIGMA = 0.01
PRIORS = ("dark", "l0")
# Case seeds are 1000 * image + kernel, so draws this far apart never share a seed.
NOISE_DRAW_STRIDE = 1_000_000


def load_levin_kernels(data_root):
    """The 8 Levin kernels in the true-convolution orientation (stored arrays rotated 180°)."""
    from .image_io import read_kernel

    folder = Path(data_root) / "levin09_kernels"
    kernels = []
    for index in range(1, 9):
        path = folder / f"kernel{index}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"Levin kernel {str(path)!r} is missing; pass --data pointing at the shared data folder")
        kernels.append(read_kernel(path, rotate=True, name="Levin kernel"))
    return kernels


def make_case(image_path, kernel, seed):
    """Return (sharp crop, blurred crop) for one image and kernel; the crop is 255×255, or
    the whole side where the image is smaller (Set14's "comic" is 250 pixels wide)."""
    image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"could not read development image {str(image_path)!r}")
    from goodregions.kernels_fast import convolve

    gray = image.astype(np.float64) / 255.0
    radius = kernel.shape[0] // 2
    crop_h, crop_w = min(CROP, gray.shape[0]), min(CROP, gray.shape[1])
    top, left = (gray.shape[0] - crop_h) // 2, (gray.shape[1] - crop_w) // 2
    # Take real surrounding content for the blur where the image has it, mirror the rest.
    y0, x0 = max(top - radius, 0), max(left - radius, 0)
    y1, x1 = min(top + crop_h + radius, gray.shape[0]), min(left + crop_w + radius, gray.shape[1])
    region = cv2.copyMakeBorder(
        gray[y0:y1, x0:x1],
        radius - (top - y0), radius - (y1 - top - crop_h), radius - (left - x0), radius - (x1 - left - crop_w),
        cv2.BORDER_REFLECT,
    )
    sharp = gray[top : top + crop_h, left : left + crop_w]
    rng = np.random.default_rng(seed)
    blurred = convolve(region, kernel, mode="valid") + rng.normal(0.0, NOISE_SIGMA, sharp.shape)
    return sharp, blurred


def parse_overrides(items):
    """``["iterations_per_level=4", ...]`` to a dict of EstimatorConfig fields, typed as the defaults."""
    from goodregions.kernels_fast import EstimatorConfig

    defaults = dataclasses.asdict(EstimatorConfig())
    overrides = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or name not in defaults:
            raise ValueError(f"--set takes NAME=VALUE with NAME an EstimatorConfig field ({', '.join(defaults)}), got {item!r}")
        try:
            overrides[name] = type(defaults[name])(text)
        except ValueError:
            raise ValueError(f"--set {name} must be of type {type(defaults[name]).__name__} like its default "
                             f"{defaults[name]!r}, got {text!r}") from None
    try:
        EstimatorConfig(**overrides)  # range checks, here rather than in every worker
    except ValueError as error:
        raise ValueError(f"--set: {error}") from None
    return overrides


def _run_case(task):
    from goodregions.kernels_fast import EstimatorConfig, error_ratio, estimate_kernel, kernel_similarity

    image_path, kernel_index, kernel, seed, priors, overrides = task
    sharp, blurred = make_case(image_path, kernel, seed)
    config = EstimatorConfig(**overrides)
    results = []
    for prior in priors:
        start = time.perf_counter()
        estimated = estimate_kernel(blurred, KERNEL_SIZE, prior=prior, config=config)
        seconds = time.perf_counter() - start
        results.append(
            {
                "image": Path(image_path).name,
                "kernel": kernel_index + 1,
                "prior": prior,
                "similarity": float(kernel_similarity(estimated, kernel)),
                "error_ratio": float(error_ratio(sharp, blurred, estimated, kernel)),
                "error_ratio_integer": float(error_ratio(sharp, blurred, estimated, kernel, shift_step=1.0)),
                "seconds": seconds,
            }
        )
    return results


def summarise(cases, priors=PRIORS):
    """Per prior: median similarity, ER success rates, mean ER and median time."""
    summary = {}
    for prior in priors:
        rows = [case for case in cases if case["prior"] == prior]
        ratios = np.array([case["error_ratio"] for case in rows])
        integer = np.array([case["error_ratio_integer"] for case in rows])
        summary[prior] = {
            "cases": len(rows),
            "median_similarity": float(np.median([case["similarity"] for case in rows])),
            "er_le_2": float(np.mean(ratios <= 2.0)),
            "er_le_3": float(np.mean(ratios <= 3.0)),
            "mean_error_ratio": float(ratios.mean()),
            "integer_er_le_2": float(np.mean(integer <= 2.0)),
            "integer_er_le_3": float(np.mean(integer <= 3.0)),
            "median_seconds": float(statistics.median(case["seconds"] for case in rows)),
            "er_le_3_per_kernel": [
                float(np.mean([case["error_ratio"] <= 3.0 for case in rows if case["kernel"] == k])) for k in range(1, 9)
            ],
        }
    return summary


def run_accuracy_benchmark(*, json_path=None, data_root=None, workers=None, limit=None, priors=PRIORS, overrides=None,
                           noise_draw=0):
    """Run the benchmark, print the summary table and optionally save everything as JSON.

    ``priors`` limits the priors run; ``overrides`` (EstimatorConfig fields to values, from
    :func:`parse_overrides`) tries other estimator settings, recorded in the JSON.
    ``noise_draw`` 0 is the benchmark's own noise; each other draw gives every case new noise,
    so that runs of two settings on several draws show whether their difference outlasts the
    flips of this chaotic estimator.
    """
    overrides = dict(overrides or {})
    unknown = [prior for prior in priors if prior not in PRIORS]
    if unknown or not priors:
        raise ValueError(f"priors must be a non-empty selection of {PRIORS}, got {tuple(priors)}")
    check_int(noise_draw, name="noise_draw", low=0, unit="0: the benchmark's own noise")
    from goodregions.export.split import load_split
    from goodregions.kernels_fast import warmup

    split = load_split(data_root=data_root)
    images = sorted(split["dev"], key=lambda path: (path.parent.name, path.name))
    if limit is not None:
        images = images[:limit]
    root = Path(images[0]).parent.parent
    kernels = load_levin_kernels(root)
    first_seed = NOISE_DRAW_STRIDE * noise_draw
    tasks = [(str(path), k, kernels[k], first_seed + 1000 * i + k, tuple(priors), overrides)
             for i, path in enumerate(images) for k in range(8)]
    workers = workers or os.cpu_count() or 1
    warmup()
    cases = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for results in tqdm(pool.map(_run_case, tasks), total=len(tasks), desc="accuracy", unit="case"):
            cases.extend(results)
    summary = summarise(cases, priors)
    print(f"{'prior':6} {'cases':>5} {'median sim':>10} {'ER<=2':>6} {'ER<=3':>6} {'mean ER':>8} {'median s':>8} "
          f"{'int ER<=2':>9} {'int ER<=3':>9}")
    for prior, row in summary.items():
        print(
            f"{prior:6} {row['cases']:5d} {row['median_similarity']:10.3f} {row['er_le_2']:6.1%} "
            f"{row['er_le_3']:6.1%} {row['mean_error_ratio']:8.2f} {row['median_seconds']:8.2f} "
            f"{row['integer_er_le_2']:9.1%} {row['integer_er_le_3']:9.1%}"
        )
    record = {
        "benchmark": "accuracy",
        "protocol": {"crop": CROP, "kernel_size": KERNEL_SIZE, "noise_sigma": NOISE_SIGMA, "images": len(images), "kernels": "Levin 1-8, rot180",
                     "noise_draw": noise_draw, "estimator_overrides": overrides},
        "environment": environment(),
        "summary": summary,
        "cases": cases,
    }
    if json_path is not None:
        save_json(json_path, record)
    return record
