"""When: the start time that minimises a run's CO2e under a forecast intensity series.

The run's measured power profile (its samples: energy per interval, all components summed) is
placed at every start time within the series, from now until the last start that lets it
finish inside the series, and charged interval by interval at the series' time-weighted mean
intensity (the step function of :class:`~frugalml.carbon.intensity.IntensityTimeline`; the
series' last value is taken to hold for one more step of the series' usual length).

CO2e as a function of the start time is piecewise linear, with kinks where a profile edge
meets a step of the series, so the minimum is at one of those starts: they are all evaluated
(on a profile coarsened to at most ``MAX_SEGMENTS`` intervals; above ``MAX_CANDIDATES`` starts,
an even subset plus the starts aligned to a step).

Example:
    >>> from frugalml.carbon import IntensityTimeline
    >>> tl = IntensityTimeline([0.0, 3600.0, 7200.0], [400.0, 100.0, 300.0])
    >>> best = advise_when([(0.0, 3600.0, 3.6e6)], tl, pue=1.0, now_unix=0.0)[0]
    >>> best.best_start, best.co2e_g, best.co2e_g_now, best.saving_ratio
    ('1970-01-01T01:00:00Z', 100.0, 400.0, 0.75)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from frugalml import _fmt
from frugalml.carbon.intensity import IntensityTimeline
from frugalml.errors import InputError

__all__ = ["MAX_CANDIDATES", "MAX_SEGMENTS", "WhenOption", "advise_when", "power_profile"]

MAX_SEGMENTS = 240
MAX_CANDIDATES = 4_000
_J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class WhenOption:
    """A start time for the run and what it would emit.

    Attributes:
        best_start: ISO 8601 UTC start time (``2024-06-01T13:00:00Z``).
        co2e_g: grams CO2e of the run started then.
        co2e_g_now: grams CO2e of the run started now.
        saving_ratio: fraction of ``co2e_g_now`` saved (0.25: a quarter less); negative when
            starting then is worse than now.
        basis: how the figure was obtained.
    """

    best_start: str
    co2e_g: float
    co2e_g_now: float
    saving_ratio: float
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def power_profile(samples: Iterable[dict[str, Any]]) -> list[tuple[float, float, float]]:
    """A run's profile from its registry samples: ``(start_s, end_s, energy_j)`` per interval.

    Rows (one per component and interval, with ``t_s`` the end of the interval since the
    run's start and ``energy_j`` the energy in it) are summed per interval.

    Example:
        >>> power_profile([{"t_s": 1.0, "energy_j": 2.0}, {"t_s": 1.0, "energy_j": 1.0},
        ...                {"t_s": 2.0, "energy_j": 4.0}])
        [(0.0, 1.0, 3.0), (1.0, 2.0, 4.0)]
    """
    per_t: dict[float, float] = {}
    for row in samples:
        t = float(row["t_s"])
        per_t[t] = per_t.get(t, 0.0) + float(row["energy_j"])
    out: list[tuple[float, float, float]] = []
    prev, pending = 0.0, 0.0
    for t in sorted(per_t):
        pending += per_t[t]
        if t > prev:  # a reading at the very start (t = 0) joins the first interval
            out.append((prev, t, pending))
            prev, pending = t, 0.0
    return out


def _coarsen(profile: Sequence[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    if len(profile) <= MAX_SEGMENTS:
        return list(profile)
    edges = np.linspace(0, len(profile), MAX_SEGMENTS + 1).astype(int)
    return [
        (profile[a][0], profile[b - 1][1], sum(p[2] for p in profile[a:b]))
        for a, b in itertools.pairwise(edges)
        if b > a
    ]


class _Integral:
    """Cumulative integral of the intensity step function (g/kWh x s), exact and vectorised."""

    def __init__(self, tl: IntensityTimeline, end: float) -> None:
        self.knots = np.array([*tl.times_s, end])
        values = np.array(tl.g_per_kwh)
        self.first, self.last = values[0], values[-1]
        self.cum = np.concatenate([[0.0], np.cumsum(values * np.diff(self.knots))])

    def __call__(self, t: np.ndarray) -> np.ndarray:
        inside = np.interp(t, self.knots, self.cum)
        before = (t - self.knots[0]) * self.first
        after = self.cum[-1] + (t - self.knots[-1]) * self.last
        return np.where(t < self.knots[0], before, np.where(t > self.knots[-1], after, inside))


def _co2e(starts: np.ndarray, segs: np.ndarray, integral: _Integral, pue: float) -> np.ndarray:
    a = starts[:, None] + segs[None, :, 0]
    b = starts[:, None] + segs[None, :, 1]
    mean = (integral(b) - integral(a)) / (b - a)  # intervals have a positive width
    return (mean * segs[None, :, 2]).sum(axis=1) / _J_PER_KWH * pue


def advise_when(
    profile: Sequence[tuple[float, float, float]],
    timeline: IntensityTimeline,
    *,
    pue: float,
    now_unix: float | None = None,
    top: int = 3,
    source: str = "the intensity series",
) -> list[WhenOption]:
    """The best start times for a run of this profile within the series, best first.

    Args:
        profile: ``(start_s, end_s, energy_j)`` intervals since the run's start
            (:func:`power_profile`).
        timeline: the forecast intensity series.
        pue: the run's PUE.
        now_unix: "now", Unix seconds (default the current time).
        top: options returned: the best start, then the best starts of other windows (at
            least one run-length apart).
        source: what the series is, for ``basis`` (e.g. the file name).

    Raises:
        InputError: an empty profile, or a series that ends before the run could finish.
    """
    if not profile:
        raise InputError("The run has no energy profile to place in time (no samples, no energy).")
    now = time.time() if now_unix is None else float(now_unix)
    steps = np.diff(timeline.times_s)
    step = float(np.median(steps)) if len(steps) else 3600.0
    end = timeline.times_s[-1] + step
    duration = float(profile[-1][1])
    latest = end - duration
    if latest < now:
        raise InputError(
            f"The intensity series ends at {_fmt.when(end)} (its last row held for one "
            f"{_fmt.duration(step)} step), too soon for a run of {_fmt.duration(duration)} "
            f"started now ({_fmt.when(now)}). Give a series that covers at least "
            f"{_fmt.duration(duration)} from now."
        )
    segs = np.array(_coarsen(profile), dtype=float)
    integral = _Integral(timeline, end)
    edges = np.unique(np.concatenate([segs[:, 0], segs[:, 1]]))
    knots = np.array([*timeline.times_s, end])
    cand = (knots[:, None] - edges[None, :]).ravel()
    cand = cand[(cand >= now) & (cand <= latest)]
    if len(cand) > MAX_CANDIDATES:
        aligned = knots[(knots >= now) & (knots <= latest)]
        cand = np.concatenate([np.linspace(now, latest, MAX_CANDIDATES), aligned])
    starts = np.unique(np.concatenate([[now, latest], cand]))
    grams = _co2e(starts, segs, integral, pue)
    now_g = float(grams[0])
    energy = float(segs[:, 2].sum())
    basis = (
        f"the run's power profile ({len(profile)} intervals, {_fmt.energy(energy)} over "
        f"{_fmt.duration(duration)}, coarsened to {len(segs)}) placed at {len(starts)} start "
        f"times from now to {_fmt.when(latest)} on {source} ({len(timeline)} steps), each "
        f"interval at the series' time-weighted mean intensity; PUE {_fmt.g(pue)}"
    )
    chosen: list[int] = []
    for i in np.argsort(grams, kind="stable"):
        if all(abs(starts[i] - starts[j]) >= max(duration, step) for j in chosen):
            chosen.append(int(i))
        if len(chosen) == top:
            break
    return [
        WhenOption(
            best_start=_iso(float(starts[i])),
            co2e_g=float(grams[i]),
            co2e_g_now=now_g,
            saving_ratio=1 - float(grams[i]) / now_g if now_g > 0 else 0.0,
            basis=basis,
        )
        for i in chosen
    ]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(round(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
