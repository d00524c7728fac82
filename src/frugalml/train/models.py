"""Small model factories for the bench tasks, plus the dtype wrapper of reduced-precision models.

``mlp`` and ``small_cnn`` build plain ``nn.Sequential`` stacks of modules (no
functional calls), so every technique can work on them: eager-mode int8 can fuse
and wrap them, Torch-Pruning can trace them. ``width`` scales every hidden width,
so ``functools.partial(mlp, 64, 256, 10)`` is a ``TrainData.make_model`` factory
whose ``width=0.25`` call builds a distillation student.

This module imports torch; ``frugalml.train`` loads it on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from frugalml._params import check_number
from frugalml.errors import InputError

__all__ = ["DtypeWrapper", "mlp", "small_cnn"]


def _scaled(owner: str, n: int, width: float) -> int:
    check_number(owner, "width", width, low=0, low_open=True)
    return max(1, round(n * width))


def mlp(
    in_features: int,
    hidden: int = 256,
    n_classes: int = 10,
    depth: int = 2,
    *,
    width: float = 1.0,
    batchnorm: bool = False,
) -> nn.Sequential:
    """A multilayer perceptron: ``depth`` hidden layers of ``round(hidden * width)`` units.

    Layout: ``[Linear, (BatchNorm1d), ReLU] * depth, Linear``.

    Args:
        in_features: input features.
        hidden: hidden units per layer at width 1.
        n_classes: output logits.
        depth: number of hidden layers (0 gives a linear model).
        width: multiplier of ``hidden``.
        batchnorm: put a BatchNorm1d after each hidden Linear.

    Example:
        >>> sum(p.numel() for p in mlp(64, 256, 10, depth=2).parameters())
        85002
    """
    check_number("mlp", "in_features", in_features, low=1, integer=True)
    check_number("mlp", "hidden", hidden, low=1, integer=True)
    check_number("mlp", "n_classes", n_classes, low=1, integer=True)
    check_number("mlp", "depth", depth, low=0, integer=True)
    h = _scaled("mlp", hidden, width)
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        fan_in = h
    layers.append(nn.Linear(fan_in, n_classes))
    return nn.Sequential(*layers)


def small_cnn(
    in_channels: int = 1,
    n_classes: int = 10,
    channels: Sequence[int] = (16, 32, 64),
    *,
    width: float = 1.0,
    batchnorm: bool = True,
) -> nn.Sequential:
    """A small convolutional net for small images (digits' 1x8x8 by default).

    Layout: per entry of ``channels`` a 3x3 ``Conv2d`` (padding 1), ``BatchNorm2d``,
    ``ReLU``; a 2x2 ``MaxPool2d`` after every second block; then global average pooling,
    ``Flatten`` and a ``Linear`` classifier. Works for any input size >= 2 ** (blocks // 2).

    Args:
        in_channels: input channels.
        n_classes: output logits.
        channels: output channels of each conv block at width 1.
        width: multiplier of every entry of ``channels``.
        batchnorm: put a BatchNorm2d after each conv.

    Example:
        >>> small_cnn()(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    check_number("small_cnn", "in_channels", in_channels, low=1, integer=True)
    check_number("small_cnn", "n_classes", n_classes, low=1, integer=True)
    if not channels:
        raise InputError("small_cnn needs at least one entry in 'channels', e.g. (16, 32, 64).")
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c in enumerate(channels):
        c_out = _scaled("small_cnn", c, width)
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes)]
    return nn.Sequential(*layers)


class DtypeWrapper(nn.Module):
    """Runs ``module`` in ``dtype``: casts floating inputs in and outputs back to float32.

    Reduced-precision models (bf16, fp16) are returned wrapped in this, so callers feed
    float32 tensors and get float32 logits without knowing the inner dtype.

    Example:
        >>> m = DtypeWrapper(nn.Linear(4, 2).to(torch.bfloat16), torch.bfloat16)
        >>> m(torch.zeros(3, 4)).dtype
        torch.float32
    """

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            x = x.to(self.dtype)
        out = self.module(x)
        return out.float() if out.is_floating_point() else out
