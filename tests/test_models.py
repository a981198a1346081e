"""Window scorers: shapes, budgets, no pooling, and dense scoring that matches per-window scoring."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from goodregions.export.models import (  # noqa: E402
    MODEL_NAMES,
    ModelConfig,
    build_model,
    count_flops,
    dense_window_scores,
)
from goodregions.export.windows import cut_windows, window_boxes  # noqa: E402
from goodregions.runtime.defaults import WINDOW_SIZE, WINDOW_STRIDE  # noqa: E402

# Dense (box-filtered frame logit map) against per-window logits of the unpadded edge model:
# the same cells, summed in another order in float32, so only rounding differs.
DENSE_ATOL = 1e-5


def _randomise_batchnorm(model, seed=0):
    """Give BatchNorm non-trivial statistics, so that the logits vary by O(1) between windows."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(n, generator=generator))
    model.head.weight.data.copy_(torch.randn(model.head.weight.shape, generator=generator))
    return model.eval()


def _textured_frame(rng, height, width, block=7):
    coarse = rng.random((height // block + 1, width // block + 1))
    frame = np.kron(coarse, np.ones((block, block)))[:height, :width]
    frame[:, : width // 3] = 0.5  # a flat part, so that windows differ
    return (frame + 0.02 * rng.standard_normal(frame.shape)).astype(np.float32)


def _per_window_and_dense(model, frame):
    boxes = window_boxes(frame.shape)
    with torch.no_grad():
        per_window = model(torch.from_numpy(cut_windows(frame, boxes))[:, None]).numpy()  # (K,)
        logit_map = model.logit_map(torch.from_numpy(frame)[None, None])[0, 0].numpy()  # (h, w)
    return per_window, dense_window_scores(logit_map, boxes, model.geometry(WINDOW_SIZE))


@pytest.mark.parametrize("name, size", [("edge", 228), ("resnet34s", 64)])
def test_shapes(name, size):
    model = build_model(name).eval()
    windows = torch.rand(3, 1, size, size)
    with torch.no_grad():
        logit_map, logits = model.logit_map(windows), model(windows)
    assert logit_map.dtype == torch.float32 and logit_map.shape[:2] == (3, 1)
    assert logits.shape == (3,)
    torch.testing.assert_close(logits, logit_map.mean(dim=(1, 2, 3)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_geometry_predicts_the_logit_map_size(name):
    model = build_model(name).eval()
    geometry = model.geometry(WINDOW_SIZE)
    with torch.no_grad():
        assert model.logit_map(torch.rand(1, 1, WINDOW_SIZE, WINDOW_SIZE)).shape[-1] == geometry.cells_per_window
        for height, width in [(300, 451), (97, 130)]:
            shape = model.logit_map(torch.rand(1, 1, height, width)).shape[-2:]
            if geometry.exact:  # valid convolutions: floor((n - field) / stride) + 1
                expected = tuple((n - geometry.receptive_field) // geometry.stride + 1 for n in (height, width))
            else:  # padded: ceil(n / stride)
                expected = tuple(-(-n // geometry.stride) for n in (height, width))
            assert tuple(shape) == expected


def test_edge_geometry_is_documented():
    geometry = build_model("edge").geometry(WINDOW_SIZE)
    assert (geometry.stride, geometry.offset, geometry.receptive_field, geometry.cells_per_window) == (4, 0, 48, 46)
    assert geometry.exact and WINDOW_STRIDE % geometry.stride == 0


def test_edge_fits_the_budget():
    params, flops = count_flops(build_model("edge"), WINDOW_SIZE, WINDOW_SIZE)
    assert params <= 1_000_000
    assert flops <= 0.25e9  # 2 x multiply-adds per 228 x 228 window
    assert flops > 0.1e9  # and the count is not trivially wrong


def test_flop_convention_is_two_per_multiply_add():
    params, flops = count_flops(torch.nn.Conv2d(1, 4, 3, bias=False), 10, 10)
    assert (params, flops) == (36, 2 * (8 * 8) * 4 * 9)


def test_resnet34s_has_no_pooling_and_the_resnet34_layout():
    model = build_model("resnet34s")
    pools = (torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d, torch.nn.LPPool2d)
    assert not [m for m in model.modules() if isinstance(m, pools)]
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 3]
    assert [stage[0].conv1.out_channels for stage in model.stages] == [64, 128, 256, 512]
    assert model.stem[0][0].in_channels == 1
    assert model.stem[1][0].stride == (2, 2)  # the strided conv in place of the max-pool
    assert model.geometry().stride == 32


def test_normalisation_is_inside_the_model():
    model = _randomise_batchnorm(build_model("edge"))
    with torch.no_grad():
        bright, dark = model(torch.full((1, 1, 228, 228), 0.9)), model(torch.full((1, 1, 228, 228), 0.1))
    assert not torch.allclose(bright, dark)  # the input range matters: [0, 1], not standardised per window


def test_dense_scores_match_per_window_scores_random_model():
    model = _randomise_batchnorm(build_model("edge"))
    frame = _textured_frame(np.random.default_rng(1), 320, 460)
    per_window, dense = _per_window_and_dense(model, frame)
    np.testing.assert_allclose(dense, per_window, rtol=0, atol=DENSE_ATOL)
    # Stronger: each window's own logit map is the documented block of the frame's map.
    geometry, boxes = model.geometry(WINDOW_SIZE), window_boxes(frame.shape)
    cells = geometry.cells_per_window
    with torch.no_grad():
        frame_map = model.logit_map(torch.from_numpy(frame)[None, None])[0, 0].numpy()
        window_maps = model.logit_map(torch.from_numpy(cut_windows(frame, boxes))[:, None])[:, 0].numpy()
    assert np.ptp(frame_map) > 0.1  # not vacuous
    for (x, y, _, _), window_map in zip(boxes, window_maps):
        block = frame_map[y // geometry.stride : y // geometry.stride + cells, x // geometry.stride : x // geometry.stride + cells]
        np.testing.assert_allclose(window_map, block, rtol=0, atol=DENSE_ATOL)


def test_dense_scores_match_per_window_scores_trained_model():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    frame = _textured_frame(rng, 300, 420)
    boxes = window_boxes(frame.shape)
    windows = torch.from_numpy(cut_windows(frame, boxes))[:, None]
    labels = torch.from_numpy((boxes[:, 0] > 100).astype(np.float32))  # windows off the flat part
    model = build_model("edge", ModelConfig(width=16))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(5):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(windows), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    per_window, dense = _per_window_and_dense(model.eval(), frame)
    assert np.ptp(per_window) > 1e-3
    np.testing.assert_allclose(dense, per_window, rtol=0, atol=DENSE_ATOL)
    assert np.argmax(dense) == np.argmax(per_window)


def test_dense_window_scores_validates():
    geometry = build_model("edge").geometry()
    with pytest.raises(ValueError, match="logit_map"):
        dense_window_scores(np.zeros(10), np.zeros((1, 4), int), geometry)
    with pytest.raises(ValueError, match="228"):
        dense_window_scores(np.zeros((60, 60)), np.array([[0, 0, 100, 100]]), geometry)


def test_bad_names_and_configs_are_refused():
    with pytest.raises(ValueError, match="name"):
        build_model("resnet50")
    with pytest.raises(TypeError, match="ModelConfig"):
        build_model("edge", {"width": 8})
    with pytest.raises(ValueError, match="width must be an int >= 1, got 0; or None for the model's default"):
        ModelConfig(width=0)
    with pytest.raises(TypeError, match="width must be an int, got float 8.0"):
        ModelConfig(width=8.0)


def test_the_models_load_without_numba():
    import subprocess
    import sys

    code = "import sys, goodregions.export.models; assert 'numba' not in sys.modules, 'export.models imported numba'"
    subprocess.run([sys.executable, "-c", code], check=True)
