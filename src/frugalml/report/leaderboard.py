"""Leaderboards ranked by efficiency, never by accuracy alone.

Two rankings: accuracy per kWh (the run's last logged value of the metric over its IT energy)
and the energy needed to first reach a target accuracy (from metric rows, which carry the
run's cumulative energy when they were logged). Default target: 95 % of the best final value
in the selection. Over the registry every ranking, count and page is one SQL query with
LIMIT/OFFSET, so a page over 10,000 runs costs the same as over 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from frugalml._params import check_number
from frugalml.report.data import number
from frugalml.report.model import BenchSection, Leaderboard, LeaderRow
from frugalml.store import schema
from frugalml.store.registry import effective_status

if TYPE_CHECKING:
    from frugalml.store import Store

__all__ = ["DEFAULT_TARGET_FRACTION", "bench_leaderboard", "runs_leaderboard"]

DEFAULT_TARGET_FRACTION = 0.95
_J_PER_KWH = 3.6e6
_R, _M = schema.runs, schema.metrics
# Enough columns to tell an interrupted run (dead writer) from a running one.
_RUN_COLS = (
    _R.c.id,
    _R.c.name,
    _R.c.status,
    _R.c.energy_j,
    _R.c.host,
    _R.c.pid,
    _R.c.started_at,
    _R.c.heartbeat_at,
    _R.c.interval_s,
)


def _status(row: Any) -> str:
    return effective_status(dict(row._mapping))


def _selected(col: Any, ids: Sequence[str] | None, last: int | None) -> Any:
    if ids is not None:
        return col.in_(list(ids))
    if last is not None:
        newest = sa.select(_R.c.id).order_by(_R.c.started_at.desc(), _R.c.id).limit(last)
        return col.in_(newest)
    return sa.true()


def _target_rule(
    target: float | None, best: float | None, metric: str, where: str
) -> tuple[float | None, str]:
    if target is not None:
        return target, f"{metric} ≥ {target:g} (given)"
    if best is None:
        return None, "no target: nothing logged the metric"
    return DEFAULT_TARGET_FRACTION * best, (
        f"{metric} ≥ {DEFAULT_TARGET_FRACTION:.0%} of the best final {metric} {where} "
        f"({best:.4g}) = {DEFAULT_TARGET_FRACTION * best:.4g}"
    )


def runs_leaderboard(
    store: Store,
    *,
    ids: Sequence[str] | None = None,
    last: int | None = None,
    metric: str = "accuracy",
    target: float | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Leaderboard:
    """One page of both rankings over the registry (all runs, ``ids``, or the newest ``last``).

    Example:
        >>> from frugalml.store import Store
        >>> runs_leaderboard(Store("sqlite://")).ranked_total
        0
    """
    check_number("runs_leaderboard", "page", page, low=1, integer=True)
    check_number("runs_leaderboard", "page_size", page_size, low=1, integer=True)
    if target is not None:
        check_number("runs_leaderboard", "target", target)
    sel = _selected(_M.c.run_id, ids, last)
    last_id = (
        sa.select(_M.c.run_id, sa.func.max(_M.c.id).label("mid"))
        .where(_M.c.name == metric, sel)
        .group_by(_M.c.run_id)
        .subquery()
    )
    final = (sa.select(_M.c.run_id, _M.c.value).join(last_id, _M.c.id == last_id.c.mid)).subquery()
    score = sa.case((_R.c.energy_j > 0, final.c.value / (_R.c.energy_j / _J_PER_KWH)), else_=None)
    offset = (page - 1) * page_size
    with store.engine.connect() as conn:
        ranked_total, best = conn.execute(
            sa.select(sa.func.count(), sa.func.max(final.c.value))
        ).one()
        n_selected = conn.execute(
            sa.select(sa.func.count()).select_from(_R).where(_selected(_R.c.id, ids, last))
        ).scalar_one()
        target, rule = _target_rule(target, best, metric, "in the selection")
        board = Leaderboard(
            scope="runs",
            metric=metric,
            target=target,
            target_rule=rule,
            ranked_total=int(ranked_total),
            unranked_total=int(n_selected) - int(ranked_total),
            page=page,
            page_size=page_size,
        )
        q = (
            sa.select(*_RUN_COLS, final.c.value, score.label("score"))
            .join(final, final.c.run_id == _R.c.id)
            .order_by(sa.case((score.is_(None), 1), else_=0), score.desc(), _R.c.id)
            .limit(page_size)
            .offset(offset)
        )
        rows = conn.execute(q).all()
        board.by_accuracy_per_kwh = [
            LeaderRow(
                rank=offset + k + 1,
                id=r.id,
                name=r.name,
                group=None,
                status=_status(r),
                accuracy=r.value,
                energy_j=r.energy_j,
                accuracy_per_kwh=r.score,
                energy_to_target_j=None,
            )
            for k, r in enumerate(rows)
        ]
        if target is not None:
            reach = (
                sa.select(_M.c.run_id, sa.func.min(_M.c.energy_j).label("e"))
                .where(_M.c.name == metric, _M.c.value >= target, _M.c.energy_j.is_not(None), sel)
                .group_by(_M.c.run_id)
            ).subquery()
            board.reached_total = int(
                conn.execute(sa.select(sa.func.count()).select_from(reach)).scalar_one()
            )
            q = (
                sa.select(*_RUN_COLS, final.c.value, reach.c.e)
                .join(reach, reach.c.run_id == _R.c.id)
                .join(final, final.c.run_id == _R.c.id)
                .order_by(reach.c.e, _R.c.id)
                .limit(page_size)
                .offset(offset)
            )
            board.by_energy_to_target = [
                LeaderRow(
                    rank=offset + k + 1,
                    id=r.id,
                    name=r.name,
                    group=None,
                    status=_status(r),
                    accuracy=r.value,
                    energy_j=r.energy_j,
                    accuracy_per_kwh=r.value / (r.energy_j / _J_PER_KWH)
                    if r.energy_j > 0
                    else None,
                    energy_to_target_j=r.e,
                    to_target_basis="first logged value at or above the target",
                )
                for k, r in enumerate(conn.execute(q).all())
            ]
        if board.unranked_total:
            has = sa.select(_M.c.run_id).where(_M.c.name == metric, _M.c.run_id == _R.c.id).exists()
            q = (
                sa.select(_R.c.name)
                .where(_selected(_R.c.id, ids, last), ~has)
                .order_by(_R.c.started_at.desc(), _R.c.id)
                .limit(5)
            )
            board.unranked_examples = [str(n) for n in conn.execute(q).scalars()]
    _notes(board)
    return board


def _notes(board: Leaderboard) -> None:
    if board.unranked_total:
        board.notes.append(
            f"{board.unranked_total} selected run(s) never logged {board.metric!r} and are not "
            "ranked "
            f"(log it with run.log_metric({board.metric!r}, value))."
        )
    if board.target is not None and board.ranked_total > board.reached_total:
        board.notes.append(
            f"{board.ranked_total - board.reached_total} ranked run(s) never reached the target."
        )


def _to_target(
    row: dict[str, Any], acc: float, energy_j: float | None, target: float
) -> tuple[float | None, str]:
    for e, a, *_ in row.get("curve") or []:
        if number(a) is not None and float(a) >= target:
            return float(e), "first evaluation at or above the target (training curve)"
    if acc >= target and energy_j is not None:
        return energy_j, "end of training (no curve: an upper bound)"
    return None, ""


def bench_leaderboard(
    section: BenchSection,
    data: dict[str, Any],
    *,
    target: float | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Leaderboard:
    """Both rankings over a bench's rows, within each task (target per task by default)."""
    board = Leaderboard(
        scope="bench",
        metric="accuracy",
        target=target,
        target_rule="",
        page=page,
        page_size=page_size,
    )
    per_kwh: list[LeaderRow] = []
    to_target: list[LeaderRow] = []
    rules = []
    for task in section.tasks:
        raw = {
            str(r.get("name")): r
            for r in [
                data["tasks"][task.name].get("baseline"),
                *(data["tasks"][task.name].get("techniques") or {}).values(),
            ]
            if isinstance(r, dict)
        }
        ok = [r for r in task.rows if r.status == "ok" and r.accuracy is not None]
        board.unranked_total += len(task.rows) - len(ok)
        best = max((r.accuracy for r in ok if r.accuracy is not None), default=None)
        t, rule = _target_rule(target, best, "accuracy", "of the task")
        rules.append(f"{task.name}: {rule}")
        for r in ok:
            assert r.accuracy is not None
            e = r.train_energy_j_total
            lr = LeaderRow(
                rank=0,
                id=",".join(r.run_ids[:1]),
                name=r.name,
                group=task.name,
                status=r.status,
                accuracy=r.accuracy,
                energy_j=e or 0.0,
                accuracy_per_kwh=r.accuracy / (e / _J_PER_KWH) if e else None,
                energy_to_target_j=None,
            )
            per_kwh.append(lr)
            if t is not None:
                e_t, basis = _to_target(raw.get(r.name, {}), r.accuracy, e, t)
                if e_t is not None:
                    to_target.append(
                        LeaderRow(
                            **{**lr.__dict__, "energy_to_target_j": e_t, "to_target_basis": basis}
                        )
                    )
    board.target_rule = "; ".join(rules)
    per_kwh.sort(
        key=lambda r: (
            r.group or "",
            r.accuracy_per_kwh is None,
            -(r.accuracy_per_kwh or 0.0),
            r.name,
        )
    )
    to_target.sort(key=lambda r: (r.group or "", r.energy_to_target_j or 0.0, r.name))
    for ranked in (per_kwh, to_target):
        group = None
        k = 0
        for entry in ranked:
            k = k + 1 if entry.group == group else 1
            group, entry.rank = entry.group, k
    board.ranked_total, board.reached_total = len(per_kwh), len(to_target)
    start = (page - 1) * page_size
    board.by_accuracy_per_kwh = per_kwh[start : start + page_size]
    board.by_energy_to_target = to_target[start : start + page_size]
    if board.unranked_total:
        board.notes.append(f"{board.unranked_total} failed row(s) are not ranked.")
    board.notes.append(
        "Training energy includes the baseline training a compression technique starts from."
    )
    return board
