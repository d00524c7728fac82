"""Bench tasks for the training-side techniques: a generated many-class task and a transfer pair.

- ``zipf-10k``: 10,000 classes whose frequencies follow Zipf's law (``p(rank r) ~ 1 / r``),
  generated with a fixed seed. Classes sit at the leaves of a latent binary hierarchy over
  the label index (as words in a taxonomy): a class centre is the sum of one random offset
  per level of its path, shrinking with depth, and a sample is its class centre plus
  Gaussian noise. Frequency ranks are a random permutation of the labels, independent of
  the hierarchy. Most classes are rare or absent, so the split is a plain (unstratified)
  random 60/15/25 split. It exercises ``adaptive-softmax`` and ``hierarchical-softmax``.
- ``digits-0to4-mlp`` (source) and ``digits-5to9-mlp`` (target): scikit-learn's digits split
  by label; the target's classes 5-9 are relabelled 0-4. Both use the source's training
  statistics to standardise (a pre-trained network keeps its input normalisation), the
  same stratified 60/15/25 split as the other tasks and the ``digits-mlp`` recipe. The
  target's ``train_data`` carries the source's (:class:`~frugalml.reduce.transfer.TransferData`)
  so ``transfer`` can train its base inside ``apply``.

``Task.extra["role"]`` marks them (``"many-class"``, ``"transfer-source"``,
``"transfer-target"``); the training techniques' ``applies_to`` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.bench.tasks import Split, Task

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["EXTRA_TASKS", "DigitsPairTask", "ZipfTask", "zipf_data"]

ZIPF_CLASSES = 10_000


def zipf_data(
    n_classes: int = ZIPF_CLASSES,
    n_samples: int = 4000,
    n_features: int = 32,
    exponent: float = 1.0,
    decay: float = 0.75,
    noise: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generated many-class data: Zipf-distributed labels, hierarchical class centres.

    Args:
        n_classes: number of classes.
        n_samples: number of samples drawn.
        n_features: input dimension.
        exponent: Zipf exponent ``s`` (``p(rank r) ~ r ** -s``).
        decay: the offset of tree level ``l`` has standard deviation ``decay ** l``.
        noise: standard deviation of the per-sample Gaussian noise.
        seed: generator seed.

    Returns:
        ``X`` float32 ``(n_samples, n_features)`` and ``y`` int64 labels in ``[0, n_classes)``.

    Example:
        >>> X, y = zipf_data(n_classes=100, n_samples=500)
        >>> X.shape, int(y.max()) < 100
        ((500, 32), True)
    """
    np_ = require("numpy", "the zipf task")
    rng = np_.random.default_rng(seed)
    labels = np_.arange(n_classes)
    centres = np_.zeros((n_classes, n_features))
    lo, hi = np_.array([0]), np_.array([n_classes])
    level = 0
    while (hi - lo).max() > 1:  # recursive halving of the label range, one level at a time
        mid = (lo + hi) // 2
        split = hi - lo > 1
        lo = np_.concatenate([lo[~split], lo[split], mid[split]])
        hi = np_.concatenate([hi[~split], mid[split], hi[split]])
        order = np_.argsort(lo)
        lo, hi = lo[order], hi[order]
        node = np_.searchsorted(lo, labels, side="right") - 1
        offsets = decay**level * rng.standard_normal((len(lo), n_features))
        centres += offsets[node]
        level += 1
    rank = rng.permutation(n_classes)  # class -> frequency rank, independent of the tree
    p = 1.0 / (rank + 1.0) ** exponent
    y = rng.choice(n_classes, size=n_samples, p=p / p.sum())
    X = centres[y] + noise * rng.standard_normal((n_samples, n_features))
    return X.astype("float32"), y.astype("int64")


def _standardise(split: Split, mean: Any, std: Any, shape: tuple[int, ...]) -> Split:
    std = std.copy()
    std[std < 1e-6] = 1.0
    s = (-1, *shape)
    return Split(
        ((split.X_train - mean) / std).reshape(s),
        split.y_train,
        ((split.X_val - mean) / std).reshape(s),
        split.y_val,
        ((split.X_test - mean) / std).reshape(s),
        split.y_test,
    )


def _raw_split(X: Any, y: Any, seed: int, *, stratify: bool) -> Split:
    """60/15/25 train/val/test, as :meth:`Task.split` but before standardising."""
    model_selection = require("sklearn.model_selection", "bench tasks")
    X_rest, X_test, y_rest, y_test = model_selection.train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if stratify else None
    )
    X_train, X_val, y_train, y_val = model_selection.train_test_split(
        X_rest, y_rest, test_size=0.2, random_state=seed, stratify=y_rest if stratify else None
    )
    return Split(X_train, y_train, X_val, y_val, X_test, y_test)


class ZipfTask(Task):
    """A generated many-class task: unstratified split, ``n_classes`` from ``extra``."""

    def split(self) -> Split:
        X, y = self.load()
        raw = _raw_split(X, y, self.split_seed, stratify=False)
        return _standardise(
            raw, raw.X_train.mean(axis=0), raw.X_train.std(axis=0), self.input_shape
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["n_classes"] = int(self.extra["n_classes"])
        out["split"] = "random (unstratified) 60/15/25 train/val/test, split_seed " + str(
            self.split_seed
        )
        out["classes_in_train"] = len(set(self.split().y_train.tolist()))
        return out


class DigitsPairTask(Task):
    """Digits restricted to some labels, standardised with the source task's statistics."""

    def split(self) -> Split:
        source = EXTRA_TASKS[self.extra.get("source", self.name)]
        raw = _raw_split(*self.load(), self.split_seed, stratify=True)
        src = (
            raw if source is self else _raw_split(*source.load(), source.split_seed, stratify=True)
        )
        return _standardise(
            raw, src.X_train.mean(axis=0), src.X_train.std(axis=0), self.input_shape
        )

    def train_data(self, seed: int = 0) -> tuple[TrainData, Any, Any]:
        """Target tasks return :class:`~frugalml.reduce.transfer.TransferData` (with the
        source task's training data); source tasks a plain ``TrainData``."""
        data, X_test, y_test = super().train_data(seed)
        if self.extra.get("role") != "transfer-target":
            return data, X_test, y_test
        import dataclasses

        from frugalml.reduce.transfer import TransferData

        source_data, _, _ = EXTRA_TASKS[self.extra["source"]].train_data(seed)
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
        return TransferData(**fields, source=source_data), X_test, y_test

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["labels"] = list(self.extra["labels"])
        if "source" in self.extra:
            out["source"] = self.extra["source"]
        out["standardised_with"] = self.extra.get("source", self.name) + " training split"
        return out


def _digits(labels: tuple[int, ...]) -> Callable[[], tuple[Any, Any]]:
    def load() -> tuple[Any, Any]:
        np_ = require("numpy", "bench tasks")
        datasets = require("sklearn.datasets", "bench tasks")
        X, y = datasets.load_digits(return_X_y=True)
        keep = np_.isin(y, labels)
        relabel = {c: i for i, c in enumerate(labels)}
        return X[keep].astype("float32"), np_.array([relabel[c] for c in y[keep]], dtype="int64")

    return load


def _mlp(in_features: int, hidden: int, n_classes: int, depth: int) -> Callable[..., nn.Module]:
    def make(width: float = 1.0) -> nn.Module:
        from frugalml.train.models import mlp

        return mlp(in_features, hidden, n_classes, depth, width=width)

    return make


EXTRA_TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        ZipfTask(
            "zipf-10k",
            "generated: 10,000 classes, Zipf (s=1) frequencies, 4,000 samples of 32 features, "
            "hierarchical class centres (seed 0)",
            "MLP 32-32-10000 (ReLU), full softmax",
            zipf_data,
            _mlp(32, 32, ZIPF_CLASSES, 1),
            (32,),
            epochs=4,
            batch_size=64,
            lr=3e-3,
            extra={"role": "many-class", "n_classes": ZIPF_CLASSES},
        ),
        DigitsPairTask(
            "digits-0to4-mlp",
            "scikit-learn digits, labels 0-4 (transfer source)",
            "MLP 64-512-512-5 (ReLU)",
            _digits((0, 1, 2, 3, 4)),
            _mlp(64, 512, 5, 2),
            (64,),
            epochs=30,
            extra={
                "role": "transfer-source",
                "labels": (0, 1, 2, 3, 4),
                "target": "digits-5to9-mlp",
            },
        ),
        DigitsPairTask(
            "digits-5to9-mlp",
            "scikit-learn digits, labels 5-9 as 0-4 (transfer target)",
            "MLP 64-512-512-5 (ReLU)",
            _digits((5, 6, 7, 8, 9)),
            _mlp(64, 512, 5, 2),
            (64,),
            epochs=30,
            extra={
                "role": "transfer-target",
                "labels": (5, 6, 7, 8, 9),
                "source": "digits-0to4-mlp",
            },
        ),
    )
}
