"""Transfer learning: train a base network on a source task once, then fine-tune it on a target.

The classifier (the model's last ``Linear``) is replaced by a fresh one sized for the target
task, then either

- ``mode="frozen"`` (frozen features): every other parameter is frozen; the classifier's
  inputs on the target's training and validation sets are computed once (one inference pass
  of the body) and only the new classifier is trained on them; or
- ``mode="full"`` (full fine-tuning): the whole network trains on the target.

Yosinski et al. 2014 ("How transferable are features in deep neural networks?") compare the
two; the energy question is when the base's cost is repaid. With ``E_base`` the base's
training energy, ``E_ft`` the fine-tuning energy and ``E_scratch`` training the target from
scratch, the base pays for itself after ``ceil(E_base / (E_scratch - E_ft))`` target tasks.

Where the source comes from:

- ``apply(model, data)`` with a :class:`TransferData` (``data.source`` set): ``model`` is a
  fresh network; it is trained on the source first, and that cost is measured apart
  (``base_energy_j_``). The bench's transfer target tasks hand over such data.
- with a plain ``TrainData``: ``model`` is taken as an already trained base (a user's
  pre-trained network); only the fine-tuning runs and ``base_trained_in_apply_`` is False.

Any model with a last ``Linear`` works with ``feature_layer=-1``; choosing a lower layer
cuts the model into stages (:mod:`frugalml.reduce._structure`: one per ``Linear`` by
default, traced with ``torch.fx`` when it is not an ``nn.Sequential``, or
``stages=[...]``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.base import Needs
from frugalml.reduce.early_stop import BenchMonitored, EnergyAwareEarlyStopping
from frugalml.train.data import TrainData

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "MODES",
    "Transfer",
    "TransferData",
    "break_even_tasks",
    "classifier_inputs",
    "replace_classifier",
]

MODES = ("frozen", "full")
#: frozen mode's default learning rate is this times the recipe's (chosen on the validation
#: split of digits 5-9: the recipe's 1e-3 leaves the new classifier under-trained in 30 epochs)
FROZEN_LR_SCALE = 10.0


@dataclass
class TransferData(TrainData):
    """Target-task data that also carries the source task's data (``source``).

    Example:
        >>> import numpy as np
        >>> X = np.random.rand(20, 4); y = np.arange(20) % 2
        >>> src = TrainData.from_arrays(X, y, X, y)
        >>> tgt = TransferData.from_arrays(X, y, X, y, source=src)
        >>> tgt.source is src
        True
    """

    source: TrainData | None = None


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    torch = require("torch", "transfer")
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not found:
        raise ValueError("the model has no Linear classifier to replace")
    return found[-1]


def replace_classifier(model: nn.Module, n_classes: int) -> nn.Linear:
    """Put a fresh ``Linear(in, n_classes)`` in place of the model's last Linear; return it.

    Example:
        >>> from frugalml.train import mlp
        >>> m = mlp(4, 8, 3)
        >>> replace_classifier(m, 5) is m[-1], m[-1].out_features
        (True, 5)
    """
    torch = require("torch", "transfer")
    name, old = _last_linear(model)
    new = torch.nn.Linear(old.in_features, n_classes, bias=old.bias is not None)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
    return new


def classifier_inputs(model: nn.Module, X: Any, *, batch_size: int = 1024) -> Any:
    """The inputs of the model's last Linear on ``X`` (the features a frozen body gives), in
    inference mode."""
    torch = require("torch", "transfer")
    _, head = _last_linear(model)
    parts: list[Any] = []
    hook = head.register_forward_pre_hook(lambda _m, args: parts.append(args[0].detach()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                model(X[i : i + batch_size])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0)


class Transfer(BenchMonitored):
    """Fine-tune a base trained on a source task, with frozen features or fully (kind ``"train"``).

    Args:
        mode: ``"frozen"`` (train only a new classifier on cached features) or ``"full"``.
        feature_layer: frozen mode: which hidden layer's output feeds the new classifier
            (1-based; the layers above it are dropped, so the result is shallower), -1 for
            the old classifier's inputs, or ``"auto"``: a classifier on every hidden
            layer's (cached) output, keeping the best on the validation split (lower layers
            often transfer better, Yosinski et al. 2014; needs a validation split). Other
            layers than -1 cut the model into stages.
        base_epochs: source training epochs; None takes the source recipe's.
        epochs: fine-tuning epochs; None takes the target recipe's (``frozen``: at most,
            each classifier stopping once its training loss has settled, by
            :class:`~frugalml.reduce.early_stop.EnergyAwareEarlyStopping`).
        lr: fine-tuning learning rate; None takes the target recipe's (``full``) or
            :data:`FROZEN_LR_SCALE` times it (``frozen``: only a linear classifier on fixed
            features trains).
        stages: names of the submodules where each stage starts, in forward order, the last
            one being the classifier; None: one per ``Linear``.

    Learned state:
        base_energy_j_: joules of training the base (0 when it came trained).
        target_energy_j_: joules of the fine-tuning (feature caching included).
        energy_with_base_j_: their sum.
        base_trained_in_apply_, base_epochs_run_, epochs_run_.
        trainable_params_, frozen_params_: parameters trained / frozen while fine-tuning.
        feature_layer_: the hidden layer used (frozen; -1: the classifier's inputs);
        val_accuracy_: its classifier's validation accuracy (frozen).
        base_model_: a copy of the base before fine-tuning (not in ``report()``).
        With the bench's baseline (the target trained from scratch): scratch_energy_j_,
        energy_ratio_excl_base_, energy_ratio_with_base_, break_even_tasks_ (None when
        fine-tuning costs as much as training from scratch).

    Example:
        >>> Transfer(mode="frozen").apply(data.make_model(), transfer_data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "transfer"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=("classifier",), task="transfer-target")
    purpose: ClassVar[tuple[str, ...]] = ("training-energy",)
    paper: ClassVar[str] = (
        "Yosinski et al. 2014, How transferable are features in deep neural networks?"
    )

    def __init__(
        self,
        mode: str = "frozen",
        feature_layer: int | str = "auto",
        base_epochs: int | None = None,
        epochs: int | None = None,
        lr: float | None = None,
        stages: Sequence[str] | None = None,
    ) -> None:
        self.mode = mode
        self.feature_layer = feature_layer
        self.base_epochs = base_epochs
        self.epochs = epochs
        self.lr = lr
        self.stages = stages

    def _named_stages(self) -> Sequence[str] | None:
        return self.stages

    def _check_params(self) -> None:
        check_choice(type(self).__name__, "mode", self.mode, MODES)
        if not (isinstance(self.feature_layer, str) and self.feature_layer == "auto") and (
            self.feature_layer != -1
        ):
            check_number(
                type(self).__name__, "feature_layer", self.feature_layer, low=1, integer=True
            )
        self._check_epochs("base_epochs", self.base_epochs)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)
        self._check_stages(self.stages)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "transfer")
        source = data.source if isinstance(data, TransferData) else None
        self._data = data
        meter = EnergyMeter(name="transfer").start()
        try:
            self.base_trained_in_apply_ = source is not None
            self.base_epochs_run_ = 0
            if source is not None:
                torch.manual_seed(source.seed)
                if _last_linear(model)[1].out_features != source.n_classes:
                    replace_classifier(model, source.n_classes)
                self.base_epochs_run_ = self._fit(model, source, epochs=self.base_epochs).epochs_run
            self.base_energy_j_ = meter.energy_j()
            self.base_model_ = copy.deepcopy(model)
            torch.manual_seed(data.seed)
            head = replace_classifier(model, data.n_classes)
            if self.mode == "frozen":
                model = self._fine_tune_frozen(model, head, data)
            else:
                self.feature_layer_ = -1
                self.trainable_params_ = sum(p.numel() for p in model.parameters())
                self.frozen_params_ = 0
                self.epochs_run_ = self._fit(model, data, epochs=self.epochs, lr=self.lr).epochs_run
            self.target_energy_j_ = meter.energy_j() - self.base_energy_j_
        finally:
            meter.stop()
        self.energy_with_base_j_ = self.base_energy_j_ + self.target_energy_j_
        self._compare_with_scratch()
        return model

    def _fine_tune_frozen(self, model: nn.Module, head: nn.Linear, data: TrainData) -> nn.Module:
        """Train new linear classifiers on frozen features; keep the best on validation."""
        torch = require("torch", "transfer")
        from frugalml.reduce._structure import StageError, cut_stages, linear_head
        from frugalml.train.loop import score

        for p in model.parameters():
            p.requires_grad_(False)
        try:
            blocks = cut_stages(model, self.stages, "Linear")[:-1]
        except StageError as e:
            if self.feature_layer != -1 or self.stages is not None:
                raise self._fail(
                    f"cannot cut {type(model).__name__} into stages ({e})",
                    hint="Use feature_layer=-1 (the classifier's inputs), or name the stages "
                    "with stages=[...].",
                ) from e
            blocks = []
        if self.feature_layer == -1 or not blocks:
            layers = [-1]
        elif self.feature_layer == "auto":
            layers = list(range(1, len(blocks) + 1))
        else:
            if int(self.feature_layer) > len(blocks):
                raise InputError(
                    f"The 'feature_layer' parameter of Transfer must be in [1, {len(blocks)}] "
                    f"(the model's hidden layers), 'auto' or -1; got {self.feature_layer!r}."
                )
            layers = [int(self.feature_layer)]
        if len(layers) > 1 and not data.has("val"):
            raise InputError(
                "transfer with feature_layer='auto' picks the layer on the validation split: "
                "pass val= to TrainData.from_loader, or choose feature_layer=-1."
            )
        # a linear model on fixed features takes a larger step than the whole network
        lr = FROZEN_LR_SCALE * data.lr if self.lr is None else self.lr
        best: tuple[float, int, Any] | None = None
        self.epochs_run_ = 0
        for k, features in zip(layers, _frozen_features(model, blocks, layers, data)):
            torch.manual_seed(data.seed)
            shape = tuple(int(d) for d in features.example_input(1).shape[1:])
            candidate = linear_head(shape, head.out_features) if k != -1 else head
            for p in candidate.parameters():
                p.requires_grad_(True)  # the new classifier is the only part that trains
            # with no epoch count given, a classifier trains until its loss has settled
            settle = [EnergyAwareEarlyStopping(monitor="train_loss")] if self.epochs is None else []
            self.epochs_run_ += self._fit(
                candidate, features, epochs=self.epochs, lr=lr, callbacks=settle
            ).epochs_run
            acc = score(candidate, features, "val") if data.has("val") else float("nan")
            if best is None or acc > best[0]:  # ties keep the shallower layer
                best = (acc, k, candidate)
        assert best is not None
        self.val_accuracy_, self.feature_layer_, new_head = best
        if self.feature_layer_ != -1:
            kept = blocks[: self.feature_layer_]
            modules = [m for b in kept for m in (b if isinstance(b, torch.nn.Sequential) else [b])]
            model = torch.nn.Sequential(*modules, new_head)
        for p in model.parameters():
            p.requires_grad_(True)  # frozen for training only; the result is a plain model
        self.trainable_params_ = sum(p.numel() for p in new_head.parameters())
        self.frozen_params_ = sum(p.numel() for p in model.parameters()) - self.trainable_params_
        return model

    def _compare_with_scratch(self) -> None:
        base = self._bench_baseline
        if not base or not base.get("train_energy_j"):
            return
        scratch = float(base["train_energy_j"])
        self.scratch_energy_j_ = scratch
        self.energy_ratio_excl_base_ = self.target_energy_j_ / scratch
        self.energy_ratio_with_base_ = self.energy_with_base_j_ / scratch
        if self.base_trained_in_apply_:
            self.break_even_tasks_ = break_even_tasks(
                self.base_energy_j_, scratch, self.target_energy_j_
            )


def _frozen_features(
    model: nn.Module, blocks: list[Any], layers: list[int], data: TrainData
) -> list[TrainData]:
    """The data with its inputs replaced by each layer's output (1-based hidden blocks; -1:
    the classifier's inputs). In memory every layer comes from one pass per split (cached);
    streamed, each is computed batch by batch as it is read."""
    torch = require("torch", "transfer")
    model.eval()
    if layers == [-1]:
        return [data.map_inputs(lambda x: classifier_inputs(model, x))]
    if not data.in_memory:
        return [data.map_inputs(torch.nn.Sequential(*blocks[:k])) for k in layers]
    outputs: dict[str, dict[int, Any]] = {}
    with torch.no_grad():
        for split in ("train", "val") if data.has("val") else ("train",):
            h = next(data.chunks(split))[0]
            outputs[split] = {}
            for k, block in enumerate(blocks, start=1):
                h = block(h)
                outputs[split][k] = h
    return [
        dataclasses.replace(
            data,
            X_train=outputs["train"][k],
            X_val=outputs["val"][k] if "val" in outputs else None,
        )
        for k in layers
    ]


def break_even_tasks(
    base_energy_j: float, scratch_energy_j: float, target_energy_j: float
) -> int | None:
    """Target tasks after which training the base once costs less than training each from scratch.

    ``ceil(base / (scratch - fine-tune))``; None when fine-tuning saves nothing.

    Example:
        >>> break_even_tasks(100.0, 30.0, 5.0)
        4
    """
    saved = scratch_energy_j - target_energy_j
    if saved <= 0:
        return None
    return max(1, math.ceil(base_energy_j / saved))
