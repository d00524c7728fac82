"""The report's search section (``frugal report --search DIR``): what one or several searches
found and what they cost.

From each ``search.json``: a summary row (trials by state, the chosen model, the whole cost),
the Pareto front of accuracy against training energy with the chosen model marked, and one
convergence figure for all searches — the best validation accuracy so far against the
cumulative energy of the search, one line per search (labelled by sampler and pruner), so
samplers can be compared at equal energy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frugalml.errors import InputError
from frugalml.report.bench import pareto_front
from frugalml.report.model import Summary
from frugalml.report.plots import Figure, Series

__all__ = [
    "SearchRow",
    "SearchSection",
    "convergence_points",
    "load_searches",
    "search_run_ids",
    "search_section",
    "search_summary",
    "search_table",
]

REQUIRED = ("study", "trials", "pareto", "best", "total_energy_j", "overhead_energy_j")


@dataclass
class SearchRow:
    """One search as the summary table shows it (energies in J, CO2e in g, time in s)."""

    path: str
    study: str
    task: str | None
    space: str | None
    label: str
    objectives: list[str]
    states: dict[str, int]
    best: int | None
    best_params: dict[str, Any]
    best_accuracy: float | None
    best_test_accuracy: float | None
    best_train_energy_j: float | None
    total_energy_j: float
    overhead_energy_j: float
    total_co2e_g: float
    total_time_s: float
    energy_method: str


@dataclass
class SearchSection:
    searches: list[SearchRow] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_searches(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, dict[str, Any]]]:
    """Read each ``DIR/search.json`` (or the file itself).

    Raises:
        InputError: missing, unreadable, or not a search result.
    """
    out = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            p = p / "search.json"
        if not p.is_file():
            raise InputError(
                f"--search {path}: no search.json there. Run `frugal search --out DIR` first."
            )
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"Cannot read the search result {p}: {e}.") from e
        missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
        if missing:
            raise InputError(
                f"{p} is not a frugalml search result (no {', '.join(missing)}). Point --search "
                "at the folder `frugal search --out` wrote."
            )
        out.append((str(p), data))
    return out


def search_run_ids(searches: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Registry ids of every trial of the searches, in file order."""
    ids = [str(t["run_id"]) for _, d in searches for t in d["trials"] if t.get("run_id")]
    return list(dict.fromkeys(ids))


def _label(data: dict[str, Any]) -> str:
    pruner = data.get("pruner") or "none"
    label = str(data.get("sampler") or "?") + ("" if pruner == "none" else f" + {pruner}")
    if (data.get("study") or {}).get("weight_sharing"):
        label += " (weight sharing)"
    return label


def _row(path: str, data: dict[str, Any]) -> SearchRow:
    study = data.get("study") or {}
    trials = data["trials"]
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    best = next((t for t in trials if t["number"] == data["best"]), None)
    return SearchRow(
        path=path,
        study=str(study.get("name", "?")),
        task=study.get("task"),
        space=study.get("space"),
        label=_label(data),
        objectives=[str(o.get("name")) for o in data.get("objectives") or [] if "direction" in o],
        states=states,
        best=data["best"],
        best_params=dict(best["params"]) if best else {},
        best_accuracy=best.get("accuracy") if best else None,
        best_test_accuracy=best.get("test_accuracy") if best else None,
        best_train_energy_j=best.get("train_energy_j") if best else None,
        total_energy_j=float(data["total_energy_j"]),
        overhead_energy_j=float(data["overhead_energy_j"]),
        total_co2e_g=float(data.get("total_co2e_g") or 0.0),
        total_time_s=float(data.get("total_time_s") or 0.0),
        energy_method=str(data.get("energy_method") or "unknown"),
    )


def _xy(pts: list[tuple[float, float, int]]) -> list[tuple[float, float] | None]:
    return [(x, y) for x, y, _ in pts]


def convergence_points(data: dict[str, Any]) -> list[tuple[float, float] | None]:
    """``(cumulative search energy J, best validation accuracy so far)`` after each trial in
    trial-number order; pruned and failed trials add energy only; a last point adds the
    overhead outside trials."""
    pts: list[tuple[float, float] | None] = []
    spent, best = 0.0, None
    for t in sorted(data["trials"], key=lambda t: t["number"]):
        spent += float(t.get("energy_j") or 0.0)
        if t["state"] == "complete" and t.get("accuracy") is not None:
            best = t["accuracy"] if best is None else max(best, t["accuracy"])
        if best is not None:
            pts.append((spent, float(best)))
    last = pts[-1] if pts else None
    if last is not None and data.get("overhead_energy_j"):
        pts.append((spent + float(data["overhead_energy_j"]), last[1]))
    return pts


def _pareto_figure(i: int, row: SearchRow, data: dict[str, Any]) -> Figure | None:
    pts = [
        (float(t["train_energy_j"]), float(t["accuracy"]), t["number"])
        for t in data["trials"]
        if t["state"] == "complete"
        and t.get("train_energy_j") is not None
        and t.get("accuracy") is not None
    ]
    if not pts:
        return None
    front = pareto_front(pts)
    series = [
        Series(
            name="Pareto front",
            points=_xy(sorted(p for p in pts if p[2] in front)),
            mode="step",
            color=3,
        ),
        Series(name="trials", points=_xy(pts), mode="points", color=0),
    ]
    chosen: list[tuple[float, float] | None] = [(x, y) for x, y, n in pts if n == row.best]
    if chosen:
        series.append(
            Series(
                name="chosen", points=chosen, mode="points", labels=[f"trial {row.best}"], color=7
            )
        )
    return Figure(
        id=f"search-{i}-pareto",
        title=f"{row.study}: accuracy against training energy",
        x_label="training energy of the trial (J)",
        y_label="validation accuracy",
        series=series,
        x_log=True,
        caption=(
            f"Completed trials of {row.study} ({row.label}). The red steps are not beaten on "
            "both accuracy and training energy; the black point is the chosen model."
        ),
    )


def search_section(searches: list[tuple[str, dict[str, Any]]]) -> SearchSection:
    """Summary rows, one Pareto figure per search and one convergence figure for all."""
    section = SearchSection()
    lines = []
    for i, (path, data) in enumerate(searches, start=1):
        row = _row(path, data)
        section.searches.append(row)
        fig = _pareto_figure(i, row, data)
        if fig is not None:
            section.figures.append(fig)
        pts = convergence_points(data)
        if pts:
            name = row.label
            if sum(r.label == row.label for r in section.searches) > 1 or len(searches) == 1:
                name = f"{row.label}: {row.study}"
            lines.append(Series(name=name, points=list(pts), mode="step", color=(i - 1) % 7))
        if row.best is None:
            section.notes.append(f"{row.study}: no completed trial, nothing chosen.")
    if lines:
        section.figures.append(
            Figure(
                id="search-convergence",
                title="Best accuracy against the energy spent searching",
                x_label="cumulative search energy (J)",
                y_label="best validation accuracy so far",
                series=lines,
                x_log=True,
                caption=(
                    "After each trial, in trial order: pruned and failed trials add energy "
                    "without accuracy; each line ends with the search's overhead outside "
                    "trials (worker start-up, samplers, storage, a supernet)."
                ),
            )
        )
    return section


def search_summary(searches: list[tuple[str, dict[str, Any]]], base: Summary | None) -> Summary:
    """The report's summary for searches: from their registry runs when found (``base``), else
    from the search files' totals."""
    total = sum(float(d["total_energy_j"]) for _, d in searches)
    if base is not None:
        base.notes.append(
            f"The headline figures cover the trials' registry runs; the searches' whole cost, "
            f"overhead outside trials included, is {total:,.1f} J (Search section)."
        )
        return base
    methods = sorted({str(d.get("energy_method") or "unknown") for _, d in searches})
    method = "+".join(methods)
    s = Summary(
        n_runs=0,
        energy_j=total,
        co2e_g=sum(float(d.get("total_co2e_g") or 0.0) for _, d in searches),
        duration_s=sum(float(d.get("total_time_s") or 0.0) for _, d in searches),
        duration_basis="search wall time, from search.json",
        hardware="",
        region="unknown",
        region_name="unknown",
        intensity_g_per_kwh=None,
        intensity_source="",
        pue=None,
        pue_source="not recorded in search.json",
        method=method,
        method_text=method,
        measured=not any("model" in m for m in methods) if methods else None,
        uncertainty_energy=None,
        uncertainty_co2e=None,
        energy_basis="the searches' total_energy_j (trials plus overhead), from search.json",
    )
    s.notes.append(
        "The searches' runs are not in this registry: components, uncertainty and timelines "
        "are unavailable. Pass --db with the registry the search wrote to."
    )
    return s


def search_table(section: SearchSection) -> Any:
    """One row per search: trials by state, the chosen model, and the whole cost."""
    from frugalml import _fmt as fmt
    from frugalml.report.tables import Table

    t = Table(
        [
            "search",
            "task / space",
            "sampler",
            "trials",
            "chosen",
            "val acc",
            "test acc",
            "its training",
            "search energy",
            "of which overhead",
            "CO2e",
            "time",
        ],
        numeric=frozenset({5, 6, 7, 8, 9, 10, 11}),
        caption="Search energy = every trial's energy (pruned and failed included) + the "
        "overhead outside trials; the chosen trial's own training energy is beside it.",
    )
    for r in section.searches:
        states = ", ".join(f"{n} {s}" for s, n in sorted(r.states.items()))
        t.rows.append(
            [
                r.study,
                f"{r.task or 'own objective'} / {r.space or '-'}",
                r.label,
                states,
                fmt.DASH if r.best is None else f"trial {r.best}",
                fmt.DASH if r.best_accuracy is None else f"{r.best_accuracy * 100:.2f} %",
                fmt.DASH if r.best_test_accuracy is None else f"{r.best_test_accuracy * 100:.2f} %",
                fmt.energy(r.best_train_energy_j),
                fmt.energy(r.total_energy_j),
                fmt.energy(r.overhead_energy_j),
                fmt.co2e(r.total_co2e_g),
                fmt.duration(r.total_time_s),
            ]
        )
    return t
