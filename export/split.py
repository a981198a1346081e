"""The fixed train / validation / development split of the shared image data.

The split itself is data, committed in ``split.json`` next to this module: file names relative
to the data root, a description and rule per subset, and the correspondence between the 68
colour BSD images (``cbsd68_color``) and their gray twins (``bsd68_gray``), which hold the same
scenes under different names. This module resolves the names against a data root:

1. the ``data_root`` argument, else
2. the environment variable ``GOODREGIONS_DATA``, else
3. ``../shared/data`` relative to the repository (the folder holding ``export/``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .motion_kernels import _as_generator

__all__ = [
    "DATA_ENV_VAR",
    "SUBSETS",
    "SPLIT_FILE",
    "default_data_root",
    "read_split_spec",
    "load_split",
    "group_mosaic_sources",
    "match_color_twins",
]

DATA_ENV_VAR = "GOODREGIONS_DATA"
SUBSETS = ("train", "validation", "dev")
SPLIT_FILE = Path(__file__).with_name("split.json")


def default_data_root():
    """Return the data root from ``GOODREGIONS_DATA``, else ``<repo>/../shared/data``."""
    from_env = os.environ.get(DATA_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_split_spec():
    """Return the parsed ``split.json``: subsets, their rules and the colour twins."""
    with SPLIT_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def _resolve_root(data_root):
    root = default_data_root() if data_root is None else Path(data_root).expanduser()
    if not root.is_dir():
        origin = "data_root" if data_root is not None else (
            DATA_ENV_VAR if os.environ.get(DATA_ENV_VAR, "").strip() else "the default <repo>/../shared/data"
        )
        raise FileNotFoundError(
            f"data root {str(root)!r} (from {origin}) is not a directory; pass data_root=... or set "
            f"the environment variable {DATA_ENV_VAR} to the folder holding bsd68_gray/, set12_gray/, ..."
        )
    return root


def load_split(*, data_root=None, include_color_twins=False, check_files=True):
    """Return the files of each subset of the committed split.

    Parameters
    ----------
    data_root : str or pathlib.Path, optional
        Folder holding ``bsd68_gray/``, ``mcmaster18/``, ...; see the module docstring for
        the default.
    include_color_twins : bool
        Also list the ``cbsd68_color`` twin of every BSD68 scene, in the subset of its gray
        version. Off by default: the gray files are the BT.601 luma of the colour ones, so a
        gray pipeline gains nothing from the twins.
    check_files : bool
        Raise if any listed file is missing under the root.

    Returns
    -------
    dict of str to list of pathlib.Path
        Keys ``"train"``, ``"validation"``, ``"dev"``. ``"train"`` includes the 180 x 180
        ``train400_bsd_gray`` crops, which are meant for mosaics: see
        :func:`group_mosaic_sources`.

    Raises
    ------
    FileNotFoundError
        The data root is not a directory, or (with ``check_files``) a listed file is missing.
    """
    root = _resolve_root(data_root)
    spec = read_split_spec()
    split = {}
    for subset in SUBSETS:
        names = list(spec["subsets"][subset]["files"])
        if include_color_twins:
            names += spec["subsets"][subset]["color_twins"]
        split[subset] = [root / name for name in names]
    if check_files:
        missing = [str(path) for paths in split.values() for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} files of the split are missing under data root {str(root)!r}, "
                f"for example {missing[:3]}; point data_root or {DATA_ENV_VAR} at the shared data"
            )
    return split


def group_mosaic_sources(paths, *, rng=0):
    """Separate mosaic-only files (too small for a window) and group them in fours.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        For example ``load_split()["train"]``.
    rng : int or numpy.random.Generator or None
        Seed of the grouping; the default 0 gives the same 100 mosaics of ``train400`` every
        time, independent of the order of ``paths``.

    Returns
    -------
    singles : list of pathlib.Path
        Files usable on their own, in the given order.
    groups : list of 4-tuples of pathlib.Path
        Mosaic-only files (folders listed under ``"mosaic_only"`` in ``split.json``), sorted,
        shuffled and cut into fours, in the order top-left, top-right, bottom-left,
        bottom-right of :func:`goodregions.export.synthesis.tile_mosaic`. A remainder of
        fewer than four files is dropped.
    """
    folders = set(read_split_spec()["mosaic_only"]["folders"])
    paths = [Path(path) for path in paths]
    singles = [path for path in paths if path.parent.name not in folders]
    tiles = sorted(path for path in paths if path.parent.name in folders)
    order = _as_generator(rng).permutation(len(tiles))
    shuffled = [tiles[i] for i in order]
    groups = [tuple(shuffled[i : i + 4]) for i in range(0, len(shuffled) - 3, 4)]
    return singles, groups


def match_color_twins(gray_paths, color_paths):
    """Match colour images to gray images of the same scene by luminance correlation.

    Parameters
    ----------
    gray_paths, color_paths : sequence of pathlib.Path
        Equally many files; every colour image must have exactly one gray twin.

    Returns
    -------
    twins : dict of str to str
        Gray file name to colour file name.
    scores : dict of str to (float, float)
        Gray file name to (correlation with its twin, best correlation with any other
        colour image of the same shape).

    Raises
    ------
    ValueError
        The best match is ambiguous (not one-to-one) or weak (correlation below 0.99).

    Notes
    -----
    Each colour image is reduced to BT.601 luma; pairs of equal shape are compared by the
    Pearson correlation of all pixels. This is how ``split.json``'s ``bsd68_color_twins`` was
    made; the tests check it against the data.
    """
    from .synthesis import load_gray  # cv2 reading lives there

    gray = {Path(p).name: load_gray(p) for p in gray_paths}
    color = {Path(p).name: load_gray(p) for p in color_paths}
    if len(gray) != len(color):
        raise ValueError(f"gray_paths and color_paths must be equally many, got {len(gray)} and {len(color)}")

    def standardise(image):
        centred = image.ravel() - image.mean()
        return centred / max(np.linalg.norm(centred), 1e-12)

    gray_z = {name: standardise(image) for name, image in gray.items()}
    twins, scores = {}, {}
    for gray_name, gray_image in gray.items():
        corr = {
            color_name: float(gray_z[gray_name] @ standardise(image))
            for color_name, image in color.items()
            if image.shape == gray_image.shape
        }
        ranked = sorted(corr.items(), key=lambda item: -item[1])
        if not ranked or ranked[0][1] < 0.99:
            raise ValueError(f"no colour twin of {gray_name!r} correlates above 0.99: best {ranked[:1]}")
        twins[gray_name] = ranked[0][0]
        scores[gray_name] = (ranked[0][1], ranked[1][1] if len(ranked) > 1 else float("nan"))
    if len(set(twins.values())) != len(twins):
        raise ValueError("the colour-to-gray matching is not one-to-one; inspect the scores")
    return twins, scores
