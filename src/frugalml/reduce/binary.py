"""BinaryConnect: training with binary weights (Courbariaux, Bengio & David 2015).

Each Linear/Conv layer keeps real-valued weights ``W`` for the updates but computes
its forward and backward passes with binarised weights ``Wb in {-H, +H}``; the gradient
with respect to ``Wb`` is applied to ``W`` (straight-through), and ``W`` is clipped to
``[-H, H]`` after every step. As in the paper's code, ``H`` is the layer's Glorot
bound ``sqrt(1.5 / (fan_in + fan_out))`` (``scale="glorot"``), or 1 (``scale="none"``,
which needs BatchNorm after each layer to keep activations in range).

- ``mode="deterministic"``: ``Wb = +H if W >= 0 else -H``.
- ``mode="stochastic"``: ``Wb = +H`` with probability ``hard_sigmoid(W / H) =
  clip((W / H + 1) / 2, 0, 1)`` during training; deterministic at evaluation.

The returned model holds the deterministic binary weights (two values per layer: the
paper's test-time option 1), so it is the model a 1-bit format would store. Biases
and BatchNorm stay float32.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice
from frugalml.reduce.base import Needs, Technique, weight_layers

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["BinaryConnect"]

MODES = ("deterministic", "stochastic")
SCALES = ("glorot", "none")
LAYERS = ("all", "hidden")


class BinaryConnect(Technique):
    """Train with weights binarised to ``{-H, +H}`` per layer (kind ``"train"``).

    Pass a fresh model (``data.make_model()``) to train from scratch as in the paper,
    or a trained one to fine-tune it into binary weights.

    Args:
        mode: ``"deterministic"`` (sign) or ``"stochastic"`` (hard-sigmoid rounding).
        scale: ``"glorot"`` (per-layer ``H`` as above) or ``"none"`` (``H = 1``).
        layers: ``"all"`` Linear/Conv layers, or ``"hidden"`` (first and last kept float32,
            a common variant that loses less accuracy).
        epochs: training epochs; None takes the recipe's.
        lr: learning rate; None takes the recipe's.

    Learned state:
        binarized_layers_: layers trained binary.
        binary_weights_: weights that are binary in the returned model.
        bits_per_weight_: 1 plus the float32 scale amortised, over binary weights.
        compressed_size_bytes_: 1 bit per binary weight, float32 ``H`` per layer, every
            other parameter and buffer at its dtype.
        epochs_run_: training epochs run.

    Example:
        >>> BinaryConnect(mode="stochastic").apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "binary-connect"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("size",)
    paper: ClassVar[str] = "Courbariaux, Bengio & David 2015, BinaryConnect (NeurIPS)"

    def __init__(
        self,
        mode: str = "deterministic",
        scale: str = "glorot",
        layers: str = "all",
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.mode = mode
        self.scale = scale
        self.layers = layers
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_choice(owner, "mode", self.mode, MODES)
        check_choice(owner, "scale", self.scale, SCALES)
        check_choice(owner, "layers", self.layers, LAYERS)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "binary-connect")
        from frugalml.reduce.layers import Binarize

        parametrize = torch.nn.utils.parametrize
        layers = weight_layers(model)
        if self.layers == "hidden":
            layers = layers[1:-1]
        if not layers:
            raise self._fail(
                f"the model has no Linear or Conv layer to binarise (layers={self.layers!r})"
            )
        real_weights: list[tuple[Any, float]] = []  # (real-valued weight, H) per layer
        for layer in layers:
            h = _glorot_bound(layer.weight) if self.scale == "glorot" else 1.0
            with torch.no_grad():
                layer.weight.clamp_(-h, h)
            real_weights.append((layer.weight, h))
            parametrize.register_parametrization(
                layer, "weight", Binarize(h, stochastic=self.mode == "stochastic")
            )

        def clip(_: nn.Module) -> None:
            with torch.no_grad():
                for weight, h in real_weights:
                    weight.clamp_(-h, h)

        self.epochs_run_ = self._fit(
            model, data, epochs=self.epochs, lr=self.lr, after_step=clip
        ).epochs_run
        model.eval()  # deterministic binarisation is what gets baked in
        for layer in layers:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        self._measure(model, layers)
        return model

    def _measure(self, model: nn.Module, layers: list[Any]) -> None:
        binary = {id(m.weight) for m in layers}
        n_binary = sum(m.weight.numel() for m in layers)
        other_bytes = sum(
            t.numel() * t.element_size()
            for t in [*model.parameters(), *model.buffers()]
            if id(t) not in binary
        )
        self.binarized_layers_ = len(layers)
        self.binary_weights_ = n_binary
        self.bits_per_weight_ = (n_binary + 32 * len(layers)) / n_binary
        self.compressed_size_bytes_ = math.ceil(n_binary / 8) + 4 * len(layers) + other_bytes


def _glorot_bound(weight: Any) -> float:
    """``sqrt(1.5 / (fan_in + fan_out))``, receptive field counted, as in the paper's code."""
    receptive = int(weight[0, 0].numel()) if weight.dim() > 2 else 1
    fan_in = weight.shape[1] * receptive
    fan_out = weight.shape[0] * receptive
    return math.sqrt(1.5 / (fan_in + fan_out))
