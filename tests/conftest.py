"""Shared fixtures: the bundled sharp sample and a few synthetic kernels."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import settings

# Everything is seeded: hypothesis draws the same examples on every run and machine.
settings.register_profile("seeded", derandomize=True, database=None)
settings.load_profile("seeded")

# Write Numba's on-disk cache in a separate process before any test compiles in this one:
# then this process and the spawned labelling workers all run the same cached machine code
# (code compiled in-process may differ from it in the last bits).
subprocess.run([sys.executable, "-c", "from goodregions.kernels_fast import warmup; warmup()"], check=True)

from goodregions.kernels_fast import convolve

SAMPLES = Path(__file__).resolve().parent.parent / "runtime" / "samples"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def line_kernel(size, points, *, samples_per_segment=None):
    """A thin kernel through ``points`` (row, column offsets from the centre), sum 1.

    By default each segment gets samples in proportion to its length (uniform speed along
    the path); a fixed ``samples_per_segment`` makes short segments heavier (the camera
    lingers there).
    """
    kernel = np.zeros((size, size))
    centre = size // 2
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        count = samples_per_segment or 4 * int(np.hypot(r1 - r0, c1 - c0)) + 1
        for t in np.linspace(0.0, 1.0, count):
            kernel[int(round(centre + r0 + t * (r1 - r0))), int(round(centre + c0 + t * (c1 - c0)))] += 1.0
    return kernel / kernel.sum()


@pytest.fixture(scope="session")
def sharp_sample():
    """The textured lower right of the bundled gray sharp sample (hull, rigging and
    ground; the sky at the top left is nearly flat), float64 in [0, 1]."""
    image = cv2.imread(str(SAMPLES / "synthetic_sharp.png"), cv2.IMREAD_GRAYSCALE)
    return image[100:, 60:].astype(np.float64) / 255.0


@pytest.fixture(scope="session")
def hook_kernel():
    """An asymmetric 'J' motion kernel (13×13): a vertical stroke with a hook at its end."""
    return line_kernel(13, [(-5, 0), (3, 0), (4, -2), (3, -4)])


def blur(sharp, kernel, *, size, noise, seed):
    """Blur a size×size crop of ``sharp`` using real surrounding content, plus noise."""
    radius = kernel.shape[0] // 2
    region = sharp[: size + 2 * radius, : size + 2 * radius]
    rng = np.random.default_rng(seed)
    return convolve(region, kernel, mode="valid") + rng.normal(0.0, noise, (size, size)), sharp[radius : radius + size, radius : radius + size]
