"""The report model: everything a renderer shows, already computed, in base units.

``build_report`` fills it from the registry and/or a bench ``results.json``; ``render_html``,
``render_markdown`` and ``render_json`` only lay it out. Energies in J, CO2e in g, times in s,
uncertainties relative (0.4 = ±40 %). User text (run names, tags, metric names) is stored as
given and escaped by each renderer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml.report.plots import Figure

if TYPE_CHECKING:
    from frugalml.report.search import SearchSection

__all__ = [
    "SCHEMA",
    "BenchSection",
    "BenchTask",
    "CarbonContext",
    "Component",
    "Equivalent",
    "LeaderRow",
    "Leaderboard",
    "ModelCard",
    "RegionRow",
    "RegionShare",
    "Report",
    "RunRow",
    "Summary",
    "TechniqueRow",
    "Timeline",
]

SCHEMA = "frugalml.report/1"


@dataclass
class Component:
    """Energy of one component (``cpu``, ``dram``, ``gpu:0``) over the whole selection."""

    name: str
    energy_j: float
    share: float
    method: str
    measured: bool | None
    uncertainty: float | None


@dataclass
class RegionShare:
    """One region of a selection: its share of the IT energy and the intensity its runs used
    (energy-weighted mean: an annual average, or the mean of a time series over the runs)."""

    code: str
    name: str
    energy_share: float
    intensity_g_per_kwh: float | None
    time_varying: bool | None  # True: time series; False: annual average; None: both


@dataclass
class Summary:
    """The headline figures with how each was obtained.

    ``intensity_g_per_kwh`` is the intensity the CO2e was computed with: over several runs
    the energy-weighted mean (CO2e / facility kWh). ``intensity_basis`` says whether the runs
    used annual averages (``annual``), time series (``time series``) or both (``mixed``);
    ``intensity_annual_g_per_kwh`` is then the region's annual average, for comparison only.
    ``regions`` lists every region with its share of the energy; ``pue_shares`` every PUE
    with its share, ``pue_mean`` their energy-weighted mean.
    """

    n_runs: int
    energy_j: float
    co2e_g: float
    duration_s: float
    duration_basis: str
    hardware: str
    region: str
    region_name: str
    intensity_g_per_kwh: float | None
    intensity_source: str
    pue: float | None
    pue_source: str
    method: str
    method_text: str
    measured: bool | None
    uncertainty_energy: float | None
    uncertainty_co2e: float | None
    energy_basis: str
    statuses: dict[str, int] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regions: list[RegionShare] = field(default_factory=list)
    intensity_basis: str = "annual"
    intensity_annual_g_per_kwh: float | None = None
    pue_mean: float | None = None
    pue_shares: list[tuple[float, float]] = field(default_factory=list)

    @property
    def facility_energy_j(self) -> float:
        return self.energy_j * (self.pue or self.pue_mean or 1.0)


@dataclass
class RunRow:
    """One line of the runs table."""

    id: str
    name: str
    status: str
    started_at: float
    duration_s: float
    energy_j: float
    co2e_g: float
    method: str
    uncertainty: float | None
    region: str | None
    accuracy: float | None
    n_samples: int | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    """Power and metrics over time of one run; ``notes`` mark gaps and missing data."""

    run_id: str
    run_name: str
    status: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RegionRow:
    code: str
    name: str
    group: str  # "yours", "lowest" or "highest"
    intensity_g_per_kwh: float
    co2e_g: float
    source: str
    year: int


@dataclass
class Equivalent:
    """``amount`` of an everyday thing that matches the report's energy or CO2e."""

    label: str
    amount: float
    unit: str
    basis: str  # "energy" or "co2e"
    factor: str  # e.g. "248.5 g CO2 per km"
    source: str
    year: int | None
    url: str


@dataclass
class CarbonContext:
    energy_j: float
    pue: float
    regions: list[RegionRow] = field(default_factory=list)
    equivalents: list[Equivalent] = field(default_factory=list)
    figure: Figure | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class TechniqueRow:
    """One bench row, as the technique table shows it."""

    name: str
    status: str
    reason: str | None
    kind: str | None
    accuracy: float | None
    accuracy_std: float | None
    train_energy_j: float | None
    train_energy_j_total: float | None
    train_energy_includes: str | None
    infer_energy_j_per_1k: float | None
    latency_ms: dict[str, float]
    params_nonzero: int | None
    size_bytes: int | None
    fpo: float | None
    fpo_basis: str
    co2e_g: float | None
    energy_method: str | None
    ratios: dict[str, float | None] = field(default_factory=dict)
    frontier_train: bool = False
    frontier_infer: bool = False
    run_ids: list[str] = field(default_factory=list)
    verdict: str | None = None  # win / no-gain / loss on verdict_purpose (None: baseline)
    verdict_purpose: str | None = None
    verdict_reason: str | None = None


@dataclass
class BenchTask:
    name: str
    info: dict[str, Any]
    rows: list[TechniqueRow]
    figures: list[Figure] = field(default_factory=list)
    final: str | None = None
    final_rule: str = ""
    summary: list[str] = field(default_factory=list)  # the task's best row per purpose


@dataclass
class BenchSection:
    path: str
    machine: dict[str, Any]
    config: dict[str, Any]
    tasks: list[BenchTask] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class LeaderRow:
    rank: int
    id: str
    name: str
    group: str | None
    status: str
    accuracy: float | None
    energy_j: float
    accuracy_per_kwh: float | None
    energy_to_target_j: float | None
    to_target_basis: str = ""


@dataclass
class Leaderboard:
    """Rankings by accuracy per kWh and by energy to reach ``target`` (one page of each)."""

    scope: str  # "runs" or "bench"
    metric: str
    target: float | None
    target_rule: str
    by_accuracy_per_kwh: list[LeaderRow] = field(default_factory=list)
    by_energy_to_target: list[LeaderRow] = field(default_factory=list)
    ranked_total: int = 0
    reached_total: int = 0
    unranked_total: int = 0
    unranked_examples: list[str] = field(default_factory=list)
    page: int = 1
    page_size: int = 50
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-max(self.ranked_total, self.reached_total) // self.page_size))


@dataclass
class ModelCard:
    """The Hugging Face model-card ``co2_eq_emissions`` block and its YAML text."""

    co2_eq_emissions: dict[str, Any]
    yaml: str


@dataclass
class Report:
    title: str
    generated_at: str
    frugalml_version: str
    selection: dict[str, Any]
    summary: Summary
    runs: list[RunRow] = field(default_factory=list)
    runs_total: int = 0
    page: int = 1
    page_size: int = 50
    timelines: list[Timeline] = field(default_factory=list)
    timeline_note: str | None = None
    overview: Figure | None = None
    components_figure: Figure | None = None
    carbon: CarbonContext | None = None
    bench: BenchSection | None = None
    search: SearchSection | None = None
    leaderboards: list[Leaderboard] = field(default_factory=list)
    model_card: ModelCard | None = None
    statement: str = ""
    notes: list[str] = field(default_factory=list)

    def figures(self) -> Iterator[Figure]:
        """Every figure in document order (Markdown writes one PNG per figure)."""
        if self.overview is not None:
            yield self.overview
        for t in self.timelines:
            yield from t.figures
        if self.components_figure is not None:
            yield self.components_figure
        if self.carbon is not None and self.carbon.figure is not None:
            yield self.carbon.figure
        if self.bench is not None:
            for task in self.bench.tasks:
                yield from task.figures
        if self.search is not None:
            yield from self.search.figures
