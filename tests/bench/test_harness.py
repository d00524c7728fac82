from __future__ import annotations

import json

import pytest

from frugalml.bench import ROW_KEYS, BenchConfig, load_results, run_bench
from frugalml.errors import InputError, TechniqueError
from frugalml.reduce import registry
from frugalml.reduce.base import Technique


class Explodes(Technique):
    """A technique that cannot handle any model (as static int8 on an op the backend lacks)."""

    name = "explodes"
    kind = "compress"
    purpose = ("size",)

    def __init__(self, when: str = "always") -> None:
        self.when = when

    def _apply(self, model, data):
        raise TechniqueError("explodes failed: the backend lacks aten::mystery_op.")


@pytest.fixture
def with_failing_technique(monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, "explodes", Explodes)


@pytest.mark.slow
def test_tiny_bench_writes_every_key_for_every_row(tmp_path, with_failing_technique):
    out = tmp_path / "bench"
    db = f"sqlite:///{tmp_path / 'r.db'}"
    results = run_bench(
        BenchConfig(
            tasks=["iris-mlp"],
            techniques=["int8-dynamic", "explodes"],
            out_dir=out,
            db=db,
            region="FR",
            technique_params={"int8-dynamic": {"layers": "all"}},  # auto keeps iris float
        )
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
        run_bench(BenchConfig(tasks=["nope"], techniques=[], db=False))
    with pytest.raises(InputError, match="magnitude-prune"):
        run_bench(BenchConfig(tasks=["iris-mlp"], techniques=["magnitude-prun"], db=False))


@pytest.mark.parametrize(
    ("field", "value"), [("repeats", 0), ("suite", "huge"), ("seed", -1), ("threads", 0)]
)
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(InputError, match=field):
        BenchConfig(tasks=["iris-mlp"], techniques=[], db=False, **{field: value}).plan()


def test_the_plan_runs_each_technique_where_it_applies():
    plan = BenchConfig(tasks=["iris-mlp", "digits-cnn"]).plan()
    assert "early-stop-energy" in plan.techniques["iris-mlp"]
    assert "early-stop-energy" not in plan.techniques["digits-cnn"]
    assert "early-exit" in plan.techniques["digits-cnn"]
    named = BenchConfig(tasks=["iris-mlp"], techniques=["early-exit"]).plan()
    assert named.techniques == {"iris-mlp": ["early-exit"]}  # named: run anyway


def test_load_results_errors(tmp_path):
    with pytest.raises(InputError, match="No bench results"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": "other"}')
    with pytest.raises(InputError, match="not a frugalml bench"):
        load_results(tmp_path)
