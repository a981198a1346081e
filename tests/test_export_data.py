"""Training-data side of ``goodregions.export``: motion kernels, blur synthesis, the split.

No torch needed. Data-dependent tests skip when the shared data folder is absent.
"""

import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from goodregions.export import split as split_module
from goodregions.export.motion_kernels import MotionKernelSettings, random_motion_kernel
from goodregions.export.split import (
    DATA_ENV_VAR,
    SUBSETS,
    default_data_root,
    group_mosaic_sources,
    load_split,
    read_split_spec,
)
from goodregions.export.synthesis import (
    NoiseRange,
    SynthesisSettings,
    crop_valid,
    iter_blur_samples,
    load_gray,
    load_mosaic,
    synthesize_blur,
    tile_mosaic,
)

SEEDED = settings(deadline=None, derandomize=True, max_examples=150)
odd_sizes = st.integers(1, 27).map(lambda n: 2 * n + 1)  # 3 .. 55
seeds = st.integers(0, 2**32 - 1)


def _centre_of_mass(kernel):
    index = np.arange(kernel.shape[0])
    return (kernel.sum(axis=1) @ index, kernel.sum(axis=0) @ index)


def _support_extent(kernel):
    rows, cols = np.nonzero(kernel)
    return max(np.ptp(rows), np.ptp(cols)) + 1


# --------------------------------------------------------------------------- motion kernels


@SEEDED
@given(size=odd_sizes, seed=seeds)
def test_kernel_is_a_centred_normalised_psf_with_empty_border(size, seed):
    kernel = random_motion_kernel(size, rng=seed)
    assert kernel.shape == (size, size) and kernel.dtype == np.float64
    assert kernel.min() >= 0.0
    assert abs(kernel.sum() - 1.0) < 1e-12
    centre = size // 2
    assert np.allclose(_centre_of_mass(kernel), (centre, centre), atol=1e-6)
    border = np.concatenate([kernel[0], kernel[-1], kernel[:, 0], kernel[:, -1]])
    assert np.all(border == 0.0)


@settings(deadline=None, derandomize=True, max_examples=60)
@given(size=st.integers(10, 27).map(lambda n: 2 * n + 1), seed=seeds)
def test_kernel_is_one_thin_continuous_curve(size, seed):
    kernel = random_motion_kernel(size, rng=seed)
    # Continuous: the support is one 8-connected piece, not scattered dots.
    _, pieces = ndimage.label(kernel > 0, structure=np.ones((3, 3)))
    assert pieces == 1
    # Thin: its visible part (above 5 % of the peak) covers far less than a blob of the same
    # extent would (at most about 0.4 of the square for sizes >= 21; blobs cover 0.6 to 1).
    assert np.count_nonzero(kernel > 0.05 * kernel.max()) < 0.45 * _support_extent(kernel) ** 2


def test_kernel_is_deterministic_given_a_seed_and_varies_between_seeds():
    for size in (11, 31, 55):
        first = random_motion_kernel(size, rng=7)
        assert np.array_equal(first, random_motion_kernel(size, rng=7))
        assert np.array_equal(first, random_motion_kernel(size, rng=np.random.default_rng(7)))
        assert not np.array_equal(first, random_motion_kernel(size, rng=8))


def test_kernel_extent_spreads_over_the_size():
    for size, (low, high) in ((55, (0.45, 0.85)), (31, (0.45, 0.8)), (11, (0.6, 0.8))):
        fractions = np.array([_support_extent(random_motion_kernel(size, rng=s)) / size for s in range(150)])
        assert np.percentile(fractions, 5) < low, (size, np.percentile(fractions, 5))
        assert np.percentile(fractions, 95) > high, (size, np.percentile(fractions, 95))


def test_kernel_of_size_3_is_a_delta():
    kernel = random_motion_kernel(3, rng=0)
    assert kernel[1, 1] == 1.0


def test_kernel_honours_its_settings():
    straight = MotionKernelSettings(
        extent=(0.9, 0.9), turn=(1e-3, 1e-3), jumps=(0.0, 0.0), jitter_probability=0.0, lens_probability=0.0
    )
    kernel = random_motion_kernel(41, rng=3, settings=straight)
    rows, cols = np.nonzero(kernel)
    # A straight line: the support's second principal axis is about one pixel wide.
    coords = np.stack([rows, cols], axis=1).astype(float)
    spread = np.sqrt(np.linalg.eigvalsh(np.cov(coords.T, aweights=kernel[rows, cols])))
    assert spread[0] < 1.0 and spread[1] > 8.0


@pytest.mark.parametrize("size", [10, 2, 0, 1, -3])
def test_kernel_size_must_be_odd_and_at_least_3(size):
    with pytest.raises(ValueError, match="size must be an odd integer >= 3"):
        random_motion_kernel(size, rng=0)


@pytest.mark.parametrize("size", [11.0, "11", True])
def test_kernel_size_must_be_an_int(size):
    with pytest.raises(TypeError, match="size must be an int"):
        random_motion_kernel(size, rng=0)


def test_kernel_rejects_bad_rng_and_settings():
    with pytest.raises(TypeError, match="rng must be"):
        random_motion_kernel(11, rng="seed")
    with pytest.raises(TypeError, match="settings must be"):
        random_motion_kernel(11, rng=0, settings={"extent": (0.3, 0.9)})
    with pytest.raises(ValueError, match="extent"):
        MotionKernelSettings(extent=(0.9, 0.3))
    with pytest.raises(ValueError, match="lens_sigma"):
        MotionKernelSettings(lens_sigma=(0.2, 2.0))


# --------------------------------------------------------------------------- synthesis


def _texture(shape, seed):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.uniform(size=shape), 2.0).clip(0, 1)


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), (_texture((140, 150), i) * 255).astype(np.uint8))
        paths.append(path)
    return paths


@pytest.mark.parametrize(("sizes", "error", "message"), [
    ((11, 4), ValueError, r"every size in kernel_sizes \(11, 4\) must be an odd integer >= 3 .* got 4; try 5"),
    ((11, 15.0), TypeError, r"every size in kernel_sizes \(11, 15.0\) must be an int, got float"),
])
def test_synthesis_kernel_sizes_must_be_odd_ints(sizes, error, message):
    with pytest.raises(error, match=message):
        SynthesisSettings(kernel_sizes=sizes)


def test_synthesis_is_deterministic_given_a_seed(image_files):
    quick = SynthesisSettings(kernel_sizes=(11, 15, 21))
    first = list(iter_blur_samples(image_files, rng=5, settings=quick, samples_per_image=2))
    again = list(iter_blur_samples(image_files, rng=5, settings=quick, samples_per_image=2))
    other = list(iter_blur_samples(image_files, rng=6, settings=quick, samples_per_image=2))
    assert len(first) == 6
    for a, b in zip(first, again):
        assert a.image_name == b.image_name and a.noise_sigma == b.noise_sigma
        assert np.array_equal(a.kernel, b.kernel) and np.array_equal(a.blurred, b.blurred)
        assert np.array_equal(a.sharp, b.sharp)
    assert not np.array_equal(first[0].blurred, other[0].blurred)
    # Sample (i, r) depends on the seed and (i, r) only, not on the images after it.
    alone = next(iter_blur_samples(image_files[:1], rng=5, settings=quick))
    assert np.array_equal(alone.blurred, first[0].blurred)


def test_samples_are_aligned_and_sigma_in_range(image_files):
    for sample in iter_blur_samples(image_files, rng=1, samples_per_image=2):
        name, sharp, kernel, blurred, sigma = sample
        assert name.endswith(".png")
        assert kernel.shape[0] % 2 == 1 and 11 <= kernel.shape[0] <= 55
        assert sharp.shape == blurred.shape
        assert 0.005 <= sigma <= 0.02
        clean = synthesize_blur(sharp, np.ones((1, 1)), noise_sigma=0.0)
        assert np.allclose(clean, sharp, atol=1e-12)


@SEEDED
@given(seed=seeds)
def test_noise_range_draws_inside_its_bounds(seed):
    sigma = NoiseRange().sample(seed)
    assert 0.005 <= sigma <= 0.02


@pytest.mark.parametrize("sigma", [0.005, 0.0123, 0.02])
def test_measured_noise_matches_sigma(sigma):
    sharp = _texture((300, 300), 0)
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    blurred = synthesize_blur(sharp, delta, noise_sigma=sigma, rng=0)
    residual = blurred - crop_valid(sharp, delta.shape)
    assert abs(residual.std() / sigma - 1.0) < 0.02
    assert abs(residual.mean()) < 3 * sigma / math.sqrt(residual.size)


def test_borders_valid_and_reflect():
    sharp = _texture((64, 80), 1)
    kernel = random_motion_kernel(15, rng=2)
    valid = synthesize_blur(sharp, kernel, noise_sigma=0.0, border="valid")
    reflect = synthesize_blur(sharp, kernel, noise_sigma=0.0, border="reflect")
    assert valid.shape == (50, 66) and reflect.shape == sharp.shape
    # Away from the border both are the same blur of the same pixels.
    assert np.allclose(crop_valid(reflect, kernel.shape), valid, atol=1e-12)
    direct = ndimage.convolve(sharp, kernel, mode="reflect")  # scipy mirrors with the edge pixel
    assert np.allclose(crop_valid(direct, kernel.shape), valid, atol=1e-12)


@pytest.mark.parametrize("sigma", [-0.01, float("nan"), float("inf"), 2.55])
def test_bad_noise_sigma_is_refused_with_its_name(sigma):
    with pytest.raises(ValueError, match="noise_sigma"):
        synthesize_blur(_texture((40, 40), 0), np.ones((3, 3)), noise_sigma=sigma)


def test_bad_synthesis_inputs():
    sharp = _texture((40, 40), 0)
    with pytest.raises(TypeError, match="noise_sigma"):
        synthesize_blur(sharp, np.ones((3, 3)), noise_sigma="0.01")
    with pytest.raises(ValueError, match="border"):
        synthesize_blur(sharp, np.ones((3, 3)), noise_sigma=0.01, border="wrap")
    with pytest.raises(ValueError, match="sharp"):
        synthesize_blur(sharp[:5, :5], np.ones((7, 7)), noise_sigma=0.01)
    with pytest.raises(ValueError, match="low"):
        NoiseRange(low=0.03, high=0.02)
    with pytest.raises(ValueError, match="kernel_sizes"):
        SynthesisSettings(kernel_sizes=(11, 12))


def test_load_gray_reads_8_and_16_bit_gray_colour_and_alpha(tmp_path):
    gray16 = (np.arange(60 * 70).reshape(60, 70) * 15).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.tif"), gray16)
    assert np.allclose(load_gray(tmp_path / "g16.tif"), gray16 / 65535.0)
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 2] = 200  # pure red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    assert np.allclose(load_gray(tmp_path / "red.png"), 0.299 * 200 / 255)
    bgra = np.dstack([bgr, np.full((20, 30), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "red_alpha.png"), bgra)
    assert np.allclose(load_gray(tmp_path / "red_alpha.png"), 0.299 * 200 / 255)
    colour16 = np.full((10, 10, 3), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "c16.tif"), colour16)
    assert np.allclose(load_gray(tmp_path / "c16.tif"), 40000 / 65535)
    with pytest.raises(FileNotFoundError, match="path"):
        load_gray(tmp_path / "missing.png")


def test_mosaic_tiles_four_images_in_order(image_files, tmp_path):
    tiles = [np.full((180, 180), v) for v in (0.1, 0.2, 0.3, 0.4)]
    mosaic = tile_mosaic(tiles)
    assert mosaic.shape == (360, 360)
    assert (mosaic[0, 0], mosaic[0, 359], mosaic[359, 0], mosaic[359, 359]) == (0.1, 0.2, 0.3, 0.4)
    with pytest.raises(ValueError, match="exactly 4"):
        tile_mosaic(tiles[:3])
    loaded = load_mosaic(image_files + image_files[:1])
    assert loaded.shape == (280, 300)


def test_mosaic_groups_are_deterministic_and_cover_each_tile_once():
    tiles = [Path("data/train400_bsd_gray") / f"test_{i:03d}.png" for i in range(1, 401)]
    others = [Path("data/bsd68_gray/test041.png")]
    singles, groups = group_mosaic_sources(others + tiles[::-1], rng=0)
    assert singles == others
    assert len(groups) == 100 and all(len(g) == 4 for g in groups)
    assert sorted(p for g in groups for p in g) == sorted(tiles)
    assert group_mosaic_sources(tiles, rng=0)[1] == groups  # independent of the input order
    assert group_mosaic_sources(tiles, rng=1)[1] != groups


# --------------------------------------------------------------------------- split


@pytest.fixture(scope="module")
def spec():
    return read_split_spec()


def _names(spec, subset):
    return spec["subsets"][subset]["files"]


def test_split_subsets_are_disjoint_and_follow_the_rules(spec):
    seen = {}
    for subset in SUBSETS:
        for name in _names(spec, subset):
            assert name not in seen, f"{name} is in both {seen.get(name)} and {subset}"
            seen[name] = subset
    def numbers(subset, folder):
        stems = [Path(n).stem for n in _names(spec, subset) if n.startswith(folder + "/")]
        return sorted(int(re.sub(r"\D", "", stem) or -1) for stem in stems)

    assert numbers("dev", "bsd68_gray") == list(range(1, 21))
    assert numbers("validation", "bsd68_gray") == list(range(21, 41))
    assert numbers("train", "bsd68_gray") == list(range(41, 69))
    assert numbers("validation", "mcmaster18") == list(range(12, 19))  # 12 overlaps 13
    assert numbers("train", "mcmaster18") == list(range(1, 12))
    assert len(numbers("dev", "set12_gray")) == 12 and len(numbers("dev", "set14")) == 14
    assert len(numbers("train", "train400_bsd_gray")) == 400
    assert len(numbers("train", "pan_text_lowlight_sharp")) == 21
    mosaic_folders = set(spec["mosaic_only"]["folders"])
    assert all(
        n.split("/")[0] not in mosaic_folders for subset in ("dev", "validation") for n in _names(spec, subset)
    )
    assert not any(n.startswith("cbsd68_color/") for subset in SUBSETS for n in _names(spec, subset))


def test_no_bsd68_scene_reaches_train_through_its_colour_twin(spec):
    twins = spec["bsd68_color_twins"]
    assert len(twins) == 68 and len(set(twins.values())) == 68
    scene_of_subset = {}
    for subset in SUBSETS:
        gray = [Path(n).name for n in _names(spec, subset) if n.startswith("bsd68_gray/")]
        expected = sorted("cbsd68_color/" + twins[name] for name in gray)
        assert sorted(spec["subsets"][subset]["color_twins"]) == expected
        for name in gray:
            scene_of_subset[twins[name]] = subset
    train_colour = {Path(n).name for n in spec["subsets"]["train"]["color_twins"]}
    for colour in train_colour:
        assert scene_of_subset[colour] == "train"
    assert len(scene_of_subset) == 68


@pytest.fixture(scope="module")
def data_root():
    root = default_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data folder {root} not found; set {DATA_ENV_VAR} to run the data checks")
    return root


def test_split_files_exist(data_root):
    split = load_split(data_root=data_root, include_color_twins=True)
    assert {k: len(v) for k, v in split.items()} == {"train": 488, "validation": 47, "dev": 66}
    assert all(path.is_file() for paths in split.values() for path in paths)


def test_colour_twins_match_the_data(data_root, spec):
    for gray_name, colour_name in list(spec["bsd68_color_twins"].items())[::4]:
        gray = load_gray(data_root / "bsd68_gray" / gray_name)
        colour = load_gray(data_root / "cbsd68_color" / colour_name)
        assert gray.shape == colour.shape
        assert np.abs(gray - colour).max() <= 0.52 / 255  # gray is the rounded BT.601 luma


def test_data_root_overrides_and_errors(data_root, monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV_VAR, str(data_root))
    assert default_data_root() == data_root
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=DATA_ENV_VAR):
        load_split()
    with pytest.raises(FileNotFoundError, match="data_root"):
        load_split(data_root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="missing"):
        load_split(data_root=tmp_path)


def test_split_json_is_the_committed_file():
    assert split_module.SPLIT_FILE.name == "split.json"
    assert json.loads(split_module.SPLIT_FILE.read_text(encoding="utf-8"))["version"] == 1
