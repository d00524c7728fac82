"""A run: what the tracker measured, as it is measured.

A :class:`Run` is shared between the tracker's threads and the user's: the tracker updates it
through its writer methods (``add_channel``, ``add_energy``, ``set_status``, ``add_error``...)
and the user reads it (``run.energy_j``) and logs metrics into it. Every field that changes
during a run is written and read under the run's own lock, which is never held while doing
I/O, so ``log_metric`` costs microseconds whatever the registry or the disk are doing.
``to_dict()`` is the content of ``run.json``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml._params import check_choice, check_number

if TYPE_CHECKING:
    from frugalml.measure.forecast import Forecast

__all__ = [
    "GRID_FACTOR_UNCERTAINTY",
    "STATUSES",
    "TERMINAL_STATUSES",
    "Run",
    "combine_uncertainty",
]

# Relative uncertainty of an annual-average grid factor applied to one job: hourly intensity
# departs from the yearly mean by tens of percent; 0.15 is a stated judgement, not a measurement.
GRID_FACTOR_UNCERTAINTY = 0.15

#: Every status a run can have. ``running`` until the tracker stops it; ``finished`` (the code
#: ended normally), ``failed`` (it raised, or the command exited non-zero), ``interrupted`` (a
#: signal, Ctrl-C, or the process died: then it is the registry that says so),
#: ``budget-stopped`` (stopped on purpose when an energy or carbon budget ran out).
STATUSES = ("running", "finished", "failed", "interrupted", "budget-stopped")
TERMINAL_STATUSES = STATUSES[1:]


def combine_uncertainty(parts: dict[str, tuple[float, float]]) -> float | None:
    """Relative uncertainty of a sum of independent parts ``{name: (value, rel_unc)}``.

    Example:
        >>> round(combine_uncertainty({"cpu": (30.0, 0.4), "dram": (40.0, 0.3)}), 4)
        0.2424
    """
    total = sum(v for v, _ in parts.values())
    if total <= 0:
        return None
    return math.sqrt(sum((v * u) ** 2 for v, u in parts.values())) / total


@dataclass
class Run:
    """One measured run. Energies in joules, times in seconds, CO2e in grams.

    Attributes:
        id: unique run id (hex).
        name: user-given name.
        energy_j: energy per component and ``total`` so far.
        methods: component -> how it was obtained (``rapl``, ``cpu-model``, or
            ``rapl+cpu-model`` when a counter failed mid-run and the model took over).
        status: one of :data:`STATUSES`.
        forecast: the latest forecast of the run's totals (after an ``epoch_end`` with the
            number of epochs known), or None: ``energy_j``, ``energy_j_low``,
            ``energy_j_high``, ``co2e_g``, ``duration_s``, ``finish_at``, ``method``,
            ``epochs_seen`` (see :class:`frugalml.measure.forecast.Forecast`).
    """

    id: str
    name: str
    scope: str
    interval_s: float
    region: str
    region_name: str
    region_source: str
    intensity_g_per_kwh: float
    pue: float
    pue_source: str
    started_at: float = field(default_factory=time.time)
    status: str = "running"
    duration_s: float = 0.0
    exit_code: int | None = None
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    sensors_skipped: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    tracker_cpu_s: float = 0.0
    #: rows of samples taken (one per component per interval), and what became of them on the
    #: way to the registry (``registry``: delayed / spooled counts, set by the registry sink).
    sample_rows: int = 0
    registry: dict[str, Any] | None = None
    forecast: Forecast | None = None
    #: In a distributed job: the host row this rank's run belongs to, ``kind`` ``rank``, and
    #: the ``job`` block (launcher, ranks, what this rank reads for its host); a ``track()``
    #: under ``frugal run`` is ``joined`` to the outer run (``parent_id``) and stores no row.
    parent_id: str | None = None
    kind: str | None = None
    job: dict[str, Any] | None = None
    #: rows the run belongs to (the job and host rows), created by whichever rank comes first
    ancestors: list[dict[str, Any]] = field(default_factory=list)
    # component -> method -> [joules, relative uncertainty]
    _parts: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    _co2e_g: float = 0.0
    _timeline: Any = None  # an IntensityTimeline when the CO2e follows a time series
    _on_metric: Callable[[dict[str, Any]], None] | None = None
    _cpu_source: Callable[[], float] | None = None  # the tracker's CPU so far, while live
    _on_forecast: Callable[[dict[str, Any]], None] | None = None
    _epoch_end: Callable[..., Forecast | None] | None = None  # the tracker's, while live
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- read ----------------------------------------------------------------------------
    @property
    def energy_j(self) -> dict[str, float]:
        """Energy per component and ``total`` (IT energy, before PUE)."""
        with self._lock:
            out = {c: sum(p[0] for p in by.values()) for c, by in self._parts.items()}
        out["total"] = sum(out.values())
        return out

    @property
    def kwh(self) -> float:
        return self.energy_j["total"] / 3.6e6

    @property
    def co2e_g(self) -> float:
        """Grams CO2e: energy x PUE x grid intensity (time-varying if a CSV was given)."""
        with self._lock:
            return self._co2e_g

    @property
    def uncertainty(self) -> dict[str, float | None]:
        """Relative uncertainty per component, of the ``total`` energy and of ``co2e``.

        A component measured by several methods (a counter, then a model after the counter
        failed) combines their parts: its uncertainty widens with the modelled share.
        """
        with self._lock:
            by_component = {
                c: {m: (p[0], p[1]) for m, p in by.items()} for c, by in self._parts.items()
            }
        out: dict[str, float | None] = {}
        flat: dict[str, tuple[float, float]] = {}
        for c, by in by_component.items():
            combined = combine_uncertainty(by)
            out[c] = combined if combined is not None else max(u for _, u in by.values())
            for m, part in by.items():
                flat[f"{c}/{m}"] = part
        total = combine_uncertainty(flat)
        out["total"] = total
        # an annual-average grid factor adds its own uncertainty; a time series stands for
        # the grid as it was during the run
        grid = 0.0 if self._timeline is not None else GRID_FACTOR_UNCERTAINTY
        out["co2e"] = None if total is None else math.hypot(total, grid)
        return out

    @property
    def intensity_used_g_per_kwh(self) -> float:
        """The grid intensity the CO2e was computed with: the region's annual average, or
        with a time series its energy-weighted mean over the run (``co2e / (kWh x PUE)``)."""
        if self._timeline is None:
            return self.intensity_g_per_kwh
        kwh = self.kwh
        with self._lock:
            co2e = self._co2e_g
        if kwh > 0 and self.pue > 0:
            return co2e / (kwh * self.pue)
        end = self.started_at + max(self.duration_s, 0.0)
        return float(self._timeline.mean_intensity(self.started_at, end))

    @property
    def energy_method(self) -> str:
        """The methods used, e.g. ``cpu-model+ram-model``."""
        with self._lock:
            names = {m for value in self.methods.values() for m in value.split("+")}
        return "+".join(sorted(names)) or "none"

    @property
    def measured(self) -> bool:
        """True when every component comes from a hardware counter, none from a model."""
        with self._lock:
            names = [m for value in self.methods.values() for m in value.split("+")]
        return bool(names) and all(not m.endswith("-model") for m in names)

    # -- written by the user ------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric (loss, accuracy...) with the energy used so far.

        Costs microseconds and never waits on a disk or database: the row is handed to the
        tracker's background writer. Never raises into the training loop for a bad value: it
        is recorded as an error instead.
        """
        try:
            check_number("log_metric", "value", float(value))
        except (TypeError, ValueError) as e:
            self.add_error("metric", f"metric {name!r} not recorded: {e}")
            return
        now = time.time()
        row = {
            "name": str(name),
            "value": float(value),
            "step": None if step is None else int(step),
            "t_s": now - self.started_at,
            "timestamp": now,
            "energy_j": self.energy_j["total"],
        }
        with self._lock:
            self.metrics.append(row)
            on_metric = self._on_metric
        if on_metric is not None:
            on_metric(row)

    def epoch_end(
        self,
        epoch: int | None = None,
        total_epochs: int | None = None,
        *,
        early_stopping: Any = None,
    ) -> Forecast | None:
        """An epoch ended: read the energy now, forecast the run's totals, check its budget.

        Args:
            epoch: epochs completed so far (1 after the first); None counts the calls.
            total_epochs: epochs the training is configured for (or ``track(total_epochs=)``).
            early_stopping: an early-stopping rule's state (see
                :func:`frugalml.epoch_end`): the forecast counts the epochs it will run.

        Returns:
            The new forecast (also :attr:`forecast`), or None while ``total_epochs`` is
            unknown.

        Raises:
            frugalml.BudgetExceeded: the budget is spent with ``on_budget="stop"`` (the run
                was recorded as ``budget-stopped`` first).
        """
        hook = self._epoch_end
        if hook is None:
            from frugalml.measure.epochs import check_epochs

            check_epochs("Run.epoch_end", epoch, total_epochs)
            return None  # a finished run, or one read back from a registry
        return hook(epoch, total_epochs, early_stopping=early_stopping)

    # -- written by the tracker (each under the run's lock) ------------------------------
    def add_forecast(self, forecast: Forecast, timestamp: float) -> None:
        """Keep ``forecast`` as the latest and hand its row to the tracker's writers."""
        from frugalml.measure.epochs import FORECAST_COLUMNS

        values = {**forecast.to_dict(), "timestamp": timestamp}
        row = {c: values.get(c) for c in FORECAST_COLUMNS}
        with self._lock:
            self.forecast = forecast
            on_forecast = self._on_forecast
        if on_forecast is not None:
            on_forecast(row)

    def set_tag(self, key: str, value: str) -> None:
        with self._lock:
            self.tags[str(key)] = str(value)

    def add_error(self, source: str, message: str) -> None:
        """Record what failed (a sensor, a disk, the registry, a signal), with its time."""
        with self._lock:
            self.errors.append(
                {
                    "source": source,
                    "message": message,
                    "t_s": round(time.time() - self.started_at, 3),
                }
            )

    def add_channel(self, component: str, method: str, uncertainty: float) -> None:
        """Declare that ``component`` is measured (also) by ``method`` with this relative
        uncertainty; a second method on a component is shown as ``first+second``."""
        with self._lock:
            by = self._parts.setdefault(component, {})
            if method not in by:
                by[method] = [0.0, uncertainty]
                current = self.methods.get(component)
                self.methods[component] = method if not current else f"{current}+{method}"
            else:
                by[method][1] = max(by[method][1], uncertainty)

    def add_energy(
        self,
        parts: Mapping[tuple[str, str], float],
        *,
        co2e_g: float,
        duration_s: float,
        rows: int = 0,
    ) -> None:
        """Add one interval: joules per (component, method), its CO2e, the run's duration and
        the number of sample rows it made."""
        with self._lock:
            for (component, method), joules in parts.items():
                self._parts[component][method][0] += joules
            self._co2e_g += co2e_g
            self.duration_s = duration_s
            self.sample_rows += rows

    def set_status(
        self, status: str, *, exit_code: int | None = None, error: str | None = None
    ) -> None:
        """End the run with one of :data:`TERMINAL_STATUSES`."""
        check_choice("Run", "status", status, TERMINAL_STATUSES)
        with self._lock:
            self.status = status
            self.exit_code = exit_code
            self.error = error

    def set_tracker_cpu(self, seconds: float) -> None:
        with self._lock:
            self.tracker_cpu_s = seconds

    def set_registry(self, info: dict[str, Any]) -> None:
        with self._lock:
            self.registry = dict(info)

    # -- serialise -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``run.json`` content (a consistent snapshot)."""
        with self._lock:
            energy = self.energy_j
            total = energy["total"]
            unc = self.uncertainty
            return {
                "id": self.id,
                "name": self.name,
                "status": self.status,
                "started_at": _iso(self.started_at),
                "heartbeat_at": _iso(time.time()),
                "duration_s": round(self.duration_s, 6),
                "exit_code": self.exit_code,
                "energy_j": energy,
                "energy_kwh": total / 3.6e6,
                "methods": dict(self.methods),
                "measured": self.measured,
                "uncertainty": {k: None if v is None else round(v, 4) for k, v in unc.items()},
                "region": self.region,
                "region_name": self.region_name,
                "region_source": self.region_source,
                "intensity_g_per_kwh": self.intensity_used_g_per_kwh,
                "intensity_time_varying": self._timeline is not None,
                **self._intensity_series(),
                "pue": self.pue,
                "pue_source": self.pue_source,
                "facility_energy_j": total * self.pue,
                "co2e_g": self._co2e_g,
                "scope": self.scope,
                "interval_s": self.interval_s,
                "tracker_cpu_s": (
                    self.tracker_cpu_s if self._cpu_source is None else self._cpu_source()
                ),
                "sample_rows": self.sample_rows,
                "registry": None if self.registry is None else dict(self.registry),
                "writer": {"host": _HOST, "pid": os.getpid()},
                "hardware": self.hardware,
                "sensors_skipped": dict(self.sensors_skipped),
                "errors": list(self.errors),
                "error": self.error,
                "metrics": _last_metrics(self.metrics),
                "forecast": None if self.forecast is None else self.forecast.to_dict(),
                "tags": dict(self.tags),
                "config": dict(self.config),
                "parent_id": self.parent_id,
                "kind": self.kind,
                **({} if self.job is None else {"job": dict(self.job)}),
                "frugalml_version": _version(),
            }

    def _intensity_series(self) -> dict[str, Any]:
        if self._timeline is None:
            return {}
        return {
            "intensity_file": self._timeline.path,
            "intensity_annual_g_per_kwh": self.intensity_g_per_kwh,
        }


_HOST = os.uname().nodename  # what socket.gethostname() returns, without importing socket


def _iso(t: float) -> str:
    """ISO 8601 UTC with microseconds, as ``datetime.fromtimestamp(t, UTC).isoformat()``
    writes it (without importing datetime on the tracker's start path).

    Example:
        >>> _iso(0.25)
        '1970-01-01T00:00:00.250000+00:00'
    """
    seconds = math.floor(t)
    micros = round((t - seconds) * 1e6)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}+00:00"


def _last_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in rows:
        out[row["name"]] = row["value"]
    return out


def _version() -> str:
    from frugalml import __version__

    return __version__
