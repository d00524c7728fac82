"""``weight-sharing`` (Universal Transformer, Dehghani et al. 2019; ALBERT, Lan et al. 2020):
after the first convolution, every convolution is the *same* module, applied at each depth,
at one width; BatchNorms stay per depth (their statistics differ between depths). The gain is
in parameters (model size); MACs depend on the width.

It works on any module's ``Conv2d`` layers: the convolutions are replaced in place, then the
BatchNorm2d and Linear layers whose input width changed are rebuilt (found by running one
example through the copy). A model on which sharing would not reduce the stored parameters
(two convolutions: the shared one is as large as the two were) is refused with both counts.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import count_params
from frugalml.reduce.blocks import _BlockTechnique

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["WeightSharing", "share_weights"]


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
