"""Training helpers shared by the reduction techniques and the bench.

- :class:`TrainData` — training/validation data (tensors, or DataLoaders streamed with
  :meth:`TrainData.from_loader`), loss and metric, the task's recipe and model factory.
- :func:`fit`, :func:`evaluate`, :func:`score`, :func:`predict` — a minimal deterministic
  CPU loop with a per-epoch callback hook (:class:`EpochEnd`; return True to stop).
- :func:`mlp`, :func:`small_cnn` — model factories of the bench tasks;
  :class:`DtypeWrapper` runs a bf16/fp16 model behind float32 inputs and outputs.

``import frugalml.train`` does not import torch; the names load on first use.

Example:
    >>> import torch
    >>> from frugalml.train import TrainData, evaluate, fit, mlp
    >>> X = torch.randn(128, 4); y = (X[:, 0] > 0).long()
    >>> data = TrainData(X[:96], y[:96], X[96:], y[96:], epochs=5, lr=1e-2)
    >>> model = mlp(4, 16, 2)
    >>> _ = fit(model, data)
    >>> evaluate(model, data.X_val, data.y_val) > 0.5
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frugalml._lazy import lazy_exports

_LAZY = {
    "TrainData": "frugalml.train.data",
    "ModelFactory": "frugalml.train.data",
    "fit": "frugalml.train.loop",
    "evaluate": "frugalml.train.loop",
    "predict": "frugalml.train.loop",
    "score": "frugalml.train.loop",
    "EpochEnd": "frugalml.train.loop",
    "FitHistory": "frugalml.train.loop",
    "Callback": "frugalml.train.loop",
    "LossFn": "frugalml.train.loop",
    "mlp": "frugalml.train.models",
    "small_cnn": "frugalml.train.models",
    "DtypeWrapper": "frugalml.train.models",
}

if TYPE_CHECKING:
    from frugalml.train.data import ModelFactory, TrainData
    from frugalml.train.loop import (
        Callback,
        EpochEnd,
        FitHistory,
        LossFn,
        evaluate,
        fit,
        predict,
        score,
    )
    from frugalml.train.models import DtypeWrapper, mlp, small_cnn

__all__ = [
    "Callback",
    "DtypeWrapper",
    "EpochEnd",
    "FitHistory",
    "LossFn",
    "ModelFactory",
    "TrainData",
    "evaluate",
    "fit",
    "mlp",
    "predict",
    "score",
    "small_cnn",
]


__getattr__, __dir__ = lazy_exports("frugalml.train", _LAZY, globals(), __all__)
