"""A minimal, deterministic training loop shared by techniques and the bench.

``fit`` trains in place with the data's loss (cross-entropy by default) or a technique's,
mini-batches shuffled by a seeded generator (in memory) or read from the user's loader
(streamed), so two runs with the same seed and thread count give the same weights. After
every epoch it calls the callbacks with an :class:`EpochEnd`; a callback that returns True
stops training (the hook for early stopping and energy budgets). ``evaluate``, ``score``
and ``predict`` run in inference mode, in batches.

Units: seconds for durations; accuracy is a fraction in [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.train.data import OPTIMIZERS, TrainData

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "Callback",
    "EpochEnd",
    "FitHistory",
    "LossFn",
    "evaluate",
    "fit",
    "predict",
    "score",
]

#: ``loss_fn(logits, y_batch, x_batch) -> scalar loss``; ``x_batch`` lets a loss look
#: at the inputs (distillation runs the teacher on them).
LossFn = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True)
class EpochEnd:
    """What a callback sees after each epoch.

    Attributes:
        epoch: 1-based number of the epoch just finished.
        epochs: epochs planned for this fit.
        train_loss: mean training loss over the epoch's batches.
        val_accuracy: the data's metric on its validation split (accuracy unless the data
            has a metric of its own) when ``fit(validate=True)``, else None.
        elapsed_s: seconds since ``fit`` started.
        model: the model being trained (do not replace it; reading is fine).
    """

    epoch: int
    epochs: int
    train_loss: float
    val_accuracy: float | None
    elapsed_s: float
    model: nn.Module


#: A callable run after each epoch; returning True stops training.
Callback = Callable[[EpochEnd], "bool | None"]


@dataclass
class FitHistory:
    """What happened during ``fit``: per-epoch losses, accuracies and whether it stopped early."""

    epochs_run: int = 0
    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    stopped_early: bool = False
    duration_s: float = 0.0


def fit(
    model: nn.Module,
    data: TrainData,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    loss_fn: LossFn | None = None,
    autocast_dtype: torch.dtype | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    callbacks: Sequence[Callback] = (),
    validate: bool = False,
) -> FitHistory:
    """Train ``model`` in place on ``data`` (CPU, deterministic for a given seed).

    Arguments left as None take the recipe's value from ``data``. The model is left in
    eval mode.

    Args:
        model: the model to train; its trainable parameters are optimised.
        data: tensors and recipe.
        epochs: number of passes over the training split; 0 trains nothing.
        lr: learning rate.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        batch_size: mini-batch size.
        seed: seeds ``torch.manual_seed`` and the shuffling generator.
        loss_fn: ``loss_fn(outputs, y, x)``; the data's loss (cross-entropy by default)
            when None.
        autocast_dtype: run forward passes under ``torch.autocast("cpu", dtype)``,
            e.g. ``torch.bfloat16``.
        after_step: called with the model after every optimiser step (weight clipping).
        callbacks: called after every epoch with an :class:`EpochEnd`; True stops.
        validate: compute the validation metric after every epoch (costs an inference
            pass over the validation split per epoch).

    Returns:
        The :class:`FitHistory`.

    Example:
        >>> import torch
        >>> from frugalml.train import TrainData, fit, mlp
        >>> X = torch.randn(64, 4); y = (X[:, 0] > 0).long()
        >>> data = TrainData(X, y, X, y, epochs=3)
        >>> fit(mlp(4, 8, 2), data).epochs_run
        3
    """
    torch = require("torch", "frugalml.train.fit")
    epochs = data.epochs if epochs is None else epochs
    lr = data.lr if lr is None else lr
    optimizer = data.optimizer if optimizer is None else optimizer
    batch_size = data.batch_size if batch_size is None else batch_size
    seed = data.seed if seed is None else seed
    check_number("fit", "epochs", epochs, low=0, integer=True)
    check_number("fit", "lr", lr, low=0, low_open=True)
    check_number("fit", "batch_size", batch_size, low=1, integer=True)
    check_choice("fit", "optimizer", optimizer, OPTIMIZERS)

    start = time.perf_counter()
    history = FitHistory()
    params = [p for p in model.parameters() if p.requires_grad]
    if epochs == 0 or not params:
        model.eval()
        return history
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    opt = (
        torch.optim.Adam(params, lr=lr)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=lr, momentum=0.9)
    )
    base_loss = data.loss_fn()
    loss_of = loss_fn or (lambda out, y, x: base_loss(out, y))
    for epoch in range(1, epochs + 1):
        model.train()
        total, n_batches = 0.0, 0
        for xb, yb in data.batches(
            "train", batch_size=batch_size, shuffle=True, generator=generator
        ):
            opt.zero_grad(set_to_none=True)
            if autocast_dtype is not None:
                with torch.autocast("cpu", dtype=autocast_dtype):
                    logits = model(xb)
                loss = loss_of(logits.float(), yb, xb)
            else:
                loss = loss_of(model(xb), yb, xb)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model)
            total += float(loss.detach())
            n_batches += 1
        history.epochs_run = epoch
        history.train_loss.append(total / max(n_batches, 1))
        val_acc = score(model, data, "val") if validate else None
        if val_acc is not None:
            history.val_accuracy.append(val_acc)
        state = EpochEnd(
            epoch=epoch,
            epochs=epochs,
            train_loss=history.train_loss[-1],
            val_accuracy=val_acc,
            elapsed_s=time.perf_counter() - start,
            model=model,
        )
        # every callback sees every epoch, even when an earlier one asks to stop
        stops = [bool(cb(state)) for cb in callbacks]
        if any(stops):
            history.stopped_early = epoch < epochs
            break
    model.eval()
    history.duration_s = time.perf_counter() - start
    return history


def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Predicted class index per row of ``X`` (int64), in inference mode, in batches.

    The model's train/eval mode is restored afterwards.

    Example:
        >>> import torch
        >>> from frugalml.train import mlp
        >>> predict(mlp(4, 8, 3), torch.randn(5, 4)).shape
        torch.Size([5])
    """
    torch = require("torch", "frugalml.train.predict")
    check_number("predict", "batch_size", batch_size, low=1, integer=True)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            parts = [
                model(X[i : i + batch_size]).argmax(dim=1) for i in range(0, len(X), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)


def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024
) -> float:
    """Accuracy of ``model`` on ``(X, y)`` as a fraction in [0, 1].

    Example:
        >>> import torch
        >>> from frugalml.train import mlp
        >>> 0.0 <= evaluate(mlp(4, 8, 3), torch.randn(5, 4), torch.zeros(5).long()) <= 1.0
        True
    """
    if len(y) == 0:
        return float("nan")
    pred = predict(model, X, batch_size=batch_size)
    return float((pred == y).float().mean())


def score(model: nn.Module, data: TrainData, split: str = "val") -> float:
    """The data's metric (accuracy unless it has its own) of ``model`` on ``split``.

    In memory with the default metric this is :func:`evaluate`; otherwise the metric of
    each batch, averaged weighted by batch size (streamed batch by batch). The model's
    train/eval mode is restored afterwards.

    Example:
        >>> import torch
        >>> from frugalml.train import TrainData, mlp
        >>> X = torch.randn(8, 4); y = torch.arange(8) % 2
        >>> 0.0 <= score(mlp(4, 8, 2), TrainData(X, y, X, y), "val") <= 1.0
        True
    """
    torch = require("torch", "frugalml.train.score")
    if not data.has(split):
        raise InputError(f"score: the data has no {split} split.")
    if data.in_memory and data.metric is None and data.target_kind == "classification":
        X, y = next(data.chunks(split))
        return evaluate(model, X, y)
    metric = data.metric_fn()
    total, n = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for x, y in data.batches(split, batch_size=1024):
                total += metric(model(x), y) * len(y)
                n += len(y)
    finally:
        model.train(was_training)
    return total / n if n else float("nan")
