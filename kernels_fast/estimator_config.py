"""Settings of the blind kernel estimator (:func:`~goodregions.kernels_fast.estimate_kernel`),
each checked against its valid range when a config is made."""

import dataclasses
import math
import numbers

__all__ = ["EstimatorConfig"]


@dataclasses.dataclass(frozen=True)
class EstimatorConfig:
    """Settings of :func:`estimate_kernel`; the defaults follow Pan et al. 2016 except where noted.

    A setting of the wrong type (TypeError) or outside its range (ValueError, which names the
    range) is refused when the config is made.

    Attributes
    ----------
    iterations_per_level : alternations of latent and kernel updates per pyramid level.
    scale_ratio : image and kernel shrink factor between pyramid levels.
    coarsest_kernel_size : the pyramid stops once the kernel would be about this small.
    lambda_grad, lambda_dark : initial L0 weights of the gradient and dark-channel terms.
    lambda_decay, lambda_floor : both weights are divided by ``lambda_decay`` after every
        alternation, down to ``lambda_floor``, so that finer detail enters gradually.
    kappa, beta_max : HQS continuation factor and final penalty weight.
    dark_weight_ratio : the dark-channel splitting weight starts at this fraction of the
        gradient one. Pan et al. start it at 2 lambda_dark: a ratio of 1 for equal lambdas.
    dark_patch : dark-channel window width at the finest level (scaled with the level).
    kernel_weight : Tikhonov weight of the kernel solve, relative to the energy of the
        selected latent gradients.
    cg_iterations : conjugate-gradient iterations per kernel solve.
    sparse_reweightings, sparsity_exponent : after the Tikhonov solve, this many
        re-weighted solves (IRLS) for the penalty ``weight * sum (|k| / max|k|)^p``, which
        suppresses the low-level speckle that noise leaves around the kernel.
    edge_pixels_per_kernel_pixel : the edge mask keeps at least this many times
        ``kernel_size`` gradients in each of four orientations.
    edge_decay : the edge threshold is divided by this after each alternation.
    useful_edge_fraction : the edge mask only considers the pixels with the largest
        Xu & Jia usefulness ``r`` (this fraction of the image); 1.0 disables the r-map.
    threshold_ratio : kernel entries below ``threshold_ratio * max`` are removed.
    min_component_mass : connected kernel components lighter than this fraction of the
        total are removed.
    """

    iterations_per_level: int = 5
    scale_ratio: float = math.sqrt(0.5)
    coarsest_kernel_size: int = 5
    # Twice Pan et al.'s 4e-3: better kernels on Set12 images 01-06 (BENCHMARKS.md).
    lambda_grad: float = 8e-3
    lambda_dark: float = 8e-3
    lambda_decay: float = 1.1
    lambda_floor: float = 1e-4
    kappa: float = 2.0
    # Pan et al. continue to 1e5. At 1e3 the splitting term already holds the latent's gradients
    # to the thresholded ones 1000 times harder than the data term holds the image, and on four
    # noise draws of the accuracy benchmark the kernels scored the same. It saves 6-7 of the 23-29
    # HQS steps of each latent update (BENCHMARKS.md, "Numerical core: accuracy").
    beta_max: float = 1e3
    # A quarter of Pan et al.'s: that splitting weight also damps every pixel of the latent
    # update, and at their ratio it froze the latent early (BENCHMARKS.md).
    dark_weight_ratio: float = 0.25
    dark_patch: int = 35
    # Half of the first 0.01: with the data term over the whole image, 0.005 scored higher at
    # ER <= 2 for both priors and 0.0025 lower at ER <= 3 (BENCHMARKS.md).
    kernel_weight: float = 0.005
    cg_iterations: int = 20
    sparse_reweightings: int = 2
    # Below 1, so that the penalty favours compact kernels: a non-negative kernel's L1 norm
    # is fixed by its sum, so p = 1 let mass spread along the image's straight edges, where
    # the data term cannot see it (BENCHMARKS.md, "Numerical core: accuracy").
    sparsity_exponent: float = 0.7
    edge_pixels_per_kernel_pixel: float = 20.0
    edge_decay: float = 1.1
    useful_edge_fraction: float = 0.5
    threshold_ratio: float = 1.0 / 20.0
    # Half of Pan et al.'s 0.1: the faint tail of a kernel often breaks off into its own
    # component, and 0.1 pruned it (BENCHMARKS.md, "Numerical core: accuracy").
    min_component_mass: float = 0.05

    def __post_init__(self):
        # Over the fields, not the table: a field added without a range fails at once.
        for field in dataclasses.fields(self):
            kind, low, high, closed = _CONFIG_RANGES[field.name]
            _check_setting(field.name, getattr(self, field.name), kind, low, high, closed)


# Valid values of each EstimatorConfig setting: (type, lower, upper, which ends are allowed).
_CONFIG_RANGES = {
    "iterations_per_level": (int, 1, math.inf, "[)"),
    "scale_ratio": (float, 0.0, 1.0, "()"),
    "coarsest_kernel_size": (int, 3, math.inf, "[)"),
    "lambda_grad": (float, 0.0, math.inf, "()"),
    "lambda_dark": (float, 0.0, math.inf, "()"),
    "lambda_decay": (float, 1.0, math.inf, "[)"),
    "lambda_floor": (float, 0.0, math.inf, "()"),
    "kappa": (float, 1.0, math.inf, "()"),
    "beta_max": (float, 0.0, math.inf, "()"),
    "dark_weight_ratio": (float, 0.0, math.inf, "()"),
    "dark_patch": (int, 1, math.inf, "[)"),
    "kernel_weight": (float, 0.0, math.inf, "()"),
    "cg_iterations": (int, 1, math.inf, "[)"),
    "sparse_reweightings": (int, 0, math.inf, "[)"),
    "sparsity_exponent": (float, 0.0, 2.0, "(]"),
    "edge_pixels_per_kernel_pixel": (float, 0.0, math.inf, "()"),
    "edge_decay": (float, 0.0, math.inf, "()"),
    "useful_edge_fraction": (float, 0.0, 1.0, "(]"),
    "threshold_ratio": (float, 0.0, 1.0, "[)"),
    "min_component_mass": (float, 0.0, 1.0, "[)"),
}


def _check_setting(name, value, kind, low, high, closed):
    default = getattr(EstimatorConfig, name)
    numeric = numbers.Integral if kind is int else numbers.Real
    if isinstance(value, bool) or not isinstance(value, numeric):
        raise TypeError(f"EstimatorConfig.{name} must be {'an int' if kind is int else 'a real number'}, "
                        f"got {type(value).__name__} {value!r}; the default is {default!r}")
    above = value >= low if closed[0] == "[" else value > low
    below = value <= high if closed[1] == "]" else value < high
    if not (math.isfinite(value) and above and below):
        raise ValueError(f"EstimatorConfig.{name} must lie in {closed[0]}{low}, {high}{closed[1]}, got {value!r}; "
                         f"the default is {default!r}")
