"""Reading what a report is about: runs from the registry, a bench ``results.json``.

Queries are batched (one per 500 ids, never one per run) so that a report over a thousand runs
costs a handful of round trips. Nothing here formats or renders.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalml.errors import InputError

if TYPE_CHECKING:
    from frugalml.store import RunRecord, Store

__all__ = [
    "RunInfo",
    "bench_run_ids",
    "find_runs",
    "load_bench",
    "number",
    "run_info",
    "sample_stats",
    "select_runs",
]

CHUNK = 500


@dataclass
class RunInfo:
    """A run as the report needs it: registry columns merged with its ``run.json`` summary."""

    id: str
    name: str
    status: str
    started_at: float
    duration_s: float
    energy_j: float
    co2e_g: float
    components: dict[str, float]
    methods: dict[str, str]
    uncertainty: dict[str, float | None]
    measured: bool | None
    region: str | None
    region_name: str
    region_source: str
    intensity_g_per_kwh: float | None
    pue: float | None
    pue_source: str
    interval_s: float | None
    hardware: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    frugalml_version: str | None = None
    intensity_time_varying: bool = False
    intensity_file: str | None = None
    intensity_annual_g_per_kwh: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return "+".join(sorted(set(self.methods.values()))) or "unknown"


def run_info(rec: RunRecord) -> RunInfo:
    """Merge a registry row with its summary; registry columns win (they are written last).

    A non-finite energy or CO2e (older versions could store one from a failing sensor) is
    left out (counted as 0) and named in ``problems``, so a report still renders.
    """
    s = rec.summary or {}
    problems: list[str] = []
    energy = _dict(s.get("energy_j"))
    components = {str(k): float(v) for k, v in energy.items() if k != "total" and _num(v)}
    for comp in [c for c, v in components.items() if not math.isfinite(v)]:
        problems.append(f"{comp} energy {components.pop(comp)} J")
    energy_j = _finite_or_zero(rec.energy_j, "energy", " J", problems)
    co2e = _finite_or_zero(rec.co2e_g, "CO2e", " g", problems)
    if not components and energy_j > 0:
        components = {"unknown": energy_j}
    methods = {str(k): str(v) for k, v in (rec.methods or s.get("methods") or {}).items()}
    unc = _dict(s.get("uncertainty"))
    uncertainty: dict[str, float | None] = {str(k): number(v) for k, v in unc.items()}
    if rec.uncertainty is not None:
        uncertainty["total"] = number(rec.uncertainty)
    measured = s.get("measured")
    if not isinstance(measured, bool):
        measured = (
            bool(methods) and all(not m.endswith("-model") for m in methods.values())
            if methods
            else None
        )
    metrics = _dict(s.get("metrics"))
    pue = number(rec.pue) if rec.pue is not None else number(s.get("pue"))
    time_varying = s.get("intensity_time_varying") is True
    # The registry column holds the region's annual figure; with a time series the CO2e
    # used the series: its energy-weighted mean is CO2e / (kWh x PUE).
    intensity = (
        number(rec.intensity_g_per_kwh)
        if rec.intensity_g_per_kwh is not None
        else number(s.get("intensity_g_per_kwh"))
    )
    annual = None
    if time_varying:
        annual = number(s.get("intensity_annual_g_per_kwh")) or intensity
        kwh = energy_j / 3.6e6
        intensity = co2e / (kwh * pue) if kwh > 0 and pue else number(s.get("intensity_g_per_kwh"))
    return RunInfo(
        id=rec.id,
        name=rec.name,
        status=rec.status,
        started_at=rec.started_at,
        duration_s=rec.duration_s if math.isfinite(rec.duration_s) else 0.0,
        energy_j=energy_j,
        co2e_g=co2e,
        components=components,
        methods=methods,
        uncertainty=uncertainty,
        measured=measured,
        region=rec.region or s.get("region"),
        region_name=str(s.get("region_name") or rec.region or "unknown region"),
        region_source=str(s.get("region_source") or ""),
        intensity_g_per_kwh=intensity,
        pue=pue,
        pue_source=str(s.get("pue_source") or ""),
        interval_s=rec.interval_s,
        hardware=dict(s.get("hardware") or {}),
        tags=dict(s.get("tags") or {}),
        config=dict(s.get("config") or {}),
        metrics={str(k): float(v) for k, v in metrics.items() if number(v) is not None},
        errors=list(s.get("errors") or []),
        error=rec.error,
        frugalml_version=s.get("frugalml_version"),
        intensity_time_varying=time_varying,
        intensity_file=str(s["intensity_file"]) if s.get("intensity_file") else None,
        intensity_annual_g_per_kwh=annual,
        problems=problems,
    )


def _finite_or_zero(v: Any, what: str, unit: str, problems: list[str]) -> float:
    x = float(v) if _num(v) else 0.0
    if math.isfinite(x):
        return x
    problems.append(f"{what} {x}{unit}")
    return 0.0


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def number(v: Any) -> float | None:
    """``v`` as a float when it is a finite real number (not a bool, not text), else None."""
    return float(v) if _num(v) and math.isfinite(v) else None


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def select_runs(
    store: Store, ids: Sequence[str] | None = None, last: int | None = None
) -> list[RunRecord]:
    """The runs a report covers, newest first, with their summaries.

    ``ids`` may be full ids or unique prefixes (resolved one by one only when not exact);
    an unknown id raises :class:`ConfigError`. With no ``ids``, the newest ``last`` runs.
    """
    if not ids:
        return store.list_runs(limit=last, with_summary=True)
    if any(not str(i).strip() for i in ids):
        raise InputError("'' is not a run id. Give run ids or unique prefixes (frugal runs).")
    wanted = list(dict.fromkeys(ids))
    found: dict[str, RunRecord] = {}
    for i in range(0, len(wanted), CHUNK):
        for rec in store.list_runs(limit=None, ids=wanted[i : i + CHUNK], with_summary=True):
            found[rec.id] = rec
    for run_id in wanted:
        if run_id not in found and not any(r.startswith(run_id) for r in found):
            rec = store.get_run(run_id)
            found[rec.id] = rec
    return sorted(found.values(), key=lambda r: (-r.started_at, r.id))


def find_runs(store: Store, ids: Iterable[str]) -> list[RunRecord]:
    """Runs with exactly these ids that exist (a bench's runs may live in another registry)."""
    wanted = list(dict.fromkeys(ids))
    out: list[RunRecord] = []
    for i in range(0, len(wanted), CHUNK):
        out.extend(store.list_runs(limit=None, ids=wanted[i : i + CHUNK], with_summary=True))
    return sorted(out, key=lambda r: (-r.started_at, r.id))


def sample_stats(store: Store, ids: Sequence[str]) -> dict[str, tuple[int, float]]:
    """``{run_id: (number of sample rows, last t_s)}`` for runs that have samples."""
    import sqlalchemy as sa

    from frugalml.store import schema

    s = schema.samples
    out: dict[str, tuple[int, float]] = {}
    for i in range(0, len(ids), CHUNK):
        q = (
            sa.select(s.c.run_id, sa.func.count(), sa.func.max(s.c.t_s))
            .where(s.c.run_id.in_(list(ids[i : i + CHUNK])))
            .group_by(s.c.run_id)
        )
        with store.engine.connect() as conn:
            for run_id, n, t_max in conn.execute(q):
                out[str(run_id)] = (int(n), float(t_max or 0.0))
    # a distributed job's samples are its ranks' (frugalml.store.tree)
    missing = [i for i in ids if i not in out]
    for i in range(0, len(missing), CHUNK):
        q = sa.select(schema.runs.c.id).where(
            schema.runs.c.id.in_(missing[i : i + CHUNK]), schema.runs.c.kind.in_(["job", "host"])
        )
        with store.engine.connect() as conn:
            jobs = [str(row[0]) for row in conn.execute(q)]
        for job in jobs:
            rows = store.samples(job)
            if rows:
                out[job] = (len(rows), max(float(r["t_s"] or 0.0) for r in rows))
    return out


def load_bench(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Read ``DIR/results.json`` (or the file itself) and check it is a bench result.

    Raises:
        InputError: no such file, unreadable, not JSON, or another schema.
    """
    from frugalml.bench.results import SCHEMA as BENCH_SCHEMA

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise InputError(
            f"--bench {path}: no results.json there. Run `frugal bench --out DIR` first, "
            "or point --bench at a results.json file."
        )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"Cannot read the bench results {p}: {e}. Re-run `frugal bench`.") from e
    if not isinstance(data, dict) or data.get("schema") != BENCH_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(
            f"{p} is not a frugalml bench result (schema {got!r}, expected {BENCH_SCHEMA!r}). "
            "Point --bench at the folder `frugal bench --out` wrote."
        )
    if not isinstance(data.get("tasks"), dict):
        raise InputError(f"{p} has no 'tasks' object. Re-run `frugal bench`.")
    return p, data


def bench_run_ids(data: dict[str, Any]) -> list[str]:
    """Every registry id a bench result names, in file order."""
    ids: list[str] = []
    for task in data.get("tasks", {}).values():
        rows = [task.get("baseline"), *list((task.get("techniques") or {}).values())]
        for row in rows:
            if isinstance(row, dict):
                ids.extend(str(i) for i in row.get("run_ids") or [])
    return list(dict.fromkeys(ids))
