"""The data and training recipe a task hands to ``fit`` and to every reduction technique.

A :class:`TrainData` bundles the train/validation tensors with the task's recipe
(batch size, epochs, learning rate, optimiser, seed) and a ``make_model`` factory, so
a technique that needs a fresh model (binary-connect from scratch) or a smaller
student (distill) can build one of the task's architecture at a stated width.

The validation split is only handed to ``fit`` callbacks (early stopping); no
technique selects anything on it, and no technique sees the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["OPTIMIZERS", "ModelFactory", "TrainData"]

OPTIMIZERS = ("adam", "sgd")

#: ``make_model(width=1.0)`` returns a fresh, untrained model; ``width`` scales its
#: hidden widths (0.25 gives a student with about 4-16x fewer parameters).
ModelFactory = Callable[..., "nn.Module"]


@dataclass
class TrainData:
    """Training and validation tensors plus the task's training recipe.

    Attributes:
        X_train: inputs, float32, first dimension = samples (``(N, F)`` or ``(N, C, H, W)``).
        y_train: integer class labels ``(N,)``, int64.
        X_val: validation inputs, same trailing shape as ``X_train``.
        y_val: validation labels.
        make_model: factory ``make_model(width=1.0) -> nn.Module`` of the task's
            architecture, or None when the task has none (distill then fails).
        batch_size: mini-batch size of the recipe.
        epochs: epochs of the recipe's full training run.
        lr: learning rate of the recipe.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        seed: seed for initialisation, shuffling and stochastic layers.

    Example:
        >>> import numpy as np
        >>> X = np.random.rand(20, 4); y = np.arange(20) % 2
        >>> data = TrainData.from_arrays(X[:15], y[:15], X[15:], y[15:], epochs=2)
        >>> data.n_classes, data.input_shape
        (2, (4,))
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    make_model: ModelFactory | None = None
    batch_size: int = 64
    epochs: int = 20
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("TrainData", "batch_size", self.batch_size, low=1, integer=True)
        check_number("TrainData", "epochs", self.epochs, low=0, integer=True)
        check_number("TrainData", "lr", self.lr, low=0, low_open=True)
        check_number("TrainData", "seed", self.seed, low=0, integer=True)
        check_choice("TrainData", "optimizer", self.optimizer, OPTIMIZERS)
        for X, y, split in ((self.X_train, self.y_train, "train"), (self.X_val, self.y_val, "val")):
            if len(X) != len(y):
                raise InputError(
                    f"TrainData: X_{split} has {len(X)} rows but y_{split} has {len(y)}; "
                    "pass inputs and labels of the same length."
                )
            if y.dim() != 1 or y.is_floating_point():
                raise InputError(
                    f"TrainData: y_{split} must be a 1-D integer tensor of class labels; "
                    f"got dtype {y.dtype} and shape {tuple(y.shape)}. Convert with .long()."
                )
        if len(self.X_train) == 0:
            raise InputError("TrainData: X_train is empty; pass at least one training sample.")
        if tuple(self.X_train.shape[1:]) != tuple(self.X_val.shape[1:]):
            raise InputError(
                f"TrainData: X_train rows have shape {tuple(self.X_train.shape[1:])} but X_val "
                f"rows {tuple(self.X_val.shape[1:])}; both splits must share the input shape."
            )

    @classmethod
    def from_arrays(
        cls, X_train: Any, y_train: Any, X_val: Any, y_val: Any, **recipe: Any
    ) -> TrainData:
        """Build from NumPy arrays (or anything ``torch.as_tensor`` takes).

        Inputs become float32, labels int64. ``recipe`` sets the other fields.
        """
        torch = require("torch", "frugalml.train.TrainData")

        def x(a: Any) -> Any:
            return torch.as_tensor(a, dtype=torch.float32)

        def y(a: Any) -> Any:
            return torch.as_tensor(a, dtype=torch.int64)

        return cls(x(X_train), y(y_train), x(X_val), y(y_val), **recipe)

    @property
    def n_classes(self) -> int:
        """Number of classes: one more than the largest label seen in either split."""
        return (
            int(max(int(self.y_train.max()), int(self.y_val.max()) if len(self.y_val) else 0)) + 1
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. ``(64,)`` or ``(1, 8, 8)``."""
        return tuple(int(d) for d in self.X_train.shape[1:])

    def example_input(self, n: int = 1) -> torch.Tensor:
        """The first ``n`` training inputs, for graph tracing or shape checks."""
        return self.X_train[:n]

    def calibration_batches(self, n_batches: int) -> Iterator[torch.Tensor]:
        """The first ``n_batches`` training batches (inputs only), for int8 calibration."""
        for i in range(n_batches):
            batch = self.X_train[i * self.batch_size : (i + 1) * self.batch_size]
            if len(batch) == 0:
                return
            yield batch
