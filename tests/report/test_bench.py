from __future__ import annotations

import json

from frugalml.report import build_report, render_html, render_markdown
from frugalml.report.bench import bench_section, pareto_front, row_fpo

from .conftest import XSS, bench_results


def test_pareto_front_keeps_only_unbeaten_points():
    pts = [(1.0, 0.80, 0), (2.0, 0.90, 1), (3.0, 0.85, 2), (2.0, 0.70, 3), (5.0, 0.95, 4)]
    assert pareto_front(pts) == {0, 1, 4}


def test_row_fpo_prefers_effective_flops():
    assert row_fpo({"flops_effective": 10, "flops": 20, "macs": 30}) == (
        10,
        row_fpo({"flops_effective": 1})[1],
    )
    assert row_fpo({"macs": 30})[0] == 60
    assert row_fpo({})[0] is None


def test_bench_section_tables_figures_and_final():
    section = bench_section("results.json", bench_results())
    task = section.tasks[0]
    assert [r.name for r in task.rows] == ["baseline", "int8-dynamic", XSS, "broken"]
    assert [f.id for f in task.figures] == [
        "bench-1-pareto-train",
        "bench-1-pareto-infer",
        "bench-1-curves",
    ]
    by = {r.name: r for r in task.rows}
    # training energy includes the baseline's: 100 J baseline is cheapest, so alone on the frontier
    assert by["baseline"].frontier_train and not by["int8-dynamic"].frontier_train
    assert by["int8-dynamic"].train_energy_j_total == 105.0
    # inference: XSS row (0.5 J, 0.90) and int8 (1.0 J, 0.947) and baseline (2 J, 0.95) all unbeaten
    assert {r.name for r in task.rows if r.frontier_infer} == {"baseline", "int8-dynamic", XSS}
    assert task.final == "int8-dynamic"  # within 1 point of the baseline, lowest inference energy
    assert any("broken failed" in n for n in section.notes)


def test_final_model_can_be_chosen():
    task = bench_section("r.json", bench_results(), final=XSS).tasks[0]
    assert task.final == XSS and task.final_rule == "chosen by the user"
    task = bench_section("r.json", bench_results(), final="nope").tasks[0]
    assert task.final is None and "nope" in task.final_rule


def test_curves_with_extra_columns_and_list_extras_render(tmp_path):
    # active learning's curve carries [energy_j, accuracy, labels]; early exit's extra holds lists
    data = bench_results()
    task = next(iter(data["tasks"].values()))
    row = task["techniques"]["int8-dynamic"]
    row["curve"] = [[1.0, 0.5, 100], [2.0, 0.8, 200]]
    row["extra"] = {**row.get("extra", {}), "exit_rates": [0.7, 0.2, 0.1]}
    section = bench_section("r.json", data)
    curves = next(f for f in section.tasks[0].figures if f.id.endswith("curves"))
    points = {s.name: s.points for s in curves.series}
    assert points["int8-dynamic"] == [(1.0, 0.5), (2.0, 0.8)]
    (tmp_path / "results.json").write_text(json.dumps(data))
    report = build_report(bench=tmp_path, store=False)
    assert "int8-dynamic" in render_html(report)
    assert "int8-dynamic" in render_markdown(report, tmp_path / "assets", "assets")


def test_verdicts_and_the_best_rows_are_shown(tmp_path):
    data = bench_results()
    task = data["tasks"]["iris-mlp"]
    task["task"]["tolerance_pt"] = 1.0
    task["techniques"]["int8-dynamic"].update(
        verdict="loss",
        verdict_purpose="inference-energy",
        verdict_reason="per-call overhead dominates at this model size: 1.9x slower at batch 256",
    )
    task["techniques"][XSS].update(verdict="win", verdict_purpose="inference-energy")
    task["best"] = {"inference-energy": {"row": XSS, "ratio": 0.25}, "training-energy": None}
    task["summary"] = [f"best for inference energy: {XSS} (4x less, -5.00 pt)"]
    section = bench_section("r.json", data)
    t = section.tasks[0]
    assert t.final == XSS and "best for inference energy" in t.final_rule
    (tmp_path / "results.json").write_text(json.dumps(data))
    report = build_report(bench=tmp_path, store=False)
    html = render_html(report)
    assert "loss (inference energy)" in html and "win (inference energy)" in html
    assert "int8-dynamic: loss at inference energy: per-call overhead dominates" in html
    assert "<script>" not in html  # the XSS row's name is escaped in the notes too
    md = render_markdown(report, tmp_path / "assets", "assets")
    assert "best for inference energy:" in md and "per-call overhead dominates" in md
