"""A run's forecast history drawn against the figure it ended with (``frugalml.epoch_end``)."""

from __future__ import annotations

from typing import Any

from frugalml import _fmt as fmt
from frugalml.report.data import RunInfo, number
from frugalml.report.plots import Figure, Series

__all__ = ["forecast_figure"]


def forecast_figure(run: RunInfo, forecasts: list[dict[str, Any]], fig_id: str) -> Figure | None:
    """The forecast of the run's total energy at each epoch end (with its interval), the
    energy spent by then, and the run's final energy; None without forecasts.

    The final figure is drawn for a finished run only: a run stopped early (failed,
    interrupted, budget-stopped) never ran the epochs its forecasts were about.
    """
    rows = [
        r
        for r in forecasts
        if number(r.get("t_s")) is not None and number(r.get("energy_j")) is not None
    ]
    if not rows:
        return None
    t = [float(r["t_s"]) for r in rows]
    series = [
        Series(
            name="forecast of the total",
            points=list(zip(t, (float(r["energy_j"]) for r in rows), strict=True)),
            mode="both",
            color=0,
        )
    ]
    for key, label in (("energy_j_low", "interval low"), ("energy_j_high", "interval high")):
        pts: list[tuple[float, float] | None] = [
            (x, float(r[key])) for x, r in zip(t, rows, strict=True) if number(r.get(key))
        ]
        if pts:
            series.append(Series(name=label, points=pts, color=0, dashed=True))
    spent: list[tuple[float, float] | None] = [
        (x, float(r["energy_j_so_far"]))
        for x, r in zip(t, rows, strict=True)
        if number(r.get("energy_j_so_far")) is not None
    ]
    if spent:
        series.append(Series(name="spent so far", points=spent, color=2))
    end = max(run.duration_s, t[-1])
    caption = (
        f"{len(rows)} forecast(s), one at each epoch end; energy before PUE. Method of the "
        f"last: {rows[-1].get('method') or 'unknown'}."
    )
    if run.status == "finished" and run.energy_j > 0:
        series.append(
            Series(name="final", points=[(0.0, run.energy_j), (end, run.energy_j)], color=7)
        )
        errors = [abs(float(r["energy_j"]) / run.energy_j - 1) for r in rows]
        caption += (
            f" Final energy {fmt.energy(run.energy_j)}; forecast error against it: "
            f"{errors[0] * 100:.1f} % after the first epoch end, "
            f"{sorted(errors)[len(errors) // 2] * 100:.1f} % median over all."
        )
    else:
        caption += f" The run {run.status}: its final figure is not what was forecast."
    peak = max(y for s in series for _, y in s.xy())
    return Figure(
        id=fig_id,
        title="Forecast of the total energy",
        x_label="time since start (s)",
        y_label="energy (J)",
        series=series,
        x_range=(0.0, end if end > 0 else 1.0),
        y_range=(0.0, peak * 1.1 if peak > 0 else 1.0),
        caption=caption,
    )
