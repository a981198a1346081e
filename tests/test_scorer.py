"""WindowScorer on the tiny committed ONNX fixture: contract checks, providers, dense vs windows.

Needs onnxruntime only (never torch). Regenerate the fixtures with
``python tests/fixtures/make_tiny_model.py``.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from goodregions.export.windows import window_boxes  # noqa: E402
from goodregions.runtime import scorer as scorer_module  # noqa: E402
from goodregions.runtime.scorer import (  # noqa: E402
    MODEL_ENV, ImageTooSmallError, InferenceError, ModelError, ScoreMap, WindowScorer,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY = FIXTURES / "tiny_scorer.onnx"
# ORT averages the logit map in float32; the dense box filter sums it in float64.
DENSE_ATOL = 1e-4


@pytest.fixture(scope="module")
def scorer():
    return WindowScorer(TINY, providers="cpu")


@pytest.fixture(scope="module")
def blocks():
    """A 300 x 400 image of random 10-pixel blocks in [0.1, 0.9]."""
    rng = np.random.default_rng(1)
    return np.kron(rng.random((30, 40)), np.ones((10, 10))) * 0.8 + 0.1


def _copy(tmp_path, source=TINY, name="model.onnx"):
    target = tmp_path / name
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_name(source.name + ".sha256"), target.with_name(name + ".sha256"))
    return target


def _write_with_checksum(path, data):
    import hashlib

    path.write_bytes(data)
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


def test_metadata_and_geometry(scorer):
    assert (scorer.window_size, scorer.stride) == (228, 20)
    assert scorer.geometry.stride == 4 and scorer.geometry.exact
    assert scorer.geometry.cells_per_window == (228 - 6) // 4 + 1
    assert scorer.provider == "CPUExecutionProvider"
    assert scorer.metadata["model_name"] == "tiny-test"
    assert len(scorer.sha256) == 64


@pytest.mark.parametrize("size, stride", [(228, 20), (64, 8)])
def test_dense_equals_windows(blocks, size, stride):
    scorer = WindowScorer(TINY, providers="cpu", window_size=size, stride=stride, batch_size=32)
    dense = scorer.score(blocks, mode="dense")
    windows = scorer.score(blocks, mode="windows")
    assert dense.scores.shape == windows.scores.shape == ((300 - size) // stride + 1, (400 - size) // stride + 1)
    assert dense.scores.dtype == np.float32
    np.testing.assert_array_equal(dense.boxes, window_boxes(blocks.shape, size=size, stride=stride))
    np.testing.assert_allclose(dense.scores, windows.scores, atol=DENSE_ATOL, rtol=0)
    assert (dense.mode, windows.mode) == ("dense", "windows")


def test_score_windows_matches_logit_of_each_window(scorer, blocks):
    score_map = scorer.score(blocks, mode="windows")
    x, y, w, h = score_map.boxes[5]
    single = scorer.score_windows(blocks[None, y:y + h, x:x + w])
    assert single[0] == pytest.approx(score_map.scores.ravel()[5], abs=1e-6)


def test_top_orders_scores(scorer, blocks):
    score_map = scorer.score(blocks)
    boxes, scores = score_map.top(4)
    assert boxes.shape == (4, 4) and np.all(np.diff(scores) <= 0)
    assert scores[0] == score_map.scores.max()
    assert len(score_map.top(10_000)[0]) == score_map.scores.size
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        score_map.top(0)


def test_score_map_is_read_only(scorer, blocks):
    score_map = scorer.score(blocks)
    assert isinstance(score_map, ScoreMap)
    with pytest.raises(ValueError):
        score_map.scores[0, 0] = 1.0


def test_dtypes_and_colour_agree(scorer, blocks):
    as_uint8 = np.round(blocks * 255).astype(np.uint8)
    as_uint16 = as_uint8.astype(np.uint16) * 257  # the same values at 16 bits
    reference = scorer.score(as_uint8.astype(np.float64) / 255).scores
    np.testing.assert_allclose(scorer.score(as_uint8).scores, reference, atol=1e-5)
    np.testing.assert_allclose(scorer.score(as_uint16).scores, reference, atol=1e-5)
    rgb = np.repeat(as_uint8[..., None], 3, axis=2)  # gray RGB: luminance weights sum to 1
    np.testing.assert_allclose(scorer.score(rgb).scores, reference, atol=1e-4)


def test_bad_images(scorer, blocks):
    with pytest.raises(ImageTooSmallError, match="smaller than one 228x228 window") as info:
        scorer.score(blocks[:200])
    assert isinstance(info.value, ValueError)  # the pipeline catches ValueError and falls back to whole
    nan = blocks.copy()
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        scorer.score(nan)
    with pytest.raises(ValueError, match="alpha"):
        scorer.score(np.zeros((300, 400, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scorer.score(blocks * 255)
    with pytest.raises(TypeError):
        scorer.score(blocks.tolist())
    with pytest.raises(ValueError, match="mode"):
        scorer.score(blocks, mode="sparse")


def test_stride_off_the_map_grid_is_approximate_but_finds_texture():
    image = np.full((480, 480), 0.5)
    image[220:420, 240:440] = np.kron(np.random.default_rng(2).random((25, 25)), np.ones((8, 8))) * 0.8 + 0.1
    scorer = WindowScorer(TINY, providers="cpu", stride=6)  # not a multiple of the map stride 4
    x, y, w, h = scorer.score(image).top(1)[0][0]
    assert x <= 240 and y <= 220 and x + w >= 440 and y + h >= 420


def test_cuda_request_falls_back_to_cpu_with_warning():
    with pytest.warns(RuntimeWarning, match="CUDA was requested"):
        scorer = WindowScorer(TINY, providers="cuda")
    assert scorer.provider == "CPUExecutionProvider"


def test_available_providers_lying_about_cuda(monkeypatch):
    # onnxruntime-gpu without a GPU lists CUDA; only session.get_providers() tells the truth.
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.warns(RuntimeWarning, match="CUDA was requested"):
        scorer = WindowScorer(TINY, providers="auto")
    assert scorer.provider == "CPUExecutionProvider"


def test_bad_options():
    with pytest.raises(ValueError, match="providers"):
        WindowScorer(TINY, providers="tpu")
    with pytest.raises(ValueError, match="not available"):
        WindowScorer(TINY, providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="window_size"):
        WindowScorer(TINY, window_size=0)
    with pytest.raises(ModelError, match="choose a larger window_size"):
        WindowScorer(TINY, window_size=2)  # smaller than the 3x3 convolution


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ImportError, match=r"goodregions\[cpu\]"):
        WindowScorer(TINY)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        WindowScorer(tmp_path / "absent.onnx")


def test_model_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(_copy(tmp_path)))
    assert WindowScorer().metadata["model_name"] == "tiny-test"
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "gone.onnx"))
    with pytest.raises(ModelError, match=MODEL_ENV):
        WindowScorer()


def test_no_model_shipped(monkeypatch):
    import importlib.resources

    if (importlib.resources.files("goodregions.models") / scorer_module.BUNDLED_MODEL).is_file():
        pytest.skip("a model is bundled now")
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(ModelError, match="none is shipped yet.*--model"):
        WindowScorer()


def test_missing_checksum(tmp_path):
    model = _copy(tmp_path)
    model.with_name(model.name + ".sha256").unlink()
    with pytest.raises(ModelError, match="sha256sum model.onnx > model.onnx.sha256"):
        WindowScorer(model)


def test_checksum_mismatch(tmp_path):
    model = _copy(tmp_path)
    model.with_name(model.name + ".sha256").write_text("0" * 64 + "  model.onnx\n")
    with pytest.raises(ModelError, match="corrupt or modified"):
        WindowScorer(model)
    model.with_name(model.name + ".sha256").write_text("not a checksum\n")
    with pytest.raises(ModelError, match="sha256sum format"):
        WindowScorer(model)


def test_truncated_and_non_onnx_files(tmp_path):
    data = TINY.read_bytes()
    with pytest.raises(ModelError, match="cannot load"):
        WindowScorer(_write_with_checksum(tmp_path / "truncated.onnx", data[: len(data) // 2]))
    with pytest.raises(ModelError, match="cannot load"):
        WindowScorer(_write_with_checksum(tmp_path / "text.onnx", b"this is not a model\n"))


def test_models_breaking_the_contract():
    with pytest.raises(ModelError, match="lacks model_name"):
        WindowScorer(FIXTURES / "no_metadata.onnx")
    with pytest.raises(ModelError, match=r"\(N, 1, H, W\) gray"):
        WindowScorer(FIXTURES / "wrong_input.onnx")


def test_onnxruntime_failure_becomes_inference_error(blocks):
    scorer = WindowScorer(TINY, providers="cpu")

    class Failing:
        def run(self, outputs, feeds):
            raise RuntimeError("out of memory")

    scorer._session = Failing()
    with pytest.raises(InferenceError, match="out of memory"):
        scorer.score(blocks)


def test_runtime_never_imports_torch():
    code = (
        "import sys\n"
        "import goodregions.runtime\n"
        "assert 'torch' not in sys.modules, 'goodregions.runtime imported torch'\n"
        "import numpy as np\n"
        "from goodregions.runtime import cli, score_command, scorer, selectors\n"
        f"s = scorer.WindowScorer({str(TINY)!r}, providers='cpu')\n"
        "selectors.select_window(np.full((240, 240), 0.5), scorer=s)\n"
        "assert 'torch' not in sys.modules, 'scoring imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
