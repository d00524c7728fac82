"""A run's timeline: power per component from its samples, logged metrics on the same time axis.

A sample is the mean power over the interval that ends at its ``t_s``, so power is drawn as
steps: flat over each interval. Gaps are shown, not hidden: an interval longer than twice the
sampling interval is not drawn (the line breaks) and a labelled band covers it; an interrupted
run and a run without samples say so. Consecutive intervals are merged into their
energy-weighted mean until they span 1/``MAX_STEPS`` of the run, and at least half the sampling
interval (at most 1/20 of the run): a long run stays a few hundred points, and extra samples
taken between regular ones (e.g. at every epoch) are too short for CPU-time accounting, which
ticks every 10 ms, to show anything but noise.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from typing import Any

from frugalml import _fmt as fmt
from frugalml.report.data import RunInfo, number
from frugalml.report.forecast import forecast_figure
from frugalml.report.model import Timeline
from frugalml.report.plots import Band, Figure, Series

__all__ = ["MAX_METRIC_PLOTS", "MAX_STEPS", "build_timeline", "find_gaps", "power_steps"]

MAX_STEPS = 300
MAX_METRIC_POINTS = 600
MAX_METRIC_PLOTS = 4
_METRIC_ORDER = ("loss", "accuracy")

Point = tuple[float, float] | None


def find_gaps(times: list[float], interval_s: float) -> list[tuple[float, float]]:
    """``(start, end)`` of every stretch longer than twice ``interval_s`` without a sample
    (the run's start, t = 0, counts as a reading)."""
    limit = 2 * interval_s
    ts = sorted({0.0, *times})
    return [(a, b) for a, b in itertools.pairwise(ts) if b - a > limit]


def _interval(run: RunInfo, times: list[float]) -> float:
    if run.interval_s and run.interval_s > 0:
        return float(run.interval_s)
    ts = sorted(set(times))
    steps = [b - a for a, b in itertools.pairwise(ts) if b > a]
    return statistics.median(steps) if steps else 1.0


def power_steps(points: list[tuple[float, float]], gap_s: float, min_width_s: float) -> list[Point]:
    """Step-line points from ``(t_end, mean power)`` samples.

    Each sample covers ``(previous t, t]`` (the first starts at 0). Intervals longer than
    ``gap_s`` are left out (``None`` breaks the line); consecutive intervals are merged until
    they span ``min_width_s``, with their energy-weighted mean power.
    """
    out: list[Point] = []
    start, energy, prev = None, 0.0, 0.0

    def flush(end: float) -> None:
        nonlocal start, energy
        if start is not None and end > start:
            p = energy / (end - start)
            out.extend([(start, p), (end, p)])
        start, energy = None, 0.0

    for t, p in sorted(points):
        if t - prev > gap_s:
            flush(prev)
            if out and out[-1] is not None:
                out.append(None)
            prev = t
            continue
        if start is None:
            start = prev
        energy += p * (t - prev)
        prev = t
        if prev - start >= min_width_s:
            flush(prev)
    flush(prev)
    return out


def _finite(row: dict[str, Any], *keys: str) -> bool:
    return all(number(row.get(k)) is not None for k in keys)


def build_timeline(
    run: RunInfo,
    samples: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
    fig_prefix: str,
    forecasts: list[dict[str, Any]] | None = None,
) -> Timeline:
    """Figures and notes for one run from its sample, metric and forecast rows (registry
    dicts)."""
    tl = Timeline(run_id=run.id, run_name=run.name, status=run.status)
    n_samples = len(samples)
    samples = [s for s in samples if _finite(s, "t_s", "energy_j", "power_w")]
    metrics = [m for m in metrics if _finite(m, "t_s", "value")]
    if len(samples) < n_samples:
        tl.notes.append(
            f"{n_samples - len(samples)} sample row(s) hold a non-finite value (a sensor fault "
            "recorded by an older frugalml): not drawn."
        )
    times = [float(s["t_s"]) for s in samples]
    end = max([run.duration_s, *times, *(float(m["t_s"]) for m in metrics)])
    x_range = (0.0, end if end > 0 else 1.0)
    if run.status == "interrupted":
        last = max(times) if times else 0.0
        tl.notes.append(
            "Interrupted: the process recording this run stopped without closing it. Figures "
            "cover "
            f"it up to its last saved sample (t = {fmt.g(last)} s)."
        )
    if not samples:
        tl.notes.append("No samples recorded: there is no power timeline for this run.")
    else:
        interval = _interval(run, times)
        gaps = find_gaps(times, interval)
        bands = [Band(a, b, f"gap {fmt.duration(b - a)}") for a, b in gaps]
        if run.status == "interrupted" and run.duration_s > max(times) + 2 * interval:
            bands.append(Band(max(times), run.duration_s, "no samples after this"))
        for a, b in gaps:
            tl.notes.append(
                f"No samples from t = {fmt.g(a)} s to {fmt.g(b)} s ({fmt.duration(b - a)}, "
                "sampling "
                f"interval {fmt.g(interval)} s): not drawn; the sample after it averages the whole "
                "gap."
            )
        by_comp: dict[str, list[tuple[float, float]]] = defaultdict(list)
        total: dict[float, float] = defaultdict(float)
        for s in samples:
            by_comp[str(s["component"])].append((float(s["t_s"]), float(s["power_w"])))
            total[float(s["t_s"])] += float(s["power_w"])
        span = max(times)
        width = max(span / MAX_STEPS, min(interval / 2, span / 20))
        series = [
            Series(name=comp, points=power_steps(by_comp[comp], 2 * interval, width), color=i)
            for i, comp in enumerate(sorted(by_comp))
        ]
        if len(series) > 1:
            series.append(
                Series(
                    name="total",
                    points=power_steps(list(total.items()), 2 * interval, width),
                    color=7,
                    dashed=True,
                )
            )
        peak = max((y for s in series for _, y in s.xy()), default=0.0)
        if any(s.xy() for s in series):
            tl.figures.append(
                Figure(
                    id=f"{fig_prefix}-power",
                    title="Power per component",
                    x_label="time since start (s)",
                    y_label="power (W)",
                    series=series,
                    bands=bands,
                    x_range=x_range,
                    y_range=(0.0, peak * 1.1 if peak > 0 else 1.0),
                    caption=f"Mean power over each sampling interval; methods: {run.method}.",
                )
            )
    forecast = forecast_figure(run, forecasts or [], f"{fig_prefix}-forecast")
    if forecast is not None:
        tl.figures.append(forecast)
    by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        by_name[str(m["name"])].append((float(m["t_s"]), float(m["value"])))
    names = sorted(
        by_name,
        key=lambda n: (
            n not in _METRIC_ORDER,
            _METRIC_ORDER.index(n) if n in _METRIC_ORDER else 0,
            -len(by_name[n]),
            n,
        ),
    )
    for j, name in enumerate(names[:MAX_METRIC_PLOTS]):
        pts = sorted(by_name[name])
        if len(pts) > MAX_METRIC_POINTS:  # keep every k-th value: metrics are not averaged
            k = -(-len(pts) // MAX_METRIC_POINTS)
            pts = pts[::k] + ([pts[-1]] if (len(pts) - 1) % k else [])
        tl.figures.append(
            Figure(
                id=f"{fig_prefix}-metric-{j + 1}",
                title=f"Metric: {name}",
                x_label="time since start (s)",
                y_label=name,
                series=[Series(name=name, points=list(pts), mode="both", color=(j + 2) % 7)],
                x_range=x_range,
            )
        )
    if len(names) > MAX_METRIC_PLOTS:
        tl.notes.append(
            f"Not plotted ({MAX_METRIC_PLOTS} metrics at most): "
            + ", ".join(names[MAX_METRIC_PLOTS:])
        )
    return tl
