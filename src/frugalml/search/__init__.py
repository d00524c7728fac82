"""Energy-aware search on Optuna: every trial measured, the search's own cost a first-class figure.

- :func:`optimize` — search a bench task's space (``hpo``, ``nas``, ``joint``) or your own
  objective; several worker processes, any Optuna storage, an energy budget; writes
  ``search.json``. ``frugal search`` is a thin layer over it.
- :func:`tracked` — measure a trial of your own ``study.optimize`` loop: a registry run linked
  to the study, its energy stored as trial user attributes.
- :class:`EnergyBudgetCallback` — stop a study when all its trials (all workers) used a budget.
- :func:`search_energy_j` — what a study used so far.

``import frugalml.search`` imports neither Optuna nor torch.

Example:
    >>> from frugalml.search import optimize
    >>> result = optimize("digits-mlp", "hpo", n_trials=20, budget_j=2000)  # doctest: +SKIP
    >>> result.data["best"], result.data["total_energy_j"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frugalml._lazy import lazy_exports

_LAZY = {
    "tracked": "frugalml.search.tracking",
    "TrialTracker": "frugalml.search.tracking",
    "EnergyBudgetCallback": "frugalml.search.tracking",
    "search_energy_j": "frugalml.search.tracking",
    "search_co2e_g": "frugalml.search.tracking",
    "SearchConfig": "frugalml.search.config",
    "OBJECTIVES": "frugalml.search.config",
    "SAMPLERS": "frugalml.search.config",
    "PRUNERS": "frugalml.search.config",
    "Progress": "frugalml.search.workers",
    "SearchResult": "frugalml.search.runner",
    "run_search": "frugalml.search.runner",
}

if TYPE_CHECKING:
    from frugalml.search.config import OBJECTIVES, PRUNERS, SAMPLERS, SearchConfig
    from frugalml.search.runner import SearchResult, run_search
    from frugalml.search.tracking import (
        EnergyBudgetCallback,
        TrialTracker,
        search_co2e_g,
        search_energy_j,
        tracked,
    )
    from frugalml.search.workers import Progress

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "EnergyBudgetCallback",
    "Progress",
    "SearchConfig",
    "SearchResult",
    "TrialTracker",
    "optimize",
    "run_search",
    "search_co2e_g",
    "search_energy_j",
    "tracked",
]

__getattr__, __dir__ = lazy_exports("frugalml.search", _LAZY, globals(), __all__)


def optimize(
    task_or_objective: str | Callable[[Any], Any],
    space: str = "joint",
    *,
    on_progress: Callable[[Any], None] | None = None,
    **options: Any,
) -> SearchResult:
    """Run an energy-aware search and write ``<out_dir>/search.json``.

    Args:
        task_or_objective: a bench task name (``digits-mlp``...) whose ``space`` is searched
            with the built-in objective, or your own Optuna objective ``fn(trial) -> value(s)``
            (each call is measured with :func:`tracked`; with several workers it must be
            picklable: a module-level function).
        space: ``hpo``, ``nas`` or ``joint`` (tasks only).
        on_progress: called with a :class:`Progress` after every trial (and twice a second
            with several workers).
        **options: the fields of :class:`SearchConfig`: ``sampler``, ``pruner``,
            ``n_trials``, ``budget_j``, ``objectives``, ``max_train_energy_j``, ``storage``,
            ``study``, ``workers``, ``seed``, ``out_dir``, ``db``, ``weight_sharing``,
            ``region``, ``pue``, ``threads``.

    Returns:
        A :class:`SearchResult`: the ``search.json`` content and its path.

    Raises:
        InputError: bad options, an unreachable storage, or an existing study with other
            objectives (nothing is written then).

    Example:
        >>> def objective(trial):
        ...     x = trial.suggest_float("x", -3, 3)
        ...     return (x - 1) ** 2
        >>> res = optimize(objective, objectives=("loss:minimize",), n_trials=3,
        ...                out_dir=str(tmp), db=False)  # doctest: +SKIP
        >>> res.data["total_energy_j"] > 0  # doctest: +SKIP
        True
    """
    import dataclasses

    from frugalml.errors import InputError
    from frugalml.search.config import SearchConfig
    from frugalml.search.runner import run_search

    fields = {f.name for f in dataclasses.fields(SearchConfig)} - {
        "task",
        "space",
        "user_objective",
    }
    for key in options:
        if key not in fields:
            raise InputError(
                f"optimize() has no option {key!r}; valid: {', '.join(sorted(fields))}."
            )
    if "objectives" in options and isinstance(options["objectives"], str):
        options["objectives"] = tuple(options["objectives"].split(","))
    if callable(task_or_objective):
        config = SearchConfig(task=None, **options)
        return run_search(config, task_or_objective, on_progress=on_progress)
    config = SearchConfig(task=task_or_objective, space=space, **options)
    return run_search(config, on_progress=on_progress)
