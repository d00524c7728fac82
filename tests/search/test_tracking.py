from __future__ import annotations

import optuna
import pytest

from frugalml.errors import InputError
from frugalml.search import EnergyBudgetCallback, search_energy_j, tracked
from frugalml.store import Store
from frugalml.testing import ScriptedSensor


def one_joule_sensor():
    """Read n returns n J: a tracker that reads only at start and stop measures exactly 1 J."""
    return ScriptedSensor(lambda n: float(n))


def measured(trial, **kw):
    return tracked(trial, sensors=[one_joule_sensor()], interval_s=1000, **kw)


@pytest.fixture
def study():
    return optuna.create_study(study_name="s", sampler=optuna.samplers.RandomSampler(seed=0))


def test_complete_pruned_and_failed_trials_all_carry_their_energy(study, tmp_path):
    db = str(tmp_path / "r.db")

    def objective(trial):
        x = trial.suggest_int("x", 0, 2)
        with measured(trial, db=db) as run:
            run.log_metric("x", x)
            if x == 1:
                raise optuna.TrialPruned()
            if x == 2:
                raise RuntimeError("boom\nsecond line")
        return float(x)

    for x in (0, 1, 2):
        study.enqueue_trial({"x": x})
    study.optimize(objective, n_trials=3, catch=(RuntimeError,))
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL"]
    for t in study.trials:
        assert t.user_attrs["energy_j"] == pytest.approx(1.0)
        assert t.user_attrs["energy_method"] == "scripted"
        assert t.user_attrs["co2e_g"] > 0
    assert study.trials[2].user_attrs["fail_reason"] == "RuntimeError: boom"
    assert search_energy_j(study) == pytest.approx(3.0)
    runs = {r.id: r for r in Store(db).list_runs(with_summary=True)}
    assert set(runs) == {t.user_attrs["run_id"] for t in study.trials}
    for t in study.trials:
        run = runs[t.user_attrs["run_id"]]
        assert run.name == f"search:s:{t.number}"
        assert run.summary["tags"] == {"study": "s", "trial": str(t.number)}
        assert run.energy_j == pytest.approx(t.user_attrs["energy_j"])
    assert runs[study.trials[2].user_attrs["run_id"]].status == "failed"


def test_budget_callback_stops_at_the_first_trial_reaching_the_budget(study):
    def objective(trial):
        with measured(trial, db=False):
            return trial.suggest_float("x", 0, 1)

    cb = EnergyBudgetCallback(budget_j=3.5)
    study.optimize(objective, n_trials=50, callbacks=[cb])
    assert len(study.trials) == 4  # 1 J each: 3 J < 3.5 J <= 4 J
    assert cb.stopped_ and cb.spent_j_ == pytest.approx(4.0)


def test_budget_counts_other_sessions_overhead(study):
    study.set_user_attr("session:abc", {"overhead_energy_j": 10.0, "overhead_co2e_g": 1.0})
    cb = EnergyBudgetCallback(budget_j=5.0)
    assert cb.reached(study)
    assert search_energy_j(study) == pytest.approx(10.0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "5"])
def test_budget_must_be_positive(bad):
    with pytest.raises(InputError, match="budget_j"):
        EnergyBudgetCallback(bad)


def test_running_trial_publishes_its_energy(study):
    seen = []

    def objective(trial):
        t = tracked(trial, sensors=[one_joule_sensor()], interval_s=1000, db=False)
        with t:
            t.publish()  # read 1 -> 1 J so far
            seen.append(study.trials[-1].user_attrs["energy_j"])
        return 0.0

    study.optimize(objective, n_trials=1)
    assert seen == [1.0]
    assert study.trials[0].user_attrs["energy_j"] == pytest.approx(2.0)
