"""Every trial measured, and the energy of a study summed once.

:func:`tracked` wraps one Optuna trial in a frugalml tracker: the trial becomes a run in the
registry (tags ``study`` and ``trial``) and its energy is stored on the trial as user
attributes, whether it completes, is pruned or fails:

======================  ==================================================================
user attribute          meaning
======================  ==================================================================
``energy_j``            the trial's whole energy (J), updated while it runs when the
                        objective calls :meth:`TrialTracker.publish`
``co2e_g``              grams CO2e of that energy
``energy_method``       how it was obtained (``cpu-model+ram-model``, ``rapl`` ...)
``run_id``              the registry run
``duration_s``          wall time of the trial (s)
``session``             the search command that ran it (set by :func:`optimize`)
``fail_reason``         first line of the exception of a failed trial
======================  ==================================================================

A study's energy is the sum of its trials' ``energy_j`` plus the overhead each search
command records on the study (``session:<id>`` study user attributes, see
:mod:`frugalml.search.runner`): a trial's energy is stored once, on the trial, so nothing is
counted twice however many workers or machines share the study.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from frugalml._lazy import require

__all__ = [
    "SESSION_PREFIX",
    "EnergyBudgetCallback",
    "TrialTracker",
    "search_co2e_g",
    "search_energy_j",
    "tracked",
]

log = logging.getLogger(__name__)

SESSION_PREFIX = "session:"


class TrialTracker:
    """Context manager measuring one trial; ``with tracked(trial) as run:`` yields the run.

    Args:
        trial: the Optuna trial (``optuna.trial.Trial``).
        session: id of the search command running the trial (set by ``optimize``).
        name: run name; default ``search:<study>:<trial number>``.
        db: registry URL or path (None: the default registry; False: none).
        region, pue: carbon settings, as for :class:`frugalml.Tracker`.
        tags: extra run tags (``study`` and ``trial`` are always set).
        **tracker_kwargs: passed to :class:`frugalml.Tracker` (``sensors``, ``interval_s``...).
    """

    def __init__(
        self,
        trial: Any,
        *,
        session: str | None = None,
        name: str | None = None,
        db: Any = None,
        region: str | None = None,
        pue: float | str | None = None,
        tags: dict[str, str] | None = None,
        **tracker_kwargs: Any,
    ) -> None:
        self.trial = trial
        self.session = session
        study = trial.study.study_name
        self.name = name or f"search:{study}:{trial.number}"
        self.tags = {**(tags or {}), "study": study, "trial": str(trial.number)}
        self.db = db
        self.region = region
        self.pue = pue
        self.tracker_kwargs = tracker_kwargs
        self._tracker: Any = None
        self.run: Any = None

    def __enter__(self) -> Any:
        from frugalml.measure.tracker import Tracker

        self._tracker = Tracker(
            self.name,
            db=self.db,
            region=self.region,
            pue=self.pue,
            tags=self.tags,
            handle_signals=False,
            **self.tracker_kwargs,
        )
        self.run = self._tracker.start()
        attrs: dict[str, Any] = {"run_id": self.run.id}
        if self.session:
            attrs["session"] = self.session
        self._set_attrs(attrs)
        return self.run

    def energy_j(self) -> float:
        """Joules the trial has used so far (reads the sensors now)."""
        return float(self._tracker.sample(persist=False).energy_j["total"])

    def publish(self) -> float:
        """Store the energy used so far on the trial (``energy_j``), so that budget checks in
        every worker see running trials too; returns it."""
        energy = self.energy_j()
        self._set_attrs({"energy_j": energy})
        return energy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        optuna = require("optuna", "frugalml.search.tracked")
        state = "complete"
        if exc_type is None:
            self._tracker.stop()
        elif issubclass(exc_type, optuna.TrialPruned):
            state = "pruned"
            self._tracker.stop()
        elif issubclass(exc_type, KeyboardInterrupt):
            state = "failed"
            self._tracker.stop(status="interrupted", error="KeyboardInterrupt")
        else:
            state = "failed"
            self._tracker.stop(status="failed", error=f"{exc_type.__name__}: {exc}")
        run = self.run
        attrs: dict[str, Any] = {
            "energy_j": run.energy_j["total"],
            "co2e_g": run.co2e_g,
            "energy_method": run.energy_method,
            "duration_s": run.duration_s,
        }
        if state == "failed" and exc is not None:
            first = (str(exc).strip().splitlines() or [exc_type.__name__ if exc_type else ""])[0]
            attrs["fail_reason"] = f"{type(exc).__name__}: {first}"
        self._set_attrs(attrs)

    def _set_attrs(self, attrs: dict[str, Any]) -> None:
        # the storage may be down: the energy is still in the registry run, and the trial
        # itself will fail to record in Optuna anyway; never raise from measuring
        for key, value in attrs.items():
            try:
                self.trial.set_user_attr(key, value)
            except Exception as e:
                log.warning("could not store %s on trial %s: %s", key, self.trial.number, e)
                return


def tracked(trial: Any, **kwargs: Any) -> TrialTracker:
    """Measure an Optuna trial: ``with tracked(trial) as run:`` (``run`` is a frugalml Run).

    The trial becomes a registry run tagged with the study name and trial number; its energy
    (J), CO2e (g), method and run id are stored as trial user attributes when the block ends,
    also when the trial is pruned (``optuna.TrialPruned``) or fails.

    Args:
        trial: the Optuna trial.
        **kwargs: see :class:`TrialTracker` (``db``, ``region``, ``pue``, ``tags``...).

    Example:
        >>> import optuna
        >>> from frugalml.search import tracked
        >>> def objective(trial):
        ...     x = trial.suggest_float("x", -2, 2)
        ...     with tracked(trial, db=False) as run:
        ...         value = (x - 1) ** 2
        ...     return value
        >>> study = optuna.create_study()
        >>> study.optimize(objective, n_trials=2)
        >>> all(t.user_attrs["energy_j"] >= 0 for t in study.trials)
        True
    """
    return TrialTracker(trial, **kwargs)


def search_energy_j(study: Any, trials: Any = None) -> float:
    """Energy (J) the study has used: its trials' ``energy_j`` (running trials as published so
    far) plus the overhead every search command recorded.

    Args:
        study: the Optuna study.
        trials: the study's trials if already fetched (saves a storage read).
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    total = sum(float(t.user_attrs.get("energy_j", 0.0)) for t in trials)
    for key, value in study.user_attrs.items():
        if key.startswith(SESSION_PREFIX) and isinstance(value, dict):
            total += float(value.get("overhead_energy_j", 0.0))
    return total


def search_co2e_g(study: Any, trials: Any = None) -> float:
    """Grams CO2e of :func:`search_energy_j` (finished trials and recorded overheads)."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    total = sum(float(t.user_attrs.get("co2e_g", 0.0)) for t in trials)
    for key, value in study.user_attrs.items():
        if key.startswith(SESSION_PREFIX) and isinstance(value, dict):
            total += float(value.get("overhead_co2e_g", 0.0))
    return total


class EnergyBudgetCallback:
    """Stop a study once its trials (every worker's, through the storage) used ``budget_j``.

    For ``study.optimize(objective, callbacks=[EnergyBudgetCallback(5000)])``. It runs after
    each trial of this process; every worker running it stops at its next trial boundary.
    Objectives that call :meth:`TrialTracker.publish` make running trials count too.

    Args:
        budget_j: energy budget in joules (> 0).

    Attributes:
        spent_j_: energy seen at the last check.
        stopped_: whether this callback stopped the study.

    Example:
        >>> cb = EnergyBudgetCallback(budget_j=1e4)
        >>> cb.budget_j
        10000.0
    """

    def __init__(self, budget_j: float) -> None:
        from frugalml._params import check_number

        check_number("EnergyBudgetCallback", "budget_j", budget_j, low=0, low_open=True)
        self.budget_j = float(budget_j)
        self.spent_j_ = 0.0
        self.stopped_ = False

    def reached(self, study: Any) -> bool:
        """Whether the study has used its budget (reads the storage)."""
        self.spent_j_ = search_energy_j(study)
        return self.spent_j_ >= self.budget_j

    def __call__(self, study: Any, trial: Any) -> None:
        if self.reached(study):
            self.stopped_ = True
            study.stop()
