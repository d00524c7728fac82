"""The built-in objective on iris-mlp (150 samples: a trial takes a fraction of a second)."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

from frugalml.search.config import SearchConfig
from frugalml.search.objective import TaskObjective

TINY = {"lr": 0.01, "batch_size": 32, "epochs": 3, "weight_decay": 1e-4}


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def run(config, params, pruner=None, n=1):
    study = optuna.create_study(
        directions=[
            "maximize" if o.direction == "maximize" else "minimize"
            for o in config.parsed_objectives()
        ],
        pruner=pruner or optuna.pruners.NopPruner(),
    )
    for _ in range(n):
        study.enqueue_trial(params)
    study.optimize(TaskObjective(config, "sess"), n_trials=n, catch=(Exception,))
    return study


def cfg(**kw):
    base = dict(task="iris-mlp", space="hpo", db=False, infer_seconds=0.02)
    return SearchConfig(**{**base, **kw})


def test_complete_trial_measures_everything():
    study = run(cfg(objectives=("accuracy", "train_energy_j")), TINY)
    (t,) = study.trials
    assert t.state.name == "COMPLETE"
    a = t.user_attrs
    assert t.values[0] == pytest.approx(a["accuracy"]) and 0 < t.values[0] <= 1
    assert t.values[1] == pytest.approx(a["train_energy_j"])
    assert 0 < a["train_energy_j"] < a["energy_j"]  # evaluation and measurement are extra
    assert a["epochs_run"] == 3 and a["macs"] > 0 and a["infer_energy_j_per_1k"] > 0
    assert 0 <= a["test_accuracy"] <= 1 and a["session"] == "sess"
    assert sorted(t.intermediate_values) == []  # multi-objective: nothing reported


def test_pruned_trial_is_charged():
    study = run(cfg(), TINY, pruner=AlwaysPrune())
    (t,) = study.trials
    assert t.state.name == "PRUNED"
    assert list(t.intermediate_values) == [1]  # stopped after its first epoch
    assert 0 < t.user_attrs["train_energy_j"] < t.user_attrs["energy_j"]
    assert "pruner" in t.user_attrs["pruned_reason"]


def test_budget_prunes_the_running_trial_at_its_next_report():
    study = run(cfg(budget_j=1e-9), TINY)
    (t,) = study.trials
    assert t.state.name == "PRUNED" and "budget" in t.user_attrs["pruned_reason"]
    assert t.user_attrs["energy_j"] > 0


def test_training_energy_cap_is_a_constraint_and_prunes():
    study = run(cfg(max_train_energy_j=1e-9), TINY)
    (t,) = study.trials
    assert t.state.name == "PRUNED" and "cap" in t.user_attrs["pruned_reason"]
    # infeasible, for search.json and for Optuna's samplers
    assert t.user_attrs["constraint"][0] > 0 and t.system_attrs["constraints:train_energy_j"] > 0
    study = run(cfg(max_train_energy_j=1e9), TINY)
    done = study.trials[0]
    assert done.state.name == "COMPLETE" and done.user_attrs["constraint"][0] < 0


def test_joint_point_with_a_technique_and_a_failing_one(monkeypatch):
    params = {**TINY, "depth": 1, "width_0": 32, "technique": "magnitude-prune"}
    study = run(cfg(space="joint"), params)
    (t,) = study.trials
    assert t.state.name == "COMPLETE" and t.params["technique"] == "magnitude-prune"

    from frugalml.errors import TechniqueError
    from frugalml.reduce.prune import MagnitudePrune

    def broken(self, model, data):
        raise TechniqueError("magnitude-prune failed: on purpose.")

    monkeypatch.setattr(MagnitudePrune, "_apply", broken)
    study = run(cfg(space="joint"), params)
    (t,) = study.trials
    assert t.state.name == "FAIL" and t.user_attrs["energy_j"] > 0
    assert t.user_attrs["fail_reason"].startswith("TechniqueError: magnitude-prune failed")


def test_cnn_with_early_exits_and_blocks():
    params = {"depth": 2, "width_0": 8, "width_1": 8, "block": "standard", "early_exit": True}
    config = cfg(task="digits-cnn", space="nas")
    space = TaskObjective(config, None).space
    short = dataclasses.replace(space, task=dataclasses.replace(space.task, epochs=1))
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    study.enqueue_trial(params)
    study.enqueue_trial({**params, "block": "fire"})
    study.optimize(TaskObjective(config, None, short), n_trials=2)
    ee, fire = study.trials
    assert ee.state.name == fire.state.name == "COMPLETE"
    assert list(ee.intermediate_values) == [1]  # one report: the technique runs its own loop
    assert ee.user_attrs["macs"] < fire.user_attrs["macs"] * 10
