from __future__ import annotations

import pytest

from frugalml.report.bench import bench_section
from frugalml.report.leaderboard import bench_leaderboard, runs_leaderboard

from .conftest import T0, add_run, bench_results


@pytest.fixture
def ranked(store):
    # energy: 22 W × duration; accuracy logged at t (cumulative energy at t is 22 W × t)
    add_run(
        store,
        "a",
        "cheap",
        duration_s=10,
        started_at=T0,
        metrics=[("accuracy", 0.5, 2), ("accuracy", 0.8, 10)],
    )
    add_run(
        store,
        "b",
        "accurate",
        duration_s=100,
        started_at=T0 + 1,
        metrics=[("accuracy", 0.85, 20), ("accuracy", 0.99, 100)],
    )
    add_run(
        store,
        "c",
        "fast-to-target",
        duration_s=50,
        started_at=T0 + 2,
        metrics=[("accuracy", 0.95, 5), ("accuracy", 0.96, 50)],
    )
    add_run(store, "d", "no-metric", duration_s=5, started_at=T0 + 3)
    return store


def test_ranked_by_accuracy_per_kwh_not_accuracy(ranked):
    board = runs_leaderboard(ranked)
    assert [r.name for r in board.by_accuracy_per_kwh] == ["cheap", "fast-to-target", "accurate"]
    top = board.by_accuracy_per_kwh[0]
    assert top.accuracy == 0.8 and top.accuracy_per_kwh == pytest.approx(0.8 / (220 / 3.6e6))
    assert (
        board.ranked_total == 3
        and board.unranked_total == 1
        and board.unranked_examples == ["no-metric"]
    )


def test_energy_to_default_target(ranked):
    board = runs_leaderboard(ranked)
    assert board.target == pytest.approx(0.95 * 0.99)
    assert [r.name for r in board.by_energy_to_target] == ["fast-to-target", "accurate"]
    assert board.by_energy_to_target[0].energy_to_target_j == pytest.approx(22 * 5)
    assert board.reached_total == 2 and any("never reached" in n for n in board.notes)


def test_given_target_and_paging(ranked):
    board = runs_leaderboard(ranked, target=0.5, page=2, page_size=2)
    assert [r.rank for r in board.by_accuracy_per_kwh] == [3]
    assert [r.name for r in board.by_energy_to_target] == [
        "accurate"
    ]  # a: 44 J, c: 110 J, b: 440 J
    assert board.pages == 2 and board.reached_total == 3


def test_selection_by_ids_and_last(ranked):
    assert runs_leaderboard(ranked, ids=["a", "b"]).ranked_total == 2
    newest_two = runs_leaderboard(ranked, last=2)  # d (no metric) and c
    assert newest_two.ranked_total == 1 and newest_two.unranked_total == 1


def test_interrupted_status_shows(store):
    add_run(store, "x", "dead", status="running", metrics=[("accuracy", 0.9, 1)])
    assert runs_leaderboard(store).by_accuracy_per_kwh[0].status == "interrupted"


def test_bench_leaderboard_ranks_within_task():
    data = bench_results()
    board = bench_leaderboard(bench_section("r.json", data), data)
    assert [r.rank for r in board.by_accuracy_per_kwh] == [1, 2, 3]
    assert (
        board.by_accuracy_per_kwh[0].name == "baseline"
    )  # 100 J vs 105 J (baseline included) for int8
    # target 0.95 × 0.95: the baseline reaches it on its curve (0.9 at 50 J falls short,
    # 0.95 at 100 J)
    names = [(r.name, r.energy_to_target_j) for r in board.by_energy_to_target]
    assert names == [("baseline", 100.0), ("int8-dynamic", 105.0)]
    assert board.unranked_total == 1
