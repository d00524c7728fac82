"""A run's timeline: power per component from its samples, logged metrics on the same time axis.

Gaps are shown, not hidden: where two samples are more than twice the sampling interval apart
the line breaks and a labelled band covers the gap; an interrupted run and a run without
samples say so. Long runs are averaged down to at most ``MAX_POINTS`` points per line.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from frugalml.report import fmt
from frugalml.report.data import RunInfo
from frugalml.report.model import Timeline
from frugalml.report.plots import Band, Figure, Series

__all__ = ["MAX_METRIC_PLOTS", "MAX_POINTS", "build_timeline", "find_gaps"]

MAX_POINTS = 600
MAX_METRIC_PLOTS = 4
_METRIC_ORDER = ("loss", "accuracy")


def find_gaps(times: list[float], interval_s: float) -> list[tuple[float, float]]:
    """``(start, end)`` of every stretch longer than twice ``interval_s`` without a sample."""
    limit = 2 * interval_s
    ts = sorted(set(times))
    return [(a, b) for a, b in zip(ts, ts[1:]) if b - a > limit]


def _interval(run: RunInfo, times: list[float]) -> float:
    if run.interval_s and run.interval_s > 0:
        return float(run.interval_s)
    ts = sorted(set(times))
    steps = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    return statistics.median(steps) if steps else 1.0


def _with_breaks(points: list[tuple[float, float]], gaps: list[tuple[float, float]]) -> list[tuple[float, float] | None]:
    out: list[tuple[float, float] | None] = []
    ends = {b for _, b in gaps}
    for p in points:
        if p[0] in ends and out:
            out.append(None)
        out.append(p)
    return out


def _downsample(points: list[tuple[float, float] | None], max_points: int) -> list[tuple[float, float] | None]:
    """Average consecutive points in groups, within each unbroken segment."""
    n = sum(p is not None for p in points)
    if n <= max_points:
        return points
    k = math.ceil(n / max_points)
    out: list[tuple[float, float] | None] = []
    group: list[tuple[float, float]] = []

    def flush() -> None:
        if group:
            out.append((sum(x for x, _ in group) / len(group), sum(y for _, y in group) / len(group)))
            group.clear()

    for p in points:
        if p is None:
            flush()
            out.append(None)
            continue
        group.append(p)
        if len(group) == k:
            flush()
    flush()
    return out


def build_timeline(run: RunInfo, samples: list[dict[str, Any]], metrics: list[dict[str, Any]],
                   fig_prefix: str) -> Timeline:
    """Figures and notes for one run from its sample and metric rows (registry dicts)."""
    tl = Timeline(run_id=run.id, run_name=run.name, status=run.status)
    times = [float(s["t_s"]) for s in samples]
    end = max([run.duration_s, *times, *(float(m["t_s"]) for m in metrics)] or [0.0])
    x_range = (0.0, end if end > 0 else 1.0)
    if run.status == "interrupted":
        last = max(times) if times else 0.0
        tl.notes.append(
            f"Interrupted: the process recording this run stopped without closing it. Figures cover "
            f"it up to its last saved sample (t = {fmt.num(last)} s)."
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
                f"No samples from t = {fmt.num(a)} s to {fmt.num(b)} s ({fmt.duration(b - a)}, sampling "
                f"interval {fmt.num(interval)} s): the power after the gap is the mean over the gap."
            )
        by_comp: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for s in samples:
            by_comp[str(s["component"])].append((float(s["t_s"]), float(s["power_w"])))
        series = []
        for i, comp in enumerate(sorted(by_comp)):
            pts = _downsample(_with_breaks(sorted(by_comp[comp]), gaps), MAX_POINTS)
            series.append(Series(name=comp, points=pts, mode="line", color=i))
        if len(series) > 1:
            total: dict[float, float] = defaultdict(float)
            for s in samples:
                total[float(s["t_s"])] += float(s["power_w"])
            pts = _downsample(_with_breaks(sorted(total.items()), gaps), MAX_POINTS)
            series.append(Series(name="total", points=pts, mode="line", color=7, dashed=True))
        tl.figures.append(Figure(
            id=f"{fig_prefix}-power", title="Power per component", x_label="time since start (s)",
            y_label="power (W)", series=series, bands=bands, x_range=x_range,
            caption=f"Mean power over each sampling interval; methods: {run.method}.",
        ))
    by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        by_name[str(m["name"])].append((float(m["t_s"]), float(m["value"])))
    names = sorted(by_name, key=lambda n: (n not in _METRIC_ORDER, _METRIC_ORDER.index(n)
                                           if n in _METRIC_ORDER else 0, -len(by_name[n]), n))
    for j, name in enumerate(names[:MAX_METRIC_PLOTS]):
        pts = _downsample(list(sorted(by_name[name])), MAX_POINTS)
        tl.figures.append(Figure(
            id=f"{fig_prefix}-metric-{j + 1}", title=f"Metric: {name}", x_label="time since start (s)",
            y_label=name, series=[Series(name=name, points=pts, mode="both", color=(j + 2) % 7)],
            x_range=x_range,
        ))
    if len(names) > MAX_METRIC_PLOTS:
        tl.notes.append(f"{len(names) - MAX_METRIC_PLOTS} more metrics are in the JSON report only: "
                        + ", ".join(names[MAX_METRIC_PLOTS:]))
    return tl
