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
transforms work on any model's ``Conv2d`` modules, whatever its class: they replace modules
in place. ``weight-sharing`` then resizes the BatchNorm2d and Linear layers whose input
width changed (found by running one example), and refuses a model on which sharing would
not reduce the stored parameters.
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

__all__ = [
    "Depthwise",
    "Fire",
    "WeightSharing",
    "depthwise_separable",
    "fire_modules",
    "share_weights",
]


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


def share_weights(
    model: nn.Module,
    example: torch.Tensor,
    *,
    channels: int | None = None,
    repeats: int | None = None,
) -> nn.Module:
    """A copy of ``model`` where every Conv2d after the first is one shared convolution.

    The first convolution (the stem) keeps its input and outputs ``channels``; every later
    ``Conv2d`` (groups 1) becomes the same ``channels -> channels`` module, applied at each
    depth. BatchNorm2d and Linear layers whose input width changed are rebuilt at the new
    width (found by running ``example`` through the copy); BatchNorms stay per depth.

    Args:
        model: any module with at least two ``Conv2d`` layers (in registration order).
        example: one input batch, to find the widths that changed.
        channels: width of the stem's output and of the shared conv; None takes the width
            of the model's middle convolution.
        repeats: applications of the shared conv; None keeps the model's count (convs - 1).
            Extra applications (each followed by its own BatchNorm2d and ReLU) follow the
            last one.

    Raises:
        InputError: too few convolutions, bad ``channels``/``repeats``, or a model whose
            layers cannot take the new width (the message gives the first error).

    Example:
        >>> import torch
        >>> from frugalml.train import small_cnn
        >>> shared = share_weights(small_cnn(1, 10, (8, 16, 32)), torch.zeros(1, 1, 8, 8))
        >>> shared[3] is shared[7]
        True
    """
    torch = require("torch", "weight-sharing")
    nn_ = torch.nn
    variant = copy.deepcopy(model)
    convs = [(n, m) for n, m in variant.named_modules() if isinstance(m, nn_.Conv2d)]
    convs = [(n, m) for n, m in convs if m.groups == 1]
    if len(convs) < 2:
        raise InputError(
            f"weight sharing needs at least 2 Conv2d layers (a stem and the convolutions to "
            f"share); {type(model).__name__} has {len(convs)}."
        )
    c = int(channels) if channels is not None else int(convs[len(convs) // 2][1].out_channels)
    check_number("share_weights", "channels", c, low=1, integer=True)
    n_shared = len(convs) - 1 if repeats is None else int(repeats)
    check_number("share_weights", "repeats", n_shared, low=1, integer=True)
    if n_shared < len(convs) - 1:
        raise InputError(
            f"The 'repeats' parameter of share_weights must be >= {len(convs) - 1} (the model's "
            f"convolutions after the first); got {n_shared}."
        )
    ref = convs[1][1]
    shared = nn_.Conv2d(
        c, c, ref.kernel_size, stride=ref.stride, padding=ref.padding, bias=ref.bias is not None
    )
    stem_name, stem = convs[0]
    _set_module(
        variant,
        stem_name,
        nn_.Conv2d(
            stem.in_channels,
            c,
            stem.kernel_size,
            stride=stem.stride,
            padding=stem.padding,
            bias=stem.bias is not None,
        ),
    )
    for name, _ in convs[1:]:
        _set_module(variant, name, shared)
    extra = [
        m for _ in range(n_shared - (len(convs) - 1)) for m in (nn_.BatchNorm2d(c), nn_.ReLU())
    ]
    if extra:
        tail = [m for i in range(0, len(extra), 2) for m in (*extra[i : i + 2], shared)]
        _set_module(variant, convs[-1][0], nn_.Sequential(shared, *tail))
    _rewire_widths(variant, example)
    return variant


class _WidthMismatch(Exception):
    def __init__(self, name: str, width: int) -> None:
        self.name, self.width = name, width


def _rewire_widths(model: nn.Module, example: torch.Tensor) -> None:
    """Rebuild, one at a time in forward order, the BatchNorm2d / Linear layers whose input
    width no longer matches, until the model runs."""
    torch = require("torch", "weight-sharing")
    nn_ = torch.nn
    for _ in range(sum(1 for _ in model.modules()) + 1):
        hooks = []
        for name, m in model.named_modules():
            if isinstance(m, nn_.BatchNorm2d | nn_.Linear):

                def check(mod: Any, args: Any, name: str = name) -> None:
                    x = args[0]
                    width = int(x.shape[1] if isinstance(mod, nn_.BatchNorm2d) else x.shape[-1])
                    expected = (
                        mod.num_features if isinstance(mod, nn_.BatchNorm2d) else mod.in_features
                    )
                    if width != expected:
                        raise _WidthMismatch(name, width)

                hooks.append(m.register_forward_pre_hook(check))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(example)
            return
        except _WidthMismatch as fix:
            old = model.get_submodule(fix.name)
            new: nn.Module = (
                nn_.BatchNorm2d(fix.width)
                if isinstance(old, nn_.BatchNorm2d)
                else nn_.Linear(fix.width, old.out_features, bias=old.bias is not None)
            )
            _set_module(model, fix.name, new)
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise InputError(
                f"weight sharing cannot give every convolution the same width in "
                f"{type(model).__name__}: {first}"
            ) from e
        finally:
            for h in hooks:
                h.remove()
            model.train(was_training)


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)


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
    purpose: ClassVar[tuple[str, ...]] = ("size",)
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

    def _transform(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        variant = share_weights(model, example, channels=self.channels, repeats=self.repeats)
        before, after = count_params(model), count_params(variant)
        if after >= before:
            raise self._fail(
                f"sharing one {self._width(variant)}-channel convolution would not reduce the "
                f"stored parameters of {type(model).__name__} ({before:,} -> {after:,})",
                hint="Pass a smaller channels=, or use a model with more convolutions to share.",
            )
        n_convs = sum(1 for m in model.modules() if _is_plain_conv(m))
        self.shared_applications_ = self.repeats if self.repeats is not None else n_convs - 1
        self.channels_ = self._width(variant)
        self.replaced_convs_ = self.shared_applications_
        return variant

    @staticmethod
    def _width(variant: nn.Module) -> int:
        convs: list[Any] = [m for m in variant.modules() if _is_plain_conv(m)]
        return int(convs[-1].out_channels)


def _is_plain_conv(m: Any) -> bool:
    torch = require("torch", "weight-sharing")
    return isinstance(m, torch.nn.Conv2d) and m.groups == 1
