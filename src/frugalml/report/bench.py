"""The bench section: technique table, Pareto frontiers and accuracy-vs-energy curves per task.

Training energy on the Pareto plot is the *whole* cost of reaching that model
(``train_energy_j_total``: a compression technique's own work plus the baseline training it
starts from), so a technique cannot look cheap by leaving its starting point out.
"""

from __future__ import annotations

from typing import Any

from frugalml.report.data import number
from frugalml.report.model import BenchSection, BenchTask, TechniqueRow
from frugalml.report.plots import Figure, Series

__all__ = ["FINAL_MAX_DROP_PT", "bench_section", "pareto_front", "row_fpo"]

# The "final model" of a task, absent a choice: the lowest inference energy among the rows
# within this many accuracy points of the baseline.
FINAL_MAX_DROP_PT = 1.0


def row_fpo(row: dict[str, Any]) -> tuple[float | None, str]:
    """Floating-point operations per sample of a row's model, and which count it is."""
    if number(row.get("flops_effective")) is not None:
        return number(
            row["flops_effective"]
        ), "effective FLOPs per sample (operations on zeros skipped)"
    if number(row.get("flops")) is not None:
        return number(row["flops"]), "FLOPs per sample"
    if number(row.get("macs")) is not None:
        return 2 * float(row["macs"]), "2 × MACs per sample"
    return None, "not recorded"


def technique_row(row: dict[str, Any]) -> TechniqueRow:
    fpo, basis = row_fpo(row)
    total = number(row.get("train_energy_j_total"))
    return TechniqueRow(
        name=str(row.get("name") or "?"),
        status=str(row.get("status") or "ok"),
        reason=row.get("reason"),
        kind=row.get("kind"),
        accuracy=number(row.get("accuracy")),
        accuracy_std=number(row.get("accuracy_std")),
        train_energy_j=number(row.get("train_energy_j")),
        train_energy_j_total=total if total is not None else number(row.get("train_energy_j")),
        train_energy_includes=row.get("train_energy_includes"),
        infer_energy_j_per_1k=number(row.get("infer_energy_j_per_1k")),
        latency_ms={
            str(k): float(v)
            for k, v in (row.get("latency_ms") or {}).items()
            if number(v) is not None
        },
        params_nonzero=row.get("params_nonzero"),
        size_bytes=row.get("size_bytes"),
        fpo=fpo,
        fpo_basis=basis,
        co2e_g=number(row.get("co2e_g")),
        energy_method=row.get("energy_method"),
        ratios={str(k): number(v) for k, v in (row.get("ratios") or {}).items()},
        run_ids=[str(i) for i in row.get("run_ids") or []],
        verdict=row.get("verdict"),
        verdict_purpose=row.get("verdict_purpose"),
        verdict_reason=row.get("verdict_reason"),
    )


def pareto_front(points: list[tuple[float, float, int]]) -> set[int]:
    """Indices of the ``(cost, value, index)`` points that no other point beats (lower cost and
    higher value)."""
    front: set[int] = set()
    best = float("-inf")
    for _cost, value, idx in sorted(points, key=lambda p: (p[0], -p[1])):
        if value > best:
            front.add(idx)
            best = value
    return front


def _pareto_figure(
    fig_id: str, title: str, rows: list[TechniqueRow], attr: str, x_label: str, caption: str
) -> tuple[Figure | None, set[int]]:
    pts = [
        (getattr(r, attr), r.accuracy, i)
        for i, r in enumerate(rows)
        if r.status == "ok" and getattr(r, attr) is not None and r.accuracy is not None
    ]
    if not pts:
        return None, set()
    front = pareto_front(pts)
    frontier = sorted((x, y) for x, y, i in pts if i in front)
    series = [
        Series(name="Pareto frontier", points=list(frontier), mode="step", color=3),
        Series(
            name="techniques",
            points=[(x, y) for x, y, _ in pts],
            mode="points",
            labels=[rows[i].name for _, _, i in pts],
            color=0,
        ),
    ]
    return Figure(
        id=fig_id,
        title=title,
        x_label=x_label,
        y_label="test accuracy",
        series=series,
        x_log=True,
        caption=caption,
    ), front


def _final(
    rows: list[TechniqueRow], chosen: str | None, task: dict[str, Any]
) -> tuple[str | None, str]:
    if chosen is not None:
        if any(r.name == chosen and r.status == "ok" for r in rows):
            return chosen, "chosen by the user"
        return None, f"the chosen final model {chosen!r} is not an ok row of this task"
    best = (task.get("best") or {}).get("inference-energy")
    tolerance = number((task.get("task") or {}).get("tolerance_pt"))
    if isinstance(best, dict) and tolerance is not None:
        return str(best.get("row")), (
            f"the bench's best for inference energy: the lowest among the rows within "
            f"{tolerance:g} accuracy point of the baseline that win beyond the noise band"
        )
    base = next((r for r in rows if r.kind == "baseline" or r.name == "baseline"), None)
    if base is None or base.accuracy is None:
        return None, "no baseline accuracy to compare with"
    ok = [
        r
        for r in rows
        if r.status == "ok"
        and r.accuracy is not None
        and r.infer_energy_j_per_1k is not None
        and (r.accuracy - base.accuracy) * 100 >= -FINAL_MAX_DROP_PT
    ]
    if not ok:
        return None, "no row with a measured inference energy"
    pick = min(ok, key=lambda r: (r.infer_energy_j_per_1k, -(r.accuracy or 0.0)))
    return pick.name, (
        f"lowest inference energy among the rows within {FINAL_MAX_DROP_PT:g} accuracy point "
        "of the baseline"
    )


def bench_section(path: str, data: dict[str, Any], final: str | None = None) -> BenchSection:
    """Build the bench section from a parsed ``results.json``."""
    section = BenchSection(
        path=path, machine=dict(data.get("machine") or {}), config=dict(data.get("config") or {})
    )
    for t, (task_name, task) in enumerate((data.get("tasks") or {}).items(), start=1):
        raw = [task.get("baseline"), *list((task.get("techniques") or {}).values())]
        rows = [technique_row(r) for r in raw if isinstance(r, dict)]
        for r in rows:
            if r.status != "ok":
                section.notes.append(
                    f"{task_name}: {r.name} failed: {r.reason or 'no reason recorded'}"
                )
        bt = BenchTask(name=str(task_name), info=dict(task.get("task") or {}), rows=rows)
        fig, front = _pareto_figure(
            f"bench-{t}-pareto-train",
            "Accuracy against training energy",
            rows,
            "train_energy_j_total",
            "training energy, baseline included (J)",
            "Whole training cost of each model: a compression technique's own work plus the "
            "baseline it starts "
            "from. Points on the red line are not beaten on both accuracy and energy.",
        )
        for i in front:
            rows[i].frontier_train = True
        if fig:
            bt.figures.append(fig)
        fig, front = _pareto_figure(
            f"bench-{t}-pareto-infer",
            "Accuracy against inference energy",
            rows,
            "infer_energy_j_per_1k",
            "inference energy per 1,000 samples (J)",
            "Energy to classify 1,000 test samples at batch "
            f"{section.config.get('latency_batch', '?')}.",
        )
        for i in front:
            rows[i].frontier_infer = True
        if fig:
            bt.figures.append(fig)
        curves = [
            (r.name, [(float(p[0]), float(p[1])) for p in (row.get("curve") or [])])
            for r, row in zip(rows, [x for x in raw if isinstance(x, dict)])
            if row.get("curve")
        ]
        if curves:
            bt.figures.append(
                Figure(
                    id=f"bench-{t}-curves",
                    title="Accuracy against cumulative training energy",
                    x_label="cumulative training energy (J)",
                    y_label="test accuracy",
                    series=[
                        Series(name=n, points=list(p), mode="both", color=i % 7)
                        for i, (n, p) in enumerate(curves)
                    ],
                    caption="Test accuracy after each evaluation during training.",
                )
            )
        bt.final, bt.final_rule = _final(rows, final, task)
        bt.summary = [str(line) for line in task.get("summary") or []]
        section.tasks.append(bt)
    return section
