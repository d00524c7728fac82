"""Forecast a training's total energy, CO2e and finishing time from its epoch-boundary readings.

A pure model, with no clock, no thread and no I/O: the tracker takes a reading at the end of
each epoch (cumulative joules and seconds since the run started) and asks for a
:class:`Forecast`. carbontracker's method multiplies the mean epoch so far by the epochs
left; that is right for steady jobs only. This model:

1. sets aside a first epoch much costlier than the rest as **warm-up** (a cache being filled,
   lazy initialisation, compilation): it has been paid and does not recur;
2. fits the per-epoch cost with a **level**, a **trend** (a cost that grows or shrinks every
   epoch) or a **recent level** (a job that changed regime); a trend or a step must be
   significant (1 % level) and larger than 10 %, so noise is never extrapolated
   (:mod:`frugalml.measure._forecast_series`);
3. with a declared **schedule** (``work``: the relative work of every epoch, e.g. the
   training FLOPs or samples of each stage), fits the cost per unit of work instead, so a
   stage that has not started yet is still foreseen;
4. with an **early-stopping** state, forecasts the epochs the rule is expected to run, not
   the configured ones (:mod:`frugalml.measure._forecast_stop`);
5. gives a 90 % interval (``energy_j_low``, ``energy_j_high``) from the scatter of the epochs
   seen and the uncertainty of the stopping epoch.

Durations are forecast the same way, on the per-epoch wall time. ``method`` says what was
used, e.g. ``"level+warm-up"``, ``"trend"``, ``"recent-level+schedule+early-stop"``.

Example:
    >>> readings = [EpochReading(e, 10.0 * e, 100.0 * e + (400.0 if e else 0.0))
    ...             for e in range(1, 4)]
    >>> f = forecast(readings, total_epochs=10, intensity_g_per_kwh=50.0)
    >>> round(f.energy_j), f.method, f.epochs_seen
    (1400, 'level+warm-up', 3)
    >>> format_forecast(f)
    'forecast: 1.40 kJ [1.16-1.64], 0.0194 g CO2e, done in 1 min 10 s'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from frugalml import _fmt
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.measure._forecast_series import SeriesFit, fit_series
from frugalml.measure._forecast_stop import EarlyStopping, StopEstimate, estimate_stop

if TYPE_CHECKING:
    from frugalml.carbon.intensity import IntensityTimeline

__all__ = [
    "EarlyStopping",
    "EpochReading",
    "Forecast",
    "Forecaster",
    "forecast",
    "format_forecast",
]

_J_PER_KWH = 3.6e6
#: z of a two-sided 90 % normal interval.
_Z90 = 1.6449


@dataclass(frozen=True)
class EpochReading:
    """A reading at the end of an epoch.

    Attributes:
        epoch: epochs completed (1 after the first epoch).
        t_s: seconds since the run started.
        energy_j: cumulative energy since the run started, joules (IT energy, before PUE).
    """

    epoch: int
    t_s: float
    energy_j: float


@dataclass(frozen=True)
class Forecast:
    """The forecast total of a run, made after ``epochs_seen`` epochs.

    Attributes:
        energy_j: forecast total energy of the run (joules, IT energy before PUE).
        energy_j_low, energy_j_high: 90 % interval of ``energy_j``.
        co2e_g: forecast total grams CO2e (PUE and grid intensity applied); None when no
            intensity was given.
        duration_s: forecast total duration of the run, seconds.
        finish_at: forecast end, Unix seconds; None when the run's start time is unknown.
        method: how it was obtained (see the module docstring).
        epochs_seen: epochs completed when the forecast was made.
        epochs_expected: epochs the run is expected to run in all (fewer than
            ``total_epochs`` under early stopping; an expectation, may be fractional).
        total_epochs: configured epochs.
        energy_j_so_far, t_s: energy and time of the last reading.
    """

    energy_j: float
    energy_j_low: float
    energy_j_high: float
    co2e_g: float | None
    duration_s: float
    finish_at: float | None
    method: str
    epochs_seen: int
    epochs_expected: float
    total_epochs: int
    energy_j_so_far: float
    t_s: float

    @property
    def remaining_s(self) -> float:
        """Seconds left after the last reading."""
        return max(self.duration_s - self.t_s, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) with every field."""
        return asdict(self)


def forecast(
    readings: Sequence[EpochReading],
    total_epochs: int,
    *,
    origin: EpochReading | None = None,
    early_stopping: EarlyStopping | None = None,
    work: Sequence[float] | None = None,
    intensity_g_per_kwh: float | None = None,
    pue: float = 1.0,
    timeline: IntensityTimeline | None = None,
    started_at: float | None = None,
    co2e_g_so_far: float | None = None,
) -> Forecast:
    """Forecast the run's totals from its epoch-end readings.

    Args:
        readings: one reading per epoch end (or every few epochs), in order.
        total_epochs: epochs configured for the run.
        origin: the reading at which the first epoch began; default the run's start
            ``EpochReading(0, 0.0, 0.0)`` (setup before epoch 1 then counts as warm-up).
        early_stopping: the state an early-stopping callback reports, if any.
        work: relative work of each epoch (``total_epochs`` values, any unit: training
            FLOPs, samples, measured step time ...), when the job knows that its epochs
            differ; the forecast then fits joules per unit of work.
        intensity_g_per_kwh: grid intensity for CO2e (gCO2e/kWh); None: no CO2e.
        pue: power usage effectiveness applied to CO2e.
        timeline: time-varying intensity; needs ``started_at``. Future epochs are charged
            at the intensity of the time they are forecast to run.
        started_at: the run's start, Unix seconds (for ``finish_at`` and ``timeline``).
        co2e_g_so_far: grams CO2e measured so far, if the caller has them (else computed
            from the readings).

    Returns:
        The :class:`Forecast`.

    Raises:
        InputError: no reading, readings out of order or past ``total_epochs``, a negative
            or non-finite value, ``work`` of the wrong length.

    Example:
        >>> r = [EpochReading(1, 2.0, 20.0), EpochReading(2, 4.0, 40.0)]
        >>> f = forecast(r, 10)
        >>> f.energy_j, f.duration_s, f.method
        (200.0, 20.0, 'level')
    """
    check_number("forecast", "total_epochs", total_epochs, low=1, integer=True)
    check_number("forecast", "pue", pue, low=1.0)
    origin = origin or EpochReading(0, 0.0, 0.0)
    points = _checked(readings, origin, int(total_epochs))
    if timeline is not None and started_at is None:
        raise InputError("forecast: a timeline needs started_at (the run's start, Unix seconds).")
    weights = _work(work, int(total_epochs))
    last = points[-1]
    seen = last.epoch

    x, energy, seconds, span = _intervals(points, weights)
    e_fit = fit_series(x, energy, span)
    t_fit = fit_series(x, seconds, span)
    stop = (
        estimate_stop(early_stopping, seen, int(total_epochs))
        if early_stopping is not None
        else StopEstimate(float(total_epochs), float(total_epochs), float(total_epochs))
    )

    e_mid, _ = _remaining(e_fit, seen, stop.epochs, weights)
    e_low, e_low_sd = _remaining(e_fit, seen, stop.low, weights)
    e_high, e_high_sd = _remaining(e_fit, seen, stop.high, weights)
    t_mid, _ = _remaining(t_fit, seen, stop.epochs, weights)
    so_far = last.energy_j
    duration = last.t_s + t_mid
    total = so_far + e_mid
    low = so_far + max(e_low - _Z90 * e_low_sd, 0.0)
    high = so_far + e_high + _Z90 * e_high_sd
    co2e = _co2e(
        points, e_fit, t_fit, stop.epochs, weights, intensity_g_per_kwh, pue, timeline,
        started_at, co2e_g_so_far,
    )  # fmt: skip
    return Forecast(
        energy_j=total,
        energy_j_low=min(low, total),
        energy_j_high=max(high, total),
        co2e_g=co2e,
        duration_s=duration,
        finish_at=None if started_at is None else started_at + duration,
        method=_method(e_fit, work is not None, early_stopping, seen, int(total_epochs)),
        epochs_seen=seen,
        epochs_expected=stop.epochs,
        total_epochs=int(total_epochs),
        energy_j_so_far=so_far,
        t_s=last.t_s,
    )


def _checked(
    readings: Sequence[EpochReading], origin: EpochReading, total: int
) -> list[EpochReading]:
    if not readings:
        raise InputError("forecast needs at least one epoch-end reading; call it after an epoch.")
    points = [origin, *readings]
    for prev, cur in itertools.pairwise(points):
        values = (cur.t_s, cur.energy_j)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise InputError(
                f"forecast: epoch {cur.epoch} has a non-finite time or energy ({cur}); "
                "readings must be finite numbers."
            )
        if cur.epoch <= prev.epoch or cur.t_s < prev.t_s or cur.energy_j < prev.energy_j:
            raise InputError(
                f"forecast: readings must move forward (epoch up, time and cumulative energy "
                f"not down); epoch {cur.epoch} at {cur.t_s} s, {cur.energy_j} J follows epoch "
                f"{prev.epoch} at {prev.t_s} s, {prev.energy_j} J."
            )
    if points[-1].epoch > total:
        raise InputError(
            f"forecast: epoch {points[-1].epoch} is past total_epochs={total}; "
            "pass the number of epochs the run is configured for."
        )
    return points


def _work(work: Sequence[float] | None, total: int) -> np.ndarray:
    if work is None:
        return np.ones(total)
    arr = np.asarray(list(work), dtype=float)
    if len(arr) != total or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(
            f"forecast: work must give one positive number per epoch ({total} values, the "
            f"relative work of each epoch); got {len(arr)} values."
        )
    return arr


def _intervals(
    points: list[EpochReading], weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per interval: mid-epoch, joules and seconds per unit of work, epochs spanned.

    Vectorised: this runs at every epoch end over every reading so far."""
    epoch = np.array([p.epoch for p in points], dtype=np.int64)
    energy = np.array([p.energy_j for p in points], dtype=float)
    t_s = np.array([p.t_s for p in points], dtype=float)
    cum_work = np.concatenate(([0.0], np.cumsum(weights)))
    units = cum_work[epoch[1:]] - cum_work[epoch[:-1]]
    x = (epoch[:-1] + 1 + epoch[1:]) / 2
    return x, np.diff(energy) / units, np.diff(t_s) / units, np.diff(epoch).astype(float)


def _future(seen: int, end: float, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers after ``seen`` up to ``end`` (fractional last one) and their work."""
    whole = math.floor(end)
    epochs = np.arange(seen + 1, whole + 1)
    work = weights[seen:whole].copy()
    frac = end - whole
    if frac > 1e-9 and whole < len(weights):
        epochs = np.append(epochs, whole + 1)
        work = np.append(work, weights[whole] * frac)
    return epochs.astype(float), work


def _remaining(fit: SeriesFit, seen: int, end: float, weights: np.ndarray) -> tuple[float, float]:
    epochs, work = _future(seen, end, weights)
    return fit.remaining(epochs, work)


def _co2e(
    points: list[EpochReading],
    e_fit: SeriesFit,
    t_fit: SeriesFit,
    end: float,
    weights: np.ndarray,
    intensity: float | None,
    pue: float,
    timeline: IntensityTimeline | None,
    started_at: float | None,
    so_far: float | None,
) -> float | None:
    if intensity is None and timeline is None:
        return so_far
    last = points[-1]
    epochs, work = _future(last.epoch, end, weights)
    energies = work * e_fit.per_epoch(epochs)
    if timeline is None:
        assert intensity is not None
        past = so_far if so_far is not None else last.energy_j / _J_PER_KWH * pue * intensity
        return past + float(energies.sum()) / _J_PER_KWH * pue * intensity
    assert started_at is not None
    if so_far is None:
        samples = [
            (started_at + cur.t_s, cur.energy_j - prev.energy_j)
            for prev, cur in itertools.pairwise(points)
        ]
        so_far = timeline.co2e_g(samples, pue, t_start_unix=started_at + points[0].t_s)
    ends = started_at + last.t_s + np.cumsum(work * t_fit.per_epoch(epochs))
    future = timeline.co2e_g(
        zip(ends.tolist(), energies.tolist()), pue, t_start_unix=started_at + last.t_s
    )
    return so_far + future


def _method(
    fit: SeriesFit, scheduled: bool, stopping: EarlyStopping | None, seen: int, total: int
) -> str:
    if seen >= total:
        return "done"
    parts = [fit.kind]
    if fit.warmup:
        parts.append("warm-up")
    if scheduled:
        parts.append("schedule")
    if stopping is not None:
        parts.append("early-stop")
    return "+".join(parts)


def _energy_text(j: float, low: float, high: float) -> str:
    """The three energies in the unit of the central one (J, kJ, then kWh, MWh)."""
    units = (("J", 1.0), ("kJ", 1e3), ("kWh", _J_PER_KWH), ("MWh", 1e3 * _J_PER_KWH))
    limits = (1e3, _J_PER_KWH, 1e3 * _J_PER_KWH, math.inf)
    unit, div = next(u for u, limit in zip(units, limits) if abs(j) < limit)
    return f"{_fmt.num(j / div)} {unit} [{_fmt.num(low / div)}-{_fmt.num(high / div)}]"


def format_forecast(f: Forecast) -> str:
    """The one-line rendering printed by the tracker.

    Example:
        >>> f = forecast([EpochReading(1, 19.0, 1230.0)], 10, intensity_g_per_kwh=1700.0)
        >>> format_forecast(f)
        'forecast: 12.3 kJ [7.42-17.2], 5.81 g CO2e, done in 2 min 51 s'
    """
    text = f"forecast: {_energy_text(f.energy_j, f.energy_j_low, f.energy_j_high)}"
    if f.co2e_g is not None:
        text += f", {_fmt.co2e(f.co2e_g)} CO2e"
    if f.method == "done":
        return text + ", done"
    return text + f", done in {_fmt.duration(f.remaining_s)}"


@dataclass
class Forecaster:
    """Keeps a run's epoch readings and forecasts after each one (what the tracker holds).

    Args:
        total_epochs: configured epochs (may be given later, with :meth:`update`).
        work, intensity_g_per_kwh, pue, timeline, started_at, origin: as for
            :func:`forecast`.
        print_every_s: :meth:`due` allows a printed line at most this often (run time),
            besides the first forecast, a move of more than 10 % and the last epoch.

    Example:
        >>> fc = Forecaster(total_epochs=4)
        >>> [fc.update(e, 3.0 * e, 10.0 * e).energy_j for e in (1, 2)]
        [40.0, 40.0]
        >>> len(fc.history)
        2
    """

    total_epochs: int | None = None
    work: Sequence[float] | None = None
    intensity_g_per_kwh: float | None = None
    pue: float = 1.0
    timeline: IntensityTimeline | None = None
    started_at: float | None = None
    origin: EpochReading | None = None
    print_every_s: float = 60.0
    readings: list[EpochReading] = field(default_factory=list)
    history: list[Forecast] = field(default_factory=list)
    _printed: Forecast | None = None

    def update(
        self,
        epoch: int | None,
        t_s: float,
        energy_j: float,
        *,
        total_epochs: int | None = None,
        early_stopping: EarlyStopping | None = None,
        co2e_g_so_far: float | None = None,
    ) -> Forecast | None:
        """Record the reading at the end of ``epoch`` (None: the next one) and forecast.

        Returns:
            The new forecast, or None while the total number of epochs is unknown.

        Raises:
            InputError: as :func:`forecast` (the caller decides whether to swallow it).
        """
        if total_epochs is not None:
            self.total_epochs = total_epochs
        number = (
            epoch if epoch is not None else (self.readings[-1].epoch + 1 if self.readings else 1)
        )
        reading = EpochReading(int(number), float(t_s), float(energy_j))
        candidate = [*self.readings, reading]
        if self.total_epochs is None:
            _checked(candidate, self.origin or EpochReading(0, 0.0, 0.0), reading.epoch)
            self.readings = candidate
            return None
        result = forecast(
            candidate,
            self.total_epochs,
            origin=self.origin,
            early_stopping=early_stopping,
            work=self.work,
            intensity_g_per_kwh=self.intensity_g_per_kwh,
            pue=self.pue,
            timeline=self.timeline,
            started_at=self.started_at,
            co2e_g_so_far=co2e_g_so_far,
        )
        self.readings = candidate
        self.history.append(result)
        return result

    def due(self, f: Forecast) -> bool:
        """Whether ``f`` deserves a printed line; if so it becomes the last printed one."""
        last = self._printed
        moved = last is not None and abs(f.energy_j - last.energy_j) > 0.1 * last.energy_j
        if last is None or moved or f.method == "done" or f.t_s - last.t_s >= self.print_every_s:
            self._printed = f
            return True
        return False
