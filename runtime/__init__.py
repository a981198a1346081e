"""Runtime of goodregions: window scoring with onnxruntime, region selectors, the
deblurring pipeline, streaming and the ``goodregions`` command. It never imports torch.

Names are imported lazily on first use, so ``import goodregions.runtime`` stays cheap and
does not load onnxruntime until a model is scored.
"""

import importlib

_PUBLIC = {
    "WindowScorer": "scorer",
    "ScoreMap": "scorer",
    "ModelError": "model_file",
    "InferenceError": "scorer",
    "ImageTooSmallError": "scorer",
    "Selection": "selectors",
    "SELECTORS": "selectors",
    "select_window": "selectors",
    "select_windows": "selectors",
    "Deblurrer": "pipeline",
    "Result": "pipeline",
    "deblur_stream": "stream",
    "read_image": "image_io",
    "write_image": "image_io",
    "main": "cli",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'goodregions.runtime' has no attribute {name!r}")
    module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
    return getattr(module, name)
