"""Export a trained scorer to one self-contained ONNX file, checked against torch.

``goodregions export-onnx CHECKPOINT -o models/NAME.onnx`` writes

- ``NAME.onnx``: opset 18, weights inside (no external data), BatchNorm folded by the exporter.
  Input ``image`` ``(image_batch, 1, image_height, image_width)`` float32 gray in [0, 1]; the
  normalisation is inside the graph. Outputs ``logit_map`` ``(N, 1, h, w)``, the per-cell
  window-quality logits, and ``logits`` ``(N,)``, their mean: the window logit when the input
  is one window (``sigmoid(logit)`` = P(good window)). For a whole frame, ignore ``logits``
  and box-filter ``logit_map`` as the ``logit_map_*`` metadata say.
- ``NAME.onnx.sha256``: the SHA-256 of the ONNX file in ``sha256sum`` format
  (``<64 hex>  NAME.onnx``), which the runtime verifies before loading (``sha256sum -c`` works).

Metadata (``metadata_props``, all strings): ``model_name``, ``window_size``, ``window_stride``,
``input_name``, ``input_channels``, ``input_range``, ``input_layout``, ``outputs``,
``good_similarity`` and ``lambda`` (the labels' similarity threshold), ``package_version``,
``training_data`` and ``validation_metrics`` (JSON), ``train_git_commit``, ``git_commit`` (at
export), ``torch_version``, ``opset``, and the logit-map geometry: ``logit_map_stride``,
``logit_map_offset``, ``logit_map_receptive_field``, ``logit_map_cells_per_window``,
``logit_map_exact`` and ``logit_map_rule`` (the cells a window averages, in words).

Nothing is written unless torch and onnxruntime agree within ``atol`` (1e-4) on a batch of
random windows and on a random full frame (1080 x 1920 for ``edge``, smaller for the slow
``resnet34s``): the graph is built in a hidden temporary file next to the output, checked,
and renamed into place; an existing output is never replaced without ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ._train_data import git_commit, package_version
from .train import load_checkpoint

__all__ = ["OPSET", "INPUT_NAME", "OUTPUT_NAMES", "ParityError", "ScorerExport", "export_onnx", "sha256_path"]

OPSET = 18
INPUT_NAME = "image"
OUTPUT_NAMES = ("logit_map", "logits")
DEFAULT_FRAMES = {"edge": (1080, 1920), "resnet34s": (320, 480)}


class ParityError(RuntimeError):
    """torch and onnxruntime disagree on the exported graph; nothing was written."""


class ScorerExport(torch.nn.Module):
    """Export wrapper: raw [0, 1] gray image in, ``(logit_map, logits)`` out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        logit_map = self.model.logit_map(image)  # (N, 1, h, w), normalisation inside
        return logit_map, logit_map.mean(dim=(1, 2, 3))  # (N, 1, h, w), (N,)


def sha256_path(onnx_path):
    """The checksum file of ``onnx_path``: ``NAME.onnx`` -> ``NAME.onnx.sha256``."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name + ".sha256")


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _quiet_exporter():
    """Silence the exporter's notes on optional torchvision ops (never installed here)."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # pytree deprecations inside torch.export
            yield
    finally:
        logger.setLevel(level)


def _metadata(state, geometry, *, opset):
    meta = state["metadata"]
    cells, stride = geometry.cells_per_window, geometry.stride
    window = meta["window_size"]
    rule = (
        f"window (x, y, {window}, {window}) averages logit_map rows y//{stride} .. y//{stride}+{cells - 1} and columns "
        f"x//{stride} .. x//{stride}+{cells - 1} ({cells}x{cells} cells); cell (i, j) sees input rows "
        f"{stride}*i{geometry.offset:+d} .. {stride}*i{geometry.offset:+d}+{geometry.receptive_field - 1} and the same columns; "
        + ("exact (equals the window's own logit) when x and y are multiples of the stride" if geometry.exact
           else "approximate: the model pads its convolutions, so cells near a window's border differ from the window's own")
        + f"; for x or y not a multiple of {stride}, round x/{stride} and y/{stride} to the nearest cell"
    )
    return {
        "model_name": state["model_name"],
        "window_size": str(window),
        "window_stride": str(meta["window_stride"]),
        "input_name": INPUT_NAME,
        "input_channels": "1",
        "input_range": "[0, 1]",
        "input_layout": f"float32 (N, 1, H, W) gray, H and W >= {max(geometry.receptive_field if geometry.exact else 32, 1)}; normalised inside the graph",
        "outputs": "logit_map: (N, 1, h, w) per-cell logits of window quality; logits: (N,) mean of logit_map, the window "
        "logit when the input is one window; sigmoid(logit) = P(window is good, i.e. kernel similarity > lambda)",
        "good_similarity": str(meta["good_similarity"]),
        "lambda": str(meta["lambda"]),
        "package_version": package_version(),
        "training_data": json.dumps(meta["training_data"], sort_keys=True),
        "validation_metrics": json.dumps(state.get("metrics", {}), sort_keys=True),
        "train_git_commit": str(meta["git_commit"]),
        "git_commit": git_commit(),
        "torch_version": str(torch.__version__),
        "opset": str(opset),
        "logit_map_stride": str(stride),
        "logit_map_offset": str(geometry.offset),
        "logit_map_receptive_field": str(geometry.receptive_field),
        "logit_map_cells_per_window": str(cells),
        "logit_map_exact": "true" if geometry.exact else "false",
        "logit_map_rule": rule,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _parity(wrapper, path, inputs, atol):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    report = {}
    for name, array in inputs.items():
        onnx_map, onnx_logits = session.run(list(OUTPUT_NAMES), {INPUT_NAME: array})
        with torch.no_grad():
            torch_map, torch_logits = (t.numpy() for t in wrapper(torch.from_numpy(array)))
        if onnx_map.shape != torch_map.shape or onnx_logits.shape != torch_logits.shape:
            raise ParityError(f"{name}: ONNX output shapes {onnx_map.shape}, {onnx_logits.shape} differ from torch's {torch_map.shape}, {torch_logits.shape}")
        diff = max(float(np.abs(onnx_map - torch_map).max()), float(np.abs(onnx_logits - torch_logits).max()))
        report[name] = {"shape": list(array.shape), "max_abs_diff": diff}
        if not diff <= atol:
            raise ParityError(f"{name} {array.shape}: torch and onnxruntime differ by {diff:.3g} > atol {atol:g}")
    return report


def export_onnx(checkpoint, output, *, overwrite=False, atol=1e-4, frame=None, rng=0):
    """Export ``checkpoint`` to ``output`` (``.onnx``) and its ``.onnx.sha256`` after a parity check.

    Parameters
    ----------
    checkpoint : path
        ``best.pt`` or ``last.pt`` of ``goodregions train``.
    output : path
        The ``.onnx`` file to write.
    overwrite : bool
        Replace an existing ``output`` (and its checksum file).
    atol : float
        Largest allowed absolute difference between torch and onnxruntime outputs.
    frame : (int, int), optional
        ``(H, W)`` of the full-frame parity check (default 1080 x 1920 for ``edge``,
        320 x 480 for ``resnet34s``).
    rng : int or numpy.random.Generator
        Seed of the random parity inputs.

    Returns
    -------
    dict
        ``path``, ``sha256``, ``sha256_path``, ``bytes``, ``parity`` and ``metadata``.

    Raises
    ------
    FileExistsError
        ``output`` exists and ``overwrite`` is False.
    ParityError
        torch and onnxruntime disagree; nothing is written.
    """
    import onnx

    output = Path(output)
    if output.suffix != ".onnx":
        raise ValueError(f"output must end in .onnx, got {str(output)!r}; for example models/edge.onnx")
    checksum = sha256_path(output)
    if not overwrite and (output.exists() or checksum.exists()):
        raise FileExistsError(f"{output if output.exists() else checksum} already exists; pass overwrite=True (--overwrite) or choose another name")
    model, state = load_checkpoint(checkpoint)
    geometry = model.geometry(state["metadata"]["window_size"])
    wrapper = ScorerExport(model).eval()
    window = geometry.window_size
    smallest = geometry.receptive_field if geometry.exact else 32
    example = torch.rand(2, 1, window, window, generator=torch.Generator().manual_seed(0))
    dims = torch.export.Dim
    dynamic = {INPUT_NAME: {0: dims(f"{INPUT_NAME}_batch"), 2: dims(f"{INPUT_NAME}_height", min=smallest), 3: dims(f"{INPUT_NAME}_width", min=smallest)}}
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with _quiet_exporter():
            torch.onnx.export(
                wrapper, (example,), str(temporary), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                opset_version=OPSET, dynamo=True, external_data=False, dynamic_shapes=dynamic, verbose=False,
            )
        proto = onnx.load(str(temporary))
        metadata = _metadata(state, geometry, opset=OPSET)
        onnx.helper.set_model_props(proto, metadata)
        proto.doc_string = f"goodregions window scorer {state['model_name']}: " + metadata["outputs"]
        onnx.checker.check_model(proto, full_check=True)
        onnx.save_model(proto, str(temporary), save_as_external_data=False)
        generator = np.random.default_rng(rng)
        height, width = frame or DEFAULT_FRAMES.get(state["model_name"], (320, 480))
        inputs = {
            "windows": generator.random((3, 1, window, window), dtype=np.float32),
            "frame": generator.random((1, 1, height, width), dtype=np.float32),
        }
        parity = _parity(wrapper, temporary, inputs, atol)
        if output.exists() and not overwrite:  # appeared meanwhile
            raise FileExistsError(f"{output} already exists; pass overwrite=True (--overwrite)")
        digest = _file_sha256(temporary)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    checksum.write_text(f"{digest}  {output.name}\n", encoding="ascii")
    return {"path": output, "sha256": digest, "sha256_path": checksum, "bytes": output.stat().st_size, "parity": parity,
            "metadata": metadata, "geometry": asdict(geometry)}
