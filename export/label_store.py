"""Storage of window labels: shard files, the folder manifest, and reading them back.

A labelled folder holds one ``.npz`` shard per sample, named ``<subset>-seed<S>-img<IIII>-rep<RR>.npz``
(:func:`shard_name`), and ``manifest.json``. Every file is written to a hidden temporary file
and renamed with ``os.replace``, so a final name always holds a complete file, even after
Ctrl-C or a crash. Shard keys are listed in :mod:`goodregions.export.labelling`.

The manifest records the settings fingerprint every shard was made with, one entry per run
(subset, seed, sizes, counts, seconds, status), statistics read back from the shards
(:func:`summary`), package versions and the git commit where available.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "LABEL_SUBSETS",
    "MANIFEST_NAME",
    "LabelledSample",
    "shard_name",
    "list_shards",
    "read_manifest",
    "summary",
    "load_shards",
]

LABEL_SUBSETS = ("train", "validation")  # "dev" benchmarks the estimator and never trains
MANIFEST_NAME = "manifest.json"
_SHARD_RE = re.compile(r"^(train|validation)-seed(\d+)-img(\d+)-rep(\d+)\.npz$")
_TEMPORARY_RE = re.compile(r"^\..+\.\d+\.tmp$")


class LabelledSample(NamedTuple):
    """One shard read back by :func:`load_shards`."""

    name: str  # shard file stem
    subset: str
    image_name: str
    blurred: np.ndarray  # (H, W) float32, the whole blurred image
    kernel: np.ndarray  # (k, k) float64, the true kernel
    boxes: np.ndarray  # (N, 4) int64, (x, y, w, h)
    similarities: np.ndarray  # (N,) float64
    labels: np.ndarray  # (N,) bool, similarities > threshold
    noise_sigma: float
    seed: int
    image_index: int
    repeat: int


def shard_name(subset, seed, image_index, repeat):
    """Return the file name of the shard of sample ``(image_index, repeat)``."""
    return f"{subset}-seed{seed}-img{image_index:04d}-rep{repeat:02d}.npz"


def write_atomic(path, write):
    """Call ``write(handle)`` on a hidden temporary file, then rename it to ``path``."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # atomic on POSIX and Windows: the final name is never partial
    except BaseException:  # Ctrl-C included: remove the partial file, then re-raise
        temporary.unlink(missing_ok=True)
        raise


def write_shard(path, arrays):
    """Save ``arrays`` (name to array) as an uncompressed ``.npz`` at ``path``, atomically."""
    write_atomic(path, lambda handle: np.savez(handle, **arrays))


def list_shards(folder):
    """Return the shard files of a folder, sorted by name (temporary files are ignored)."""
    return sorted(path for path in Path(folder).iterdir() if _SHARD_RE.match(path.name))


def read_manifest(folder):
    """Return the parsed ``manifest.json`` of a folder, or None when it has none."""
    path = Path(folder) / MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def prepare_folder(folder, fingerprint, overwrite):
    """Create ``folder`` or check that its shards match ``fingerprint``; return its manifest.

    Raises ``FileExistsError`` when the folder's manifest holds other settings, or when it
    holds shards but no manifest, unless ``overwrite``, which deletes the shards, their
    temporary files and the manifest (and nothing else) first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest, shards = read_manifest(folder), list_shards(folder)
    problem = None
    if manifest is not None and manifest.get("settings") != fingerprint:
        old = manifest.get("settings") or {}
        changed = sorted(
            f"{group}.{key}" for group in fingerprint for key in fingerprint[group]
            if (old.get(group) or {}).get(key) != fingerprint[group][key]
        )
        problem = f"holds shards made with other settings (differing: {', '.join(changed) or 'format'})"
    elif manifest is None and shards:
        problem = f"holds {len(shards)} shards but no {MANIFEST_NAME}, so their settings are unknown"
    if problem and not overwrite:
        raise FileExistsError(
            f"output folder {str(folder)!r} {problem}; pass overwrite=True (--overwrite) to delete them "
            f"and start over, or choose another folder"
        )
    if overwrite:  # delete only what labelling writes: shards, their temporary files, the manifest
        for path in folder.iterdir():
            if _SHARD_RE.match(path.name) or path.name == MANIFEST_NAME or _TEMPORARY_RE.match(path.name):
                path.unlink()
        manifest = None
    return manifest or {"format": 1, "settings": fingerprint, "runs": []}


def _environment():
    from importlib import metadata

    import numba

    repo = Path(__file__).resolve().parents[1]
    try:  # the commit is recorded where git and a checkout are available, else None
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    try:
        version = metadata.version("goodregions")
    except metadata.PackageNotFoundError:
        version = None
    versions = {"goodregions": version, "numpy": np.__version__, "numba": numba.__version__, "python": sys.version.split()[0]}
    return {"versions": versions, "git_commit": commit}


def save_manifest(folder, manifest):
    """Add statistics, versions and the time to ``manifest`` and write it atomically."""
    manifest.update(_environment())
    manifest["threshold"] = manifest["settings"]["labels"]["threshold"]
    manifest["stats"] = summary(folder)
    manifest["total_seconds"] = round(sum(run.get("seconds", 0.0) for run in manifest["runs"]), 3)
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    text = json.dumps(manifest, indent=1)
    write_atomic(Path(folder) / MANIFEST_NAME, lambda handle: handle.write(text.encode("utf-8")))


def check_shard(path, image_name, settings_json):
    """Raise ``FileExistsError`` unless the shard at ``path`` is of ``image_name`` with these settings."""
    with np.load(path, allow_pickle=False) as shard:
        found_name, found_settings = str(shard["image_name"]), str(shard["settings"])
    if found_name != image_name or found_settings != settings_json:
        raise FileExistsError(
            f"shard {str(path)!r} was made from image {found_name!r} (expected {image_name!r}) or with other "
            f"settings; the data or split changed: pass overwrite=True (--overwrite) or use another folder"
        )


def summary(out_dir):
    """Read the shards of a folder back and count samples, windows and positives per subset.

    Returns
    -------
    dict
        ``samples``, ``windows``, ``positives``, ``positive_ratio``, ``mean_similarity`` and
        ``estimate_seconds`` over all shards, and the same per subset under ``"subsets"``.
    """
    totals = {}
    for path in list_shards(out_dir):
        with np.load(path, allow_pickle=False) as shard:  # lazy: the images are not read
            subset, similarities = str(shard["subset"]), shard["similarities"]
            row = totals.setdefault(subset, {"samples": 0, "windows": 0, "positives": 0, "similarity_sum": 0.0, "estimate_seconds": 0.0})
            row["samples"] += 1
            row["windows"] += len(similarities)
            row["positives"] += int(shard["labels"].sum())
            row["similarity_sum"] += float(similarities.sum())
            row["estimate_seconds"] += float(shard["seconds"])

    def finish(row):
        windows = max(row["windows"], 1)
        return {"samples": row["samples"], "windows": row["windows"], "positives": row["positives"],
                "positive_ratio": row["positives"] / windows, "mean_similarity": row["similarity_sum"] / windows,
                "estimate_seconds": round(row["estimate_seconds"], 3)}

    overall = {key: sum(row[key] for row in totals.values()) for key in ("samples", "windows", "positives", "similarity_sum", "estimate_seconds")}
    return {**finish(overall), "subsets": {subset: finish(row) for subset, row in sorted(totals.items())}}


def load_shards(out_dir, subset=None, *, threshold=None):
    """Load the labelled samples of a folder for training.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        A folder written by :func:`label_windows`.
    subset : {"train", "validation"}, optional
        Only this subset; all by default.
    threshold : float, optional
        Relabel with ``similarities > threshold`` instead of the stored labels.

    Returns
    -------
    list of LabelledSample
        Sorted by shard name; cut the windows with
        :func:`goodregions.export.windows.cut_windows` ``(sample.blurred, sample.boxes)``.

    Raises
    ------
    FileNotFoundError
        The folder does not exist or holds no shard of the subset.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"out_dir {str(folder)!r} is not a folder; run `goodregions label --out {folder}` first")
    if subset is not None and subset not in LABEL_SUBSETS:
        raise ValueError(f"subset must be one of {LABEL_SUBSETS} or None, got {subset!r}")
    samples = []
    for path in list_shards(folder):
        if subset is not None and not path.name.startswith(f"{subset}-"):
            continue
        with np.load(path, allow_pickle=False) as shard:
            similarities = shard["similarities"]
            labels = shard["labels"] if threshold is None else similarities > threshold
            samples.append(LabelledSample(
                path.stem, str(shard["subset"]), str(shard["image_name"]), shard["blurred"], shard["kernel"],
                shard["boxes"], similarities, labels, float(shard["noise_sigma"]), int(shard["seed"]),
                int(shard["image_index"]), int(shard["repeat"]),
            ))
    if not samples:
        raise FileNotFoundError(f"no {subset or 'labelled'} shards in {str(folder)!r}; run `goodregions label --out {folder}`")
    return samples

