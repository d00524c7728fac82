from __future__ import annotations

import pytest

from frugalml.report.data import run_info
from frugalml.report.timeline import build_timeline, find_gaps, power_steps

from .conftest import add_run


def test_find_gaps_counts_the_start():
    assert find_gaps([1, 2, 3, 10, 11], 1.0) == [(3, 10)]
    assert find_gaps([5, 6], 1.0) == [(0.0, 5)]
    assert find_gaps([1, 2, 3], 1.0) == []


def test_power_steps_are_flat_over_each_interval():
    assert power_steps([(1.0, 10.0), (2.0, 20.0)], gap_s=2.0, min_width_s=0.0) == [
        (0.0, 10.0),
        (1.0, 10.0),
        (1.0, 20.0),
        (2.0, 20.0),
    ]


def test_power_steps_break_at_gaps_and_merge_by_energy():
    pts = power_steps(
        [(1.0, 10.0), (2.0, 10.0), (9.0, 5.0), (10.0, 40.0)], gap_s=2.0, min_width_s=0.0
    )
    assert None in pts
    before, after = pts[: pts.index(None)], pts[pts.index(None) + 1 :]
    assert before[-1] == (2.0, 10.0)
    assert after == [(9.0, 40.0), (10.0, 40.0)]  # the gap interval (2, 9] is not drawn
    merged = power_steps([(0.5, 10.0), (1.0, 30.0), (3.0, 30.0)], gap_s=5.0, min_width_s=1.0)
    assert merged[:2] == [(0.0, 20.0), (1.0, 20.0)]  # (10 W × 0.5 s + 30 W × 0.5 s) / 1 s


def test_timeline_of_interrupted_run_with_gap(store):
    add_run(
        store,
        "r1",
        "x",
        duration_s=20,
        status="running",
        sample_times=[1, 2, 3, 10, 11],
        metrics=[("loss", 1.0, 1.0), ("accuracy", 0.5, 2.0), ("loss", 0.5, 11.0)],
    )
    run = run_info(store.get_run("r1"))
    assert run.status == "interrupted"
    tl = build_timeline(run, store.samples("r1"), store.metrics("r1"), "t1")
    text = " ".join(tl.notes)
    assert "Interrupted" in text and "t = 3 s to 10 s" in text
    power = tl.figures[0]
    assert power.id == "t1-power" and {s.name for s in power.series} == {"cpu", "dram", "total"}
    assert [b.label for b in power.bands] == ["gap 7.0 s", "no samples after this"]
    assert all(None in s.points for s in power.series)
    assert [f.title for f in tl.figures[1:]] == ["Metric: loss", "Metric: accuracy"]
    assert power.x_range == (0.0, 20.0) and tl.figures[1].x_range == (0.0, 20.0)


def test_timeline_without_samples_says_so(store):
    add_run(store, "r2", "x", sample_times=[], metrics=[("accuracy", 0.9, 5.0)])
    tl = build_timeline(run_info(store.get_run("r2")), [], store.metrics("r2"), "t2")
    assert any("No samples recorded" in n for n in tl.notes)
    assert [f.title for f in tl.figures] == ["Metric: accuracy"]


def test_long_runs_are_merged_to_a_few_hundred_steps(store):
    add_run(store, "r3", "long", duration_s=5000, interval_s=1.0)
    tl = build_timeline(run_info(store.get_run("r3")), store.samples("r3"), [], "t3")
    cpu = tl.figures[0].series[0]
    assert 200 <= len(cpu.xy()) <= 2 * 300 + 2
    assert [y for _, y in cpu.xy()] == pytest.approx([20.0] * len(cpu.xy()))
