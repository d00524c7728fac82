"""Optuna samplers and pruners by name, configured for small, energy-measured searches.

=========  ======================================================================================
sampler    what it is
=========  ======================================================================================
tpe        ``TPESampler(multivariate=True, group=True)`` (conditional spaces: widths per layer),
           ``constant_liar`` with several workers, ``n_startup_trials = clip(trials / 3, 3, 10)``
           random trials first
random     ``RandomSampler``
grid       a full-factorial grid sized to the trial budget (:meth:`Space.grid`), enqueued
           through Optuna's trial queue (``study.enqueue_trial``) in a seeded random order, so
           that concurrent workers never run the same point twice
nsga2      ``NSGAIISampler`` with ``population_size = clip(trials / 3, 4, 50)`` so that short
           searches still run several generations
=========  ======================================================================================

The training-energy cap reaches TPE and NSGA-II through ``Trial.set_constraint`` (Optuna 5).

Pruners: ``none`` (``NopPruner``), ``median`` (``MedianPruner``, 5 startup trials), ``hyperband``
(``HyperbandPruner``, resource = epochs, from 1 to the space's most epochs, reduction factor 3).
Pruners act on the validation accuracy every trial reports after each epoch; Optuna cannot
prune multi-objective trials.
"""

from __future__ import annotations

import random
import warnings
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.search.config import SearchConfig

if TYPE_CHECKING:
    from frugalml.bench.spaces import Space

__all__ = ["grid_points", "make_pruner", "make_sampler"]


def make_sampler(config: SearchConfig, worker: int, n_trials: int) -> Any:
    """The sampler of ``config`` for worker number ``worker`` (seeded ``seed + worker``)."""
    optuna = require("optuna", "frugal search")
    seed = config.seed + worker
    with warnings.catch_warnings():  # multivariate/group/constant_liar are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if config.sampler == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                multivariate=True,
                group=True,
                constant_liar=config.workers > 1,
                n_startup_trials=max(3, min(10, n_trials // 3)),
            )
        if config.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(
                seed=seed,
                population_size=max(4, min(50, n_trials // 3)),
            )
        return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(config: SearchConfig, space: Space | None) -> Any:
    """The pruner of ``config`` (resource: epochs, up to ``space.max_epochs``)."""
    optuna = require("optuna", "frugal search")
    name = config.pruner_name
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1,
            max_resource=space.max_epochs if space is not None else "auto",
            reduction_factor=3,
        )
    return optuna.pruners.NopPruner()


def grid_points(space: Space, n_trials: int, seed: int) -> list[dict[str, Any]]:
    """The grid of at most ``n_trials`` points, shuffled by ``seed`` (as GridSampler does)."""
    points = space.grid(n_trials)
    random.Random(seed).shuffle(points)
    return points
