"""Default metrics: ``metric(outputs, targets) -> float``, a batch mean, higher is better.

Any function of that shape works as ``TrainData(metric=...)``; a split's score is the
size-weighted mean over its batches.
"""

from __future__ import annotations

from typing import Any

__all__ = ["accuracy", "neg_mse"]


def accuracy(outputs: Any, targets: Any) -> float:
    """Fraction of rows whose largest output is the target class (the default metric).

    Example:
        >>> import torch
        >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
        0.5
    """
    return float((outputs.argmax(dim=1) == targets).float().mean())


def neg_mse(outputs: Any, targets: Any) -> float:
    """Minus the mean squared error (higher is better): the default for float targets.

    Example:
        >>> import torch
        >>> neg_mse(torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [1.0]]))
        -2.0
    """
    return -float(((outputs.reshape(targets.shape) - targets) ** 2).mean())
