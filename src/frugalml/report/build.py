"""``build_report``: gather runs and/or a bench result into one :class:`Report`.

What a report covers: the given run ids (unique prefixes allowed), else the newest ``last``
runs (default 20), or a bench's ``results.json`` together with the bench's runs found in the
registry. Per-run timelines are drawn for up to ``timeline_max_runs`` runs (default 10);
larger selections get an energy-over-time overview instead, so a report over a thousand runs
reads no samples at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from frugalml import _fmt as fmt
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError, StoreError
from frugalml.report.bench import bench_section
from frugalml.report.context import carbon_context
from frugalml.report.data import (
    RunInfo,
    bench_run_ids,
    find_runs,
    load_bench,
    run_info,
    sample_stats,
    select_runs,
)
from frugalml.report.leaderboard import bench_leaderboard, runs_leaderboard
from frugalml.report.model import BenchSection, Report, RunRow, Summary
from frugalml.report.modelcard import TRAINING_TYPES, energy_statement, model_card
from frugalml.report.plots import Bar, Figure, Series
from frugalml.report.search import load_searches, search_run_ids, search_section, search_summary
from frugalml.report.summary import bench_summary, runs_summary
from frugalml.report.timeline import build_timeline

if TYPE_CHECKING:
    from frugalml.store import RunRecord, Store

__all__ = ["DEFAULT_LAST", "TIMELINE_MAX_RUNS", "build_report"]

DEFAULT_LAST = 20
# Pages and counts far beyond any registry, small enough that SQL OFFSET/LIMIT stay 64-bit.
MAX_COUNT = 10**9
MAX_PAGE_SIZE = 10_000
TIMELINE_MAX_RUNS = 10
MAX_OVERVIEW_POINTS = 1000
FPO_KEYS = ("fpo", "flops_effective", "flops", "flops_per_sample")


def _open_store(store: Store | str | os.PathLike[str] | bool | None) -> Store | None:
    from frugalml.store import Store, open_registry

    if store is False:
        return None
    if isinstance(store, Store):
        return store
    return open_registry(None if store is True else store)


def build_report(
    runs: Sequence[str] | None = None,
    *,
    bench: str | os.PathLike[str] | None = None,
    store: Store | str | os.PathLike[str] | bool | None = None,
    last: int | None = None,
    metric: str = "accuracy",
    target: float | None = None,
    page: int = 1,
    page_size: int = 50,
    training_type: str = "pre-training",
    final: str | None = None,
    fpo: float | None = None,
    title: str | None = None,
    timeline_max_runs: int = TIMELINE_MAX_RUNS,
    search: Sequence[str | os.PathLike[str]] | None = None,
) -> Report:
    """Build the report model of some runs or of a bench.

    Args:
        runs: run ids or unique prefixes; with neither ``runs`` nor ``bench``, the newest
            ``last`` runs (default 20).
        bench: a bench output folder (or its ``results.json``); its runs are looked up in the
            registry by the ids each row lists.
        store: a :class:`~frugalml.store.Store`, a registry URL/path, ``None`` for the default
            registry, or ``False`` for none (bench only).
        last: the newest N runs.
        metric: the metric leaderboards rank by (the run's last logged value).
        target: the value to reach for the energy-to-target ranking; default 95 % of the best.
        page, page_size: which page of the runs table and leaderboards (all formats).
        training_type: model-card ``training_type`` (``pre-training`` or ``fine-tuning``).
        final: bench technique to treat as the final model (default: a rule, see docs).
        fpo: floating-point operations per sample of the final model, when known.
        title: report title.
        timeline_max_runs: draw per-run timelines up to this many runs.
        search: ``frugal search`` output folders (or their ``search.json``): a search section,
            over the trials' registry runs.

    Example:
        >>> report = build_report(last=5, store="sqlite://")  # doctest: +SKIP
    """
    from frugalml import __version__

    check_number("build_report", "page", page, low=1, high=MAX_COUNT, integer=True)
    check_number("build_report", "page_size", page_size, low=1, high=MAX_PAGE_SIZE, integer=True)
    check_number("build_report", "timeline_max_runs", timeline_max_runs, low=0, integer=True)
    check_choice("build_report", "training_type", training_type, TRAINING_TYPES)
    if last is not None:
        check_number("build_report", "last", last, low=1, high=MAX_COUNT, integer=True)
    if target is not None:
        check_number("build_report", "target", target)
    if fpo is not None:
        check_number("build_report", "fpo", fpo, low=0)
    if bench is not None and (runs or last is not None):
        raise InputError(
            "Give either run ids / --last or --bench, not both: a bench report covers the bench's "
            "runs."
        )

    if search and (bench is not None or runs or last is not None):
        raise InputError("Give --search alone: a search report covers the searches' trial runs.")
    searches = load_searches(search) if search else []
    bench_path, data = load_bench(bench) if bench is not None else (None, None)
    if data is None and not searches and not runs and last is None:
        last = DEFAULT_LAST
    st: Store | None = None
    try:
        st, records, notes = _select(
            store, runs, last, data, search_run_ids(searches) if searches else None
        )
        infos = [run_info(r) for r in records]
        stats = sample_stats(st, [r.id for r in infos]) if st is not None and infos else {}
        no_samples = sum(r.id not in stats for r in infos)
        summary = (
            bench_summary(data, infos, no_samples)
            if data is not None
            else search_summary(searches, runs_summary(infos, no_samples) if infos else None)
            if searches
            else runs_summary(infos, no_samples)
        )
        report = Report(
            title=title or _title(infos, data, searches),
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            frugalml_version=__version__,
            selection={
                "registry": st.url if st is not None else None,
                "run_ids": list(runs or []),
                "last": last,
                "bench": str(bench_path) if bench_path else None,
                "search": [p for p, _ in searches] or None,
            },
            summary=summary,
            runs_total=len(infos),
            page=page,
            page_size=page_size,
            notes=notes,
        )
        start = (page - 1) * page_size
        report.runs = [
            _run_row(r, stats.get(r.id), metric) for r in infos[start : start + page_size]
        ]
        if st is not None and 0 < len(infos) <= timeline_max_runs:
            for i, r in enumerate(infos, start=1):
                samples = st.samples(r.id) if r.id in stats else []
                report.timelines.append(
                    build_timeline(
                        r, samples, st.metrics(r.id), f"timeline-{i}", st.forecasts(r.id)
                    )
                )
        elif len(infos) > timeline_max_runs:
            report.timeline_note = (
                f"Per-run timelines are drawn for up to {timeline_max_runs} runs; this report "
                f"covers {len(infos):,}. Report fewer runs (frugal report RUN_ID ...) to see each "
                "run's power and metrics."
            )
        if len(infos) > 1:
            report.overview = _overview(infos)
        report.components_figure = _components_figure(summary)
        region = summary.region if summary.region != "unknown" else None
        report.carbon = carbon_context(
            summary.energy_j, summary.pue or summary.pue_mean or 1.0, region, summary.co2e_g
        )
        report.carbon.notes += _context_notes(summary)
        fpo_list: list[tuple[str, float, str]] = []
        if data is not None and bench_path is not None:
            report.bench = bench_section(str(bench_path), data, final)
            report.leaderboards.append(
                bench_leaderboard(report.bench, data, target=target, page=page, page_size=page_size)
            )
            fpo_list = _bench_fpo(report.bench)
        elif st is not None:
            report.leaderboards.append(
                runs_leaderboard(
                    st,
                    ids=[r.id for r in infos] if runs or searches else None,
                    last=None if runs or searches else last,
                    metric=metric,
                    target=target,
                    page=page,
                    page_size=page_size,
                )
            )
            found = _recorded_fpo(infos)
            fpo_list = [found] if found else []
        if searches:
            report.search = search_section(searches)
        if fpo is not None:
            fpo_list = [("the final model", fpo, "given by the user")]
        report.model_card = model_card(summary, __version__, training_type)
        report.statement = energy_statement(summary, __version__, fpo_list)
        return report
    finally:
        if st is not None and st is not store:  # opened here from a URL: close it
            st.close()


def _select(
    store: Store | str | os.PathLike[str] | bool | None,
    runs: Sequence[str] | None,
    last: int | None,
    data: dict[str, Any] | None,
    search_ids: list[str] | None = None,
) -> tuple[Store | None, list[RunRecord], list[str]]:
    """The registry and the runs the report covers (a bench's or searches' runs when given)."""
    if data is None and search_ids is None:
        st = _open_store(store)
        if st is None:
            raise InputError(
                "A report on runs needs a registry: pass store= (or --db), or report a bench."
            )
        records = select_runs(st, runs, last)
        if not records:
            if st is not store:
                st.close()
            raise InputError(
                f"No runs in the registry {st.url}. Measure one with `frugal run -- COMMAND`, "
                "or report a bench with --bench DIR."
            )
        return st, records, []
    try:
        st = _open_store(store)
    except StoreError as e:
        return None, [], [f"Registry not available ({e}); the report uses results.json only."]
    ids = bench_run_ids(data) if data is not None else list(search_ids or [])
    return st, (find_runs(st, ids) if st is not None else []), []


def _context_notes(summary: Summary) -> list[str]:
    notes = []
    if summary.intensity_basis != "annual":
        notes.append(
            f"Your CO2e ({fmt.co2e(summary.co2e_g)}) used a grid-intensity time series "
            f"(energy-weighted mean {fmt.num(summary.intensity_g_per_kwh)} gCO2e/kWh); every "
            "row here, your region's included, uses its annual average, for comparison."
        )
    if len(summary.regions) > 1:
        notes.append(
            f"The runs used {len(summary.regions)} regions; 'your region' is the one with the "
            f"largest share of the energy ({summary.region})."
        )
    if summary.pue is None and summary.pue_mean is not None:
        notes.append(
            f"The runs used several PUE values; every row applies their energy-weighted mean, "
            f"{fmt.num(summary.pue_mean)}."
        )
    return notes


def _components_figure(summary: Summary) -> Figure | None:
    if not summary.components:
        return None
    bars = [
        Bar(
            label=c.name,
            value=c.energy_j,
            text=f"{fmt.energy(c.energy_j)} ({c.share:.0%}, {c.method})",
            color=i % 7,
        )
        for i, c in enumerate(summary.components)
    ]
    return Figure(
        id="components",
        title="Energy per component",
        kind="bars",
        x_label="J",
        bars=bars,
        caption="IT energy of each component over the selection, with how it was obtained.",
    )


def _bench_fpo(section: BenchSection) -> list[tuple[str, float, str]]:
    out = []
    for task in section.tasks:
        row = next((r for r in task.rows if r.name == task.final), None)
        if row is not None and row.fpo is not None:
            out.append((f"{task.name} with {row.name}", row.fpo, row.fpo_basis))
    return out


def _title(
    infos: list[RunInfo],
    data: dict[str, Any] | None,
    searches: list[tuple[str, Any]] = (),  # type: ignore[assignment]
) -> str:
    if searches:
        names = [str((d.get("study") or {}).get("name", "?")) for _, d in searches]
        return (
            "frugalml search report: " + ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")
        )
    if data is not None:
        tasks = list(data.get("tasks") or {})
        return "frugalml bench report: " + (
            ", ".join(tasks[:4]) + (" ..." if len(tasks) > 4 else "") or "no tasks"
        )
    if len(infos) == 1:
        return f"frugalml report: {infos[0].name}"
    return f"frugalml report: {len(infos):,} runs"


def _run_row(r: RunInfo, stat: tuple[int, float] | None, metric: str) -> RunRow:
    notes = []
    if stat is None:
        notes.append("no samples recorded")
    if r.status == "interrupted":
        notes.append("interrupted: figures up to the last saved sample")
    if r.error:
        notes.append(r.error)
    if r.problems:
        notes.append("non-finite figure left out: " + ", ".join(r.problems))
    return RunRow(
        id=r.id,
        name=r.name,
        status=r.status,
        started_at=r.started_at,
        duration_s=r.duration_s,
        energy_j=r.energy_j,
        co2e_g=r.co2e_g,
        method=r.method,
        uncertainty=r.uncertainty.get("total"),
        region=r.region,
        accuracy=r.metrics.get(metric),
        n_samples=stat[0] if stat else 0,
        notes=notes,
    )


def _overview(infos: list[RunInfo]) -> Figure:
    ordered = sorted(infos, key=lambda r: r.started_at + r.duration_s)
    t0 = min(r.started_at for r in infos)
    span_h = (max(r.started_at + r.duration_s for r in infos) - t0) / 3600
    scale, unit = (3600.0, "hours") if span_h < 72 else (86400.0, "days")
    total = 0.0
    pts: list[tuple[float, float] | None] = [(0.0, 0.0)]
    for r in ordered:
        total += r.energy_j
        pts.append(((r.started_at + r.duration_s - t0) / scale, total / 3.6e6))
    if len(pts) > MAX_OVERVIEW_POINTS:  # a cumulative curve: every k-th point keeps its shape
        k = -(-len(pts) // MAX_OVERVIEW_POINTS)
        pts = pts[::k] + ([pts[-1]] if (len(pts) - 1) % k else [])
    return Figure(
        id="overview",
        title="Cumulative energy over time",
        x_label=f"{unit} since {fmt.when(t0)}",
        y_label="kWh (IT energy)",
        series=[Series(name="all selected runs", points=pts, mode="step")],
        caption="Each step is a run's energy, placed where it ended.",
    )


def _recorded_fpo(infos: list[RunInfo]) -> tuple[str, float, str] | None:
    for r in infos:  # newest first
        for where, values in (("metric", r.metrics), ("tag", r.tags), ("config", r.config)):
            for key in FPO_KEYS:
                try:
                    value = float(values[key])
                except (KeyError, TypeError, ValueError):
                    continue
                return f"run {r.name}", value, f"{where} {key!r} recorded with the run"
    return None
