"""What every training callback does, framework-free: one run per fit, figures at each epoch,
an energy/CO2e budget, and the MLflow hand-off at the end.

The Lightning and Hugging Face callbacks are thin translations of their framework's events into
:class:`TrainingSession` calls, so rank awareness (:func:`~frugalml.integrations._role.process_role`),
the budget rule and the forecast live here once.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml import _fmt as fmt
from frugalml._params import check_choice, check_number
from frugalml.errors import BudgetWarning, FrugalWarning, InputError
from frugalml.integrations._role import Role

if TYPE_CHECKING:
    from frugalml.measure.distributed import JobContext
    from frugalml.measure.run import Run
    from frugalml.measure.tracker import Tracker

__all__ = ["ON_BUDGET", "EpochFigures", "Settings", "TrainingSession", "metric_key"]

log = logging.getLogger(__name__)

ON_BUDGET = ("stop", "warn")
METRIC_PREFIX = "frugal/"


def metric_key(name: str) -> str:
    """A metric name every logger accepts (MLflow refuses ``:``): ``gpu:0`` -> ``gpu_0``."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


@dataclass
class Settings:
    """What a training callback was configured with (validated once, at construction).

    ``tracker_kwargs`` go to :class:`~frugalml.Tracker` unchanged (``sensors``, ``scope``,
    ``out_dir``, ``intensity_csv``...).
    """

    owner: str
    name: str | None = None
    region: str | None = None
    pue: float | str | None = None
    db: str | os.PathLike[str] | bool | None = None
    interval_s: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    budget_j: float | None = None
    budget_co2e_g: float | None = None
    on_budget: str = "stop"
    mlflow: bool | None = None
    tracker_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("budget_j", "budget_co2e_g"):
            value = getattr(self, key)
            if value is not None:
                check_number(self.owner, key, value, low=0, low_open=True)
        check_choice(self.owner, "on_budget", self.on_budget, ON_BUDGET)
        if self.mlflow is not None and not isinstance(self.mlflow, bool):
            raise InputError(
                f"The 'mlflow' parameter of {self.owner} must be True, False or None (log when "
                f"an MLflow run is active). Got {self.mlflow!r} instead."
            )
        self.tags = {str(k): str(v) for k, v in (self.tags or {}).items()}
        self.tracker(None, {}, {})  # a bad region, PUE, interval or registry URL fails here

    def tracker(
        self,
        name: str | None,
        tags: dict[str, str],
        config: dict[str, Any],
        job: JobContext | None = None,
    ) -> Tracker:
        from frugalml.measure.tracker import Tracker

        # The frameworks own the process's signals (Lightning saves the handlers it finds at
        # the start of a fit and puts them back at its end, after our run has stopped): a
        # tracker handler would outlive its run. Ctrl-C reaches the callbacks as an exception.
        kwargs: dict[str, Any] = {"handle_signals": False, **self.tracker_kwargs}
        return Tracker(
            name,
            region=self.region,
            pue=self.pue,
            db=self.db,
            interval_s=self.interval_s,
            tags={**self.tags, **tags},
            config=config,
            job=job,
            **kwargs,
        )

    @property
    def has_budget(self) -> bool:
        return self.budget_j is not None or self.budget_co2e_g is not None


@dataclass(frozen=True)
class EpochFigures:
    """What one epoch cost, read at its end. Joules, grams CO2e, seconds, watts.

    Attributes:
        epoch: the epoch that ended (0-based).
        energy_j: the run's energy so far (IT energy, before PUE).
        co2e_g: the run's CO2e so far.
        epoch_energy_j: this epoch's energy.
        epoch_duration_s: this epoch's wall time.
        components_j: the run's energy so far per component (``cpu``, ``dram``, ``gpu:0``...).
        forecast_energy_j: the run's forecast total energy (:func:`frugalml.epoch_end`), None
            while the number of epochs is unknown.
        forecast_co2e_g: the forecast total CO2e, None likewise.
    """

    epoch: int
    energy_j: float
    co2e_g: float
    epoch_energy_j: float
    epoch_duration_s: float
    components_j: dict[str, float]
    forecast_energy_j: float | None = None
    forecast_co2e_g: float | None = None

    @property
    def epoch_power_w(self) -> float:
        return self.epoch_energy_j / self.epoch_duration_s if self.epoch_duration_s > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        """The figures as logger metrics: ``frugal/energy_j``, ``frugal/co2e_g``,
        ``frugal/epoch_energy_j``, ``frugal/epoch_power_w``, ``frugal/<component>_energy_j``."""
        out = {
            f"{METRIC_PREFIX}energy_j": self.energy_j,
            f"{METRIC_PREFIX}co2e_g": self.co2e_g,
            f"{METRIC_PREFIX}epoch_energy_j": self.epoch_energy_j,
            f"{METRIC_PREFIX}epoch_power_w": self.epoch_power_w,
        }
        for component, joules in self.components_j.items():
            # not "energy_j/cpu": a key may not be a folder of another in MLflow's file store
            out[f"{METRIC_PREFIX}{metric_key(component)}_energy_j"] = joules
        if self.forecast_energy_j is not None:
            out[f"{METRIC_PREFIX}forecast_energy_j"] = self.forecast_energy_j
        if self.forecast_co2e_g is not None:
            out[f"{METRIC_PREFIX}forecast_co2e_g"] = self.forecast_co2e_g
        return out


class TrainingSession:
    """One tracked training at a time: ``begin`` at the start of a fit, ``over_budget`` between
    steps, ``epoch_end`` at each epoch's end, ``end`` when the fit ends (however it ends).

    A failure of frugalml itself (a tracker that cannot start, MLflow that cannot be written)
    is a warning, never an exception into the training.
    """

    def __init__(self, settings: Settings, integration: str) -> None:
        self.settings = settings
        self.integration = integration
        self.tracker: Tracker | None = None
        self.run: Run | None = None
        self.role: Role | None = None
        self.stop_requested = False
        self.mlflow_target: tuple[Any, str] | None = None
        self._budget_warned = False
        self._epoch_t = 0.0
        self._epoch_j = 0.0

    @property
    def active(self) -> bool:
        return self.tracker is not None

    def begin(self, role: Role, *, default_name: str, config: Mapping[str, Any]) -> Run | None:
        """Start this fit's run, this rank's part of its job (see ``role``); None if it cannot start."""
        if self.tracker is not None:  # the previous fit died without an end event
            self.end(status="failed", error="the fit ended without telling the callback")
        self.role, self.run, self.stop_requested = role, None, False
        self._budget_warned = False
        self.mlflow_target = _active_mlflow_run()
        tags = {"integration": self.integration, **role.tags()}
        budget: dict[str, Any] = {
            k: v
            for k, v in (
                ("budget_j", self.settings.budget_j),
                ("budget_co2e_g", self.settings.budget_co2e_g),
            )
            if v is not None
        }
        if budget:
            budget["on_budget"] = self.settings.on_budget
        try:
            tracker = self.settings.tracker(
                self.settings.name or default_name, tags, {**config, **budget}, role.job
            )
            self.run = tracker.start()
        except Exception as e:  # never into the user's training
            warnings.warn(
                f"frugalml could not start measuring this fit ({type(e).__name__}: {e}); "
                "training goes on unmeasured.",
                FrugalWarning,
                stacklevel=3,
            )
            return None
        self.tracker = tracker
        self._epoch_t, self._epoch_j = time.monotonic(), 0.0
        return self.run

    def over_budget(self) -> bool:
        """Between steps: is the budget spent? Reads the last periodic sample (no sensor read),
        so it costs microseconds; the overshoot is at most one sampling interval."""
        if self.run is None or not self.settings.has_budget or self.stop_requested:
            return self.stop_requested
        return self._apply_budget(self.run.energy_j["total"], self.run.co2e_g)

    def epoch_end(self, epoch: int, total_epochs: int | None = None) -> EpochFigures | None:
        """Read every sensor now, forecast the fit's total (the run's ``epoch_end``: the
        forecast history goes to the registry) and return what the epoch cost (None when not
        measuring). ``epoch`` is 0-based, as the frameworks count; ``total_epochs`` that is
        not a positive integer (Lightning's ``max_epochs=-1``) leaves the total unknown."""
        if self.tracker is None or self.run is None:
            return None
        known = isinstance(total_epochs, int) and total_epochs > 0  # Lightning's -1: no end
        try:
            outcome = self.tracker.record_epoch(epoch + 1, total_epochs if known else None)
            run = self.tracker.run
            assert run is not None
            energy = run.energy_j
        except Exception as e:
            log.debug("frugalml: epoch reading failed: %s", e)
            return None
        forecast = outcome.forecast
        now = time.monotonic()
        total = energy.pop("total")
        figures = EpochFigures(
            epoch=epoch,
            energy_j=total,
            co2e_g=run.co2e_g,
            epoch_energy_j=total - self._epoch_j,
            epoch_duration_s=now - self._epoch_t,
            components_j=energy,
            forecast_energy_j=None if forecast is None else forecast.energy_j,
            forecast_co2e_g=None if forecast is None else forecast.co2e_g,
        )
        self._epoch_t, self._epoch_j = now, total
        if self.settings.has_budget:
            self._apply_budget(total, run.co2e_g)
        return figures

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Copy the framework's scalar metrics (loss, accuracy...) into the run, so reports can
        rank runs by accuracy per kWh. Our own ``frugal/`` figures and non-numbers are skipped."""
        if self.run is None:
            return
        for name, value in metrics.items():
            if str(name).startswith(METRIC_PREFIX):
                continue
            number = _scalar(value)
            if number is not None:
                self.run.log_metric(str(name), number, step=step)

    def end(self, *, status: str | None = None, error: str | None = None) -> Run | None:
        """Stop this fit's run, persist it, hand it to MLflow; return it (None if unmeasured)."""
        tracker, self.tracker = self.tracker, None
        if tracker is None:
            return None
        if status is None and self.stop_requested:
            status = "budget-stopped"
        try:
            run = tracker.stop(status=status, error=error)
        except Exception as e:
            log.warning("frugalml: stopping the run failed: %s", e)
            return None
        self.run = run
        self._to_mlflow(run)
        return run

    # -- budget ---------------------------------------------------------------------------
    def _apply_budget(self, energy_j: float, co2e_g: float) -> bool:
        s = self.settings
        spent = []
        if s.budget_j is not None and energy_j >= s.budget_j:
            spent.append(f"{fmt.energy(energy_j)} of a {fmt.energy(s.budget_j)} energy budget")
        if s.budget_co2e_g is not None and co2e_g >= s.budget_co2e_g:
            spent.append(f"{fmt.co2e(co2e_g)} of a {fmt.co2e(s.budget_co2e_g)} CO2e budget")
        if not spent or self._budget_warned:
            return self.stop_requested
        self._budget_warned = True
        stop = s.on_budget == "stop"
        then = (
            "stopping training after this step" if stop else "training goes on (on_budget='warn')"
        )
        warnings.warn(
            f"frugalml: budget spent ({'; '.join(spent)}): {then}.", BudgetWarning, stacklevel=4
        )
        if self.run is not None:
            self.run.tags["budget_reached"] = "stop" if stop else "warn"
        self.stop_requested = stop
        return stop

    # -- MLflow ---------------------------------------------------------------------------
    def _to_mlflow(self, run: Run) -> None:
        wanted = self.settings.mlflow
        if wanted is False or (wanted is None and self.mlflow_target is None):
            return
        try:
            from frugalml.integrations.mlflow import log_run

            client, run_id = self.mlflow_target or (None, None)
            log_run(run, run_id=run_id, client=client, db=self.settings.db, create=True)
        except Exception as e:  # never into the user's training
            warnings.warn(
                f"frugalml could not log run {run.id} to MLflow: {type(e).__name__}: {e}",
                FrugalWarning,
                stacklevel=3,
            )


def _active_mlflow_run() -> tuple[Any, str] | None:
    """The MLflow run active now, if the user's code imported MLflow (never imported here:
    importing it costs seconds)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    try:
        active = mlflow.active_run()
    except Exception:
        return None
    return None if active is None else (None, active.info.run_id)


def _scalar(value: Any) -> float | None:
    """A float from a Python number, a NumPy scalar or a one-element tensor; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    item = getattr(value, "item", None)
    if item is None or getattr(value, "ndim", 0) != 0:
        return None
    try:
        out = item()
    except Exception:
        return None
    return float(out) if isinstance(out, int | float) and not isinstance(out, bool) else None
