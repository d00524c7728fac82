"""Built-in bench tasks: bundled scikit-learn data, a fixed split and seed, a baseline recipe.

Each task is one :class:`Task` value: where its data comes from, how it is split, which model
it trains and with which recipe. Adding a task is adding one entry to ``TASKS`` (a loader of
NumPy arrays and a model factory). Splits are stratified: 60 % train, 15 % validation, 25 %
test, fixed by the task's ``split_seed`` whatever the bench ``--seed`` (which seeds training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml._params import unknown_name
from frugalml.reduce.needs import PURPOSES

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["TASKS", "Split", "Task", "all_tasks", "get_task"]


@dataclass(frozen=True)
class Split:
    """NumPy arrays of one task: train / validation / test."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Task:
    """A bench task.

    Attributes:
        name: kebab-case name used on the command line.
        dataset: where the data comes from (bundled scikit-learn set or generator).
        model_desc: the baseline architecture in words.
        load: returns features ``X`` (float) and labels ``y`` (int) for the whole dataset.
        make_model: ``make_model(width=1.0) -> nn.Module``, the baseline architecture.
        input_shape: shape of one sample as the model takes it (e.g. ``(64,)``, ``(1, 8, 8)``).
        epochs, batch_size, lr, optimizer: the baseline recipe.
        split_seed: seed of the fixed train/val/test split.
        kind: ``"mlp"`` or ``"cnn"``: the baseline's family, in words.
        purposes: what the task is meant to show (:data:`frugalml.reduce.needs.PURPOSES`):
            a technique runs on it by default when it is for one of them
            (``Technique.applies_to``).
        tolerance_pt: accuracy points (of the test split) a row may lose against the
            baseline and still win at what it is for (:mod:`frugalml.bench.verdict`).
        stacks: recipes of several techniques (``"distill(student_width=0.25)+int8-static"``,
            :mod:`frugalml.bench.chain`) the suites run on this task beside the single
            techniques: the declared candidates among which the task's best rows are chosen,
            on measurements.
        extra: ``role`` (``"many-class"``, ``"transfer-source"``, ``"transfer-target"``:
            special tasks run only the techniques made for them) and per-technique
            ``technique_params``.
    """

    name: str
    dataset: str
    model_desc: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    make_model: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    split_seed: int = 0
    kind: str = "mlp"
    purposes: tuple[str, ...] = PURPOSES
    tolerance_pt: float = 1.0
    stacks: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def split(self) -> Split:
        """The fixed, stratified 60/15/25 split, standardised on the training part."""
        model_selection = require("sklearn.model_selection", "bench tasks")
        X, y = self.load()
        X_rest, X_test, y_rest, y_test = model_selection.train_test_split(
            X, y, test_size=0.25, random_state=self.split_seed, stratify=y
        )
        X_train, X_val, y_train, y_val = model_selection.train_test_split(
            X_rest, y_rest, test_size=0.2, random_state=self.split_seed, stratify=y_rest
        )
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std < 1e-6] = 1.0  # constant columns (digits' border pixels) stay as they are
        shape = (-1, *self.input_shape)
        return Split(
            ((X_train - mean) / std).reshape(shape),
            y_train,
            ((X_val - mean) / std).reshape(shape),
            y_val,
            ((X_test - mean) / std).reshape(shape),
            y_test,
        )

    def train_data(self, seed: int = 0) -> tuple[TrainData, Any, Any]:
        """TrainData (train + validation, the recipe, the model factory) and test tensors."""
        torch = require("torch", "bench tasks")
        from frugalml.train.data import TrainData

        s = self.split()
        data = TrainData.from_arrays(
            s.X_train,
            s.y_train,
            s.X_val,
            s.y_val,
            make_model=self.make_model,
            batch_size=self.batch_size,
            epochs=self.epochs,
            lr=self.lr,
            optimizer=self.optimizer,
            seed=seed,
        )
        X_test = torch.as_tensor(s.X_test, dtype=torch.float32)
        y_test = torch.as_tensor(s.y_test, dtype=torch.int64)
        return data, X_test, y_test

    def describe(self) -> dict[str, Any]:
        s = self.split()
        return {
            "name": self.name,
            "dataset": self.dataset,
            "model": self.model_desc,
            "input_shape": list(self.input_shape),
            "n_train": len(s.y_train),
            "n_val": len(s.y_val),
            "n_test": len(s.y_test),
            "n_classes": int(max(s.y_train.max(), s.y_test.max()) + 1),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "split": "stratified 60/15/25 train/val/test, split_seed " + str(self.split_seed),
            "tolerance_pt": self.tolerance_pt,
            "test_sample_pt": 100 / len(s.y_test),
        }


def _sk(name: str) -> Callable[[], tuple[Any, Any]]:
    def load() -> tuple[Any, Any]:
        datasets = require("sklearn.datasets", "bench tasks")
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return X.astype("float32"), y.astype("int64")

    return load


def _mlp(in_features: int, hidden: int, n_classes: int, depth: int) -> Callable[..., nn.Module]:
    def make(width: float = 1.0) -> nn.Module:
        from frugalml.train.models import mlp

        return mlp(in_features, hidden, n_classes, depth, width=width)

    return make


def _cnn(width: float = 1.0) -> nn.Module:
    from frugalml.train.models import small_cnn

    return small_cnn(1, 10, (32, 64, 128), width=width)


# Candidate recipes beyond each technique's defaults, picked on one exploratory quick run
# (seed 0; benchmarks/stacks.py measures them over seeds): an eighth-width student at a
# higher learning rate; early stopping over a window of 2 epochs that stops once their gain
# per joule falls below a quarter of the average since the first epoch.
_SMALL_STUDENT = "distill(student_width=0.125, lr=0.003)"
_SHORT_STOP = "early-stop-energy(window=2, min_relative_gain=0.25)"

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "digits-mlp",
            "scikit-learn digits (1,797 8x8 images, 10 classes)",
            "MLP 64-512-512-10 (ReLU)",
            _sk("digits"),
            _mlp(64, 512, 10, 2),
            (64,),
            epochs=30,
            stacks=(_SMALL_STUDENT, f"{_SMALL_STUDENT}+int8-dynamic", _SHORT_STOP),
        ),
        Task(
            "digits-cnn",
            "scikit-learn digits as 1x8x8 images",
            "CNN conv3x3 32-64(pool)-128, BN, global avg pool, linear",
            _sk("digits"),
            _cnn,
            (1, 8, 8),
            epochs=15,
            kind="cnn",
            # the CNN shows what cuts inference and size; the training-side techniques are
            # compared on the MLP tasks, whose training is cheaper
            purposes=("inference-energy", "size"),
            stacks=("depthwise+int8-static",),
            # chosen on the validation split (docs/reduce.md, docs/training.md): the smaller
            # networks these techniques produce need a higher learning rate
            extra={
                "technique_params": {
                    "channel-prune": {"lr": 3e-3},
                    "depthwise": {"lr": 3e-3},
                    "fire": {"lr": 3e-3},
                    # BatchNorm follows every conv, so the paper's H = 1 works
                    "binary-connect": {"scale": "none", "lr": 3e-3},
                    # 4.8x fewer parameters; softer targets, twice the recipe's epochs
                    "distill": {
                        "student_width": 0.45,
                        "temperature": 8.0,
                        "lr": 3e-3,
                        "epochs": 30,
                    },
                }
            },
        ),
        Task(
            "breast-cancer-mlp",
            "scikit-learn breast_cancer (569 samples, 30 features, 2 classes)",
            "MLP 30-128-128-2 (ReLU)",
            _sk("breast_cancer"),
            _mlp(30, 128, 2, 2),
            (30,),
            epochs=40,
            batch_size=32,
            stacks=(_SMALL_STUDENT, _SHORT_STOP),
        ),
        Task(
            "iris-mlp",
            "scikit-learn iris (150 samples, 4 features, 3 classes)",
            "MLP 4-64-64-3 (ReLU)",
            _sk("iris"),
            _mlp(4, 64, 3, 2),
            (4,),
            epochs=100,
            batch_size=16,
            # its baseline is already at the per-call floor (a batch of 256 in ~0.2 ms):
            # only training energy has room
            stacks=("early-stop-energy(window=2, lr=0.003)",),
        ),
    )
}


def all_tasks() -> dict[str, Task]:
    """Every registered task: the ones above and those other stages add (``tasks_extra``)."""
    import importlib.util

    out = dict(TASKS)
    if importlib.util.find_spec("frugalml.bench.tasks_extra") is not None:
        from frugalml.bench.tasks_extra import EXTRA_TASKS

        out.update(EXTRA_TASKS)
    return out


def get_task(name: str) -> Task:
    """The task registered as ``name``; unknown names list the valid ones."""
    tasks = all_tasks()
    if name not in tasks:
        raise unknown_name("task", name, tasks, hint="List them with: frugal bench --list")
    return tasks[name]
