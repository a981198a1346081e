"""Find, verify and open a goodregions ONNX model: the loading half of :class:`~.scorer.WindowScorer`.

Resolution order: an explicit path, then ``$GOODREGIONS_MODEL``, then the bundled
``goodregions.models/goodregions-edge.onnx``. The file is read once; its SHA-256 is checked
against ``NAME.onnx.sha256`` (``sha256sum`` format, written by ``goodregions export-onnx``) and
the same bytes are handed to onnxruntime, so the checked file is the loaded one. The session's
metadata and signature are then checked against the contract of ``export/onnx_export.py``.
Every failure is a :class:`ModelError` with the fix in its message, never an onnxruntime
traceback.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import warnings
from pathlib import Path

__all__ = ["BUNDLED_MODEL", "MODEL_ENV", "ModelError", "import_onnxruntime", "int_entry", "open_session"]

MODEL_ENV = "GOODREGIONS_MODEL"
BUNDLED_MODEL = "goodregions-edge.onnx"
_CPU, _CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
_REQUIRED_METADATA = (
    "model_name", "window_size", "window_stride", "input_name", "input_channels", "input_range",
    "logit_map_stride", "logit_map_offset", "logit_map_receptive_field", "logit_map_cells_per_window", "logit_map_exact",
)
_INPUT_NAME, _OUTPUT_NAMES = "image", ("logit_map", "logits")


class ModelError(Exception):
    """The model file is missing, corrupt, modified, or does not follow the goodregions contract."""


def import_onnxruntime():
    """Import onnxruntime, or raise an ImportError that names the extra to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            'window scoring needs onnxruntime: pip install "goodregions[cpu]" (or "goodregions[gpu]" on a CUDA '
            "machine; never both)"
        ) from error
    return onnxruntime


def _resolve_model(model):
    """Return ``(label, model bytes, checksum text or None)`` of the explicit, environment or bundled model."""
    if model is not None:
        path, origin = Path(model), "model"
    elif os.environ.get(MODEL_ENV):
        path, origin = Path(os.environ[MODEL_ENV]), f"${MODEL_ENV}"
    else:
        resource = importlib.resources.files("goodregions.models") / BUNDLED_MODEL
        if not resource.is_file():
            raise ModelError(
                f"no model given and none is shipped yet (goodregions.models/{BUNDLED_MODEL} does not exist); pass one "
                f"with --model PATH (WindowScorer(model=PATH)) or set {MODEL_ENV}=PATH to an .onnx file written by "
                "`goodregions export-onnx`"
            )
        checksum = resource.parent / (BUNDLED_MODEL + ".sha256")
        return f"bundled {BUNDLED_MODEL}", resource.read_bytes(), checksum.read_text("ascii") if checksum.is_file() else None
    if not path.is_file():
        raise ModelError(
            f"{origin}: model file {str(path)!r} does not exist (or is not a file); pass an .onnx file written by "
            f"`goodregions export-onnx` with --model PATH or {MODEL_ENV}=PATH"
        )
    checksum = path.with_name(path.name + ".sha256")
    return str(path), path.read_bytes(), checksum.read_text("ascii", errors="replace") if checksum.is_file() else None


def _verify_checksum(label, data, checksum_text):
    name = Path(label).name
    if checksum_text is None:
        raise ModelError(
            f"{label}: checksum file {name}.sha256 is missing next to the model; it is written by `goodregions "
            f"export-onnx`, or create it in the model's folder with `sha256sum {name} > {name}.sha256` if you trust the file"
        )
    fields = checksum_text.split()
    expected = fields[0].lower() if fields else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ModelError(f"{label}: {name}.sha256 does not hold a SHA-256 in sha256sum format ('<64 hex>  {name}'); recreate it with sha256sum")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(
            f"{label}: SHA-256 {actual[:16]}... differs from {name}.sha256 ({expected[:16]}...): the model file is corrupt "
            "or modified; copy or export it again"
        )
    return actual


def int_entry(metadata, key, label, *, minimum):
    text = metadata[key]
    try:
        value = int(text)
    except ValueError:
        raise ModelError(f"{label}: metadata {key}={text!r} is not an integer; the model was not exported by goodregions") from None
    if value < minimum:
        raise ModelError(f"{label}: metadata {key}={value} must be >= {minimum}")
    return value


def _check_contract(session, label):
    """Check the metadata and the input/output signature; return the metadata dict."""
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ModelError(
            f"{label}: not a goodregions window scorer: metadata_props lacks {', '.join(missing)}; use a model written by "
            "`goodregions export-onnx`"
        )
    inputs, outputs = session.get_inputs(), [o.name for o in session.get_outputs()]
    if metadata["input_name"] != _INPUT_NAME or len(inputs) != 1 or inputs[0].name != _INPUT_NAME:
        raise ModelError(f"{label}: expected one input named {_INPUT_NAME!r}, got {[i.name for i in inputs]} (metadata says {metadata['input_name']!r})")
    shape = inputs[0].shape
    if inputs[0].type != "tensor(float)" or len(shape) != 4 or shape[1] != 1:
        raise ModelError(f"{label}: input {_INPUT_NAME!r} must be float32 (N, 1, H, W) gray, got {inputs[0].type} of shape {shape}")
    if metadata["input_channels"] != "1" or metadata["input_range"].replace(" ", "") != "[0,1]":
        raise ModelError(
            f"{label}: metadata says input_channels={metadata['input_channels']!r}, input_range={metadata['input_range']!r}; "
            "this runtime feeds 1 gray channel in [0, 1]"
        )
    if any(name not in outputs for name in _OUTPUT_NAMES):
        raise ModelError(f"{label}: expected outputs {list(_OUTPUT_NAMES)}, got {outputs}")
    if metadata["logit_map_exact"] not in ("true", "false"):
        raise ModelError(f"{label}: metadata logit_map_exact must be 'true' or 'false', got {metadata['logit_map_exact']!r}")
    return metadata


def _provider_list(providers, available):
    """Translate ``providers`` into the list passed to onnxruntime; return ``(list, cuda_requested)``."""
    if isinstance(providers, str):
        choice = providers.lower()
        if choice == "auto":
            return ([_CUDA] if _CUDA in available else []) + [_CPU], _CUDA in available
        if choice == "cpu":
            return [_CPU], False
        if choice == "cuda":
            return ([_CUDA] if _CUDA in available else []) + [_CPU], True
        raise ValueError(f"providers must be 'auto', 'cpu', 'cuda' or a list of onnxruntime provider names, got {providers!r}")
    names = list(providers)
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"providers must be 'auto', 'cpu', 'cuda' or a non-empty list of provider names, got {providers!r}")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"providers {unknown} are not available in this onnxruntime (available: {available}); use 'auto'")
    return names, _CUDA in names


def open_session(model, providers):
    """Resolve, verify and open ``model``; check its contract.

    Parameters
    ----------
    model : path or None
        See :class:`~goodregions.runtime.scorer.WindowScorer`.
    providers : {"auto", "cpu", "cuda"} or list of str

    Returns
    -------
    session : onnxruntime.InferenceSession
    label : str
        The model's path, or "bundled goodregions-edge.onnx".
    sha256 : str
    metadata : dict of str

    Raises
    ------
    ModelError, ImportError, ValueError

    Warns
    -----
    RuntimeWarning
        CUDA was requested and the session runs elsewhere (``session.get_providers()`` is the
        truth: onnxruntime-gpu lists CUDA even on machines without a GPU).
    """
    ort = import_onnxruntime()
    label, data, checksum_text = _resolve_model(model)
    sha256 = _verify_checksum(label, data, checksum_text)
    available = ort.get_available_providers()
    requested, wants_cuda = _provider_list(providers, available)
    ort.set_default_logger_severity(3)  # errors only: no C++ log spam on stderr
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        with warnings.catch_warnings():
            # onnxruntime's own "provider not available" warning; ours below says what runs.
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            session = ort.InferenceSession(data, options, providers=requested)
    except Exception as error:  # onnxruntime raises its own pybind classes (InvalidProtobuf, Fail, ...)
        raise ModelError(
            f"{label}: onnxruntime cannot load the file ({type(error).__name__}: {str(error).strip()[:300]}); it is not "
            "an ONNX model, is truncated, or needs a newer onnxruntime; export it again with `goodregions export-onnx`"
        ) from error
    running = session.get_providers()[0]
    logging.getLogger(__name__).info("window scorer %s (sha256 %s...) runs on %s", label, sha256[:12], running)
    if wants_cuda and running != _CUDA:
        warnings.warn(
            f"CUDA was requested but onnxruntime runs {label} on {running} (available: {available}); install "
            '"goodregions[gpu]" with CUDA 13 and cuDNN 9, or pass providers="cpu" to silence this',
            RuntimeWarning, stacklevel=3,
        )
    return session, label, sha256, _check_contract(session, label)
