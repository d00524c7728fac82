"""The data and training recipe a task hands to ``fit`` and to every reduction technique.

A :class:`TrainData` bundles the training and validation data with the task's recipe
(batch size, epochs, learning rate, optimiser, seed), its loss and metric, and a
``make_model`` factory, so a technique that needs a fresh model (binary-connect from
scratch) or a smaller student (distill) can build one of the task's architecture.

The data comes two ways:

- in memory (``TrainData(X_train, y_train, X_val, y_val)``, :meth:`TrainData.from_arrays`):
  tensors, indexed directly (the fast path of the bench's small tasks);
- streamed (:meth:`TrainData.from_loader`): ``torch.utils.data.DataLoader``\\ s or
  ``Dataset``\\ s yielding ``(inputs, targets)``, read batch by batch every time they are
  used and never copied into memory.

Targets are integer class labels (classification: cross-entropy and accuracy by default) or
float values with a user loss (regression: the default metric is the negative mean squared
error, higher is better). The validation split is only handed to ``fit`` callbacks and to
the choices a technique makes on it (a threshold, a layer); no technique sees the test split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.train._loaders import MappedLoader, pair
from frugalml.train.metrics import accuracy, neg_mse

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["OPTIMIZERS", "SPLITS", "Loss", "Metric", "ModelFactory", "TrainData"]

OPTIMIZERS = ("adam", "sgd")
SPLITS = ("train", "val", "test")

#: ``make_model(width=1.0)`` returns a fresh, untrained model; ``width`` scales its
#: hidden widths (0.25 gives a student with about 4-16x fewer parameters).
ModelFactory = Callable[..., "nn.Module"]
#: ``loss(outputs, targets) -> scalar tensor`` (mean over the batch).
Loss = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
#: ``metric(outputs, targets) -> float``: the batch mean of a score, higher is better; a
#: split's score is the mean over its batches weighted by their sizes.
Metric = Callable[["torch.Tensor", "torch.Tensor"], float]


@dataclass
class TrainData:
    """Training and validation data plus the task's training recipe.

    Attributes:
        X_train, y_train: in-memory training inputs (float32, first dimension = samples)
            and targets (int64 class labels, or floats with a ``loss``); None when the data
            is streamed from ``loaders``.
        X_val, y_val: in-memory validation split (same trailing shape), or None.
        make_model: factory ``make_model(width=1.0) -> nn.Module`` of the task's
            architecture, or None when the task has none (distill then fails).
        batch_size: mini-batch size of the recipe (a loader keeps its own).
        epochs: epochs of the recipe's full training run.
        lr: learning rate of the recipe.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        seed: seed for initialisation, shuffling and stochastic layers.
        loss: ``loss(outputs, targets)``; None: cross-entropy (integer targets).
        metric: ``metric(outputs, targets)``; None: accuracy (integer targets) or the
            negative mean squared error (float targets).
        loaders: streamed splits, ``{"train": DataLoader, "val": ..., "test": ...}``
            (:meth:`from_loader`).

    Example:
        >>> import numpy as np
        >>> X = np.random.rand(20, 4); y = np.arange(20) % 2
        >>> data = TrainData.from_arrays(X[:15], y[:15], X[15:], y[15:], epochs=2)
        >>> data.n_classes, data.input_shape, data.target_kind
        (2, (4,), 'classification')
    """

    X_train: torch.Tensor | None = None
    y_train: torch.Tensor | None = None
    X_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    make_model: ModelFactory | None = None
    batch_size: int = 64
    epochs: int = 20
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    loss: Loss | None = None
    metric: Metric | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    _first: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_number("TrainData", "batch_size", self.batch_size, low=1, integer=True)
        check_number("TrainData", "epochs", self.epochs, low=0, integer=True)
        check_number("TrainData", "lr", self.lr, low=0, low_open=True)
        check_number("TrainData", "seed", self.seed, low=0, integer=True)
        check_choice("TrainData", "optimizer", self.optimizer, OPTIMIZERS)
        if self.loaders:
            if self.X_train is not None:
                raise InputError(
                    "TrainData: give in-memory tensors or loaders, not both; use "
                    "TrainData.from_loader(...) for loaders."
                )
            return
        if self.X_train is None or self.y_train is None:
            raise InputError(
                "TrainData needs training data: X_train and y_train, or loaders from "
                "TrainData.from_loader(train_loader)."
            )
        if (self.X_val is None) != (self.y_val is None):
            raise InputError("TrainData: give both X_val and y_val, or neither.")
        splits: list[tuple[Any, Any, str]] = [(self.X_train, self.y_train, "train")]
        if self.X_val is not None:
            splits.append((self.X_val, self.y_val, "val"))
        for X, y, split in splits:
            if len(X) != len(y):
                raise InputError(
                    f"TrainData: X_{split} has {len(X)} rows but y_{split} has {len(y)}; "
                    "pass inputs and labels of the same length."
                )
            _check_targets(y, f"y_{split}", self.loss)
        if len(self.X_train) == 0:
            raise InputError("TrainData: X_train is empty; pass at least one training sample.")
        if self.X_val is not None and tuple(self.X_train.shape[1:]) != tuple(self.X_val.shape[1:]):
            raise InputError(
                f"TrainData: X_train rows have shape {tuple(self.X_train.shape[1:])} but X_val "
                f"rows {tuple(self.X_val.shape[1:])}; both splits must share the input shape."
            )

    @classmethod
    def from_arrays(
        cls, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None, **recipe: Any
    ) -> TrainData:
        """Build from NumPy arrays (or anything ``torch.as_tensor`` takes).

        Inputs become float32; targets int64 (class labels), or float32 when a ``loss`` is
        given and the targets are floats (regression). ``recipe`` sets the other fields.
        """
        torch = require("torch", "frugalml.train.TrainData")

        def x(a: Any) -> Any:
            return None if a is None else torch.as_tensor(a, dtype=torch.float32)

        def y(a: Any) -> Any:
            if a is None:
                return None
            t = torch.as_tensor(a)
            regression = recipe.get("loss") is not None and t.is_floating_point()
            return t.to(torch.float32 if regression else torch.int64)

        return cls(x(X_train), y(y_train), x(X_val), y(y_val), **recipe)

    @classmethod
    def from_loader(
        cls,
        train: Any,
        val: Any = None,
        test: Any = None,
        loss: Loss | None = None,
        metric: Metric | None = None,
        **recipe: Any,
    ) -> TrainData:
        """Stream the data from ``DataLoader``\\ s (or ``Dataset``\\ s) yielding ``(inputs, targets)``.

        Nothing is copied into memory: every use iterates the loader again. A ``Dataset`` is
        wrapped in a ``DataLoader`` of the recipe's ``batch_size`` (shuffled with torch's
        global generator for training, which ``fit`` seeds, so runs repeat). A
        ``DataLoader`` keeps its own batch size and order (for repeatable runs, do not give
        it a generator of its own).

        Args:
            train: the training loader or dataset.
            val: the validation loader or dataset (techniques that choose on it need it).
            test: the test loader or dataset (for your evaluation; techniques never read it).
            loss: ``loss(outputs, targets)``; None: cross-entropy.
            metric: ``metric(outputs, targets)``; None: accuracy, or the negative MSE
                for float targets.
            **recipe: ``make_model``, ``epochs``, ``lr``, ``optimizer``, ``seed``,
                ``batch_size``.

        Example:
            >>> import torch
            >>> from torch.utils.data import DataLoader, TensorDataset
            >>> ds = TensorDataset(torch.randn(40, 4), torch.arange(40) % 2)
            >>> data = TrainData.from_loader(DataLoader(ds, batch_size=8, shuffle=True), val=ds)
            >>> data.input_shape, data.n_classes, data.X_train is None
            ((4,), 2, True)
        """
        utils = require("torch.utils.data", "TrainData.from_loader")
        loader_type = utils.DataLoader
        batch_size = int(recipe.pop("batch_size", 0) or getattr(train, "batch_size", 0) or 64)
        loaders: dict[str, Any] = {}
        for split, source in (("train", train), ("val", val), ("test", test)):
            if source is None:
                continue
            if isinstance(source, loader_type):
                loaders[split] = source
            elif isinstance(source, utils.Dataset):
                loaders[split] = loader_type(
                    source, batch_size=batch_size, shuffle=split == "train"
                )
            else:
                raise InputError(
                    f"TrainData.from_loader: {split} must be a torch DataLoader or Dataset; got "
                    f"{type(source).__name__}."
                )
        if "train" not in loaders:
            raise InputError("TrainData.from_loader needs a training loader or dataset.")
        data = cls(loss=loss, metric=metric, loaders=loaders, batch_size=batch_size, **recipe)
        _check_targets(data._peek("train")[1], "the train loader's targets", loss)
        return data

    # --- what the data holds ----------------------------------------------------------------

    @property
    def in_memory(self) -> bool:
        """True for tensors, False for streamed loaders."""
        return not self.loaders

    def has(self, split: str) -> bool:
        """Whether ``split`` (``"train"``, ``"val"`` or ``"test"``) is present."""
        check_choice("TrainData.has", "split", split, SPLITS)
        if self.loaders:
            return split in self.loaders
        return {"train": self.X_train, "val": self.X_val, "test": None}[split] is not None

    @property
    def target_kind(self) -> str:
        """``"classification"`` (integer targets) or ``"regression"`` (float targets)."""
        return "regression" if self._peek("train")[1].is_floating_point() else "classification"

    @property
    def n_classes(self) -> int:
        """Number of classes: one more than the largest label of the training and validation
        splits (one pass over the loaders' targets when streamed)."""
        top = int(self.targets("train").max())
        if self.has("val"):
            val = self.targets("val")
            top = max(top, int(val.max()) if len(val) else 0)
        return top + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. ``(64,)`` or ``(1, 8, 8)``."""
        return tuple(int(d) for d in self._peek("train")[0].shape[1:])

    def n_samples(self, split: str = "train") -> int:
        """Number of samples of ``split`` (a streamed split needs a sized dataset)."""
        if not self.loaders:
            X = self.X_train if split == "train" else self.X_val
            return 0 if X is None else len(X)
        try:
            return len(self.loaders[split].dataset)
        except TypeError:
            raise InputError(
                f"TrainData: the {split} loader's dataset has no length; this needs a "
                "map-style Dataset (with __len__ and __getitem__)."
            ) from None

    def example_input(self, n: int = 1) -> torch.Tensor:
        """The first ``n`` training inputs, for graph tracing or shape checks."""
        return self._peek("train")[0][:n]

    def targets(self, split: str = "train") -> torch.Tensor:
        """Every target of ``split`` (one pass over the loader when streamed)."""
        if not self.loaders:
            y = self.y_train if split == "train" else self.y_val
            assert y is not None
            return y
        torch = require("torch", "TrainData.targets")
        return torch.cat([y for _, y in self.batches(split)])

    # --- reading it -------------------------------------------------------------------------

    def batches(
        self,
        split: str = "train",
        *,
        batch_size: int | None = None,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(inputs, targets)`` mini-batches of ``split``.

        In memory: batches of ``batch_size`` (the recipe's when None), in the order of a
        ``torch.randperm`` drawn from ``generator`` when ``shuffle``. Streamed: the loader's
        own batches and order (``batch_size`` and ``shuffle`` do not apply).
        """
        if self.loaders:
            for batch in self.loaders[split]:
                yield pair(batch, split)
            return
        torch = require("torch", "TrainData.batches")
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_val, self.y_val)
        if X is None or y is None:
            raise InputError(f"TrainData has no {split} split.")
        size = batch_size or self.batch_size
        if shuffle:
            order = torch.randperm(len(X), generator=generator)
            for i in range(0, len(X), size):
                idx = order[i : i + size]
                yield X[idx], y[idx]
        else:
            for i in range(0, len(X), size):
                yield X[i : i + size], y[i : i + size]

    def chunks(self, split: str = "train") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``split`` for an inference pass: one chunk when in memory, the loader's batches
        when streamed."""
        if self.loaders:
            yield from self.batches(split)
            return
        X, y = (self.X_train, self.y_train) if split == "train" else (self.X_val, self.y_val)
        if X is None or y is None:
            raise InputError(f"TrainData has no {split} split.")
        yield X, y

    def calibration_batches(self, n_batches: int) -> Iterator[torch.Tensor]:
        """The first ``n_batches`` training batches (inputs only), for int8 calibration."""
        for i, (x, _) in enumerate(self.batches("train")):
            if i >= n_batches:
                return
            yield x

    def loss_fn(self) -> Loss:
        """The loss: the user's, else cross-entropy."""
        if self.loss is not None:
            return self.loss
        torch = require("torch", "TrainData.loss_fn")
        return torch.nn.functional.cross_entropy  # type: ignore[no-any-return]

    def metric_fn(self) -> Metric:
        """The metric: the user's, else accuracy (or the negative MSE for float targets)."""
        if self.metric is not None:
            return self.metric
        return neg_mse if self.target_kind == "regression" else accuracy

    # --- derived data -----------------------------------------------------------------------

    def subset(self, indices: torch.Tensor, *, shuffle: bool | None = None) -> TrainData:
        """The same data with only the training samples at ``indices``.

        Streamed data needs a map-style ``Dataset`` (indexable); the subset's loader keeps
        the original's batch size and (unless ``shuffle`` says otherwise) its shuffling.
        """
        if not self.loaders:
            assert self.X_train is not None and self.y_train is not None
            return dataclasses.replace(
                self, X_train=self.X_train[indices], y_train=self.y_train[indices]
            )
        utils = require("torch.utils.data", "TrainData.subset")
        loader = self.loaders["train"]
        self.n_samples("train")  # raises for datasets without a length
        subset = utils.Subset(loader.dataset, indices.tolist())
        if shuffle is None:
            shuffle = isinstance(loader.sampler, utils.RandomSampler)
        new = utils.DataLoader(
            subset,
            batch_size=loader.batch_size,
            shuffle=shuffle,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
        )
        return dataclasses.replace(self, loaders={**self.loaders, "train": new}, _first={})

    def map_inputs(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> TrainData:
        """The same data with every input replaced by ``fn(input)`` (run under no_grad).

        In memory, ``fn`` runs once over each split and the results are kept (cached
        features); streamed, it runs on every batch as the loader is read.
        """
        torch = require("torch", "TrainData.map_inputs")
        if not self.loaders:
            assert self.X_train is not None
            with torch.no_grad():
                return dataclasses.replace(
                    self,
                    X_train=fn(self.X_train),
                    X_val=None if self.X_val is None else fn(self.X_val),
                )
        mapped = {split: MappedLoader(loader, fn) for split, loader in self.loaders.items()}
        return dataclasses.replace(self, loaders=mapped, _first={})

    def _peek(self, split: str) -> tuple[Any, Any]:
        """The first batch of ``split`` (read once, then remembered)."""
        if not self.loaders:
            if split == "train":
                return self.X_train, self.y_train
            return self.X_val, self.y_val
        if split not in self._first:
            try:
                self._first[split] = next(iter(self.batches(split)))
            except StopIteration:
                raise InputError(f"TrainData: the {split} loader yields no batch.") from None
        return self._first[split]


def _check_targets(y: Any, what: str, loss: Any) -> None:
    if y.is_floating_point():
        if loss is None:
            raise InputError(
                f"TrainData: {what} are floats ({y.dtype}); class labels must be integers "
                "(convert with .long()), or pass loss= (e.g. torch.nn.functional.mse_loss) "
                "for regression."
            )
    elif y.dim() != 1:
        raise InputError(
            f"TrainData: {what} must be a 1-D integer tensor of class labels; got shape "
            f"{tuple(y.shape)}."
        )
