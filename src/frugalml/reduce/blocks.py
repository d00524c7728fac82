"""Lightweight convolution blocks as drop-in variants of a CNN, trained from scratch.

- ``depthwise`` (MobileNet, Howard et al. 2017; ESPNetv2, Mehta et al. 2019): each k x k
  convolution becomes a depthwise k x k convolution (one filter per input channel),
  BatchNorm, ReLU, then a pointwise 1 x 1 convolution. MACs of a ``c_in -> c_out`` layer
  drop from ``k^2 c_in c_out`` to ``k^2 c_in + c_in c_out`` per output position.
- ``fire`` (SqueezeNet, Iandola et al. 2016): each k x k convolution becomes a Fire module:
  a 1 x 1 "squeeze" to ``squeeze_ratio * c_out`` channels, ReLU, then 1 x 1 and 3 x 3
  "expand" convolutions concatenated to ``c_out`` channels (``pct_3x3`` of them 3 x 3).
- ``weight-sharing`` (:mod:`frugalml.reduce.sharing`) builds on the same base class.

The first convolution (a single input channel for the bench's images) is kept as it is in
``depthwise`` and ``fire``, as MobileNet and SqueezeNet keep a standard first layer. The
transforms work on any model's ``Conv2d`` modules, whatever its class: they replace modules
in place.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Needs, Technique, count_params

if TYPE_CHECKING:
    import torch
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["Depthwise", "Fire", "depthwise_separable", "fire_modules"]


def _replace_convs(model: nn.Module, min_in_channels: int, make: Any) -> int:
    """Replace, in place, every plain k>1 Conv2d with >= min_in_channels inputs by make(conv)."""
    torch = require("torch", "lightweight blocks")
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
        and m.groups == 1
        and max(m.kernel_size) > 1
        and m.in_channels >= min_in_channels
    ]
    for name, conv in targets:
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], make(conv))
    return len(targets)


def depthwise_separable(model: nn.Module, *, min_in_channels: int = 2) -> int:
    """Turn k x k convolutions into depthwise k x k + BatchNorm + ReLU + pointwise 1 x 1, in place.

    Returns the number of convolutions replaced.

    Example:
        >>> from frugalml.train import small_cnn
        >>> m = small_cnn(1, 10, (8, 16))
        >>> depthwise_separable(m)
        1
    """
    torch = require("torch", "depthwise")
    nn_ = torch.nn

    def make(conv: Any) -> nn.Module:
        c_in, c_out = conv.in_channels, conv.out_channels
        return nn_.Sequential(
            nn_.Conv2d(
                c_in,
                c_in,
                conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                groups=c_in,
                bias=False,
            ),
            nn_.BatchNorm2d(c_in),
            nn_.ReLU(),
            nn_.Conv2d(c_in, c_out, 1, bias=conv.bias is not None),
        )

    return _replace_convs(model, min_in_channels, make)


def fire_modules(
    model: nn.Module, *, squeeze_ratio: float = 0.25, pct_3x3: float = 0.5, min_in_channels: int = 2
) -> int:
    """Turn k x k convolutions into SqueezeNet Fire modules of the same output width, in place.

    Returns the number of convolutions replaced.

    Example:
        >>> from frugalml.train import small_cnn
        >>> m = small_cnn(1, 10, (8, 16))
        >>> fire_modules(m)
        1
    """
    check_number("fire_modules", "squeeze_ratio", squeeze_ratio, low=0, low_open=True, high=1)
    check_number("fire_modules", "pct_3x3", pct_3x3, low=0, low_open=True, high=1)
    from frugalml.reduce.layers import FireModule as fire_cls

    def make(conv: Any) -> nn.Module:
        c_out = conv.out_channels
        e3 = max(1, round(c_out * pct_3x3))
        return fire_cls(
            conv.in_channels,
            max(1, round(c_out * squeeze_ratio)),
            c_out - e3,
            e3,
            kernel_size=conv.kernel_size[0],
            stride=conv.stride[0],
        )

    return _replace_convs(model, min_in_channels, make)


class _BlockTechnique(Technique):
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=("conv",))

    epochs: int | None
    lr: float | None

    @abstractmethod
    def _transform(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        """The task's CNN with its blocks replaced by this technique's."""

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", self.name)
        from frugalml.profiler import profile

        example = data.example_input(1)
        before = profile(model, (example,))
        torch.manual_seed(data.seed)
        try:
            variant = self._transform(model, example)
        except InputError as e:
            raise self._fail("cannot transform the model", e) from e
        after = profile(variant, (example,))
        self.params_before_, self.params_after_ = count_params(model), count_params(variant)
        self.macs_before_, self.macs_after_ = int(before.macs), int(after.macs)
        self.macs_reduction_ = self.macs_before_ / max(self.macs_after_, 1)
        self.param_reduction_ = self.params_before_ / max(self.params_after_, 1)
        self.epochs_run_ = self._fit(variant, data, epochs=self.epochs, lr=self.lr).epochs_run
        return variant


class Depthwise(_BlockTechnique):
    """Depthwise-separable convolutions in place of k x k convolutions; train from scratch.

    Args:
        min_in_channels: convolutions with fewer input channels are kept (the first one).
        epochs, lr: None take the recipe's.

    Learned state:
        replaced_convs_, params_before_/params_after_, macs_before_/macs_after_ (per
        sample, frugalml.profiler), macs_reduction_, param_reduction_, epochs_run_.

    Example:
        >>> model = Depthwise().apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "depthwise"
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = "Howard et al. 2017, MobileNets; Mehta et al. 2019, ESPNetv2"

    def __init__(
        self, min_in_channels: int = 2, epochs: int | None = None, lr: float | None = None
    ) -> None:
        self.min_in_channels = min_in_channels
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        check_number(
            type(self).__name__, "min_in_channels", self.min_in_channels, low=1, integer=True
        )
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _transform(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        variant = copy.deepcopy(model)
        self.replaced_convs_ = depthwise_separable(variant, min_in_channels=self.min_in_channels)
        if not self.replaced_convs_:
            raise self._fail("no k x k convolution to replace")
        return variant


class Fire(_BlockTechnique):
    """SqueezeNet Fire modules in place of k x k convolutions; train from scratch.

    Args:
        squeeze_ratio: squeeze channels as a fraction of the output channels, in (0, 1].
        pct_3x3: fraction of the expand channels that are 3 x 3, in (0, 1].
        min_in_channels: convolutions with fewer input channels are kept (the first one).
        epochs, lr: None take the recipe's.

    Learned state: as :class:`Depthwise`.

    Example:
        >>> model = Fire(squeeze_ratio=0.25).apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "fire"
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = "Iandola et al. 2016, SqueezeNet"

    def __init__(
        self,
        squeeze_ratio: float = 0.25,
        pct_3x3: float = 0.5,
        min_in_channels: int = 2,
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.squeeze_ratio = squeeze_ratio
        self.pct_3x3 = pct_3x3
        self.min_in_channels = min_in_channels
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "squeeze_ratio", self.squeeze_ratio, low=0, low_open=True, high=1)
        check_number(owner, "pct_3x3", self.pct_3x3, low=0, low_open=True, high=1)
        check_number(owner, "min_in_channels", self.min_in_channels, low=1, integer=True)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _transform(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        variant = copy.deepcopy(model)
        self.replaced_convs_ = fire_modules(
            variant,
            squeeze_ratio=self.squeeze_ratio,
            pct_3x3=self.pct_3x3,
            min_in_channels=self.min_in_channels,
        )
        if not self.replaced_convs_:
            raise self._fail("no k x k convolution to replace")
        return variant
