"""Search spaces of the bench tasks, declared in one place next to the tasks.

``frugal search`` and :func:`frugalml.search.optimize` look a task's space up here:

- ``hpo`` — the training recipe: learning rate, batch size, epochs, weight decay (L2);
  the architecture is the task's baseline.
- ``nas`` — the architecture: depth and width of every hidden layer; for CNNs also the block
  type (``standard``, ``depthwise`` separable, SqueezeNet ``fire``) and, with standard
  blocks, BranchyNet early exits on or off; the recipe is the task's baseline.
- ``joint`` — both, plus a post-training technique chosen by its registry name (``none``,
  ``int8-dynamic``, ``magnitude-prune``, ...): the model and its compression searched together.

A space only declares the dimensions and turns a parameter dict into a model and a recipe;
it knows nothing of Optuna beyond the ``trial.suggest_*`` calls of :meth:`Space.suggest`.
Importing this module does not import torch.

Example:
    >>> from frugalml.bench.spaces import get_space
    >>> space = get_space("digits-mlp", "hpo")
    >>> [d.name for d in space.dims()]
    ['lr', 'batch_size', 'epochs', 'weight_decay']
    >>> len(space.grid(16))
    16
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml._params import check_number, unknown_name
from frugalml.bench.tasks import Task, get_task
from frugalml.errors import InputError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SPACES", "Dim", "Recipe", "Space", "get_space", "searchable_tasks"]

SPACES = ("hpo", "nas", "joint")
BLOCKS = ("standard", "depthwise", "fire")
NONE = "none"

#: Post-training techniques of the joint space, by registry name. Each works on every model
#: the space builds (plain, depthwise, fire and early-exit networks).
TECHNIQUES = {
    "mlp": (NONE, "int8-dynamic", "magnitude-prune", "weight-cluster"),
    "cnn": (NONE, "int8-dynamic", "magnitude-prune", "weight-cluster"),
}
#: Hidden widths (MLP units, CNN channels) a layer may take.
WIDTHS = {"mlp": (32, 64, 128, 256, 512), "cnn": (8, 16, 32, 64, 128)}
#: Hidden layers (MLP) or conv blocks (CNN) a network may have.
DEPTHS = {"mlp": (1, 3), "cnn": (2, 4)}


@dataclass(frozen=True)
class Dim:
    """One dimension of a space.

    Attributes:
        name: the parameter name, as Optuna stores it.
        kind: ``float``, ``int`` or ``categorical``.
        low, high, log: the range of numeric dimensions.
        choices: the values of a categorical dimension.
        levels: the grid levels, in order (for numeric dimensions a spread over the range).
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    levels: tuple[Any, ...] = ()

    def suggest(self, trial: Any, name: str | None = None) -> Any:
        key = name or self.name
        if self.kind == "float":
            return trial.suggest_float(key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(key, list(self.choices))

    def describe(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"name": self.name, "kind": self.kind, "choices": list(self.choices)}
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
        }


@dataclass(frozen=True)
class Recipe:
    """How a trial trains: Adam at ``lr`` with L2 ``weight_decay``, ``epochs`` passes."""

    lr: float
    batch_size: int
    epochs: int
    weight_decay: float


def _epoch_levels(max_epochs: int) -> tuple[int, ...]:
    """About five epoch counts spread geometrically from 2 to ``max_epochs``."""
    lo = min(2, max_epochs)
    return tuple(sorted({round(lo * (max_epochs / lo) ** (i / 4)) for i in range(5)}))


@dataclass(frozen=True)
class Space:
    """A task's search space (see the module docstring).

    Attributes:
        name: ``hpo``, ``nas`` or ``joint``.
        task: the bench task it belongs to.
        weight_sharing: the architectures one supernet can hold (depth and widths only: no
            block types, no early exits).
    """

    name: str
    task: Task
    _hpo: tuple[Dim, ...] = field(default=(), repr=False)
    weight_sharing: bool = False

    # -- what is searched -------------------------------------------------------------------
    @property
    def searches_recipe(self) -> bool:
        return self.name in ("hpo", "joint")

    @property
    def searches_architecture(self) -> bool:
        return self.name in ("nas", "joint")

    @property
    def kind(self) -> str:
        return self.task.kind

    @property
    def max_epochs(self) -> int:
        """The most epochs a trial of this space trains (the pruners' resource)."""
        return self.task.epochs

    def dims(self) -> list[Dim]:
        """Every dimension; ``width`` stands for ``width_0`` ... ``width_{depth-1}``."""
        out: list[Dim] = list(self._hpo) if self.searches_recipe else []
        if self.searches_architecture:
            lo, hi = DEPTHS[self.kind]
            out.append(Dim("depth", "int", lo, hi, levels=tuple(range(lo, hi + 1))))
            widths = WIDTHS[self.kind]
            out.append(Dim("width", "categorical", choices=widths, levels=widths))
            if self.kind == "cnn" and not self.weight_sharing:
                out.append(Dim("block", "categorical", choices=BLOCKS, levels=BLOCKS))
                out.append(
                    Dim("early_exit", "categorical", choices=(False, True), levels=(False, True))
                )
        if self.name == "joint":
            techniques = TECHNIQUES[self.kind]
            out.append(Dim("technique", "categorical", choices=techniques, levels=techniques))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.name,
            "weight_sharing": self.weight_sharing,
            "dims": [d.describe() for d in self.dims()],
        }

    # -- sampling ---------------------------------------------------------------------------
    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask ``trial`` (an Optuna trial) for one point of the space; returns the params."""
        params: dict[str, Any] = {}
        for dim in self.dims():
            if dim.name == "width":
                for i in range(params["depth"]):
                    params[f"width_{i}"] = dim.suggest(trial, f"width_{i}")
            elif dim.name != "early_exit" or params.get("block") == "standard":
                params[dim.name] = dim.suggest(trial)
        return params

    def grid(self, n_points: int) -> list[dict[str, Any]]:
        """A full-factorial grid of at most ``n_points`` points.

        Every dimension starts with one level (the middle of its levels); dimensions gain a
        level in turn, in declared order, while the grid stays within ``n_points``. ``k``
        levels of a dimension are the centres of ``k`` equal parts of its level list. Per-layer
        widths share one level (a grid over each layer's width would need widths ** depth
        points).
        """
        check_number("Space.grid", "n_points", n_points, low=1, integer=True)
        dims = self.dims()
        counts = [1] * len(dims)
        grown = True
        while grown:
            grown = False
            for i, dim in enumerate(dims):
                if counts[i] >= len(dim.levels):
                    continue
                if math.prod(counts) // counts[i] * (counts[i] + 1) <= n_points:
                    counts[i] += 1
                    grown = True
        chosen = [_spread(d.levels, k) for d, k in zip(dims, counts)]
        points: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
        for combo in itertools.product(*chosen):
            params: dict[str, Any] = {}
            for dim, value in zip(dims, combo):
                if dim.name == "width":
                    params.update({f"width_{i}": value for i in range(params["depth"])})
                elif dim.name != "early_exit" or params.get("block") == "standard":
                    params[dim.name] = value
            points.setdefault(tuple(params.items()), params)
        return list(points.values())

    # -- what a point means -----------------------------------------------------------------
    def recipe(self, params: dict[str, Any]) -> Recipe:
        """The training recipe of ``params`` (the task's own where the space does not search it)."""
        t = self.task
        if not self.searches_recipe:
            return Recipe(t.lr, t.batch_size, t.epochs, 0.0)
        return Recipe(
            float(params["lr"]),
            int(params["batch_size"]),
            int(params["epochs"]),
            float(params["weight_decay"]),
        )

    def widths(self, params: dict[str, Any]) -> list[int]:
        """Hidden widths, one per layer (MLP units or CNN channels)."""
        return [int(params[f"width_{i}"]) for i in range(int(params["depth"]))]

    def technique(self, params: dict[str, Any]) -> str | None:
        """The post-training technique's registry name, or None."""
        name = params.get("technique", NONE)
        return None if name == NONE else str(name)

    def build(self, params: dict[str, Any], n_classes: int) -> nn.Module:
        """A fresh, untrained model for ``params`` (the task's baseline when not searched).

        Early exits are not built here: the trial trains them with the ``early-exit``
        technique (see :meth:`early_exit`).
        """
        if not self.searches_architecture:
            return self.task.make_model()
        widths = self.widths(params)
        if self.kind == "mlp":
            return mlp_widths(self.task.input_shape[0], widths, n_classes)
        from frugalml.reduce.blocks import depthwise_separable, fire_modules
        from frugalml.train.models import small_cnn

        model = small_cnn(self.task.input_shape[0], n_classes, widths)
        block = params.get("block", "standard")
        if block == "depthwise":
            depthwise_separable(model)
        elif block == "fire":
            fire_modules(model)
        return model

    def early_exit(self, params: dict[str, Any]) -> bool:
        return bool(params.get("early_exit", False))


def _spread(levels: Sequence[Any], k: int) -> list[Any]:
    """``k`` of ``levels`` at the centres of ``k`` equal parts (k=1: the middle one)."""
    n = len(levels)
    return [levels[min(n - 1, int((j + 0.5) * n / k))] for j in range(k)]


def mlp_widths(in_features: int, widths: Sequence[int], n_classes: int) -> nn.Module:
    """An MLP with one hidden width per layer: ``[Linear, ReLU] * len(widths), Linear``.

    The same layout as :func:`frugalml.train.mlp`, so every technique handles it.

    Example:
        >>> mlp_widths(64, [128, 32], 10)[2].out_features
        32
    """
    from torch import nn as nn_

    layers: list[nn.Module] = []
    fan_in = in_features
    for w in widths:
        layers += [nn_.Linear(fan_in, int(w)), nn_.ReLU()]
        fan_in = int(w)
    layers.append(nn_.Linear(fan_in, n_classes))
    return nn_.Sequential(*layers)


def _hpo_dims(task: Task) -> tuple[Dim, ...]:
    return (
        Dim("lr", "float", 1e-4, 3e-2, log=True, levels=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)),
        Dim(
            "batch_size",
            "categorical",
            choices=(16, 32, 64, 128, 256),
            levels=(16, 32, 64, 128, 256),
        ),
        Dim("epochs", "int", 1, task.epochs, levels=_epoch_levels(task.epochs)),
        Dim(
            "weight_decay",
            "float",
            1e-6,
            1e-2,
            log=True,
            levels=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
        ),
    )


def searchable_tasks() -> list[str]:
    """The tasks with a search space: the plain MLP and CNN classification tasks."""
    from frugalml.bench.tasks import all_tasks

    return [n for n, t in all_tasks().items() if t.kind in ("mlp", "cnn") and "role" not in t.extra]


def get_space(task: str | Task, name: str = "joint", *, weight_sharing: bool = False) -> Space:
    """The search space ``name`` (``hpo``, ``nas``, ``joint``) of a bench task.

    ``weight_sharing=True`` (``nas`` only) keeps the dimensions one supernet can share weights
    over: depth and per-layer widths.

    Raises:
        UnknownNameError: unknown task or space name.
        InputError: the task has no search space (a special-purpose task).
    """
    t = get_task(task) if isinstance(task, str) else task
    if name not in SPACES:
        raise unknown_name("space", name, SPACES)
    if t.name not in searchable_tasks():
        raise InputError(
            f"Task {t.name!r} has no search space (it is a special-purpose task). Search one of: "
            f"{', '.join(searchable_tasks())}."
        )
    if weight_sharing and name != "nas":
        raise InputError(
            f"Weight sharing searches architectures: use the 'nas' space, not {name!r}."
        )
    return Space(name, t, _hpo_dims(t), weight_sharing=weight_sharing)
