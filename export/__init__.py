"""Training side of goodregions: synthetic blur, window labels, the window-scoring models,
training and ONNX export.

The data modules (motion kernels, synthesis, split, windows, labelling) need only numpy
and OpenCV. The models, training and export need the ``train`` extra (torch). Names are
imported lazily on first use, so ``import goodregions.export`` stays cheap and works
without torch.
"""

import importlib

_PUBLIC = {
    "MotionKernelSettings": "motion_kernels",
    "random_motion_kernel": "motion_kernels",
    "NoiseRange": "synthesis",
    "SynthesisSettings": "synthesis",
    "BlurSample": "synthesis",
    "load_gray": "synthesis",
    "synthesize_blur": "synthesis",
    "iter_blur_samples": "synthesis",
    "load_split": "split",
    "count_windows": "windows",
    "window_boxes": "windows",
    "cut_windows": "windows",
    "LabelSettings": "labelling",
    "label_windows": "labelling",
    "load_shards": "label_store",
    "summary": "label_store",
    "ModelConfig": "models",
    "build_model": "models",
    "count_flops": "models",
    "TrainConfig": "train",
    "load_checkpoint": "train",
    "export_onnx": "onnx_export",
    "ParityError": "onnx_export",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'goodregions.export' has no attribute {name!r}")
    module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
    return getattr(module, name)
