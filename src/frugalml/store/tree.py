"""A distributed job's figures, folded from its ranks when the registry is read.

A job is stored as a tree: the ``job`` row, one ``host`` row per host under it, one ``rank``
row per process under its host. Only rank rows hold measurements (each rank reads its own
process tree and boards, local rank 0 also its host's shared sensors), so every total is the
sum of the leaves, each counted once. The job and host rows are folded here, at read time:
no process ever updates another's row, and a rank that reports late (a spooled host imported
hours later) is in every total read afterwards.

Folding rules (``energy_j`` and ``co2e_g`` add up; the rest):

* components are summed by family: ``cpu``, ``dram``, ``gpu`` (every board of every rank;
  per board in the rank rows);
* uncertainty: parts measured the same way (one component family, one method) have the same
  systematic error — the CPU model's TDP figure is wrong by the same factor on every rank —
  so their absolute uncertainties add linearly; different families or methods combine in
  quadrature, as within one run;
* status: ``running`` while any rank runs, else ``failed``, ``interrupted``,
  ``budget-stopped`` if any rank ended so, else ``finished``;
* time: from the first rank's start to the last rank's end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from frugalml.store.registry import RunRecord, Store

__all__ = ["AGGREGATE_KINDS", "fold", "fold_records", "leaf_rows", "leaves"]

#: Rows whose figures are folded from the rows under them.
AGGREGATE_KINDS = ("job", "host")
_STATUS_ORDER = ("running", "failed", "interrupted", "budget-stopped", "finished")
_GRID = 0.15  # frugalml.measure.run.GRID_FACTOR_UNCERTAINTY (no import of measure here)


def fold(record: RunRecord, children: Sequence[RunRecord]) -> RunRecord:
    """``record`` (a job or host row) with the figures of ``children`` (already folded)."""
    if not children:
        return replace(record, summary={**record.summary, "children": []}, children=[])
    energy: dict[str, float] = {}
    parts: dict[tuple[str, str], list[float]] = {}  # (family, method) -> [J, abs. unc.]
    facility = co2e = cpu_s = 0.0
    measured = True
    all_leaves = list(leaves(children))
    for leaf in all_leaves:
        s = leaf.summary
        leaf_energy = {k: v for k, v in _dict(s.get("energy_j")).items() if k != "total"}
        if not leaf_energy and leaf.energy_j:
            leaf_energy = {"unknown": leaf.energy_j}
        unc = _dict(s.get("uncertainty"))
        methods = leaf.methods or _dict(s.get("methods"))
        for component, joules in leaf_energy.items():
            joules = float(joules) if _finite(joules) else 0.0
            family = str(component).split(":")[0]
            energy[family] = energy.get(family, 0.0) + joules
            u = unc.get(component)
            method = str(methods.get(component, "unknown"))
            part = parts.setdefault((family, method), [0.0, 0.0])
            part[0] += joules
            part[1] += joules * (float(u) if u is not None and _finite(u) else 0.0)
        co2e += leaf.co2e_g if _finite(leaf.co2e_g) else 0.0
        facility += leaf.energy_j * (leaf.pue or 1.0)
        cpu_s += float(s.get("tracker_cpu_s") or 0.0)
        if leaf_energy:  # a rank that read nothing of its own says nothing about the job
            measured = measured and s.get("measured") is True
    total = sum(energy.values())
    by_family: dict[str, list[float]] = {}
    for (family, _), (_, abs_u) in parts.items():
        by_family.setdefault(family, []).append(abs_u)
    uncertainty: dict[str, float | None] = {
        f: (math.sqrt(sum(a * a for a in abs_us)) / energy[f] if energy.get(f) else None)
        for f, abs_us in by_family.items()
    }
    total_u = math.sqrt(sum(a * a for _, a in parts.values())) / total if total > 0 else None
    uncertainty["total"] = total_u
    time_varying = any(c.summary.get("intensity_time_varying") is True for c in all_leaves)
    uncertainty["co2e"] = (
        None if total_u is None else (total_u if time_varying else math.hypot(total_u, _GRID))
    )
    methods_by_family: dict[str, set[str]] = {}
    for family, method in parts:
        methods_by_family.setdefault(family, set()).update(method.split("+"))
    methods = {f: "+".join(sorted(m)) for f, m in methods_by_family.items()}
    status = _status(c.status for c in children)
    start = min(c.started_at for c in children)
    end = max(_end(c) for c in children)
    kwh = total / 3.6e6
    pue = facility / total if total > 0 else record.pue
    intensity = co2e / (kwh * pue) if kwh > 0 and pue else record.intensity_g_per_kwh
    first = _first_rank(all_leaves)
    summary = {
        **_inherit(first.summary if first is not None else {}),
        **record.summary,
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "status": status,
        "started_at": datetime.fromtimestamp(start, UTC).isoformat(),
        "duration_s": end - start,
        "energy_j": {**energy, "total": total},
        "energy_kwh": kwh,
        "methods": methods,
        "measured": measured and bool(methods),
        "uncertainty": {k: None if v is None else round(v, 4) for k, v in uncertainty.items()},
        "intensity_g_per_kwh": intensity,
        "pue": pue,
        "facility_energy_j": facility,
        "co2e_g": co2e,
        "tracker_cpu_s": cpu_s,
        "metrics": dict(_dict(first.summary.get("metrics"))) if first is not None else {},
        "errors": _errors(all_leaves),
        "job": {
            **_dict(record.summary.get("job")),
            "hosts": sorted({_host(c) for c in all_leaves}),
            "ranks": len(all_leaves),
        },
        "children": [_node(c) for c in children],
    }
    return replace(
        record,
        status=status,
        started_at=start,
        ended_at=None if status == "running" else end,
        heartbeat_at=max(c.heartbeat_at for c in children),
        duration_s=end - start,
        energy_j=total,
        co2e_g=co2e,
        methods=methods,
        uncertainty=total_u,
        intensity_g_per_kwh=intensity,
        pue=pue,
        summary=summary,
        children=list(children),
    )


def fold_records(store: Store, records: list[RunRecord]) -> list[RunRecord]:
    """``records`` with every job and host row folded from the rows under it (one query per
    level of the tree, 500 parents at a time)."""
    if not any(r.kind in AGGREGATE_KINDS for r in records):
        return records
    kids = _children(store, [r.id for r in records if r.kind in AGGREGATE_KINDS])

    def build(r: RunRecord) -> RunRecord:
        if r.kind not in AGGREGATE_KINDS:
            return r
        return fold(r, [build(c) for c in kids.get(r.id, [])])

    return [build(r) for r in records]


def leaf_rows(store: Store, record: RunRecord, table: str) -> list[dict[str, Any]]:
    """A job's ``samples`` (every rank's, by time) or ``metrics`` (its first rank's, where
    ranks log the same figures), with ``t_s`` counted from the job's start."""
    import sqlalchemy as sa

    from frugalml.store import schema

    (folded,) = fold_records(store, [record])
    rows = list(leaves([folded]))
    if table == "metrics":
        first = _first_rank([r for r in rows if r.summary.get("metrics")] or rows)
        rows = [] if first is None else [first]
    t = schema.metrics if table == "metrics" else schema.samples
    out: list[dict[str, Any]] = []
    for r in rows:
        q = sa.select(t).where(t.c.run_id == r.id).order_by(t.c.id)
        out += store._rows(q)
    for row in out:
        row["t_s"] = float(row["timestamp"]) - folded.started_at
    out.sort(key=lambda row: (row["timestamp"], row["id"]))
    return out


def _children(store: Store, ids: list[str]) -> dict[str, list[RunRecord]]:
    import sqlalchemy as sa

    from frugalml.store import schema
    from frugalml.store.registry import _record

    out: dict[str, list[RunRecord]] = {}
    frontier = list(ids)
    for _ in range(4):  # job -> host -> rank; deeper trees are not made
        if not frontier:
            break
        found: list[RunRecord] = []
        for i in range(0, len(frontier), 500):
            q = (
                sa.select(schema.runs)
                .where(schema.runs.c.parent_id.in_(frontier[i : i + 500]))
                .order_by(schema.runs.c.started_at, schema.runs.c.id)
            )

            def _do(q: Any = q) -> list[RunRecord]:
                with store.engine.connect() as conn:
                    return [_record(row._mapping) for row in conn.execute(q)]

            found += store._retry(_do)
        for r in sorted(found, key=_order):
            out.setdefault(str(r.parent_id), []).append(r)
        frontier = [r.id for r in found if r.kind in AGGREGATE_KINDS]
    return out


def _order(r: RunRecord) -> tuple[int, str, float]:
    """Hosts by name, ranks by rank (a rank's row says which it is)."""
    rank = _dict(r.summary.get("job")).get("rank")
    return (rank if isinstance(rank, int) else -1, r.name, r.started_at)


def leaves(records: Iterable[RunRecord]) -> Iterable[RunRecord]:
    """The measured rows under folded ``records`` (themselves when they are leaves)."""
    for r in records:
        if r.kind in AGGREGATE_KINDS:
            yield from leaves(r.children)
        else:
            yield r


def _node(r: RunRecord) -> dict[str, Any]:
    """One child as ``frugal show`` prints it (and as JSON carries it)."""
    job = _dict(r.summary.get("job"))
    node: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "host": job.get("host") or r.summary.get("host") or r.host,
        "status": r.status,
        "duration_s": r.duration_s,
        "energy_j": r.energy_j,
        "co2e_g": r.co2e_g,
        "methods": dict(r.methods),
    }
    if r.kind == "rank":
        node.update(
            rank=job.get("rank"),
            local_rank=job.get("local_rank"),
            host_wide=job.get("host_wide", []),
        )
    if r.kind in AGGREGATE_KINDS:
        node["children"] = list(r.summary.get("children", []))
    return node


def _host(r: RunRecord) -> str:
    return str(_dict(r.summary.get("job")).get("host") or r.host or "?")


def _first_rank(rows: Sequence[RunRecord]) -> RunRecord | None:
    def rank(r: RunRecord) -> tuple[int, float]:
        value = _dict(r.summary.get("job")).get("rank")
        return (value if isinstance(value, int) else 1 << 30, r.started_at)

    return min(rows, key=rank) if rows else None


def _inherit(s: dict[str, Any]) -> dict[str, Any]:
    """What a job shows of its first rank: where and how it was measured."""
    keys = ("region", "region_name", "region_source", "pue_source", "scope", "interval_s")
    return {k: s[k] for k in keys if k in s}


def _errors(rows: Sequence[RunRecord]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        job = _dict(r.summary.get("job"))
        who = f"rank {job.get('rank', '?')} on {_host(r)}"
        for e in r.summary.get("errors") or []:
            if isinstance(e, dict):
                out.append({**e, "source": f"{who}: {e.get('source', '')}"})
    return out


def _status(statuses: Iterable[str]) -> str:
    found = set(statuses)
    for status in _STATUS_ORDER:
        if status in found:
            return status
    return "finished"


def _end(r: RunRecord) -> float:
    if r.ended_at is not None:
        return float(r.ended_at)
    return max(float(r.heartbeat_at), r.started_at + float(r.duration_s or 0.0))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
