"""Train a window scorer on the label shards (``goodregions train``).

Defaults follow the paper: binary cross-entropy on logits, SGD with momentum 0.9, learning
rate 1e-3, batches of 32 windows, 20 epochs. Windows are cut on the fly from the whole
blurred image stored in each shard sample, so the pixels a window sees are exactly those the
labels were computed on.

Augmentation keeps the label valid. The label says how well the blind estimator recovers the
kernel from a window, measured by a kernel similarity that is invariant to shifts. The eight
symmetries of the square (flips, transposes, rotations by multiples of 90 degrees) map the
window and its blur kernel together (``flip(k * u) = flip(k) * flip(u)``), and the estimator
is equivariant to them: its priors use horizontal and vertical gradients and square
dark-channel patches, which the symmetries permute, up to the one-pixel shift of a flipped
forward difference, which the similarity ignores. So ``augment="dihedral"`` draws one of the
eight per window. Anything else would change the label: rotations by other angles resample
(blurring the blur and the noise), rescaling changes the kernel size, and brightness or
contrast changes move the noise level and the saturation the estimator reacts to.

Validation is split by source image, never by window: the shards given as validation, or
else a seeded ``val_fraction`` of the training image names held out together with all
their samples and windows.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from goodregions.runtime.defaults import GOOD_SIMILARITY, WINDOW_STRIDE

from ._train_data import WindowDataset, data_summary, evaluate, git_commit, load_samples, package_version, split_by_image
from .models import MODEL_NAMES, ModelConfig, build_model

__all__ = ["TrainConfig", "train", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "goodregions-checkpoint/1"
AUGMENTATIONS = ("none", "dihedral")
# What ``best.pt`` is chosen by. The pooled AUC also rewards telling an easy sample from a
# hard one, and it once ranked three models the wrong way round; the top-1 window's
# similarity measures the scorer's job, ranking the windows of one image (BENCHMARKS.md).
SELECTION_METRICS = {"top1": "val_top1_similarity", "auc": "val_auc"}
_LOGGER_NAME = "goodregions.export.train"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (the paper's defaults).

    Attributes
    ----------
    model : {"edge", "resnet34s"}
    epochs, batch_size : int
    lr, momentum, weight_decay : float
        SGD settings.
    seed : int
        Seeds python, numpy and torch (and the shuffling and the validation split).
    augment : {"dihedral", "none"}
        See the module docstring.
    val_fraction : float
        Share of training *images* held out when no validation shards are given.
    max_windows_per_epoch : int or None
        Draw at most this many windows per epoch (quick runs); None uses every window.
    device : str
        ``"cpu"`` or ``"cuda"``.
    width : int or None
        :class:`ModelConfig` ``width`` (None: the model's default).
    select_by : {"top1", "auc"}
        ``best.pt`` is the epoch with the highest validation top-1 window similarity
        (``val_top1_similarity``) or the highest pooled validation AUC.
    """

    model: str = "edge"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    augment: str = "dihedral"
    val_fraction: float = 0.2
    max_windows_per_epoch: int | None = None
    device: str = "cpu"
    width: int | None = None
    select_by: str = "top1"

    def __post_init__(self):
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {MODEL_NAMES}, got {self.model!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        if self.select_by not in SELECTION_METRICS:
            raise ValueError(f"select_by must be one of {tuple(SELECTION_METRICS)}, got {self.select_by!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.max_windows_per_epoch is not None and self.max_windows_per_epoch < 1:
            raise ValueError(f"max_windows_per_epoch must be positive or None, got {self.max_windows_per_epoch!r}")


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _open_logger(run_dir):
    logger = logging.getLogger(_LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers = [logging.FileHandler(run_dir / "train.log", encoding="utf-8"), logging.StreamHandler()]
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger, handlers


def _prepare_run_dir(out, overwrite):
    run_dir = Path(out)
    existing = [run_dir / name for name in ("last.pt", "best.pt", "train.log", "history.json")]
    if any(path.exists() for path in existing) and not overwrite:
        raise FileExistsError(f"out folder {run_dir} already holds a training run; pass overwrite=True (--overwrite) or choose another folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink(missing_ok=True)
    return run_dir


def _save_checkpoint(path, *, model, config, epoch, metrics, history, metadata):
    state = {
        "format": CHECKPOINT_FORMAT,
        "model_name": config.model,
        "model_config": asdict(model.config),
        "train_config": asdict(config),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "epoch": epoch,
        "metrics": metrics,
        "history": history,
        "metadata": metadata,
    }
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path):
    """Load a checkpoint written by :func:`train`.

    Returns
    -------
    (torch.nn.Module, dict)
        The model in eval mode on the CPU, and the checkpoint dict (metadata, metrics, configs).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or not a goodregions checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train one with `goodregions train`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds (KeyError, EOFError, UnpicklingError, ...) on a bad file
        # torch's own text is internal (and for UnpicklingError advises weights_only=False): name the kind only
        raise ValueError(f"{path} cannot be read as a checkpoint ({type(error).__name__}); it is damaged or "
                         f"not a torch file: use best.pt or last.pt of a `goodregions train` run") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} file written by `goodregions train`")
    try:
        model = build_model(state["model_name"], ModelConfig(**state["model_config"]))
        model.load_state_dict(state["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:  # RuntimeError: weights that do not fit the model
        raise ValueError(f"{path} is a damaged {CHECKPOINT_FORMAT} file ({type(error).__name__}: {error}); "
                         f"train again or use another checkpoint of the run") from error
    return model.eval(), state


def _as_paths(value):
    return [Path(value)] if isinstance(value, (str, os.PathLike)) else [Path(p) for p in value]


def train(shards, *, out, config=None, validation_shards=None, overwrite=False):
    """Train a scorer and write ``last.pt``, ``best.pt``, ``train.log`` and ``history.json`` in ``out``.

    Parameters
    ----------
    shards : path or list of paths
        Label folders (``goodregions label``); their ``train`` shards train the model.
    out : path
        Run folder (created).
    config : TrainConfig, optional
    validation_shards : path or list of paths, optional
        Folders whose ``validation`` shards validate (default: ``shards``); when there are
        none, ``config.val_fraction`` of the training images is held out (by image name).
    overwrite : bool
        Replace a previous run in ``out``.

    Returns
    -------
    dict
        ``run_dir``, ``best`` (path), ``last`` (path), ``best_metrics`` and ``history``.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    train_dirs = _as_paths(shards)
    samples, settings = load_samples(train_dirs, "train")
    val_dirs = train_dirs if validation_shards is None else _as_paths(validation_shards)
    val_samples, val_settings = load_samples(val_dirs, "validation", required=validation_shards is not None)
    if not val_samples:  # no validation shards: hold out whole images of the training shards
        samples, val_samples = split_by_image(samples, config.val_fraction, rng=config.seed)
        val_dirs, val_settings = [], settings
    overlap = {s.image for s in samples} & {s.image for s in val_samples}
    if overlap:
        raise ValueError(f"validation shards share {len(overlap)} image(s) with the training shards, e.g. {sorted(overlap)[0]!r}; split by image")
    summaries = (data_summary(samples, train_dirs, settings), data_summary(val_samples, val_dirs, val_settings))
    run_dir = _prepare_run_dir(out, overwrite)
    previous_threads = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(cores)
    logger, handlers = _open_logger(run_dir)
    try:
        return _train(samples, val_samples, summaries, run_dir, config, logger, cores)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        torch.set_num_threads(previous_threads)


def _train(samples, val_samples, summaries, run_dir, config, logger, cores):
    _seed_everything(config.seed)
    device = torch.device(config.device)
    model = build_model(config.model, ModelConfig(width=config.width)).to(device)
    labels = summaries[0].get("labelling", {}).get("labels", {})
    window_size = int(samples[0].boxes[0, 2])
    geometry = model.geometry(window_size)
    metadata = {
        "model_name": config.model,
        "window_size": window_size,
        "window_stride": int(labels.get("window_stride", WINDOW_STRIDE)),
        "good_similarity": float(labels.get("threshold", GOOD_SIMILARITY)),
        "training_data": summaries[0],
        "validation_data": summaries[1],
        "git_commit": git_commit(),
        "package_version": package_version(),
        "torch_version": str(torch.__version__),
        "logit_map": asdict(geometry),
    }
    metadata["lambda"] = metadata["good_similarity"]  # the label threshold: good when similarity > lambda
    logger.info("model %s, geometry %s, device %s, %d threads", config.model, asdict(geometry), device, cores)
    logger.info("config %s", json.dumps(asdict(config)))
    logger.info("training data %s", json.dumps(metadata["training_data"]))
    logger.info("validation data %s", json.dumps(metadata["validation_data"]))
    dataset = WindowDataset(samples, augment=config.augment == "dihedral")
    generator = torch.Generator().manual_seed(config.seed)
    sampler = torch.utils.data.RandomSampler(dataset, num_samples=min(config.max_windows_per_epoch or len(dataset), len(dataset)), generator=generator)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=False)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    selection_key = SELECTION_METRICS[config.select_by]
    history, best_value, best_metrics = [], -np.inf, None
    for epoch in range(1, config.epochs + 1):
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", leave=False, unit="batch")
        for windows, labels in bar:
            windows, labels = windows.to(device), labels.to(device)  # (B, 1, 228, 228), (B,)
            loss = loss_fn(model(windows), labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(labels)
            count += len(labels)
            bar.set_postfix(loss=f"{total / count:.4f}")
        metrics = {"epoch": epoch, "train_loss": total / max(count, 1), "train_seconds": time.perf_counter() - start}
        metrics.update(evaluate(model, val_samples, batch_size=config.batch_size, device=device) if val_samples else {})
        history.append(metrics)
        logger.info("epoch %d %s", epoch, json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}))
        _save_checkpoint(run_dir / "last.pt", model=model, config=config, epoch=epoch, metrics=metrics, history=history, metadata=metadata)
        value = metrics.get(selection_key, float("nan"))
        if best_metrics is None or (np.isfinite(value) and value > best_value):
            best_value, best_metrics = (value if np.isfinite(value) else -np.inf), metrics
            _save_checkpoint(run_dir / "best.pt", model=model, config=config, epoch=epoch, metrics=metrics, history=history, metadata=metadata)
            logger.info("epoch %d is the best so far (%s %.4f)", epoch, selection_key, value)
    (run_dir / "history.json").write_text(json.dumps({"config": asdict(config), "history": history}, indent=1), encoding="utf-8")
    return {"run_dir": run_dir, "best": run_dir / "best.pt", "last": run_dir / "last.pt", "best_metrics": best_metrics, "history": history}

