"""Synthetic blurred training samples: sharp image loading, blur synthesis and sample streams.

Images are handled as gray float64 in [0, 1]. Colour files are reduced to BT.601 luma
(``0.299 R + 0.587 G + 0.114 B`` on the stored, gamma-encoded values), which is also how
``bsd68_gray`` was made from ``cbsd68_color`` (they agree to within rounding to 8 bits).

Borders: by default the blur is synthesised with ``mode="valid"``, so every blurred pixel is
the blur of real scene content, as in a photograph, and the blurred image is smaller than the
sharp one by ``kernel size - 1``; :func:`crop_valid` cuts the matching sharp region. The
alternative ``border="reflect"`` keeps the shape by mirroring the scene outside the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from goodregions.kernels_fast._validate import as_float_image, check_int, check_odd_size
from goodregions.kernels_fast.fft import convolve

from .motion_kernels import MotionKernelSettings, _as_generator, random_motion_kernel

__all__ = [
    "NoiseRange",
    "SynthesisSettings",
    "BlurSample",
    "load_gray",
    "tile_mosaic",
    "load_mosaic",
    "crop_valid",
    "synthesize_blur",
    "iter_blur_samples",
]

# BT.601 luma weights in OpenCV's BGR channel order.
_LUMA_BGR = np.array([0.114, 0.587, 0.299])
_MAX_NOISE_SIGMA = 0.5  # above this the caller almost surely used a 0-255 scale
_BORDERS = ("valid", "reflect")


def _check_noise_sigma(value, *, name="noise_sigma"):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= _MAX_NOISE_SIGMA:
        raise ValueError(
            f"{name} must be a finite standard deviation in [0, {_MAX_NOISE_SIGMA}] on the [0, 1] "
            f"intensity scale, got {value!r}; for a sigma given on the 0-255 scale divide it by 255"
        )
    return value


@dataclass(frozen=True)
class NoiseRange:
    """Uniform range of the Gaussian noise standard deviation, on the [0, 1] intensity scale.

    The default [0.005, 0.02] is 0.5 % to 2 % of full scale (about 1.3 to 5.1 grey levels of
    255), the range of the synthetic benchmarks of Levin et al. and Sun et al. and of a
    decent camera at low to moderate ISO.

    Attributes
    ----------
    low, high : float
        Bounds of the uniform draw, ``0 <= low <= high <= 0.5``.
    """

    low: float = 0.005
    high: float = 0.02

    def __post_init__(self):
        _check_noise_sigma(self.low, name="low")
        _check_noise_sigma(self.high, name="high")
        if self.low > self.high:
            raise ValueError(f"low must not exceed high, got low={self.low}, high={self.high}; swap them")

    def sample(self, rng=None):
        """Draw one noise standard deviation uniformly from ``[low, high]``."""
        return float(_as_generator(rng).uniform(self.low, self.high))


def _default_kernel_sizes():
    return tuple(range(11, 56, 2))


@dataclass(frozen=True)
class SynthesisSettings:
    """Settings of :func:`iter_blur_samples`.

    Attributes
    ----------
    kernel_sizes : tuple of int
        Odd kernel sizes, one drawn uniformly per sample; default 11, 13, ..., 55.
    noise : NoiseRange
        Range of the noise standard deviation.
    motion : MotionKernelSettings
        Distribution of the random camera-shake kernels.
    border : {"valid", "reflect"}
        Border handling of :func:`synthesize_blur`.
    clip : bool
        Clip the noisy blurred image to [0, 1] (sensor saturation); off by default.
    """

    kernel_sizes: tuple[int, ...] = field(default_factory=_default_kernel_sizes)
    noise: NoiseRange = field(default_factory=NoiseRange)
    motion: MotionKernelSettings = field(default_factory=MotionKernelSettings)
    border: str = "valid"
    clip: bool = False

    def __post_init__(self):
        sizes = self.kernel_sizes
        if not isinstance(sizes, tuple) or not sizes:
            raise TypeError(f"kernel_sizes must be a non-empty tuple of odd ints, got {sizes!r}")
        for size in sizes:
            check_odd_size(size, name=f"every size in kernel_sizes {sizes!r}")
        if not isinstance(self.noise, NoiseRange):
            raise TypeError(f"noise must be a NoiseRange, got {type(self.noise).__name__}")
        if not isinstance(self.motion, MotionKernelSettings):
            raise TypeError(f"motion must be a MotionKernelSettings, got {type(self.motion).__name__}")
        if self.border not in _BORDERS:
            raise ValueError(f"border must be one of {_BORDERS}, got {self.border!r}")


class BlurSample(NamedTuple):
    """One synthetic sample; ``sharp`` and ``blurred`` are aligned pixel for pixel."""

    image_name: str
    sharp: np.ndarray  # (H', W') float64, the sharp region the blurred pixels correspond to
    kernel: np.ndarray  # (k, k) float64, sums to 1, true convolution, centre (k // 2, k // 2)
    blurred: np.ndarray  # (H', W') float64, blur + Gaussian noise, not clipped by default
    noise_sigma: float


def load_gray(path):
    """Read an image file as gray float64 in [0, 1].

    Parameters
    ----------
    path : str or pathlib.Path
        PNG, TIFF, BMP, JPEG or anything else OpenCV decodes; 8- or 16-bit, or float TIFF.

    Returns
    -------
    image : ndarray of float64, shape (H, W)
        uint8 is divided by 255 and uint16 by 65535; colour is reduced to BT.601 luma; an
        alpha channel is dropped (not composited).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        OpenCV cannot decode the file, or its channel count is not 1 to 4.
    TypeError
        Pixel type other than uint8, uint16 or float.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not an existing file; check the data root")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"OpenCV could not decode path {str(path)!r}; is it an image file?")
    if image.dtype == np.uint8:
        scaled = image.astype(np.float64) / 255.0
    elif image.dtype == np.uint16:
        scaled = image.astype(np.float64) / 65535.0
    elif image.dtype.kind == "f":
        scaled = image.astype(np.float64)  # float TIFF: taken to be on the [0, 1] scale already
    else:
        raise TypeError(
            f"image at path {str(path)!r} has pixel type {image.dtype}; expected uint8, uint16 or "
            f"float; convert the file to 8- or 16-bit"
        )
    if scaled.ndim == 3:
        channels = scaled.shape[2]
        if channels in (1, 2):  # gray, or gray + alpha
            scaled = scaled[..., 0]
        elif channels in (3, 4):  # BGR or BGRA: alpha dropped
            scaled = scaled[..., :3] @ _LUMA_BGR
        else:
            raise ValueError(f"image at path {str(path)!r} has {channels} channels; expected 1 to 4")
    return as_float_image(np.ascontiguousarray(scaled), name=f"image {path.name}", allow_color=False)


def tile_mosaic(images):
    """Tile four equally sized gray images into a 2 x 2 mosaic.

    Parameters
    ----------
    images : sequence of 4 ndarrays, each shape (H, W)
        In the order top-left, top-right, bottom-left, bottom-right.

    Returns
    -------
    mosaic : ndarray of float64, shape (2 H, 2 W)
        For the 180 x 180 ``train400_bsd_gray`` crops this is 360 x 360, enough for a
        228 x 228 window plus a 55 x 55 kernel in ``"valid"`` mode.

    Notes
    -----
    The seams between unrelated scenes are straight, strong edges that no photograph has;
    windows straddling them are less realistic than the rest, so use mosaics to add variety
    to training, not to evaluate.
    """
    if len(images) != 4:
        raise ValueError(f"images must hold exactly 4 images for a 2 x 2 mosaic, got {len(images)}")
    tiles = [as_float_image(image, name=f"images[{i}]", allow_color=False) for i, image in enumerate(images)]
    shapes = {tile.shape for tile in tiles}
    if len(shapes) != 1:
        raise ValueError(f"images must all have the same shape, got shapes {[t.shape for t in tiles]}")
    return np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])


def load_mosaic(paths):
    """Load four image files with :func:`load_gray` and tile them with :func:`tile_mosaic`."""
    paths = tuple(paths)
    if len(paths) != 4:
        raise ValueError(f"paths must hold exactly 4 files for a 2 x 2 mosaic, got {len(paths)}")
    return tile_mosaic([load_gray(path) for path in paths])


def _valid_offsets(kernel_shape):
    """Rows/cols before and after the centre of a true-convolution kernel (centre at h // 2)."""
    return tuple((k - 1 - k // 2, k // 2) for k in kernel_shape)


def crop_valid(sharp, kernel_shape):
    """Cut the region of ``sharp`` that ``synthesize_blur(..., border="valid")`` returns.

    Parameters
    ----------
    sharp : ndarray, shape (H, W)
    kernel_shape : tuple of int
        (h, w) of the blur kernel.

    Returns
    -------
    ndarray, shape (H - h + 1, W - w + 1)
        A view: ``blurred[i, j]`` is the blur centred on ``crop_valid(sharp, ...)[i, j]``.
    """
    (top, bottom), (left, right) = _valid_offsets(kernel_shape)
    height, width = sharp.shape[:2]
    if height <= top + bottom or width <= left + right:
        raise ValueError(
            f"sharp of shape {sharp.shape} is too small for a kernel of shape {tuple(kernel_shape)}; "
            f"each side must exceed the kernel's"
        )
    return sharp[top : height - bottom, left : width - right]


def synthesize_blur(sharp, kernel, *, noise_sigma, rng=None, border="valid", clip=False):
    """Blur a sharp image with a kernel and add white Gaussian noise.

    Parameters
    ----------
    sharp : ndarray, shape (H, W)
        Gray image, uint8, uint16 or float in [0, 1].
    kernel : ndarray, shape (h, w)
        Non-negative true-convolution kernel, centre at ``(h // 2, w // 2)``; normalised to
        sum 1.
    noise_sigma : float
        Standard deviation of the additive noise on the [0, 1] scale, in [0, 0.5].
    rng : numpy.random.Generator or int or None
        Source of the noise.
    border : {"valid", "reflect"}
        ``"valid"`` (default): only pixels whose blur sees real content; the result has shape
        (H - h + 1, W - w + 1) and lines up with :func:`crop_valid`. ``"reflect"``: the image
        is mirrored (without repeating the edge pixel) by the kernel radius first, so the result
        has shape (H, W) but its outer band blurs mirrored content.
    clip : bool
        Clip the result to [0, 1] to model saturation; by default nothing is clipped, so the
        noise keeps its Gaussian law even at black and white.

    Returns
    -------
    blurred : ndarray of float64

    Raises
    ------
    TypeError, ValueError
        Bad ``sharp``, ``kernel``, ``noise_sigma`` or ``border``, or an image too small.

    Notes
    -----
    :math:`y = k * x + n`, :math:`n \\sim \\mathcal{N}(0, \\sigma^2)` i.i.d., with :math:`*`
    true convolution computed by FFT (:func:`goodregions.kernels_fast.fft.convolve`).

    References
    ----------
    A. Levin, Y. Weiss, F. Durand and W. T. Freeman, "Understanding and evaluating blind
    deconvolution algorithms", CVPR 2009 (the same observation model, Eq. 1).
    """
    sharp = as_float_image(sharp, name="sharp", allow_color=False)
    noise_sigma = _check_noise_sigma(noise_sigma)
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    if not isinstance(kernel, np.ndarray) or kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D numpy.ndarray, got {getattr(kernel, 'shape', type(kernel))}")
    rng = _as_generator(rng)
    if border == "reflect":
        pads = _valid_offsets(kernel.shape)
        if max(max(p) for p in pads) >= min(sharp.shape):
            raise ValueError(
                f"border='reflect' needs sharp larger than the kernel radius on each side, got "
                f"sharp shape {sharp.shape} and kernel shape {kernel.shape}"
            )
        sharp = np.pad(sharp, pads, mode="reflect")
    elif sharp.shape[0] < kernel.shape[0] or sharp.shape[1] < kernel.shape[1]:
        raise ValueError(
            f"border='valid' needs sharp at least as large as the kernel, got sharp shape "
            f"{sharp.shape} and kernel shape {kernel.shape}; use a larger image or border='reflect'"
        )
    blurred = convolve(sharp, kernel, mode="valid")
    if noise_sigma > 0.0:
        blurred += rng.normal(0.0, noise_sigma, size=blurred.shape)
    if clip:
        np.clip(blurred, 0.0, 1.0, out=blurred)
    return blurred


def _source_name(source):
    if isinstance(source, (str, Path)):
        path = Path(source)
        return f"{path.parent.name}/{path.name}"
    paths = [Path(p) for p in source]
    return "mosaic:" + "+".join(f"{p.parent.name}/{p.name}" for p in paths)


def _root_entropy(rng):
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    _as_generator(rng)  # validates an int seed or None
    return np.random.SeedSequence(None if rng is None else int(rng)).entropy


def iter_blur_samples(images, *, rng=None, settings=None, samples_per_image=1):
    """Yield synthetic blurred samples, one or more per image, reproducibly from a seed.

    Parameters
    ----------
    images : sequence of path or sequence of 4-tuples of paths
        Image files (loaded with :func:`load_gray`) or 4-tuples of files to tile into a
        mosaic (:func:`load_mosaic`), as :func:`goodregions.export.split.group_mosaic_sources`
        returns them.
    rng : int or numpy.random.Generator or None
        Seed. Sample ``r`` of image ``i`` uses its own stream derived from the seed and
        ``(i, r)``, so it does not depend on the other samples (parallel workers can skip).
        A Generator contributes one draw as the seed; None gives fresh randomness.
    settings : SynthesisSettings, optional
        Kernel sizes, noise range, kernel distribution, border; defaults if None.
    samples_per_image : int
        Samples per image, each with its own kernel and noise.

    Returns
    -------
    iterator of BlurSample
        ``(image_name, sharp, kernel, blurred, noise_sigma)``; with ``border="valid"`` the
        ``sharp`` is cropped with :func:`crop_valid` so it lines up with ``blurred``.
    """
    if settings is None:
        settings = SynthesisSettings()
    elif not isinstance(settings, SynthesisSettings):
        raise TypeError(f"settings must be a SynthesisSettings or None, got {type(settings).__name__}")
    check_int(samples_per_image, name="samples_per_image", low=1)
    images = list(images)
    for source in images:
        if not isinstance(source, (str, Path)) and len(tuple(source)) != 4:
            raise ValueError(
                f"images must hold paths or 4-tuples of paths (mosaics), got {source!r}; "
                f"group mosaic tiles with split.group_mosaic_sources"
            )
    # Validated eagerly, then the samples come from an inner generator.
    return _generate_samples(images, _root_entropy(rng), settings, samples_per_image)


def _generate_samples(images, entropy, settings, samples_per_image):
    sizes = np.array(settings.kernel_sizes)
    for index, source in enumerate(images):
        sharp = load_gray(source) if isinstance(source, (str, Path)) else load_mosaic(source)
        name = _source_name(source)
        for repeat in range(samples_per_image):
            sample_rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(index, repeat)))
            kernel = random_motion_kernel(int(sample_rng.choice(sizes)), rng=sample_rng, settings=settings.motion)
            noise_sigma = settings.noise.sample(sample_rng)
            blurred = synthesize_blur(
                sharp, kernel, noise_sigma=noise_sigma, rng=sample_rng, border=settings.border, clip=settings.clip
            )
            aligned = crop_valid(sharp, kernel.shape).copy() if settings.border == "valid" else sharp.copy()
            yield BlurSample(name, aligned, kernel, blurred, noise_sigma)
