"""Random camera-shake blur kernels for training data.

A kernel is the time-weighted image of a random 2-D camera trajectory: the trajectory is
sampled as a continuous curve (a heading that turns smoothly, with occasional impulsive turns,
a varying speed and a small tremor), scaled and shifted so that its centre of mass sits on the
kernel centre, and rasterised with bilinear splatting. Slow parts of the motion collect more
exposure and come out brighter, as in real shake.

Convention: true convolution kernels of odd size, centre at ``(size // 2, size // 2)``, as in
:mod:`goodregions.kernels_fast.fft`. Coordinates are ``(row, col)``.

These kernels are for training. Levin et al.'s real kernels are kept for evaluation only and
are neither used nor imitated here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from goodregions.kernels_fast._validate import check_int, check_odd_size

__all__ = ["MotionKernelSettings", "random_motion_kernel"]

_MAX_SAMPLE_SPACING = 0.2  # px between trajectory samples after scaling: splats overlap into a line
_MAX_SAMPLES = 200_000
_MAX_PLACEMENT_TRIES = 8


def _as_generator(rng, *, name="rng"):
    """Return a ``numpy.random.Generator`` from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"{name} must be a non-negative int seed, got {rng}; use abs({rng})")
        return np.random.default_rng(rng)
    raise TypeError(
        f"{name} must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}; "
        f"pass numpy.random.default_rng(seed)"
    )


def _check_range(value, *, name, low, high):
    """Check that ``value`` is a pair ``(a, b)`` of finite floats with low <= a <= b <= high."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(f"{name} must be a tuple (low, high), got {value!r}")
    a, b = value
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (a, b)):
        raise ValueError(f"{name} must hold two finite numbers, got {value!r}")
    if not low <= a <= b <= high:
        raise ValueError(
            f"{name} must satisfy {low} <= low <= high <= {high}, got {value!r}; "
            f"reorder or shrink the range"
        )


@dataclass(frozen=True)
class MotionKernelSettings:
    """Distribution of the random camera-shake trajectories.

    Every kernel draws its own shape parameters uniformly (or log-uniformly where said) from
    these ranges, so one settings object yields near-linear, curved and jittery kernels.

    Attributes
    ----------
    extent : (float, float)
        Range of the trajectory extent (larger side of its bounding box) as a fraction of
        ``size``. The draw is capped by what fits inside the empty 1-pixel border once the
        centre of mass is on the centre, so small kernels reach less than the top of the range.
    turn : (float, float)
        Range, in radians, of the total smooth turning of the heading over the exposure
        (drawn log-uniformly): about 0.05 gives a near-straight stroke, 2*pi a loop.
    turn_smoothness : (float, float)
        Range of the correlation length of the turning rate, as a fraction of the exposure.
    jumps : (float, float)
        Range of the expected number of impulsive turns (Poisson) per exposure; each turns the
        heading by 30 to 180 degrees at once, which makes corners and back-and-forth strokes.
    speed_variation : (float, float)
        Range of the standard deviation of the log-speed: brighter slow parts, fainter fast ones.
    jitter_probability : float
        Probability that a kernel gets hand tremor.
    jitter : (float, float)
        Range of the tremor amplitude (RMS displacement) as a fraction of the extent.
    jitter_cycles : (float, float)
        Range of the number of tremor wiggles per exposure.
    lens_probability : float
        Probability that a kernel is also blurred by a small Gaussian (lens, defocus).
    lens_sigma : (float, float)
        Range of that Gaussian's standard deviation in pixels (at most 0.5; it is truncated at
        ``ceil(2 sigma) = 1`` pixel, so it costs one pixel of room on each side).
    n_steps : int
        Number of time steps of the raw trajectory before it is resampled for rasterising.
    """

    extent: tuple[float, float] = (0.30, 0.95)
    turn: tuple[float, float] = (0.05, 2.0 * math.pi)
    turn_smoothness: tuple[float, float] = (0.05, 0.3)
    jumps: tuple[float, float] = (0.0, 1.5)
    speed_variation: tuple[float, float] = (0.0, 0.7)
    jitter_probability: float = 0.4
    jitter: tuple[float, float] = (0.01, 0.06)
    jitter_cycles: tuple[float, float] = (2.0, 8.0)
    lens_probability: float = 0.5
    lens_sigma: tuple[float, float] = (0.2, 0.5)
    n_steps: int = 512

    def __post_init__(self):
        _check_range(self.extent, name="extent", low=0.01, high=1.0)
        _check_range(self.turn, name="turn", low=1e-6, high=8.0 * math.pi)
        _check_range(self.turn_smoothness, name="turn_smoothness", low=0.005, high=1.0)
        _check_range(self.jumps, name="jumps", low=0.0, high=20.0)
        _check_range(self.speed_variation, name="speed_variation", low=0.0, high=2.0)
        _check_range(self.jitter, name="jitter", low=0.0, high=0.5)
        _check_range(self.jitter_cycles, name="jitter_cycles", low=0.5, high=50.0)
        _check_range(self.lens_sigma, name="lens_sigma", low=0.0, high=0.5)
        for name in ("jitter_probability", "lens_probability"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        check_int(self.n_steps, name="n_steps", low=16)


def _smooth_noise(rng, n, correlation, *, dims=1):
    """Zero-mean, unit-RMS Gaussian noise of length ``n`` smoothed over ``correlation`` steps."""
    white = rng.standard_normal((dims, n))
    # mode="wrap" keeps the statistics the same at both ends of the exposure.
    smooth = gaussian_filter1d(white, sigma=max(correlation, 0.5), axis=1, mode="wrap")
    smooth -= smooth.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(smooth**2, axis=1, keepdims=True))
    return smooth / np.maximum(rms, 1e-12)


def _sample_trajectory(rng, settings):
    """Return raw trajectory positions, shape (n_steps, 2) as (row, col), arbitrary scale."""
    n = settings.n_steps

    def uniform(bounds):
        return rng.uniform(*bounds)

    # Heading: smooth turning whose total |angle| is drawn log-uniformly, plus impulsive turns
    # (Boracchi & Foi's "impulsive shake"), which keep the curve continuous but add corners.
    total_turn = math.exp(rng.uniform(math.log(settings.turn[0]), math.log(settings.turn[1])))
    turn_rate = _smooth_noise(rng, n, uniform(settings.turn_smoothness) * n)[0]
    turn_rate *= total_turn / max(np.abs(turn_rate).sum(), 1e-12)
    heading = rng.uniform(0.0, 2.0 * math.pi) + np.cumsum(turn_rate)
    n_jumps = rng.poisson(uniform(settings.jumps))
    for step in rng.integers(1, n - 1, size=n_jumps):
        heading[step:] += rng.choice((-1.0, 1.0)) * rng.uniform(math.pi / 6.0, math.pi)

    # Speed: log-normal and smooth, so exposure piles up where the camera slows down.
    log_speed = _smooth_noise(rng, n, rng.uniform(0.05, 0.2) * n)[0]
    speed = np.exp(uniform(settings.speed_variation) * log_speed)
    velocity = speed[:, None] * np.stack((np.sin(heading), np.cos(heading)), axis=1)
    points = np.cumsum(velocity, axis=0)

    if rng.uniform() < settings.jitter_probability:
        extent = np.ptp(points, axis=0).max()
        cycles = uniform(settings.jitter_cycles)
        tremor = _smooth_noise(rng, n, n / (4.0 * cycles), dims=2).T
        points = points + uniform(settings.jitter) * extent * tremor
    return points


def _resample(points):
    """Linearly upsample a trajectory (in pixels) in time so samples lie <= 0.2 px apart."""
    steps = np.hypot(*np.diff(points, axis=0).T)
    n_out = int(min(_MAX_SAMPLES, max(len(points), math.ceil(steps.sum() / _MAX_SAMPLE_SPACING))))
    # Uniform in time, not in arc length: time spent at a place is its exposure.
    t_in = np.linspace(0.0, 1.0, len(points))
    t_out = np.linspace(0.0, 1.0, n_out)
    return np.stack([np.interp(t_out, t_in, points[:, k]) for k in range(2)], axis=1)


def _splat_bilinear(points, size):
    """Accumulate unit-weight samples bilinearly; preserves the mass and the centre of mass."""
    base = np.floor(points).astype(np.int64)
    frac = points - base
    kernel = np.zeros(size * size)
    for dy in (0, 1):
        for dx in (0, 1):
            weight = (frac[:, 0] if dy else 1.0 - frac[:, 0]) * (frac[:, 1] if dx else 1.0 - frac[:, 1])
            flat = (base[:, 0] + dy) * size + base[:, 1] + dx
            kernel += np.bincount(flat, weights=weight, minlength=size * size)
    return kernel.reshape(size, size)


def _lens_blur(kernel, sigma):
    """Separable sampled Gaussian of std ``sigma`` truncated at radius 1 (sigma <= 0.5)."""
    taps = np.exp(-0.5 * (np.arange(-1, 2) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(kernel, 1)
    rows = taps[0] * padded[:-2] + taps[1] * padded[1:-1] + taps[2] * padded[2:]
    return taps[0] * rows[:, :-2] + taps[1] * rows[:, 1:-1] + taps[2] * rows[:, 2:]


def random_motion_kernel(size, *, rng=None, settings=None):
    """Draw a random camera-shake blur kernel.

    Parameters
    ----------
    size : int
        Odd side length of the square kernel, at least 3 (11 to 55 for training).
    rng : numpy.random.Generator or int or None
        Source of randomness; an int seed gives the same kernel every time.
    settings : MotionKernelSettings, optional
        Distribution of trajectory shapes; ``MotionKernelSettings()`` if None.

    Returns
    -------
    kernel : ndarray of float64, shape (size, size)
        Non-negative, sums to 1, centre of mass at ``(size // 2, size // 2)`` to within
        rounding, and no mass on the outermost 1-pixel border.

    Raises
    ------
    TypeError
        ``size`` is not an int, ``rng`` or ``settings`` of the wrong type.
    ValueError
        ``size`` is even or smaller than 3.

    Notes
    -----
    The camera path is :math:`p(t) = \\int_0^t s(u) (\\sin\\theta(u), \\cos\\theta(u)) du`
    plus a small tremor, with a smoothly varying log-normal speed :math:`s` and heading
    :math:`\\theta` (smooth turning plus Poisson impulsive turns). The kernel is the exposure
    density :math:`k(x) = \\int \\delta(x - c - a p(t)) dt`, with the scale :math:`a` set by the
    drawn extent and the offset :math:`c` putting the time-average of the path on the centre.
    Bilinear splatting of densely resampled points (<= 0.2 px apart) keeps both the mass and
    the centre of mass exact, so no integer re-centring is needed. The optional lens Gaussian
    is symmetric and applied after splatting.

    References
    ----------
    G. Boracchi and A. Foi, "Modeling the performance of image restoration from motion blur",
    IEEE Trans. Image Process. 21(8), 2012 (random trajectories with impulsive shake).
    C. J. Schuler, M. Hirsch, S. Harmeling and B. Schoelkopf, "Learning to deblur",
    IEEE Trans. Pattern Anal. Mach. Intell. 38(7), 2016 (random blur kernels for training).
    """
    size = check_odd_size(size, name="size")
    rng = _as_generator(rng)
    if settings is None:
        settings = MotionKernelSettings()
    elif not isinstance(settings, MotionKernelSettings):
        raise TypeError(f"settings must be a MotionKernelSettings or None, got {type(settings).__name__}")

    centre = size // 2
    lens_sigma = 0.0
    if rng.uniform() < settings.lens_probability:
        lens_sigma = rng.uniform(*settings.lens_sigma)
    lens_radius = 1 if lens_sigma > 0.0 and centre >= 3 else 0
    # A sample at distance <= room from the centre splats inside [1 + lens, size - 2 - lens].
    room = centre - 1 - lens_radius
    target = rng.uniform(*settings.extent) * size

    best = None
    for _ in range(_MAX_PLACEMENT_TRIES):
        points = _sample_trajectory(rng, settings)
        points = points - points.mean(axis=0)  # time-average (= centre of mass) at the origin
        extent = max(np.ptp(points, axis=0).max(), 1e-12)
        reach = max(np.abs(points).max(), 1e-12)
        scale = min(target / extent, room / reach)
        if best is None or scale * extent > best[1] * best[2]:
            best = (points, scale, extent)
        if target / extent <= room / reach:
            break  # the drawn extent fits; otherwise retry a more symmetric path
    points, scale, _ = best

    samples = _resample(points * scale)
    # Resampling weights the two ends of the path differently from the raw steps: re-centre,
    # then shrink about the (new) centre of mass if that pushed a sample past the room.
    samples -= samples.mean(axis=0)
    reach = np.abs(samples).max()
    if reach > room:
        samples *= room / reach
    # Nudge inwards by a hair so rounding never puts a splat on the border.
    samples = centre + samples * (1.0 - 1e-9)
    kernel = _splat_bilinear(samples, size)
    if lens_radius:
        kernel = _lens_blur(kernel, lens_sigma)
    kernel = np.clip(kernel, 0.0, None)
    return kernel / kernel.sum()
