"""Lightweight convolution blocks as drop-in variants of a CNN, trained from scratch.

- ``depthwise`` (MobileNet, Howard et al. 2017; ESPNetv2, Mehta et al. 2019): each k x k
  convolution becomes a depthwise k x k convolution (one filter per input channel),
  BatchNorm, ReLU, then a pointwise 1 x 1 convolution. MACs of a ``c_in -> c_out`` layer
  drop from ``k^2 c_in c_out`` to ``k^2 c_in + c_in c_out`` per output position.
- ``fire`` (SqueezeNet, Iandola et al. 2016): each k x k convolution becomes a Fire module:
  a 1 x 1 "squeeze" to ``squeeze_ratio * c_out`` channels, ReLU, then 1 x 1 and 3 x 3
  "expand" convolutions concatenated to ``c_out`` channels (``pct_3x3`` of them 3 x 3).
- ``weight-sharing`` (Universal Transformer, Dehghani et al. 2019; ALBERT, Lan et al. 2020):
  after the first convolution, every convolution is the *same* module, applied at each depth
  (``repeats`` times), at one width; BatchNorms stay per depth (their statistics differ
  between depths). The gain is in parameters (model size); MACs depend on the width.

The first convolution (a single input channel for the bench's images) is kept as it is in
``depthwise`` and ``fire``, as MobileNet and SqueezeNet keep a standard first layer. The
transforms work on any model's ``Conv2d`` modules (``depthwise``, ``fire``) or on a
``frugalml.train.small_cnn``-like ``nn.Sequential`` (``weight-sharing``).
"""

from __future__ import annotations

import copy
import functools
from abc import abstractmethod
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Technique, count_params

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

# FireModule is a torch module, defined on first access
__all__ = [
    "Depthwise",
    "Fire",
    "WeightSharing",
    "depthwise_separable",
    "fire_modules",
    "share_weights",
]

_LAZY = ("FireModule",)


@functools.cache
def _modules() -> SimpleNamespace:
    require("torch", "lightweight blocks")
    import torch
    from torch import nn as nn_

    class FireModule(nn_.Module):
        """SqueezeNet's Fire module: 1x1 squeeze, ReLU, then 1x1 and kxk expands concatenated."""

        def __init__(
            self,
            c_in: int,
            squeeze: int,
            expand1: int,
            expand3: int,
            kernel_size: int = 3,
            stride: int = 1,
        ) -> None:
            super().__init__()
            self.squeeze = nn_.Conv2d(c_in, squeeze, 1, stride=stride)
            self.relu = nn_.ReLU()
            self.expand1 = nn_.Conv2d(squeeze, expand1, 1) if expand1 else None
            self.expand3 = nn_.Conv2d(squeeze, expand3, kernel_size, padding=kernel_size // 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.relu(self.squeeze(x))
            if self.expand1 is None:
                return self.expand3(s)
            return torch.cat([self.expand1(s), self.expand3(s)], dim=1)

    FireModule.__module__ = __name__
    FireModule.__qualname__ = "FireModule"
    return SimpleNamespace(FireModule=FireModule)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(_modules(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    fire_cls = _modules().FireModule

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


def share_weights(
    model: nn.Module, *, channels: int | None = None, repeats: int | None = None
) -> nn.Sequential:
    """A copy of a small_cnn-like Sequential where every conv after the first is one shared module.

    Args:
        model: ``nn.Sequential`` of ``Conv2d`` blocks (with BatchNorm2d/ReLU/pools) and a
            ``Linear`` classifier.
        channels: width of the stem's output and of the shared conv; None takes the width
            of the model's middle convolution.
        repeats: applications of the shared conv; None keeps the model's count (convs - 1).
            Extra applications are appended after the last one, before the classifier.

    Example:
        >>> from frugalml.train import small_cnn
        >>> shared = share_weights(small_cnn(1, 10, (8, 16, 32)))
        >>> shared[3] is shared[7]
        True
    """
    torch = require("torch", "weight-sharing")
    nn_ = torch.nn
    if not isinstance(model, nn_.Sequential):
        raise InputError(f"weight sharing needs an nn.Sequential CNN; got {type(model).__name__}.")
    convs = [m for m in model if isinstance(m, nn_.Conv2d)]
    if len(convs) < 2 or not isinstance(model[0], nn_.Conv2d):
        raise InputError("weight sharing needs a Sequential starting with a Conv2d and >= 2 convs.")
    c = int(channels) if channels is not None else int(convs[len(convs) // 2].out_channels)
    check_number("share_weights", "channels", c, low=1, integer=True)
    n_shared = len(convs) - 1 if repeats is None else int(repeats)
    check_number("share_weights", "repeats", n_shared, low=1, integer=True)
    if n_shared < len(convs) - 1:
        raise InputError(
            f"The 'repeats' parameter of share_weights must be >= {len(convs) - 1} (the model's "
            f"convolutions after the first); got {n_shared}."
        )
    ref = convs[1]
    shared = nn_.Conv2d(
        c, c, ref.kernel_size, stride=ref.stride, padding=ref.padding, bias=ref.bias is not None
    )
    layers: list[nn.Module] = []
    for m in model:
        if isinstance(m, nn_.Conv2d):
            first = not layers
            layers.append(
                nn_.Conv2d(
                    m.in_channels,
                    c,
                    m.kernel_size,
                    stride=m.stride,
                    padding=m.padding,
                    bias=m.bias is not None,
                )
                if first
                else shared
            )
        elif isinstance(m, nn_.BatchNorm2d):
            layers.append(nn_.BatchNorm2d(c))
        elif isinstance(m, nn_.Linear):
            layers.append(nn_.Linear(c, m.out_features, bias=m.bias is not None))
        else:
            layers.append(copy.deepcopy(m))
    # extra applications go before the classifier's pooling / flatten / linear
    last_conv = max(i for i, m in enumerate(model) if isinstance(m, nn_.Conv2d))
    tail = next(
        (
            i
            for i, m in enumerate(model)
            if i > last_conv
            and isinstance(
                m, nn_.AdaptiveAvgPool2d | nn_.AdaptiveMaxPool2d | nn_.Flatten | nn_.Linear
            )
        ),
        len(model),
    )
    extra: list[nn.Module] = []
    for _ in range(n_shared - (len(convs) - 1)):
        extra += [shared, nn_.BatchNorm2d(c), nn_.ReLU()]
    return nn_.Sequential(*layers[:tail], *extra, *layers[tail:])


class _BlockTechnique(Technique):
    kind: ClassVar[str] = "train"

    epochs: int | None
    lr: float | None

    @classmethod
    def applies_to(cls, task: Any) -> bool:
        """The CNN tasks."""
        return bool(task.kind == "cnn")

    @abstractmethod
    def _transform(self, model: nn.Module) -> nn.Module:
        """The task's CNN with its blocks replaced by this technique's."""

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", self.name)
        from frugalml.profiler import profile

        example = data.X_train[:1]
        before = profile(model, (example,))
        torch.manual_seed(data.seed)
        try:
            variant = self._transform(model)
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

    def _transform(self, model: nn.Module) -> nn.Module:
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

    def _transform(self, model: nn.Module) -> nn.Module:
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


class WeightSharing(_BlockTechnique):
    """One convolution's parameters reused at every depth after the stem; train from scratch.

    Args:
        channels: width of the shared convolution; None takes the model's middle conv width.
        repeats: applications of the shared convolution; None keeps the model's depth.
        epochs, lr: None take the recipe's.

    Learned state: as :class:`Depthwise`, plus shared_applications_ and channels_.

    Example:
        >>> model = WeightSharing(channels=64).apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "weight-sharing"
    paper: ClassVar[str] = "Dehghani et al. 2019, Universal Transformers; Lan et al. 2020, ALBERT"

    def __init__(
        self,
        channels: int | None = None,
        repeats: int | None = None,
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.channels = channels
        self.repeats = repeats
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.channels is not None:
            check_number(owner, "channels", self.channels, low=1, integer=True)
        if self.repeats is not None:
            check_number(owner, "repeats", self.repeats, low=1, integer=True)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _transform(self, model: nn.Module) -> nn.Module:
        torch = require("torch", "weight-sharing")
        variant = share_weights(model, channels=self.channels, repeats=self.repeats)
        convs = [m for m in variant if isinstance(m, torch.nn.Conv2d)]
        self.shared_applications_ = len(convs) - 1
        self.channels_ = int(convs[-1].out_channels)
        self.replaced_convs_ = self.shared_applications_
        return variant
