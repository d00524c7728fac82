from __future__ import annotations

import json

import pytest

from frugalml.errors import ConfigError, InputError
from frugalml.report import build_report

from .conftest import T0, XSS, add_run, bench_results


@pytest.fixture
def mixed(store):
    add_run(store, "aaaa1111", XSS, started_at=T0, metrics=[("accuracy", 0.9, 5.0)])
    add_run(
        store,
        "bbbb2222",
        "interrupted-one",
        started_at=T0 + 100,
        status="running",
        sample_times=[1, 2],
    )
    add_run(store, "cccc3333", "no-samples", started_at=T0 + 200, sample_times=[])
    add_run(
        store,
        "dddd4444",
        "failed-one",
        started_at=T0 + 300,
        status="failed",
        region="world",
        intensity=473.0,
    )
    return store


def test_default_selection_is_newest_runs_with_gaps_marked(mixed):
    r = build_report(store=mixed)
    assert r.selection["last"] == 20 and r.runs_total == 4
    assert [x.id for x in r.runs] == ["dddd4444", "cccc3333", "bbbb2222", "aaaa1111"]
    s = r.summary
    assert s.energy_j == pytest.approx(4 * 22 * 10)
    assert s.statuses == {"failed": 1, "finished": 2, "interrupted": 1}
    notes = " ".join(s.notes)
    assert (
        "1 run(s) were interrupted" in notes
        and "1 run(s) have no samples" in notes
        and "several regions" in notes
    )
    rows = {x.name: x for x in r.runs}
    assert rows["no-samples"].n_samples == 0 and "no samples recorded" in rows["no-samples"].notes
    assert "interrupted" in rows["interrupted-one"].notes[0]
    assert len(r.timelines) == 4 and r.timeline_note is None and r.overview is not None
    assert {c.name for c in s.components} == {"cpu", "dram"}
    assert s.uncertainty_energy == pytest.approx(0.4) and s.measured is False


def test_ids_prefixes_and_last(mixed):
    assert [x.id for x in build_report(["aaaa", "bbbb2222"], store=mixed).runs] == [
        "bbbb2222",
        "aaaa1111",
    ]
    assert build_report(last=1, store=mixed).runs_total == 1
    with pytest.raises(ConfigError, match="nope"):
        build_report(["nope"], store=mixed)


def test_many_runs_get_an_overview_not_timelines(store):
    for i in range(12):
        add_run(store, f"r{i:02d}", f"run {i}", started_at=T0 + i * 60)
    r = build_report(store=store, page_size=5)
    assert r.timelines == [] and "up to 10 runs" in (r.timeline_note or "")
    assert len(r.runs) == 5 and r.runs_total == 12 and r.overview is not None
    assert r.overview.series[0].xy()[-1][1] == pytest.approx(12 * 220 / 3.6e6)
    assert build_report(store=store, page=3, page_size=5).runs[-1].id == "r00"


def test_empty_registry_and_bad_arguments(store, bench_dir):
    with pytest.raises(InputError, match="No runs"):
        build_report(store=store)
    with pytest.raises(InputError, match="not both"):
        build_report(["x"], bench=bench_dir, store=store)
    with pytest.raises(InputError, match="page"):
        build_report(store=store, page=0)
    with pytest.raises(InputError, match="training_type"):
        build_report(bench=bench_dir, store=False, training_type="inference")


def test_bench_without_registry_runs(store, bench_dir):
    r = build_report(bench=bench_dir, store=store)
    assert r.bench is not None and r.runs_total == 0
    assert any("not in this registry" in n for n in r.summary.notes)
    assert r.summary.energy_j == pytest.approx(100 + 5 + 30)  # ok rows × 1 repeat
    assert r.summary.duration_s == 12.5 and "bench wall time" in r.summary.duration_basis
    assert [b.scope for b in r.leaderboards] == ["bench"]
    assert "int8-dynamic" in r.statement and "1,500 floating-point operations" in r.statement


def test_bench_with_its_runs_in_the_registry(store, tmp_path):
    add_run(
        store,
        "base0001",
        "bench:iris-mlp:baseline:train",
        started_at=T0,
        metrics=[("accuracy", 0.95, 9.0)],
    )
    add_run(
        store, "int80001", "bench:iris-mlp:int8-dynamic:train", started_at=T0 + 20, duration_s=1.0
    )
    add_run(store, "unrelated", "other", started_at=T0 + 50)
    (tmp_path / "results.json").write_text(
        json.dumps(bench_results({"baseline": ["base0001"], "int8": ["int80001"]}))
    )
    r = build_report(bench=tmp_path / "results.json", store=store)
    assert {x.id for x in r.runs} == {"base0001", "int80001"}
    assert r.summary.energy_j == pytest.approx(
        220 + 22
    ) and r.summary.uncertainty_energy == pytest.approx(0.4)
    assert len(r.timelines) == 2


def test_bench_file_errors(tmp_path):
    with pytest.raises(InputError, match=r"no results\.json"):
        build_report(bench=tmp_path, store=False)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError, match="Cannot read"):
        build_report(bench=tmp_path, store=False)
    (tmp_path / "results.json").write_text(json.dumps({"schema": "other/1"}))
    with pytest.raises(InputError, match="not a frugalml bench result"):
        build_report(bench=tmp_path, store=False)


def test_fpo_from_run_or_argument(store):
    add_run(store, "f1", "with-flops", tags={"flops": "12345"})
    assert "12,345 floating-point operations" in build_report(store=store).statement
    assert "7.00 floating-point operations" in build_report(store=store, fpo=7).statement
