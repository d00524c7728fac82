from __future__ import annotations

import json

import pytest

from frugalml.bench import ROW_KEYS, load_results, run_bench
from frugalml.bench import harness as harness_mod
from frugalml.errors import InputError, TechniqueError
from frugalml.reduce.base import Technique


class Explodes(Technique):
    """A technique that cannot handle any model (as static int8 on an op the backend lacks)."""

    name = "explodes"
    kind = "compress"

    def __init__(self, when: str = "always") -> None:
        self.when = when

    def _apply(self, model, data):
        raise TechniqueError("explodes failed: the backend lacks aten::mystery_op.")


@pytest.fixture
def with_failing_technique(monkeypatch):
    original = harness_mod.available_techniques
    monkeypatch.setattr(
        harness_mod, "available_techniques", lambda: {**original(), "explodes": Explodes}
    )


@pytest.mark.slow
def test_tiny_bench_writes_every_key_for_every_row(tmp_path, with_failing_technique):
    out = tmp_path / "bench"
    db = f"sqlite:///{tmp_path / 'r.db'}"
    results = run_bench(
        ["iris-mlp"],
        ["int8-dynamic", "explodes"],
        out_dir=out,
        db=db,
        region="FR",
        technique_params={"int8-dynamic": {}},
    )
    on_disk = load_results(out)
    assert on_disk == json.loads(json.dumps(results))
    assert {"machine", "config", "tasks", "schema"} <= set(on_disk)
    task = on_disk["tasks"]["iris-mlp"]
    rows = [task["baseline"], *task["techniques"].values()]
    for row in rows:
        assert set(ROW_KEYS) <= set(row), set(ROW_KEYS) - set(row)
    base, int8, boom = rows
    assert base["status"] == "ok" and int8["status"] == "ok"
    assert 0.5 < base["accuracy"] <= 1.0
    assert base["train_energy_j"] > 0 and base["infer_energy_j_per_1k"] > 0
    assert base["ratios"]["train_energy"] == 1.0
    assert len(base["curve"]) == task["task"]["epochs"]
    energies = [e for e, _ in base["curve"]]
    assert energies == sorted(energies)  # cumulative
    assert int8["size_bytes"] < base["size_bytes"]
    assert int8["ratios"]["size_bytes"] == pytest.approx(int8["size_bytes"] / base["size_bytes"])
    assert boom["status"] == "failed" and "mystery_op" in boom["reason"]
    assert boom["accuracy"] is None
    # every tracked segment is in the registry, with its accuracy metric
    from frugalml.store import Store

    store = Store(db)
    ids = base["run_ids"] + int8["run_ids"]
    assert {r.id for r in store.list_runs(limit=None)} >= set(ids)
    train_run = store.get_run(base["run_ids"][0])
    assert train_run.summary["metrics"]["accuracy"] == pytest.approx(base["accuracy"])
    assert train_run.region == "FR"


def test_unknown_names_list_valid_ones():
    with pytest.raises(InputError, match="digits-mlp"):
        run_bench(["nope"], [], db=False)
    with pytest.raises(InputError, match="magnitude-prune"):
        run_bench(["iris-mlp"], ["magnitude-prun"], db=False)


def test_bad_repeats_and_suite():
    with pytest.raises(InputError, match="repeats"):
        run_bench(["iris-mlp"], [], repeats=0, db=False)
    with pytest.raises(InputError, match="suite"):
        run_bench(["iris-mlp"], [], suite="huge", db=False)


def test_load_results_errors(tmp_path):
    with pytest.raises(InputError, match="No bench results"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": "other"}')
    with pytest.raises(InputError, match="not a frugalml bench"):
        load_results(tmp_path)
