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
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.base import Technique
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


class Transfer(BenchMonitored, Technique):
    """Fine-tune a base trained on a source task, with frozen features or fully (kind ``"train"``).

    Args:
        mode: ``"frozen"`` (train only a new classifier on cached features) or ``"full"``.
        feature_layer: frozen mode: which hidden layer's output feeds the new classifier
            (1-based; the layers above it are dropped, so the result is shallower), -1 for
            the old classifier's inputs, or ``"auto"``: a classifier on every hidden
            layer's (cached) output, keeping the best on the validation split (lower layers
            often transfer better, Yosinski et al. 2014). Other layers than -1 need an
            ``nn.Sequential`` MLP.
        base_epochs: source training epochs; None takes the source recipe's.
        epochs: fine-tuning epochs; None takes the target recipe's (``frozen``: at most,
            each classifier stopping once its training loss has settled, by
            :class:`~frugalml.reduce.early_stop.EnergyAwareEarlyStopping`).
        lr: fine-tuning learning rate; None takes the target recipe's (``full``) or
            :data:`FROZEN_LR_SCALE` times it (``frozen``: only a linear classifier on fixed
            features trains).

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
    ) -> None:
        self.mode = mode
        self.feature_layer = feature_layer
        self.base_epochs = base_epochs
        self.epochs = epochs
        self.lr = lr

    @classmethod
    def applies_to(cls, task: Any) -> bool:
        """The transfer target tasks (they carry their source task)."""
        return bool(task.extra.get("role") == "transfer-target")

    def _check_params(self) -> None:
        check_choice(type(self).__name__, "mode", self.mode, MODES)
        if self.feature_layer not in ("auto", -1):
            check_number(
                type(self).__name__, "feature_layer", self.feature_layer, low=1, integer=True
            )
        self._check_epochs("base_epochs", self.base_epochs)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "transfer")
        source = getattr(data, "source", None)
        self._val = (data.X_val, data.y_val)
        meter = EnergyMeter(name="transfer").start()
        try:
            self.base_trained_in_apply_ = source is not None
            self.base_epochs_run_ = 0
            if source is not None:
                try:
                    if _last_linear(model)[1].out_features != source.n_classes:
                        replace_classifier(model, source.n_classes)
                except ValueError as e:
                    raise self._fail("cannot find the classifier", e) from e
                torch.manual_seed(source.seed)
                self.base_epochs_run_ = self._fit(model, source, epochs=self.base_epochs).epochs_run
            self.base_energy_j_ = meter.energy_j()
            self.base_model_ = copy.deepcopy(model)
            torch.manual_seed(data.seed)
            try:
                head = replace_classifier(model, data.n_classes)
            except ValueError as e:
                raise self._fail("cannot find the classifier", e) from e
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
        """Train new linear classifiers on cached frozen features; keep the best on validation."""
        torch = require("torch", "transfer")
        from frugalml.reduce.progressive import mlp_blocks
        from frugalml.train.loop import evaluate

        for p in model.parameters():
            p.requires_grad_(False)
        try:
            blocks, _ = mlp_blocks(model)
        except InputError:
            blocks = []
        if self.feature_layer != -1 and not blocks:
            raise self._fail(
                "feature_layer needs an nn.Sequential MLP to cut",
                hint="Use feature_layer=-1 (the classifier's inputs) for other models.",
            )
        if self.feature_layer == -1 or not blocks:
            layers = [len(blocks)] if blocks else [-1]
        elif self.feature_layer == "auto":
            layers = list(range(1, len(blocks) + 1))
        else:
            if int(self.feature_layer) > len(blocks):
                raise InputError(
                    f"The 'feature_layer' parameter of Transfer must be in [1, {len(blocks)}] "
                    f"(the model's hidden layers), 'auto' or -1; got {self.feature_layer!r}."
                )
            layers = [int(self.feature_layer)]
        train_f, val_f = (
            _layer_outputs(model, blocks, data.X_train),
            _layer_outputs(model, blocks, data.X_val),
        )
        # a linear model on fixed features takes a larger step than the whole network
        lr = FROZEN_LR_SCALE * data.lr if self.lr is None else self.lr
        best: tuple[float, int, Any] | None = None
        self.epochs_run_ = 0
        for k in layers:
            key = k if blocks else -1
            features = TrainData(
                train_f[key],
                data.y_train,
                val_f[key],
                data.y_val,
                batch_size=data.batch_size,
                epochs=data.epochs,
                lr=data.lr,
                optimizer=data.optimizer,
                seed=data.seed,
            )
            torch.manual_seed(data.seed)
            candidate = (
                torch.nn.Linear(train_f[key].shape[1], head.out_features) if blocks else head
            )
            # with no epoch count given, a classifier trains until its loss has settled
            settle = [EnergyAwareEarlyStopping(monitor="train_loss")] if self.epochs is None else []
            self.epochs_run_ += self._fit(
                candidate, features, epochs=self.epochs, lr=lr, callbacks=settle
            ).epochs_run
            acc = evaluate(candidate, val_f[key], data.y_val)
            if best is None or acc > best[0]:  # ties keep the shallower layer
                best = (acc, k, candidate)
        assert best is not None
        self.val_accuracy_, self.feature_layer_, new_head = best
        if blocks:
            modules = [m for b in blocks[: self.feature_layer_] for m in b]
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


def _layer_outputs(model: nn.Module, blocks: list[Any], X: Any) -> dict[int, Any]:
    """Output of each hidden block (1-based) of an MLP, or {-1: classifier inputs}, one pass."""
    torch = require("torch", "transfer")
    if not blocks:
        return {-1: classifier_inputs(model, X)}
    out = {}
    model.eval()
    with torch.no_grad():
        h = X
        for k, block in enumerate(blocks, start=1):
            h = block(h)
            out[k] = h
    return out


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
