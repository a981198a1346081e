"""Speed benchmark of ``kernels_fast`` (``goodregions bench kernels``).

Every figure is the median of ``repeats`` runs after a warm-up (so Numba compilation is
excluded), printed next to the same computation in plain NumPy/SciPy
(``kernels_fast.reference``) from the same run. Inputs are the bundled synthetic sample,
resized where a figure needs a larger image.
"""

import cv2
import numpy as np

from .bench_report import environment, median_seconds, save_json
from .samples import sample_path

_WINDOW = 228
_FRAME = (1080, 1920)
_WHOLE = 1024


def _blurred_sample(shape):
    """The bundled blurred sample, resized to ``shape`` (H, W), as float64 in [0, 1]."""
    image = cv2.imread(str(sample_path("synthetic_blurred.png")), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float64) / 255.0


def _row(name, ours, reference):
    speedup = reference / ours if ours > 0 else float("inf")
    print(f"{name:44} {ours * 1e3:10.1f} ms {reference * 1e3:12.1f} ms {speedup:8.1f}x")
    return {"name": name, "median_seconds": ours, "reference_median_seconds": reference, "speedup": speedup}


def run_kernel_benchmark(*, json_path=None, repeats=5):
    """Time estimation and deconvolution; print a table and optionally save JSON."""
    from goodregions.kernels_fast import deconvolve, estimate_kernel, reference, warmup
    from goodregions.kernels_fast.deconv import _DEFAULT_WEIGHTS

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    reference_repeats = max(1, min(repeats, 3))
    compile_seconds = warmup()
    sample_kernel = np.load(str(sample_path("synthetic_kernel.npy")))
    window = _blurred_sample((_WINDOW, _WINDOW))
    whole = _blurred_sample((_WHOLE, _WHOLE))
    frame = _blurred_sample(_FRAME)

    print(f"warm-up (compilation or cache load, excluded below): {compile_seconds:.1f} s")
    print(f"{'figure':44} {'goodregions':>13} {'numpy/scipy':>15} {'speedup':>9}")
    rows = []
    for kernel_size in (31, 55):
        for prior in ("l0", "dark"):
            ours, _ = median_seconds(lambda: estimate_kernel(window, kernel_size, prior=prior), repeats=repeats)
            ref, _ = median_seconds(lambda: reference.estimate_kernel(window, kernel_size, prior=prior), repeats=reference_repeats)
            rows.append(_row(f"estimate {prior} {_WINDOW}x{_WINDOW} k{kernel_size}", ours, ref))
    for prior in ("l0", "dark"):
        ours, _ = median_seconds(lambda: estimate_kernel(whole, 31, prior=prior), repeats=repeats)
        ref, _ = median_seconds(lambda: reference.estimate_kernel(whole, 31, prior=prior), repeats=1)
        rows.append(_row(f"estimate {prior} whole {_WHOLE}x{_WHOLE} k31", ours, ref))

    wiener, _ = median_seconds(lambda: deconvolve(frame, sample_kernel, method="wiener"), repeats=repeats)
    wiener_ref, _ = median_seconds(
        lambda: reference.deconvolve_wiener(frame, sample_kernel, _DEFAULT_WEIGHTS["wiener"]), repeats=reference_repeats
    )
    rows.append(_row("deconvolve wiener 1920x1080 gray", wiener, wiener_ref))
    hyper, _ = median_seconds(lambda: deconvolve(frame, sample_kernel, method="hyper_laplacian"), repeats=repeats)
    hyper_ref, _ = median_seconds(
        lambda: reference.deconvolve_hyper_laplacian(frame, sample_kernel, _DEFAULT_WEIGHTS["hyper_laplacian"]),
        repeats=reference_repeats,
    )
    rows.append(_row("deconvolve hyper_laplacian 1920x1080 gray", hyper, hyper_ref))

    by_name = {row["name"]: row["median_seconds"] for row in rows}
    ratios = {
        prior: by_name[f"estimate {prior} whole {_WHOLE}x{_WHOLE} k31"] / by_name[f"estimate {prior} {_WINDOW}x{_WINDOW} k31"]
        for prior in ("l0", "dark")
    }
    for prior, ratio in ratios.items():
        print(f"whole {_WHOLE}x{_WHOLE} / window {_WINDOW}x{_WINDOW} estimate time ({prior}): {ratio:.1f}x")
    record = {
        "benchmark": "kernels",
        "repeats": repeats,
        "reference_repeats": reference_repeats,
        "compile_seconds_excluded": compile_seconds,
        "environment": environment(),
        "rows": rows,
        "whole_over_window_ratio": ratios,
    }
    if json_path is not None:
        save_json(json_path, record)
    return record
