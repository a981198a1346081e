"""ONNX export: parity with onnxruntime, metadata round trip, checksum, dynamic shapes, no overwrite."""

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from goodregions.export import onnx_export  # noqa: E402
from goodregions.export.models import ModelConfig, build_model, dense_window_scores  # noqa: E402
from goodregions.export.onnx_export import ParityError, export_onnx, sha256_path  # noqa: E402
from goodregions.export.train import TrainConfig, _save_checkpoint  # noqa: E402
from goodregions.export.windows import cut_windows, window_boxes  # noqa: E402
from goodregions.runtime.cli import main  # noqa: E402

TRAINING_DATA = {"samples": 3, "images": 3, "windows": 108, "positive_fraction": 0.3, "lambda": 0.75}


def _checkpoint(path, name, width=None, seed=0):
    """A checkpoint with random (non-trivial) BatchNorm statistics, as ``train`` writes it."""
    torch.manual_seed(seed)
    model = build_model(name, ModelConfig(width=width))
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(module.num_features, generator=generator))
    model.eval()
    with torch.no_grad():  # logits of a few units, as a trained model gives (atol is absolute)
        model.head.bias.zero_()
        peak = model.logit_map(torch.rand(2, 1, 228, 228, generator=generator)).abs().max()
        model.head.weight.mul_(5.0 / peak)
    metadata = {
        "model_name": name, "window_size": 228, "window_stride": 20, "good_similarity": 0.75, "lambda": 0.75,
        "training_data": TRAINING_DATA, "validation_data": {"samples": 1}, "git_commit": "0123abc", "package_version": "0.1.0",
    }
    _save_checkpoint(path, model=model.eval(), config=TrainConfig(model=name, width=width), epoch=3,
                     metrics={"epoch": 3, "val_auc": 0.8}, history=[], metadata=metadata)
    return path, model.eval()


@pytest.fixture(scope="module")
def edge_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    checkpoint, model = _checkpoint(folder / "best.pt", "edge")
    report = export_onnx(checkpoint, folder / "models" / "edge.onnx")
    return report, model, checkpoint


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_edge_export_matches_torch_on_dynamic_shapes(edge_export):
    report, model, _ = edge_export
    assert all(entry["max_abs_diff"] <= 1e-4 for entry in report["parity"].values())
    assert report["parity"]["frame"]["shape"] == [1, 1, 1080, 1920]
    session = _session(report["path"])
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 228, 228), (5, 1, 228, 228), (2, 1, 300, 451), (1, 1, 48, 48)]:
        image = rng.random(shape, dtype=np.float32)
        logit_map, logits = session.run(["logit_map", "logits"], {"image": image})
        with torch.no_grad():
            expected_map = model.logit_map(torch.from_numpy(image)).numpy()
        np.testing.assert_allclose(logit_map, expected_map, rtol=0, atol=1e-4)
        np.testing.assert_allclose(logits, expected_map.mean(axis=(1, 2, 3)), rtol=0, atol=1e-5)


def test_edge_export_dense_scores_match_window_scores_in_ort(edge_export):
    report, model, _ = edge_export
    session = _session(report["path"])
    frame = np.random.default_rng(1).random((280, 420), dtype=np.float32)
    boxes = window_boxes(frame.shape)
    (window_logits,) = session.run(["logits"], {"image": cut_windows(frame, boxes)[:, None]})
    (frame_map,) = session.run(["logit_map"], {"image": frame[None, None]})
    dense = dense_window_scores(frame_map[0, 0], boxes, model.geometry())
    np.testing.assert_allclose(dense, window_logits, rtol=0, atol=1e-5)


def test_graph_is_self_contained_opset_18_with_named_dynamic_axes(edge_export):
    report, _, _ = edge_export
    proto = onnx.load(str(report["path"]), load_external_data=False)
    assert max(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")) >= 18
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    (graph_input,) = proto.graph.input
    assert graph_input.name == "image"
    dims = graph_input.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["image_batch", 1, "image_height", "image_width"]
    assert [o.name for o in proto.graph.output] == ["logit_map", "logits"]
    assert not [n for n in proto.graph.node if n.op_type == "BatchNormalization"]  # folded into the convs


def test_metadata_round_trip(edge_export):
    report, model, _ = edge_export
    props = _session(report["path"]).get_modelmeta().custom_metadata_map
    assert props == report["metadata"]
    geometry = model.geometry(228)
    assert props["model_name"] == "edge" and props["window_size"] == "228" and props["window_stride"] == "20"
    assert props["input_range"] == "[0, 1]" and props["input_channels"] == "1" and props["input_name"] == "image"
    assert props["lambda"] == "0.75" and props["good_similarity"] == "0.75" and props["train_git_commit"] == "0123abc"
    assert props["logit_map_stride"] == str(geometry.stride) == "4"
    assert props["logit_map_offset"] == "0" and props["logit_map_receptive_field"] == "48"
    assert props["logit_map_cells_per_window"] == "46" and props["logit_map_exact"] == "true"
    assert "x//4 .. x//4+45" in props["logit_map_rule"]
    import json

    assert json.loads(props["training_data"]) == TRAINING_DATA
    assert props["package_version"] and props["git_commit"] and props["opset"] == "18"


def test_sha256_file_matches(edge_export):
    report, _, _ = edge_export
    path = report["path"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_path(path).name == "edge.onnx.sha256"
    assert sha256_path(path).read_text() == f"{digest}  edge.onnx\n"
    assert report["sha256"] == digest


def test_refuses_to_overwrite_unless_asked(edge_export, tmp_path):
    report, _, checkpoint = edge_export
    before = report["path"].read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(checkpoint, report["path"])
    assert report["path"].read_bytes() == before
    # The command line says so and exits 2; with --overwrite it replaces both files.
    assert main(["export-onnx", str(checkpoint), "-o", str(report["path"])]) == 2
    target = tmp_path / "copy.onnx"
    target.write_bytes(b"old")
    assert main(["export-onnx", str(checkpoint), "-o", str(target)]) == 2 and target.read_bytes() == b"old"
    assert main(["export-onnx", str(checkpoint), "-o", str(target), "--overwrite"]) == 0
    assert hashlib.sha256(target.read_bytes()).hexdigest() in sha256_path(target).read_text()


def test_parity_failure_writes_nothing(edge_export, tmp_path, monkeypatch):
    _, _, checkpoint = edge_export
    compare = onnx_export._parity

    def shifted(wrapper, path, inputs, atol):  # torch drifts by 1e-3: the check must catch it
        return compare(lambda x: tuple(t + 1e-3 for t in wrapper(x)), path, inputs, atol)

    monkeypatch.setattr(onnx_export, "_parity", shifted)
    with pytest.raises(ParityError, match="differ"):
        export_onnx(checkpoint, tmp_path / "bad.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_resnet34s_export_matches_torch(tmp_path):
    checkpoint, model = _checkpoint(tmp_path / "best.pt", "resnet34s", width=16)
    report = export_onnx(checkpoint, tmp_path / "resnet34s.onnx", frame=(96, 160))
    assert all(entry["max_abs_diff"] <= 1e-4 for entry in report["parity"].values())
    session = _session(report["path"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["model_name"] == "resnet34s" and props["logit_map_stride"] == "32" and props["logit_map_exact"] == "false"
    image = np.random.default_rng(2).random((2, 1, 100, 70), dtype=np.float32)
    logit_map, logits = session.run(None, {"image": image})
    assert logit_map.shape == (2, 1, 4, 3) and logits.shape == (2,)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(torch.from_numpy(image)).numpy(), rtol=0, atol=1e-4)


def test_bad_output_name_is_refused(edge_export, tmp_path):
    _, _, checkpoint = edge_export
    with pytest.raises(ValueError, match=".onnx"):
        export_onnx(checkpoint, tmp_path / "model.bin")
    with pytest.raises(FileNotFoundError):
        export_onnx(tmp_path / "missing.pt", tmp_path / "model.onnx")
