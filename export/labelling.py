"""Window labels for training: on which windows of a blurred image the estimator succeeds.

Every sample of :func:`~goodregions.export.synthesis.iter_blur_samples` (a sharp image of the
split, blurred by a random camera-shake kernel, plus noise) is cut into the runtime's window
grid (:mod:`goodregions.export.windows`). On every window the kernel is estimated with the
runtime's prior, compared with the true kernel, and the window is labelled good when

    similarity(estimated, true) > GOOD_SIMILARITY          (Hu & Yang 2012, eq. 11)

Kernel support: the estimator gets the true kernel's size plus ``kernel_margin`` (4 by
default, even so the support stays odd): a support a little larger than the blur, as the
estimator's documentation asks. A larger margin lowers the similarities somewhat.

Storage: one ``.npz`` shard per sample, named ``<subset>-seed<S>-img<IIII>-rep<RR>.npz``
after the subset, the seed, the image's position in the source list and the repeat. Sample
``(image, repeat)`` comes from its own random stream, so raising ``limit_images`` or
``samples_per_image`` later only adds shards. A shard is written to a hidden temporary file
and renamed (``os.replace``), so a final name always holds a complete shard; existing shards
are skipped, never recomputed. ``manifest.json`` holds the settings every shard was made
with; a folder made with other settings is refused unless ``overwrite=True``.

Shard keys: ``blurred`` (H, W) float32, the whole image; ``kernel`` (k, k) float64, the true
kernel; ``boxes`` (N, 4) int64 ``(x, y, w, h)``; ``similarities`` (N,) float64; ``labels``
(N,) bool; ``image_name``, ``subset``, ``settings`` (JSON) str; ``noise_sigma``,
``threshold``, ``seconds`` float; ``seed``, ``image_index``, ``repeat``, ``support`` int.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from goodregions.kernels_fast import PRIORS, EstimatorConfig, estimate_kernel, kernel_similarity
from goodregions.kernels_fast._validate import check_int
from goodregions.runtime.defaults import GOOD_SIMILARITY, PRIOR, WINDOW_SIZE, WINDOW_STRIDE
from goodregions.runtime.worker_pool import finishing_run, init_estimator_worker

from .label_store import (
    LABEL_SUBSETS,
    MANIFEST_NAME,
    LabelledSample,
    check_shard,
    load_shards,
    prepare_folder,
    save_manifest,
    shard_name,
    summary,
    write_shard,
)
from .split import group_mosaic_sources, load_split
from .synthesis import SynthesisSettings, iter_blur_samples, synthesize_blur
from .windows import count_windows, window_boxes

__all__ = [
    "LABEL_SUBSETS",
    "MANIFEST_NAME",
    "LabelSettings",
    "LabelledSample",
    "shard_name",
    "list_sources",
    "probe_seconds_per_window",
    "label_windows",
    "summary",
    "load_shards",
    "parse_kernel_sizes",
]


@dataclasses.dataclass(frozen=True)
class LabelSettings:
    """How windows are made and labelled; every shard of a folder shares these.

    Attributes
    ----------
    kernel_sizes : tuple of int
        Odd true-kernel sizes, one drawn per sample; default the ``SynthesisSettings`` range.
    window_size, window_stride : int
        Window grid, by default the runtime's ``WINDOW_SIZE`` and ``WINDOW_STRIDE``.
    kernel_margin : int
        Even number added to the true kernel size to get the estimation support.
    prior : {"dark", "l0"}
        Estimator prior, by default the runtime's ``PRIOR``.
    threshold : float
        A window is good when its similarity exceeds this (default ``GOOD_SIMILARITY``).
    mosaic_seed : int
        Seed of :func:`~goodregions.export.split.group_mosaic_sources`.
    """

    kernel_sizes: tuple[int, ...] = dataclasses.field(default_factory=lambda: SynthesisSettings().kernel_sizes)
    window_size: int = WINDOW_SIZE
    window_stride: int = WINDOW_STRIDE
    kernel_margin: int = 4
    prior: str = PRIOR
    threshold: float = GOOD_SIMILARITY
    mosaic_seed: int = 0

    def __post_init__(self):
        self.synthesis()  # validates kernel_sizes
        check_int(self.window_size, name="window_size", low=1)
        check_int(self.window_stride, name="window_stride", low=1)
        check_int(self.mosaic_seed, name="mosaic_seed", low=0)
        margin = check_int(self.kernel_margin, name="kernel_margin", low=0)
        if margin % 2:
            raise ValueError(f"kernel_margin must be even so the support stays odd, got {margin}; use {margin + 1}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if not isinstance(self.threshold, (int, float)) or not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be a similarity in [0, 1), got {self.threshold!r}")
        largest = max(self.kernel_sizes) + margin
        if self.window_size < 2 * largest:
            raise ValueError(
                f"window_size must be at least twice the largest support (the estimator's rule), "
                f"got window_size={self.window_size} and support {largest}; lower kernel_sizes or enlarge the window"
            )

    def synthesis(self):
        """Return the :class:`SynthesisSettings` of the samples (defaults but the kernel sizes)."""
        return SynthesisSettings(kernel_sizes=tuple(self.kernel_sizes))

    def fingerprint(self):
        """Return everything a label depends on, as plain JSON data (compared between runs)."""
        record = {
            "labels": dataclasses.asdict(self),
            "synthesis": dataclasses.asdict(self.synthesis()),
            "estimator": dataclasses.asdict(EstimatorConfig()),
        }
        return json.loads(json.dumps(record))


def parse_kernel_sizes(text):
    """Parse ``"11-55"`` (every odd size in the range) or ``"11,15,21"`` into a tuple of odd ints."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-"))
            sizes = tuple(size for size in range(low, high + 1) if size % 2)
        else:
            sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"kernel sizes must look like 11-55 or 11,15,21, got {text!r}") from None
    if not sizes or any(size < 3 or size % 2 == 0 for size in sizes):
        raise ValueError(f"kernel sizes must be odd integers >= 3, got {text!r}; for example 11-55")
    return sizes


def list_sources(subset, *, data_root=None, mosaic_seed=0):
    """Return the images of a subset: single files first, then 4-tuples to tile into mosaics."""
    if subset not in LABEL_SUBSETS:
        raise ValueError(f"subset must be one of {LABEL_SUBSETS}, got {subset!r}; dev is for the estimator benchmark")
    singles, groups = group_mosaic_sources(load_split(data_root=data_root)[subset], rng=mosaic_seed)
    return [*singles, *groups]


def _source_shape(source):
    first = source if isinstance(source, (str, Path)) else tuple(source)[0]
    image = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"cannot read image {str(first)!r}; check the data root")
    scale = 1 if isinstance(source, (str, Path)) else 2  # 2 x 2 mosaic
    return image.shape[0] * scale, image.shape[1] * scale


def _expected_windows(shape, settings):
    """Mean window count over the kernel sizes (a ``"valid"`` blur shrinks by k - 1)."""
    counts = [
        np.prod(count_windows((shape[0] - k + 1, shape[1] - k + 1), size=settings.window_size, stride=settings.window_stride))
        for k in settings.kernel_sizes
    ]
    return float(np.mean(counts))


def probe_seconds_per_window(settings, *, rng=0):
    """Time one estimation per kernel size (smallest, median, largest); return the mean seconds.

    Compilation is excluded (``warmup()`` runs first). The content is a synthetic blurred
    window; the estimator's cost depends on the sizes far more than on the content.
    """
    from goodregions.kernels_fast import warmup

    from .motion_kernels import random_motion_kernel

    warmup()
    generator = np.random.default_rng(rng)
    size = settings.window_size
    sharp = cv2.GaussianBlur(generator.random((size, size)), (0, 0), 1.5)
    sizes = sorted(settings.kernel_sizes)
    seconds = []
    for k in sorted({sizes[0], sizes[len(sizes) // 2], sizes[-1]}):
        kernel = random_motion_kernel(k, rng=generator)
        window = synthesize_blur(sharp, kernel, noise_sigma=0.01, rng=generator, border="reflect")
        start = time.perf_counter()
        estimate_kernel(window, k + settings.kernel_margin, prior=settings.prior)
        seconds.append(time.perf_counter() - start)
    return float(np.mean(seconds))


def _label_sample(task):
    """Estimate on every window of one sample and write its shard; return small stats."""
    path, blurred, kernel, meta, settings, settings_json = task
    start = time.perf_counter()
    boxes = window_boxes(blurred.shape, size=settings.window_size, stride=settings.window_stride)
    support = kernel.shape[0] + settings.kernel_margin
    image = blurred.astype(np.float64)  # exactly the stored float32 values, estimated in float64
    similarities = np.empty(len(boxes))
    for i, (x, y, w, h) in enumerate(boxes):
        estimated = estimate_kernel(image[y : y + h, x : x + w], support, prior=settings.prior)
        similarities[i] = kernel_similarity(estimated, kernel)
    labels = similarities > settings.threshold
    seconds = time.perf_counter() - start
    arrays = dict(
        blurred=blurred, kernel=kernel, boxes=boxes, similarities=similarities, labels=labels,
        settings=np.str_(settings_json), threshold=float(settings.threshold), seconds=seconds, support=support, **meta,
    )
    write_shard(path, arrays)
    return {"windows": len(boxes), "positives": int(labels.sum()), "seconds": seconds}


def label_windows(out_dir, *, subset="train", settings=None, seed=0, samples_per_image=1, limit_images=None,
                  data_root=None, images=None, workers=None, overwrite=False, progress=True):
    """Label every window of synthetic blurred samples and store one shard per sample.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder, created if needed; may already hold shards made with the same settings.
    subset : {"train", "validation"}
        Subset of the split (and the prefix of the shard names).
    settings : LabelSettings, optional
        Kernel sizes, window grid, support margin, prior, threshold; defaults if None.
    seed : int
        Seed of the samples; sample ``(image, repeat)`` has its own stream.
    samples_per_image : int
        Samples (kernel and noise draws) per image.
    limit_images : int, optional
        Use only the first N images of the source list (single images come before mosaics).
    data_root : str or pathlib.Path, optional
        The shared data folder, as in :func:`~goodregions.export.split.load_split`.
    images : sequence of path or 4-tuple of paths, optional
        Use these images instead of the split's (tests, experiments).
    workers : int, optional
        Processes; default all cores. 1 runs in this process.
    overwrite : bool
        Delete the folder's shards and manifest first. Nothing is deleted otherwise.
    progress : bool
        Print the expected time and show a progress bar on stderr.

    Returns
    -------
    report : dict
        ``computed`` and ``skipped`` samples, ``windows`` and ``positives`` computed,
        ``seconds``, ``expected_seconds``, ``seconds_per_window_probe``, ``status``.

    Raises
    ------
    FileExistsError
        The folder holds shards made with other settings or from other images.
    FileNotFoundError, TypeError, ValueError
        Missing data, bad arguments.
    RuntimeError
        A worker process died; the finished shards are kept.

    Notes
    -----
    The expected time printed first is (expected windows) x (seconds per window of a
    single-process probe) / workers: it assumes idle cores. On Ctrl-C the workers stop at
    once, the run is recorded as ``"interrupted"`` in the manifest and the same call
    resumes it.
    """
    settings = LabelSettings() if settings is None else settings
    if not isinstance(settings, LabelSettings):
        raise TypeError(f"settings must be a LabelSettings or None, got {type(settings).__name__}")
    if subset not in LABEL_SUBSETS:
        raise ValueError(f"subset must be one of {LABEL_SUBSETS}, got {subset!r}")
    seed = check_int(seed, name="seed", low=0)
    samples_per_image = check_int(samples_per_image, name="samples_per_image", low=1)
    workers = check_int((os.cpu_count() or 1) if workers is None else workers, name="workers", low=1)
    if images is None:
        sources = list_sources(subset, data_root=data_root, mosaic_seed=settings.mosaic_seed)
    else:
        sources = list(images)
    if limit_images is not None:
        sources = sources[: check_int(limit_images, name="limit_images", low=1)]
    folder, fingerprint = Path(out_dir), settings.fingerprint()
    settings_json = json.dumps(fingerprint, sort_keys=True)
    manifest = prepare_folder(folder, fingerprint, overwrite)

    plan = [
        (i, r, folder / shard_name(subset, seed, i, r)) for i in range(len(sources)) for r in range(samples_per_image)
    ]
    todo = [i for i, _, path in plan if not path.exists()]
    probe = probe_seconds_per_window(settings) if todo else 0.0
    per_image = {i: _expected_windows(_source_shape(sources[i]), settings) for i in set(todo)}
    expected_windows = sum(per_image[i] for i in todo)
    workers = max(1, min(workers, len(todo)))  # no idle processes for a nearly finished folder
    expected = expected_windows * probe / workers  # assumes perfect scaling over the workers
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "subset": subset, "seed": seed,
        "samples_per_image": samples_per_image, "limit_images": limit_images, "images": len(sources),
        "data_root": None if data_root is None else str(data_root), "workers": workers,
        "computed": 0, "skipped": 0, "windows": 0, "positives": 0, "status": "running",
        "seconds_per_window_probe": round(probe, 4), "expected_seconds": round(expected, 1),
    }
    manifest["runs"].append(run)
    save_manifest(folder, manifest)

    if progress:
        tqdm.write(f"label: {len(plan)} samples ({len(plan) - len(todo)} done), about {expected_windows:.0f} windows "
                   f"to estimate at {probe:.3f} s each (probe) on {workers} worker(s): about {expected / 60:.1f} min",
                   file=sys.stderr)
    start = time.perf_counter()
    bar = tqdm(total=len(plan), unit="sample", desc=f"label {subset}", disable=not progress)

    def record(stats):
        run["computed"] += 1
        run["windows"] += stats["windows"]
        run["positives"] += stats["positives"]
        bar.update()
        bar.set_postfix(win_per_s=f"{run['windows'] / (time.perf_counter() - start):.2f}",
                        positive=f"{run['positives'] / max(run['windows'], 1):.1%}")

    def tasks():
        samples = iter_blur_samples(sources, rng=seed, settings=settings.synthesis(), samples_per_image=samples_per_image)
        for (i, r, path), sample in zip(plan, samples):
            if path.exists():
                check_shard(path, sample.image_name, settings_json)
                run["skipped"] += 1
                bar.update()
                continue
            meta = dict(image_name=np.str_(sample.image_name), subset=np.str_(subset), noise_sigma=sample.noise_sigma,
                        seed=seed, image_index=i, repeat=r)
            yield path, sample.blurred.astype(np.float32), sample.kernel, meta, settings, settings_json

    pool = ProcessPoolExecutor(max_workers=workers, initializer=init_estimator_worker, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    with finishing_run(run, pool, job="labelling", kept="shards", bar=bar, start=start,
                       save=lambda: save_manifest(folder, manifest)):
        if pool is None:
            for task in tasks():
                record(_label_sample(task))
        else:
            pending = set()
            for task in tasks():
                pending.add(pool.submit(_label_sample, task))
                while len(pending) >= 2 * workers:  # back-pressure: a few images in flight, not all
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        record(future.result())
            for future in wait(pending).done:
                record(future.result())
            pool.shutdown()
    return dict(run)

