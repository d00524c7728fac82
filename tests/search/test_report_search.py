"""The report's search section, from hand-built search.json files (synthetic figures)."""

from __future__ import annotations

import json

import pytest

from frugalml.errors import InputError
from frugalml.report import build_report, render_html, render_json, render_markdown
from frugalml.report.search import convergence_points


def trial(n, state, acc, energy, train=None, params=None):
    return {
        "number": n,
        "state": state,
        "params": params or {"lr": 0.01 * (n + 1)},
        "accuracy": acc,
        "test_accuracy": None if acc is None else acc - 0.01,
        "energy_j": energy,
        "train_energy_j": train
        if train is not None
        else (energy * 0.9 if state == "complete" else None),
        "infer_energy_j_per_1k": 0.1 if state == "complete" else None,
        "macs": 1000,
        "epochs_run": 3,
        "run_id": None,
    }


def write(tmp_path, name, sampler, pruner, trials, best, pareto):
    data = {
        "study": {"name": name, "task": "digits-mlp", "space": "hpo", "sessions": []},
        "storage": "journal:x",
        "sampler": sampler,
        "pruner": pruner,
        "objectives": [{"name": "accuracy", "direction": "maximize"}],
        "trials": trials,
        "pareto": pareto,
        "best": best,
        "overhead_energy_j": 5.0,
        "total_energy_j": sum(t["energy_j"] for t in trials) + 5.0,
        "total_co2e_g": 0.01,
        "total_time_s": 12.0,
        "energy_method": "cpu-model+ram-model",
    }
    d = tmp_path / name
    d.mkdir()
    (d / "search.json").write_text(json.dumps(data))
    return d


@pytest.fixture
def two_searches(tmp_path):
    a = write(
        tmp_path,
        "grid-<b>",
        "grid",
        "none",
        [
            trial(0, "complete", 0.90, 10.0),
            trial(1, "complete", 0.95, 30.0),
            trial(2, "fail", None, 2.0),
        ],
        1,
        [1],
    )
    b = write(
        tmp_path,
        "tpe-hb",
        "tpe",
        "hyperband",
        [
            trial(0, "pruned", 0.5, 1.0),
            trial(1, "complete", 0.96, 20.0),
            trial(2, "complete", 0.94, 4.0),
        ],
        1,
        [1],
    )
    return a, b


def test_convergence_adds_energy_of_every_trial_and_the_overhead_last():
    data = {
        "trials": [
            trial(0, "pruned", 0.5, 1.0),
            trial(1, "complete", 0.9, 2.0),
            trial(2, "fail", None, 3.0),
            trial(3, "complete", 0.8, 4.0),
        ],
        "overhead_energy_j": 10.0,
    }
    assert convergence_points(data) == [(3.0, 0.9), (6.0, 0.9), (10.0, 0.9), (20.0, 0.9)]


def test_section_in_every_format(two_searches, tmp_path):
    report = build_report(search=[str(p) for p in two_searches], store=False)
    section = report.search
    assert [r.label for r in section.searches] == ["grid", "tpe + hyperband"]
    assert section.searches[0].states == {"complete": 2, "fail": 1}
    assert section.searches[1].total_energy_j == pytest.approx(30.0)
    ids = [f.id for f in section.figures]
    assert ids == ["search-1-pareto", "search-2-pareto", "search-convergence"]
    conv = section.figures[-1]
    assert [s.name for s in conv.series] == ["grid", "tpe + hyperband"]
    pareto = section.figures[1]
    chosen = next(s for s in pareto.series if s.name == "chosen")
    assert chosen.points == [(18.0, 0.96)] and chosen.labels == ["trial 1"]
    # no registry: the headline is the searches' total, overhead included
    assert report.summary.energy_j == pytest.approx(47.0 + 30.0)
    assert report.title == "frugalml search report: grid-<b>, tpe-hb"
    html = render_html(report)
    assert 'id="search"' in html and "grid-&lt;b&gt;" in html and "grid-<b>" not in html
    assert "## Search: what it found and what it cost" in render_markdown(report)
    data = json.loads(render_json(report))
    assert data["search"]["searches"][1]["label"] == "tpe + hyperband"


def test_bad_search_paths(tmp_path):
    with pytest.raises(InputError, match=r"no search\.json"):
        build_report(search=[str(tmp_path)], store=False)
    (tmp_path / "search.json").write_text(json.dumps({"tasks": {}}))
    with pytest.raises(InputError, match="not a frugalml search result"):
        build_report(search=[str(tmp_path)], store=False)
    with pytest.raises(InputError, match="--search alone"):
        build_report(search=[str(tmp_path)], last=3, store=False)
