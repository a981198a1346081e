"""Window-quality classifiers: a dense ``edge`` net and ``resnet34s``, a ResNet34 without pooling.

Both models read a gray window ``(N, 1, H, W)`` float32 in [0, 1], normalise it inside the
model with fixed constants (never per-window statistics, which would make a window's score
depend on how it was cut), and share one form::

    trunk -> 1x1 conv -> logit map (N, 1, h, w) -> mean over (h, w) -> window logit (N,)

A linear head commutes with the mean, so the mean of the logit map is exactly what a global
average pool followed by a linear layer would give; and the same graph scores one window, a
batch, or a whole frame. For a frame, the runtime box-filters the logit map (integral image)
to score every window position at once: a window averages the cells given by
:meth:`geometry`.

``edge`` uses only unpadded ("valid") convolutions with a total stride of 4, which divides
the window stride of 20: the logit map of a window cut at ``(x, y)`` with ``x, y`` multiples
of 4 is *exactly* a block of the frame's logit map, so dense scores equal per-window scores
up to float rounding. ``resnet34s`` pads every convolution (as ResNet does) and has a stride
of 32: its dense scores only approximate the per-window ones (cells near a window's border see
real pixels instead of zero padding); it is the accurate, slow per-window model.

References
----------
He, Zhang, Ren and Sun, "Deep residual learning for image recognition", CVPR 2016 (ResNet34:
3-4-6-3 basic blocks of 64-128-256-512 channels).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["MODEL_NAMES", "ModelConfig", "LogitMapGeometry", "EdgeNet", "ResNet34S", "build_model", "count_flops", "dense_window_scores"]

MODEL_NAMES = ("edge", "resnet34s")


@dataclass(frozen=True)
class ModelConfig:
    """Settings of a window scorer.

    Attributes
    ----------
    input_mean, input_std : float
        Fixed normalisation ``(x - input_mean) / input_std`` of the [0, 1] input, inside the model.
    width : int or None
        Base channel width; None takes the model's default (32 for ``edge``, whose trunk runs
        16 -> width x 4 -> 2 width, and 64 for ``resnet34s``, whose stages are width x 1, 2, 4, 8).
    """

    input_mean: float = 0.5
    input_std: float = 0.25
    width: int | None = None

    def __post_init__(self):
        if not (isinstance(self.input_std, (int, float)) and self.input_std > 0):
            raise ValueError(f"input_std must be a positive number, got {self.input_std!r}")
        # Not kernels_fast._validate.check_int: importing any kernels_fast module loads Numba and
        # every jitted core (0.8 s), which the torch side never needs. Same messages as check_int.
        if self.width is not None:
            if isinstance(self.width, bool) or not isinstance(self.width, numbers.Integral):
                raise TypeError(f"width must be an int, got {type(self.width).__name__} {self.width!r}")
            if self.width < 1:
                raise ValueError(f"width must be an int >= 1, got {self.width!r}; or None for the model's default")


@dataclass(frozen=True)
class LogitMapGeometry:
    """Where the logit-map cells sit on the input.

    Cell ``(i, j)`` is computed from input rows ``[i * stride + offset, ... + receptive_field)``
    and the same columns (``offset`` is minus the accumulated zero padding). A window
    ``(x, y, w, h)`` averages ``cells_per_window`` rows starting at ``y // stride`` and as
    many columns starting at ``x // stride`` (for ``x, y`` multiples of ``stride``; otherwise
    the runtime rounds ``x / stride`` to the nearest cell and the score is an approximation).
    ``exact`` tells whether that block equals the window's own logit map bit for bit (up to
    float rounding): true for unpadded models.
    """

    stride: int
    offset: int
    receptive_field: int
    cells_per_window: int
    window_size: int
    exact: bool


def _conv_bn_relu(in_channels, out_channels, kernel_size, *, stride=1, padding=0, dilation=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _WindowScorer(nn.Module):
    """Shared front and back: fixed normalisation in, mean of the logit map out."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        # Buffers, so that they travel with the state dict and are constants in the ONNX graph.
        self.register_buffer("input_mean", torch.tensor(float(config.input_mean)), persistent=False)
        self.register_buffer("input_scale", torch.tensor(1.0 / float(config.input_std)), persistent=False)

    def trunk(self, x):  # pragma: no cover - overridden
        raise NotImplementedError

    def logit_map(self, x):
        """Per-cell logits ``(N, 1, h, w)`` of gray input ``x`` ``(N, 1, H, W)`` in [0, 1]."""
        x = (x - self.input_mean) * self.input_scale  # (N, 1, H, W), about zero mean, unit spread
        return self.head(self.trunk(x))  # (N, 1, h, w)

    def forward(self, x):
        """Window logits ``(N,)``: the mean of :meth:`logit_map` (sigmoid -> P(good window))."""
        return self.logit_map(x).mean(dim=(1, 2, 3))  # (N,)


class EdgeNet(_WindowScorer):
    """Small, fully convolutional, unpadded scorer for dense whole-frame scoring.

    Layers (every conv is bias-free, followed by BatchNorm and ReLU, except the head)::

        normalise      (x - 0.5) / 0.25                         (N,  1, H,      W)
        conv 4x4 /2    1 -> 16                                   (N, 16, (H-4)//2+1, ...)
        conv 3x3 /2    16 -> 32                                  stride 4
        conv 3x3       32 -> 32
        conv 3x3 d2    32 -> 32  (dilation 2: wider context at the same cost)
        conv 3x3 d2    32 -> 32
        conv 1x1       32 -> 64
        head 1x1       64 -> 1 (with bias)                       (N,  1, h, w)

    Geometry (default width): stride 4, offset 0, receptive field 48 px, so an input of
    side ``n >= 48`` gives ``(n - 48) // 4 + 1`` cells: 46 for a 228 window, 259 x 469 for a
    1080 x 1920 frame. Logit-map cell ``(i, j)`` sees input rows ``4i ... 4i + 47`` and
    columns ``4j ... 4j + 47`` (centre at ``4i + 23.5``). A window ``(x, y, 228, 228)`` with
    ``x, y`` multiples of 4 (every window on the stride-20 grid) averages map rows
    ``y/4 ... y/4 + 45`` and columns ``x/4 ... x/4 + 45``, which is exactly its own logit
    map: no padding anywhere, so no border artefacts and dense == per-window scores.
    About 40 k parameters and 0.17 GFLOPs per 228 x 228 window (2 x multiply-adds).
    """

    def __init__(self, config):
        super().__init__(config)
        width = config.width or 32
        stem = max(width // 2, 4)
        self.body = nn.Sequential(
            _conv_bn_relu(1, stem, 4, stride=2),
            _conv_bn_relu(stem, width, 3, stride=2),
            _conv_bn_relu(width, width, 3),
            _conv_bn_relu(width, width, 3, dilation=2),
            _conv_bn_relu(width, width, 3, dilation=2),
            _conv_bn_relu(width, 2 * width, 1),
        )
        self.head = nn.Conv2d(2 * width, 1, 1)

    def trunk(self, x):
        return self.body(x)  # (N, 1, H, W) -> (N, 2 width, (H - 48) // 4 + 1, (W - 48) // 4 + 1)

    def geometry(self, window_size=228):
        """The :class:`LogitMapGeometry` of this model for windows of ``window_size``."""
        return _geometry([m for m in self.body.modules() if isinstance(m, nn.Conv2d)], window_size, exact=True)


class _BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or strided 1x1 projection) shortcut."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C', h / s, w / s)
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet34S(_WindowScorer):
    """ResNet34 on one gray channel with every pooling layer replaced by a strided convolution.

    Region quality is not translation invariant (where the edges sit in the window matters
    to the estimator), so the stem's max-pool becomes a learned 3x3 stride-2 convolution, and
    the global average pool plus linear layer become a 1x1 conv to a logit map and its mean::

        normalise, conv 7x7 /2 (1 -> 64), BN, ReLU              (N,  64, H/2,  W/2)
        conv 3x3 /2 (64 -> 64), BN, ReLU   (was max-pool)       (N,  64, H/4,  W/4)
        3 basic blocks, 64                                      (N,  64, H/4,  W/4)
        4 basic blocks, 128, first /2                           (N, 128, H/8,  W/8)
        6 basic blocks, 256, first /2                           (N, 256, H/16, W/16)
        3 basic blocks, 512, first /2                           (N, 512, H/32, W/32)
        head 1x1 (512 -> 1), mean over the map                  (N,)

    Every conv is padded, so each stride-2 layer maps output ``j`` to input ``2j``: cell
    ``(i, j)`` is centred on input pixel ``(32 i, 32 j)``; a 228 window has an 8 x 8 map.
    Dense scores of a frame only approximate per-window scores (see the module docstring).
    """

    def __init__(self, config):
        super().__init__(config)
        width = config.width or 64
        widths = (width, 2 * width, 4 * width, 8 * width)
        self.stem = nn.Sequential(
            _conv_bn_relu(1, width, 7, stride=2, padding=3),
            _conv_bn_relu(width, width, 3, stride=2, padding=1),  # replaces the 3x3 /2 max-pool
        )
        stages, in_channels = [], width
        for index, (channels, blocks) in enumerate(zip(widths, (3, 4, 6, 3))):
            stride = 1 if index == 0 else 2
            stage = [_BasicBlock(in_channels, channels, stride)]
            stage += [_BasicBlock(channels, channels, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            in_channels = channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.Conv2d(in_channels, 1, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.head:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, _BasicBlock):
                nn.init.zeros_(module.bn2.weight)  # each residual branch starts as the identity

    def trunk(self, x):
        return self.stages(self.stem(x))  # (N, 1, H, W) -> (N, 8 width, ceil(H / 32), ceil(W / 32))

    def geometry(self, window_size=228):
        """The :class:`LogitMapGeometry` of this model for windows of ``window_size``."""
        main_path = [m for m in self.stem.modules() if isinstance(m, nn.Conv2d)]
        for block in self.stages.modules():
            if isinstance(block, _BasicBlock):
                main_path += [block.conv1, block.conv2]  # the shortcut's field is inside the main path's
        return _geometry(main_path, window_size, exact=False)


def _geometry(convs, window_size, *, exact):
    """Stride, offset and receptive field of a chain of square convolutions, by conv arithmetic."""
    stride, offset, field, size = 1, 0, 1, window_size
    for conv in convs:
        k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
        span = d * (k - 1) + 1
        field += (span - 1) * stride
        offset -= p * stride
        stride *= s
        size = (size + 2 * p - span) // s + 1
    return LogitMapGeometry(stride=stride, offset=offset, receptive_field=field, cells_per_window=size, window_size=window_size, exact=exact)


def build_model(name, config=None):
    """Build an untrained scorer.

    Parameters
    ----------
    name : {"edge", "resnet34s"}
    config : ModelConfig, optional

    Returns
    -------
    torch.nn.Module
        ``forward(x)``: ``(N, 1, H, W)`` float32 in [0, 1] -> window logits ``(N,)``;
        ``logit_map(x)`` -> ``(N, 1, h, w)``; ``geometry(window_size)``.
    """
    if config is None:
        config = ModelConfig()
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if name == "edge":
        return EdgeNet(config)
    if name == "resnet34s":
        return ResNet34S(config)
    raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")


def count_flops(model, height=228, width=228):
    """Count parameters and FLOPs of one ``(1, 1, height, width)`` forward pass.

    Convention: FLOPs = 2 x the multiply-adds of the convolution and linear layers (bias,
    BatchNorm, ReLU and the normalisation are left out: BatchNorm folds into the conv
    weights at export, and the others are O(1) per activation).

    Returns
    -------
    (int, int)
        Number of parameters and FLOPs.
    """
    macs = 0

    def _hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            per_output = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
            macs += output.numel() * per_output
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(_hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, height, width))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return params, 2 * macs


def dense_window_scores(logit_map, boxes, geometry):
    """Window logits from a frame's logit map by box filtering (integral image).

    Parameters
    ----------
    logit_map : ndarray, shape (h, w)
        The logit map of a whole frame (``model.logit_map`` of a ``(1, 1, H, W)`` frame).
    boxes : ndarray of int, shape (K, 4)
        Windows ``(x, y, w, h)`` on the frame; ``w`` and ``h`` must equal ``geometry.window_size``.
    geometry : LogitMapGeometry

    Returns
    -------
    ndarray, float64, shape (K,)
        Mean of the ``cells_per_window`` x ``cells_per_window`` block starting at cell
        ``(round(y / stride), round(x / stride))`` (clamped to the map): exactly the window's
        own logit when ``x, y`` are multiples of the stride and ``geometry.exact``.
    """
    logit_map = np.asarray(logit_map, dtype=np.float64)
    boxes = np.asarray(boxes)
    if logit_map.ndim != 2:
        raise ValueError(f"logit_map must have shape (h, w), got {logit_map.shape}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (K, 4) of (x, y, w, h), got {boxes.shape}")
    if np.any(boxes[:, 2:] != geometry.window_size):
        raise ValueError(f"every box must be {geometry.window_size} x {geometry.window_size}, got sizes {np.unique(boxes[:, 2:])}")
    cells = geometry.cells_per_window
    rows, cols = logit_map.shape
    if rows < cells or cols < cells:
        raise ValueError(f"logit_map {logit_map.shape} is smaller than one window's {cells} x {cells} cells")
    integral = np.zeros((rows + 1, cols + 1))
    integral[1:, 1:] = logit_map.cumsum(0).cumsum(1)
    # Half-up rounding (floor(v + 0.5)) rather than numpy's round-half-even: a shift is a shift.
    top = np.clip(np.floor(boxes[:, 1] / geometry.stride + 0.5).astype(np.int64), 0, rows - cells)
    left = np.clip(np.floor(boxes[:, 0] / geometry.stride + 0.5).astype(np.int64), 0, cols - cells)
    total = integral[top + cells, left + cells] - integral[top, left + cells] - integral[top + cells, left] + integral[top, left]
    return total / (cells * cells)
