from __future__ import annotations

import json
import uuid

import optuna
import pytest

from frugalml.errors import InputError
from frugalml.search import optimize
from frugalml.search.results import TRIAL_KEYS, pareto_numbers
from frugalml.store import Store

from . import _objectives as objectives

KEYS = {
    "study",
    "storage",
    "sampler",
    "pruner",
    "objectives",
    "trials",
    "pareto",
    "best",
    "overhead_energy_j",
    "total_energy_j",
    "total_co2e_g",
    "total_time_s",
    "energy_method",
}


def check_counted_once(data, db, n):
    """Exactly n trials, numbered 0..n-1, each with its own registry run and energy."""
    trials = data["trials"]
    assert [t["number"] for t in trials] == list(range(n))
    assert all(t["state"] == "complete" for t in trials)
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials}) == n
    runs = {r.id: r for r in Store(db).list_runs(limit=None, with_summary=True)}
    ids = [t["run_id"] for t in trials]
    assert len(set(ids)) == n and set(ids) <= set(runs)
    for t in trials:
        run = runs[t["run_id"]]
        assert run.summary["tags"]["study"] == data["study"]["name"]
        assert run.summary["tags"]["trial"] == str(t["number"])
        assert run.energy_j == pytest.approx(t["energy_j"]) and t["energy_j"] > 0
    trial_j = sum(t["energy_j"] for t in trials)
    sessions = data["study"]["sessions"]
    assert sum(s["trials"] for s in sessions) == n
    assert sum(s["trial_energy_j"] for s in sessions) == pytest.approx(trial_j)
    assert data["overhead_energy_j"] == pytest.approx(sum(s["overhead_energy_j"] for s in sessions))
    assert data["total_energy_j"] == pytest.approx(trial_j + data["overhead_energy_j"])


def test_three_workers_on_a_journal_file(tmp_path):
    db = str(tmp_path / "r.db")
    res = optimize(
        objectives.quadratic,
        objectives=("loss:minimize",),
        n_trials=7,
        workers=3,
        out_dir=str(tmp_path / "out"),
        db=db,
    )
    data = json.loads((tmp_path / "out" / "search.json").read_text())
    assert data == res.data and set(data) == KEYS
    assert data["storage"] == f"journal:{tmp_path / 'out' / 'search.journal'}"
    check_counted_once(data, db, 7)
    (session,) = data["study"]["sessions"]
    assert session["workers"] == 3
    # the session measured its whole process tree: trials are part of it
    assert session["energy_j"] >= session["trial_energy_j"] * 0.9


def test_workers_on_postgresql_and_a_second_command_joining(postgres_url, tmp_path):
    db = str(tmp_path / "r.db")
    study = f"pg-{uuid.uuid4().hex[:8]}"
    common = dict(objectives=("loss:minimize",), storage=postgres_url, study=study, db=db)
    optimize(objectives.quadratic, n_trials=5, workers=2, out_dir=str(tmp_path / "a"), **common)
    res = optimize(objectives.quadratic, n_trials=2, out_dir=str(tmp_path / "b"), **common, seed=7)
    data = res.data
    assert "postgresql" in data["storage"]
    check_counted_once(data, db, 7)
    assert [s["trials"] for s in data["study"]["sessions"]] == [5, 2]


def test_other_objectives_on_an_existing_study_writes_nothing(tmp_path):
    out = tmp_path / "out"
    optimize(
        objectives.quadratic, objectives=("loss:minimize",), n_trials=1, out_dir=str(out), db=False
    )
    journal = (out / "search.journal").read_bytes()
    result = (out / "search.json").read_bytes()
    with pytest.raises(InputError, match="other objectives"):
        optimize(
            objectives.two_objectives,
            objectives=("accuracy", "cost:minimize"),
            n_trials=1,
            out_dir=str(out),
            db=False,
        )
    assert (out / "search.journal").read_bytes() == journal
    assert (out / "search.json").read_bytes() == result


@pytest.mark.parametrize(
    "options, match",
    [
        ({"sampler": "bayes"}, "Unknown sampler 'bayes'"),
        ({"pruner": "asha"}, "Unknown pruner 'asha'"),
        ({"n_trials": 0}, "--trials must be an integer >= 1"),
        ({"budget_j": 0}, "--budget-j must be a number of joules > 0"),
        ({"objectives": ("accuracy", "cost:minimize"), "pruner": "median"}, "cannot prune"),
        ({"objectives": ("cost",)}, "needs a direction"),
        ({"region": "atlantis"}, "atlantis"),
        ({"storage": "ftp://x"}, "Unknown storage kind"),
        ({"nope": 1}, "no option 'nope'"),
    ],
)
def test_bad_options_write_nothing(tmp_path, options, match):
    out = tmp_path / "out"
    kwargs = {"objectives": ("loss:minimize",), "out_dir": str(out), "db": False, **options}
    with pytest.raises(InputError, match=match):
        optimize(objectives.quadratic, **kwargs)
    assert not out.exists()


def test_pareto_front_and_choice_of_a_multi_objective_search(tmp_path):
    res = optimize(
        objectives.two_objectives,
        objectives=("accuracy", "cost:minimize"),
        sampler="nsga2",
        n_trials=6,
        out_dir=str(tmp_path),
        db=False,
    )
    data = res.data
    assert data["pruner"] == "none" and data["sampler"] == "nsga2"
    assert data["objectives"] == [
        {"name": "accuracy", "direction": "maximize"},
        {"name": "cost", "direction": "minimize"},
    ]
    # x and x^2 never dominate each other: every trial is on the front
    assert data["pareto"] == list(range(6))
    by = {t["number"]: t for t in data["trials"]}
    top = max(t["accuracy"] for t in data["trials"])
    best = by[data["best"]]
    assert top - best["accuracy"] <= 0.01
    assert set(best) == set(TRIAL_KEYS)


def test_pareto_numbers_respect_directions_and_constraints():
    make = optuna.trial.create_trial
    dist = {}
    trials = [
        make(values=[0.9, 10.0], params={}, distributions=dist),
        make(values=[0.8, 20.0], params={}, distributions=dist),  # dominated by 0
        make(values=[0.95, 30.0], params={}, distributions=dist),
        make(values=[0.99, 1.0], params={}, distributions=dist, user_attrs={"constraint": [5.0]}),
    ]
    for i, t in enumerate(trials):
        t.number = i
    objs = [{"name": "accuracy", "direction": "maximize"}, {"name": "e", "direction": "minimize"}]
    assert pareto_numbers(trials, objs) == [0, 2]


def test_pruners_stop_trials_and_their_energy_is_counted(tmp_path):
    res = optimize(
        objectives.learning_curve,
        objectives=("score:maximize",),
        sampler="random",
        pruner="median",
        n_trials=12,
        out_dir=str(tmp_path),
        db=False,
    )
    pruned = [t for t in res.data["trials"] if t["state"] == "pruned"]
    assert pruned and all(t["energy_j"] > 0 for t in pruned)
    # a pruned trial shows its last reported value and how many epochs it ran
    assert all(t["epochs_run"] < 5 and 0 < t["accuracy"] < 1 for t in pruned)
    assert res.data["total_energy_j"] == pytest.approx(
        sum(t["energy_j"] for t in res.data["trials"]) + res.data["overhead_energy_j"]
    )


def test_grid_runs_each_point_once(tmp_path):
    res = optimize(
        "iris-mlp",
        "hpo",
        sampler="grid",
        n_trials=4,
        out_dir=str(tmp_path),
        db=False,
        infer_seconds=0.02,
        pruner="none",
    )
    from frugalml.bench.spaces import get_space

    grid = get_space("iris-mlp", "hpo").grid(4)
    got = sorted(json.dumps(t["params"], sort_keys=True) for t in res.data["trials"])
    assert got == sorted(json.dumps(p, sort_keys=True) for p in grid)
    assert all(t["state"] == "complete" for t in res.data["trials"])


def test_weight_sharing_search_charges_the_supernet_and_retrains_the_best(tmp_path):
    res = optimize(
        "iris-mlp",
        "nas",
        weight_sharing=True,
        n_trials=4,
        out_dir=str(tmp_path),
        db=False,
        infer_seconds=0.02,
    )
    data = res.data
    trials = data["trials"]
    assert len(trials) == 5
    candidates, retrain = trials[:4], trials[4]
    assert data["best"] == retrain["number"]
    assert all(t["train_energy_j"] is None and t["epochs_run"] == 0 for t in candidates)
    assert retrain["train_energy_j"] > 0 and retrain["epochs_run"] == 100
    best_candidate = max(candidates, key=lambda t: (t["accuracy"], -t["number"]))
    assert retrain["params"] == best_candidate["params"]
    (session,) = data["study"]["sessions"]
    assert session["supernet_energy_j"] > 0 and session["supernet_steps"] > 0
    assert data["overhead_energy_j"] >= 0.8 * session["supernet_energy_j"]


def test_the_task_objective_travels_to_a_worker_process():
    """Workers get the objective pickled (spawn): it must rebuild its space and data there."""
    import pickle

    from frugalml.search.config import SearchConfig
    from frugalml.search.objective import TaskObjective

    config = SearchConfig(task="iris-mlp", space="hpo", db=False, infer_seconds=0.02)
    objective = TaskObjective(config, "s")
    objective.warm_up()  # loads the data and the space: neither may travel
    copy = pickle.loads(pickle.dumps(objective))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"lr": 0.01, "batch_size": 32, "epochs": 2, "weight_decay": 1e-4})
    study.optimize(copy, n_trials=1)
    assert study.trials[0].state.name == "COMPLETE" and study.trials[0].user_attrs["session"] == "s"


def test_a_dead_worker_loses_nothing_measured(tmp_path):
    from frugalml.errors import FrugalError

    out = tmp_path / "out"
    with pytest.raises(FrugalError, match="exit code 3"):
        optimize(
            objectives.dies_on_trial_0,
            objectives=("x:maximize",),
            n_trials=2,
            workers=2,
            out_dir=str(out),
            db=False,
        )
    data = json.loads((out / "search.json").read_text())  # written all the same
    states = {t["number"]: t["state"] for t in data["trials"]}
    assert states == {0: "fail", 1: "complete"}
    (session,) = data["study"]["sessions"]
    # the dead worker's energy was seen by the session's process-tree measurement
    assert session["energy_j"] > session["trial_energy_j"]
