import numpy as np
import pytest

from conftest import blur, line_kernel
from goodregions.kernels_fast import EstimatorConfig, estimate_kernel, kernel_similarity
from goodregions.kernels_fast import estimate as estimate_module
from goodregions.kernels_fast import reference
from goodregions.kernels_fast.fft import _pad_periodic, _psf_to_otf
from goodregions.kernels_fast.estimate import _usefulness_map, useful_edge_strength
from goodregions.kernels_fast.kernel_update import (
    _apply_normal_operator,
    _correlations,
    _edge_threshold,
    _periodic_gradients,
    _project_kernel,
    _solve_kernel_cg,
    _sparsity_weights,
    _spectra,
)
from goodregions.kernels_fast.latent import _restore_l0

import naive


@pytest.fixture(scope="module")
def hook_case(sharp_sample, hook_kernel):
    blurred, sharp = blur(sharp_sample, hook_kernel, size=200, noise=0.01, seed=1)
    return blurred, sharp


# --- jitted cores against their twins -------------------------------------------------------


@pytest.mark.parametrize("shape", [(24, 31), (32, 32)])
@pytest.mark.parametrize("dark", [0.0, 4e-3])
@pytest.mark.parametrize("real, complex_, tolerance", [(np.float64, np.complex128, 1e-8), (np.float32, np.complex64, 1e-4)])
def test_restore_l0_matches_twin(shape, dark, real, complex_, tolerance, sharp_sample, hook_kernel):
    # Noise breaks the exact ties of 8-bit values, where the twins may pick different minima.
    image = sharp_sample[: shape[0], : shape[1]] + np.random.default_rng(0).normal(0, 1e-3, shape)
    padded = _pad_periodic(image, shape[0] + 6, shape[1] + 5)
    otf = _psf_to_otf(hook_kernel[4:11, 4:11] / hook_kernel[4:11, 4:11].sum(), padded.shape)
    ours = _restore_l0(padded.astype(real), otf.astype(complex_), 4e-3, dark, 5, 2.0, 1e5, 0.25)
    twin = naive.restore_l0(padded, otf, 4e-3, dark, 5, 2.0, 1e5, 0.25)
    assert ours.dtype == real
    # The L0 thresholds are discontinuous, so the agreement (to the working precision) is up
    # to rare near-threshold pixels.
    assert np.mean(np.abs(ours - twin) < tolerance) > 0.99


def test_gradients_and_edge_threshold_match_twins(sharp_sample):
    image = np.ascontiguousarray(sharp_sample[:40, :37])
    gx, gy = _periodic_gradients(image)
    twin_gx, twin_gy = naive.periodic_gradients(image)
    np.testing.assert_allclose(gx, twin_gx, atol=1e-15)
    np.testing.assert_allclose(gy, twin_gy, atol=1e-15)
    for count in (1, 20, 200, 10_000):
        assert _edge_threshold(gx, gy, count) == naive.edge_threshold(gx, gy, count)


def test_correlations_and_normal_operator_match_twins(sharp_sample):
    rng = np.random.default_rng(3)
    px, py = _periodic_gradients(np.ascontiguousarray(sharp_sample[:30, :28]))
    bx, by = rng.normal(size=(2, 30, 28))
    auto, cross = _correlations(px, py, *_spectra(bx, by), 7)
    twin_auto, twin_cross = naive.circular_correlations(px, py, bx, by, 7)
    np.testing.assert_allclose(auto, twin_auto, atol=1e-10)
    np.testing.assert_allclose(cross, twin_cross, atol=1e-10)
    # The vectorised baseline pipeline computes the same correlations.
    for ours, baseline in zip((auto, cross), reference.correlations(px, py, bx, by, 7)):
        np.testing.assert_allclose(ours, baseline, atol=1e-10)
    kernel = rng.random((7, 7))
    padded = np.zeros((21, 21))
    padded[:13, :13] = auto
    spectrum = np.fft.rfft2(padded)
    np.testing.assert_allclose(_apply_normal_operator(spectrum, kernel, 21), naive.normal_operator(auto, kernel), atol=1e-9)


def test_kernel_data_term_of_a_periodic_blur_is_solved_by_its_kernel(sharp_sample, hook_kernel):
    # On a periodic domain, blurred = kernel (*) latent holds at every pixel, border included,
    # so the normal equations built from the correlations are solved exactly by the kernel.
    kernel = hook_kernel[4:11, 4:11] / hook_kernel[4:11, 4:11].sum()
    latent = np.ascontiguousarray(sharp_sample[:40, :36])
    blurred = naive.circular_convolve(latent, kernel)
    auto, cross = _correlations(*_periodic_gradients(latent), *_spectra(*_periodic_gradients(blurred)), 7)
    np.testing.assert_allclose(naive.normal_operator(auto, kernel), cross, atol=1e-10 * np.abs(cross).max())


def test_cg_solves_the_normal_equations(sharp_sample):
    px, py = _periodic_gradients(np.ascontiguousarray(sharp_sample[:40, :40]))
    rng = np.random.default_rng(4)
    auto, cross = _correlations(px, py, *_spectra(*rng.normal(size=(2, 40, 40))), 5)
    weight = 0.01 * auto[4, 4]
    solution = _solve_kernel_cg(auto, cross, np.full((5, 5), weight), 200, np.zeros((5, 5)))
    np.testing.assert_allclose(naive.normal_operator(auto, solution) + weight * solution, cross, atol=1e-5 * np.abs(cross).max())
    twin = naive.solve_kernel_cg(auto, cross, weight, 200, np.zeros((5, 5)))
    np.testing.assert_allclose(solution, twin, rtol=1e-4, atol=1e-6 * np.abs(solution).max())


def test_reweighted_solve_matches_twin_and_usefulness_map_matches_scipy(sharp_sample):
    rng = np.random.default_rng(6)
    px, py = _periodic_gradients(np.ascontiguousarray(sharp_sample[:40, :40]))
    auto, cross = _correlations(px, py, *_spectra(*rng.normal(size=(2, 40, 40))), 5)
    start = rng.random((5, 5))
    weights = _sparsity_weights(start, 0.3, 1.0)
    np.testing.assert_allclose(weights, naive.sparsity_weights(start, 0.3, 1.0), rtol=1e-12)
    assert weights[np.unravel_index(np.argmax(start), start.shape)] == pytest.approx(0.3)
    ours = _solve_kernel_cg(auto, cross, weights, 100, start)
    np.testing.assert_allclose(ours, naive.solve_kernel_cg(auto, cross, weights, 100, start), rtol=1e-4, atol=1e-6 * np.abs(ours).max())
    gx, gy = rng.normal(size=(2, 30, 33))
    np.testing.assert_allclose(_usefulness_map(gx, gy, 5), naive.usefulness_map(gx, gy, 5), rtol=1e-9)


def test_usefulness_is_low_on_thin_lines_and_high_on_step_edges():
    image = np.zeros((40, 40))
    image[:, 20:] = 1.0  # a step edge
    image[10, :] = 1.0  # a one-pixel line across it
    gx, gy = _periodic_gradients(image)
    usefulness = _usefulness_map(gx, gy, 5)
    assert usefulness[25, 19] > 0.6  # on the step, away from the line
    assert usefulness[9:11, 5].max() < 0.2  # the line's two opposite gradients cancel


def test_useful_edge_strength_is_r_times_the_gradient_magnitude():
    image = np.zeros((40, 40))
    image[:, 20:] = 0.8
    image[10, :] = 0.8
    strength = useful_edge_strength((image * 255).astype(np.uint8))  # uint8 is divided by 255
    gx, gy = np.zeros_like(image), np.zeros_like(image)
    gx[:, :-1], gy[:-1, :] = np.diff(image, axis=1), np.diff(image, axis=0)
    np.testing.assert_allclose(strength, naive.usefulness_map(gx, gy, 5) * np.hypot(gx, gy), atol=1e-12)
    assert strength[25, 19] > 0.4 and strength[9:11, 5].max() < 0.1 and strength[30, 5] == 0.0
    colour = useful_edge_strength(np.dstack([image] * 3))
    np.testing.assert_allclose(colour, strength, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_project_kernel_matches_twin_and_is_a_valid_kernel(seed):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(11, 11)) * (rng.random((11, 11)) < 0.3)
    ours = _project_kernel(raw, 0.05, 0.1)
    np.testing.assert_allclose(ours, naive.project_kernel(raw, 0.05, 0.1), atol=1e-12)
    assert ours.min() >= 0.0
    assert ours.sum() == pytest.approx(1.0)


def test_project_kernel_of_all_negative_is_a_delta():
    kernel = _project_kernel(-np.ones((5, 5)), 0.05, 0.1)
    assert kernel[2, 2] == 1.0 and kernel.sum() == 1.0


# --- the whole estimator on synthetic blur with a known kernel ---------------------------------


@pytest.mark.parametrize("prior", ["l0", "dark"])
def test_recovers_asymmetric_kernel_without_rotating_it(prior, hook_case, hook_kernel):
    blurred, _ = hook_case
    estimated = estimate_kernel(blurred, 19, prior=prior)
    similarity = kernel_similarity(estimated, hook_kernel)
    rotated = kernel_similarity(estimated, hook_kernel[::-1, ::-1])
    # The J and its 180° rotation only score 0.70 against each other, so a flipped
    # convention lands near 0.70 and a right one near 0.83.
    assert similarity > 0.78
    assert similarity > rotated + 0.08


@pytest.mark.parametrize("prior", ["l0", "dark"])
def test_sharp_input_gives_a_compact_kernel(prior, sharp_sample):
    noisy = sharp_sample[:160, :160] + np.random.default_rng(5).normal(0, 0.005, (160, 160))
    estimated = estimate_kernel(noisy, 15, prior=prior)
    # A sharp image is its own best explanation: nearly all mass within 2 pixels of the centre.
    assert estimated[5:10, 5:10].sum() > 0.7


@pytest.mark.parametrize("prior", ["l0", "dark"])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_are_non_negative_normalised_and_centred(prior, seed, sharp_sample):
    rng = np.random.default_rng(seed)
    kernel = line_kernel(11, [tuple(rng.integers(-4, 5, 2)), tuple(rng.integers(-4, 5, 2))])
    blurred, _ = blur(sharp_sample, kernel, size=96, noise=0.01, seed=seed)
    estimated = estimate_kernel(blurred, 15, prior=prior)
    assert estimated.shape == (15, 15) and estimated.dtype == np.float64
    assert estimated.min() >= 0.0
    assert estimated.sum() == pytest.approx(1.0, abs=1e-12)
    rows, cols = np.indices(estimated.shape)
    assert abs((rows * estimated).sum() - 7) <= 1.0 and abs((cols * estimated).sum() - 7) <= 1.0


@pytest.mark.parametrize("prior", ["l0", "dark"])
def test_jitted_estimator_matches_numpy_twin(prior, hook_case, hook_kernel, monkeypatch):
    blurred = np.ascontiguousarray(hook_case[0][:96, :96])
    config = EstimatorConfig()
    use_dark = prior == "dark"
    # Level by level from the same start, in double precision as the twin. The L0 and edge
    # thresholds are discontinuous: a rounding difference that moves one pixel across them
    # grows through the later alternations, so the kernels agree to 1e-5, not to rounding.
    with monkeypatch.context() as patch:
        patch.setattr(estimate_module, "_LATENT_DTYPES", (np.float64, np.complex128))
        lambdas = (config.lambda_grad, config.lambda_dark)
        kernel, previous_scale = None, None
        for scale, size, image in estimate_module._pyramid(blurred, 15, config):
            if kernel is None:
                kernel = estimate_module._initial_kernel(size)
            else:
                kernel = reference.resize_kernel(kernel, size, scale / previous_scale)
            previous_scale = scale
            patch_size = estimate_module._dark_patch(config, scale)
            ours, _ = estimate_module._estimate_level(image, kernel, lambdas, config, use_dark, patch_size)
            kernel, lambdas = reference.estimate_level(image, kernel, lambdas, config, use_dark, patch_size)
            np.testing.assert_allclose(ours, kernel, atol=1e-5)
    # The whole estimator, in single precision, against the whole twin: nearly the same
    # kernel, and as close to the true one.
    twin = reference.estimate_kernel(blurred, 15, prior=prior, config=config)
    np.testing.assert_allclose(twin, kernel, atol=1e-12)
    single = estimate_kernel(blurred, 15, prior=prior, config=config)
    assert kernel_similarity(single, twin) > 0.97
    assert kernel_similarity(single, hook_kernel) > kernel_similarity(twin, hook_kernel) - 0.02


def test_colour_and_integer_inputs_follow_the_dtype_policy(hook_case):
    blurred = np.clip(hook_case[0][:96, :96], 0, 1)
    as16 = np.round(blurred * 65535).astype(np.uint16)
    gray = estimate_kernel(as16 / 65535.0, 9, prior="l0")
    np.testing.assert_allclose(estimate_kernel(as16, 9, prior="l0"), gray, atol=1e-12)
    # Colour is estimated on its BT.601 luminance. That of equal channels differs from them
    # by an ulp, which the thresholds of the estimator can round the other way, so the
    # kernel is compared with the estimate on that luminance.
    colour = np.repeat((as16 / 65535.0)[..., None], 3, axis=2)
    luminance = colour @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(luminance, as16 / 65535.0, atol=1e-15)
    np.testing.assert_allclose(estimate_kernel(colour, 9, prior="l0"), estimate_kernel(luminance, 9, prior="l0"), atol=1e-12)


def test_diagnostics_describe_the_pyramid_and_border_contact(hook_case):
    blurred, _ = hook_case
    _, cut_off = estimate_kernel(blurred, 9, prior="l0", return_diagnostics=True)
    assert cut_off.touches_border  # the 13-pixel J does not fit in 9 pixels
    # Room to spare: at 19 or 21, faint stray entries at the border reach a fifth to a
    # quarter of the peak, which is the diagnostic's threshold.
    _, fitting = estimate_kernel(blurred, 23, prior="l0", return_diagnostics=True)
    assert not fitting.touches_border
    assert fitting.kernel_sizes[-1] == 23 and fitting.kernel_sizes[0] <= 7
    assert all(size % 2 == 1 for size in fitting.kernel_sizes)
    assert list(fitting.kernel_sizes) == sorted(fitting.kernel_sizes)
    assert len(fitting.level_seconds) == len(fitting.kernel_sizes) and fitting.total_seconds > 0


@pytest.mark.parametrize(
    "setting, error, match",
    [
        ({"kappa": 1.0}, ValueError, r"kappa must lie in \(1.0, inf\), got 1.0; the default is 2.0"),
        ({"scale_ratio": 1.2}, ValueError, r"scale_ratio must lie in \(0.0, 1.0\)"),
        ({"sparsity_exponent": 0.0}, ValueError, r"sparsity_exponent must lie in \(0.0, 2.0\]"),
        ({"useful_edge_fraction": float("nan")}, ValueError, "useful_edge_fraction must lie in"),
        ({"dark_weight_ratio": -0.25}, ValueError, "dark_weight_ratio must lie in"),
        ({"sparse_reweightings": -1}, ValueError, r"sparse_reweightings must lie in \[0, inf\)"),
        ({"iterations_per_level": 2.0}, TypeError, "iterations_per_level must be an int, got float 2.0; the default is 5"),
        ({"lambda_grad": True}, TypeError, "lambda_grad must be a real number, got bool"),
        ({"lambda_dark": "8e-3"}, TypeError, "lambda_dark must be a real number, got str"),
    ],
)
def test_config_settings_out_of_range_are_refused(setting, error, match):
    with pytest.raises(error, match=match):
        EstimatorConfig(**setting)


def test_config_accepts_numpy_scalars_and_edge_values():
    config = EstimatorConfig(iterations_per_level=np.int64(1), lambda_grad=np.float32(4e-3), sparse_reweightings=0,
                             sparsity_exponent=2.0, useful_edge_fraction=1.0, threshold_ratio=0.0, min_component_mass=0.0)
    assert config.iterations_per_level == 1 and config.sparsity_exponent == 2.0


def test_flat_image_does_not_crash():
    kernel = estimate_kernel(np.full((64, 64), 0.5), 11, prior="dark")
    assert np.isfinite(kernel).all() and kernel.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "image, kernel_size, error, match",
    [
        (np.zeros((64, 64)), 8, ValueError, "odd"),
        (np.zeros((64, 64)), 1, ValueError, "odd integer >= 3"),
        (np.zeros((64, 64)), 41, ValueError, "too large"),
        (np.zeros((64, 64)), 7.0, TypeError, "int"),
        (np.zeros((64, 64)), True, TypeError, "int"),
        (np.full((64, 64), np.nan), 7, ValueError, "NaN"),
        (np.zeros((64,)), 7, ValueError, "shape"),
        (np.zeros((0, 64)), 7, ValueError, "empty"),
        (np.zeros((64, 64, 4)), 7, ValueError, "alpha"),
        (np.zeros((64, 64), dtype=np.int64), 7, TypeError, "dtype"),
    ],
)
def test_bad_inputs_are_refused_clearly(image, kernel_size, error, match):
    with pytest.raises(error, match=match):
        estimate_kernel(image, kernel_size)


def test_bad_options_are_refused_clearly():
    with pytest.raises(ValueError, match="prior"):
        estimate_kernel(np.zeros((64, 64)), 7, prior="sparse")
    with pytest.raises(TypeError, match="EstimatorConfig"):
        estimate_kernel(np.zeros((64, 64)), 7, config={"iterations_per_level": 2})


_HASH_ESTIMATES = """
import hashlib
import numpy as np
from goodregions.kernels_fast import convolve, estimate_kernel
rng = np.random.default_rng(7)
sharp = np.clip(np.cumsum(rng.normal(0, 0.05, (72, 72)), axis=1) % 1.0, 0, 1)
kernel = np.zeros((9, 9)); kernel[4, 1:8] = 1.0; kernel[2:5, 7] = 1.0
blurred = convolve(sharp, kernel / kernel.sum()) + rng.normal(0, 0.01, sharp.shape)
digest = hashlib.md5()
for prior in ("dark", "l0"):
    digest.update(estimate_kernel(blurred, 9, prior=prior).tobytes())
print(digest.hexdigest())
"""


def test_kernels_do_not_depend_on_whether_numba_compiled_or_loaded_its_cache(tmp_path):
    # The accuracy benchmark's workers load the code their parent compiled. A helper that
    # came back from the cache rounding 1 ulp differently once moved kernels by up to 0.1.
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", _HASH_ESTIMATES], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert any(tmp_path.rglob("*.nbi")), "the first run should have filled the cache"
    assert runs[0].stdout == runs[1].stdout
