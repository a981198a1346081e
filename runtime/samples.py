"""Paths of the samples bundled with the package (found next to this module, so they work
from an editable and a regular install alike)."""

from importlib.resources import files

__all__ = ["sample_path"]

_SAMPLES = ("synthetic_blurred.png", "synthetic_sharp.png", "synthetic_kernel.npy", "real_blurred.jpg")


def sample_path(name):
    """Return the path of the bundled sample ``name``."""
    if name not in _SAMPLES:
        raise ValueError(f"name must be one of {_SAMPLES}, got {name!r}")
    return files("goodregions.runtime").joinpath("samples", name)
