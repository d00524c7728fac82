"""A run: what the tracker measured, as it is measured.

The tracker updates a :class:`Run` from its sampler thread; users read it (``run.energy_j``)
and log metrics into it. ``to_dict()`` is the content of ``run.json``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from frugalml._params import check_number

__all__ = ["GRID_FACTOR_UNCERTAINTY", "Run", "combine_uncertainty"]

# Relative uncertainty of an annual-average grid factor applied to one job: hourly intensity
# departs from the yearly mean by tens of percent; 0.15 is a stated judgement, not a measurement.
GRID_FACTOR_UNCERTAINTY = 0.15


def combine_uncertainty(parts: dict[str, tuple[float, float]]) -> float | None:
    """Relative uncertainty of a sum of independent parts ``{name: (value, rel_unc)}``."""
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
        methods: component -> how it was obtained (``rapl``, ``cpu-model``...).
        status: ``running``, ``finished``, ``failed`` or ``interrupted``.
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
    _energy: dict[str, float] = field(default_factory=dict)
    _unc: dict[str, float] = field(default_factory=dict)
    _co2e_g: float = 0.0
    _timeline: Any = None  # an IntensityTimeline when the CO2e follows a time series
    _on_metric: Callable[[dict[str, Any]], None] | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- read ----------------------------------------------------------------------------
    @property
    def energy_j(self) -> dict[str, float]:
        """Energy per component and ``total`` (IT energy, before PUE)."""
        with self._lock:
            out = dict(self._energy)
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
        """Relative uncertainty per component, of the ``total`` energy and of ``co2e``."""
        with self._lock:
            parts = {c: (e, self._unc.get(c, 0.0)) for c, e in self._energy.items()}
        out: dict[str, float | None] = {c: u for c, (_, u) in parts.items()}
        total = combine_uncertainty(parts)
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
        return "+".join(sorted(set(self.methods.values()))) or "none"

    @property
    def measured(self) -> bool:
        """True when every component comes from a hardware counter, none from a model."""
        return bool(self.methods) and all(not m.endswith("-model") for m in self.methods.values())

    # -- write ---------------------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric (loss, accuracy...) with the energy used so far.

        Never raises into the training loop for a bad value: it is logged as an error instead.
        """
        try:
            check_number("log_metric", "value", float(value))
        except (TypeError, ValueError) as e:
            self.add_error("metric", f"metric {name!r} not recorded: {e}")
            return
        row = {
            "name": str(name),
            "value": float(value),
            "step": None if step is None else int(step),
            "t_s": time.time() - self.started_at,
            "timestamp": time.time(),
            "energy_j": self.energy_j["total"],
        }
        with self._lock:
            self.metrics.append(row)
        if self._on_metric is not None:
            self._on_metric(row)

    def add_error(self, source: str, message: str) -> None:
        with self._lock:
            self.errors.append(
                {
                    "source": source,
                    "message": message,
                    "t_s": round(time.time() - self.started_at, 3),
                }
            )

    # -- serialise -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``run.json`` content."""
        energy = self.energy_j
        total = energy["total"]
        unc = self.uncertainty
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "started_at": datetime.fromtimestamp(self.started_at, UTC).isoformat(),
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
            "co2e_g": self.co2e_g,
            "scope": self.scope,
            "interval_s": self.interval_s,
            "tracker_cpu_s": self.tracker_cpu_s,
            "hardware": self.hardware,
            "sensors_skipped": dict(self.sensors_skipped),
            "errors": list(self.errors),
            "error": self.error,
            "metrics": _last_metrics(self.metrics),
            "tags": dict(self.tags),
            "config": dict(self.config),
            "frugalml_version": _version(),
        }

    def _intensity_series(self) -> dict[str, Any]:
        if self._timeline is None:
            return {}
        return {
            "intensity_file": self._timeline.path,
            "intensity_annual_g_per_kwh": self.intensity_g_per_kwh,
        }


def _last_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in rows:
        out[row["name"]] = row["value"]
    return out


def _version() -> str:
    from frugalml import __version__

    return __version__
