"""The report's tables as plain cells, shared by the HTML and Markdown renderers.

A cell is text (escaped by the renderer) or a :class:`Link`. Which columns a table has, and
how each number is formatted, is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frugalml import _fmt as fmt
from frugalml.report.model import (
    BenchTask,
    CarbonContext,
    Leaderboard,
    LeaderRow,
    Report,
    Summary,
    TechniqueRow,
)
from frugalml.report.modelcard import location

__all__ = [
    "Card",
    "Link",
    "Table",
    "cards",
    "components_table",
    "equivalents_table",
    "leader_tables",
    "regions_table",
    "runs_table",
    "technique_table",
    "uncertainty_note",
    "verdict_notes",
]


@dataclass(frozen=True)
class Link:
    text: str
    url: str


Cell = str | Link


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    numeric: frozenset[int] = frozenset()
    caption: str = ""


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    how: str


def cards(s: Summary) -> list[Card]:
    """The summary's headline figures, each with how it was obtained."""
    how = (
        "measured by hardware counters"
        if s.measured
        else (
            "modelled (no hardware energy counters)"
            if s.measured is False
            else "partly measured, partly modelled"
        )
    )
    intensity = (
        "intensity not recorded"
        if s.intensity_g_per_kwh is None
        else f"{fmt.num(s.intensity_g_per_kwh)} gCO2e/kWh"
    )
    if len(s.regions) > 1:
        region = Card(
            "Region",
            f"mixed: {len(s.regions)} regions",
            f"{location(s)[len('mixed: ') :]}; energy-weighted mean {intensity}; "
            f"{s.intensity_source or 'source not recorded'}",
        )
    else:
        annual = (
            f"; annual average {fmt.num(s.intensity_annual_g_per_kwh)} gCO2e/kWh, for "
            "comparison only"
            if s.intensity_annual_g_per_kwh is not None
            else ""
        )
        region = Card(
            "Region",
            f"{s.region_name} ({s.region})",
            f"{intensity}; {s.intensity_source or 'source not recorded'}{annual}",
        )
    if s.pue is not None:
        pue = Card("PUE", fmt.num(s.pue), s.pue_source or "source not recorded")
    else:
        pue = Card(
            "PUE",
            f"mixed: mean {fmt.num(s.pue_mean)}" if s.pue_shares else "not recorded",
            ", ".join(f"{fmt.num(p)} for {x:.0%} of the energy" for p, x in s.pue_shares)
            or "see notes",
        )
    return [
        Card(
            "Energy",
            fmt.kwh(s.energy_j),
            f"{fmt.energy(s.energy_j)} IT energy, {fmt.pct(s.uncertainty_energy)}; {how}",
        ),
        Card(
            "CO2e",
            fmt.co2e(s.co2e_g),
            f"{fmt.pct(s.uncertainty_co2e)}; energy × PUE × grid intensity",
        ),
        Card("Duration", fmt.duration(s.duration_s), s.duration_basis or "not recorded"),
        Card("Hardware", s.hardware, f"{s.n_runs:,} run(s)"),
        region,
        pue,
    ]


def uncertainty_note(s: Summary) -> str:
    """What the relative uncertainties include (the grid factor only where one was used)."""
    if s.intensity_basis == "time series":
        return (
            "Uncertainties are relative; the CO2e used a grid-intensity time series, so no "
            "annual-average grid-factor uncertainty is added."
        )
    if s.intensity_basis == "mixed":
        return (
            "Uncertainties are relative; CO2e adds the uncertainty of an annual-average grid "
            "factor for the runs that used one (not for those on a time series)."
        )
    return "Uncertainties are relative; CO2e adds the uncertainty of an annual-average grid factor."


def components_table(s: Summary) -> Table:
    t = Table(
        ["component", "energy", "share", "method", "measured?", "uncertainty"],
        numeric=frozenset({1, 2, 5}),
    )
    for c in s.components:
        measured = (
            "measured" if c.measured else ("modelled" if c.measured is False else "mixed/unknown")
        )
        t.rows.append(
            [
                c.name,
                fmt.energy(c.energy_j),
                f"{c.share:.0%}",
                c.method,
                measured,
                fmt.pct(c.uncertainty),
            ]
        )
    t.rows.append(
        ["total", fmt.energy(s.energy_j), "100%", s.method, "", fmt.pct(s.uncertainty_energy)]
    )
    return t


def runs_table(r: Report) -> Table:
    t = Table(
        [
            "id",
            "name",
            "started",
            "status",
            "duration",
            "energy",
            "CO2e",
            "method",
            "±",
            "region",
            "accuracy",
            "samples",
            "notes",
        ],
        numeric=frozenset({4, 5, 6, 8, 10, 11}),
    )
    for row in r.runs:
        t.rows.append(
            [
                row.id,
                row.name,
                fmt.when(row.started_at),
                row.status,
                fmt.duration(row.duration_s),
                fmt.energy(row.energy_j),
                fmt.co2e(row.co2e_g),
                row.method,
                fmt.pct(row.uncertainty),
                row.region or fmt.DASH,
                fmt.num(row.accuracy, 4),
                str(row.n_samples or 0),
                "; ".join(row.notes),
            ]
        )
    first = (r.page - 1) * r.page_size + 1
    t.caption = (
        f"Runs {first:,}–{first + len(r.runs) - 1:,} of {r.runs_total:,}, newest first."
        if r.runs
        else f"No runs on page {r.page} ({r.runs_total:,} runs in all)."
    )
    return t


def technique_table(task: BenchTask) -> Table:
    lat_keys = sorted({k for row in task.rows for k in row.latency_ms}, key=lambda k: (len(k), k))
    headers = [
        "technique",
        "status",
        "accuracy",
        "Δ acc (pt)",
        "training energy (total)",
        "×",
        "inference J/1k",
        "×",
    ]
    for k in lat_keys:
        headers += [f"latency {k.replace('_', ' ')} (ms)", "×"]
    headers += ["nonzero params", "×", "size", "×", "FPO/sample", "×", "CO2e", "Pareto", "verdict"]
    t = Table(headers, numeric=frozenset(range(2, len(headers) - 2)))
    for row in task.rows:
        r = row.ratios
        acc = fmt.num(row.accuracy, 4) + (
            f" ± {fmt.num(row.accuracy_std, 2)}" if row.accuracy_std else ""
        )
        delta = r.get("accuracy_delta_pt")
        cells: list[Cell] = [
            row.name + (" (final)" if row.name == task.final else ""),
            row.status if row.status == "ok" else f"{row.status}: {row.reason or ''}",
            acc,
            fmt.DASH if delta is None else f"{delta:+.2f}",
            fmt.energy(row.train_energy_j_total),
            fmt.ratio(r.get("train_energy_total", r.get("train_energy"))),
            fmt.num(row.infer_energy_j_per_1k),
            fmt.ratio(r.get("infer_energy_per_1k")),
        ]
        for k in lat_keys:
            cells += [fmt.num(row.latency_ms.get(k)), fmt.ratio(r.get(f"latency_{k}"))]
        front = "+".join(
            w
            for w, on in (("training", row.frontier_train), ("inference", row.frontier_infer))
            if on
        )
        cells += [
            fmt.num(row.params_nonzero),
            fmt.ratio(r.get("params_nonzero")),
            fmt.size(row.size_bytes),
            fmt.ratio(r.get("size_bytes")),
            fmt.num(row.fpo),
            fmt.ratio(r.get("flops_effective")),
            fmt.co2e(row.co2e_g),
            front or fmt.DASH,
            _verdict(row),
        ]
        t.rows.append(cells)
    t.caption = (
        "× = technique / baseline. Training energy is the whole cost of the model (a compression "
        "technique's own work plus the baseline training it starts from). Pareto: on the frontier "
        "of accuracy against that energy. Verdict: at what the technique is for, within the "
        "task's accuracy tolerance; the reasons are listed under the table."
    )
    return t


def _verdict(row: TechniqueRow) -> str:
    if row.verdict is None:
        return "reference" if row.kind == "baseline" else fmt.DASH
    return f"{row.verdict} ({(row.verdict_purpose or '').replace('-', ' ')})"


def verdict_notes(task: BenchTask) -> list[str]:
    """Why each row that does not win does not, then the task's best row per purpose."""
    lines = [
        f"{r.name}: {r.verdict} at {(r.verdict_purpose or '').replace('-', ' ')}: "
        f"{r.verdict_reason}"
        for r in task.rows
        if r.verdict not in (None, "win") and r.verdict_reason
    ]
    return [*lines, *task.summary]


def leader_tables(board: Leaderboard) -> tuple[Table, Table]:
    group = board.scope == "bench"
    head = ["#"] + (["task"] if group else []) + ["name"] + ([] if group else ["id", "status"])

    def base(r: LeaderRow) -> list[Cell]:
        cells: list[Cell] = [str(r.rank)]
        cells += [r.group or ""] if group else []
        cells.append(r.name)
        cells += [] if group else [r.id, r.status]
        return cells

    n = len(head)
    a = Table(
        [*head, board.metric, "energy", f"{board.metric} per kWh"],
        numeric=frozenset({0, n, n + 1, n + 2}),
    )
    for r in board.by_accuracy_per_kwh:
        a.rows.append(
            [*base(r), fmt.num(r.accuracy, 4), fmt.energy(r.energy_j), fmt.num(r.accuracy_per_kwh)]
        )
    b = Table(
        [*head, f"final {board.metric}", "energy to target", "how"],
        numeric=frozenset({0, n, n + 1}),
    )
    for r in board.by_energy_to_target:
        b.rows.append(
            [*base(r), fmt.num(r.accuracy, 4), fmt.energy(r.energy_to_target_j), r.to_target_basis]
        )
    a.caption = f"{board.ranked_total:,} ranked; page {board.page} of {board.pages}."
    b.caption = (
        f"Target: {board.target_rule}. {board.reached_total:,} reached it; "
        f"page {board.page} of {board.pages}."
    )
    return a, b


def regions_table(ctx: CarbonContext) -> Table:
    t = Table(["region", "", "intensity (gCO2e/kWh)", "CO2e", "source"], numeric=frozenset({2, 3}))
    words = {"yours": "your region", "lowest": "lowest", "highest": "highest"}
    for r in ctx.regions:
        t.rows.append(
            [
                f"{r.name} ({r.code})",
                words[r.group],
                fmt.num(r.intensity_g_per_kwh),
                fmt.co2e(r.co2e_g),
                f"{r.source}, {r.year}",
            ]
        )
    return t


def equivalents_table(ctx: CarbonContext) -> Table:
    t = Table(["the same as", "amount", "based on", "factor", "source"], numeric=frozenset({1}))
    for e in ctx.equivalents:
        src = f"{e.source}{f', {e.year}' if e.year else ''}"
        t.rows.append(
            [
                e.label,
                f"{fmt.num(e.amount)} {e.unit}",
                "CO2e" if e.basis == "co2e" else "energy (incl. PUE)",
                e.factor,
                Link(src, e.url) if e.url else src,
            ]
        )
    return t
