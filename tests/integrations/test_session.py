"""The framework-free core both training callbacks share: runs, epoch figures, budgets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from frugalml.errors import BudgetWarning, FrugalWarning, InputError
from frugalml.integrations._role import Role
from frugalml.integrations._session import EpochFigures, Settings, TrainingSession
from frugalml.measure.distributed import detect_job
from frugalml.testing import ScriptedSensor

LONE = Role()


def session(**kw) -> TrainingSession:
    # 10 J more at every reading: the figures are exact
    sensor = ScriptedSensor(lambda n: 10.0 * n)
    kw.setdefault("db", False)
    kw.setdefault("region", "FR")
    settings = Settings(
        owner="EnergyCallback",
        interval_s=60,
        tracker_kwargs={"sensors": [sensor]},
        **kw,
    )
    return TrainingSession(settings, "test")


def test_one_run_per_fit_with_exact_epoch_figures():
    s = session(tags={"team": "a"})
    run = s.begin(LONE, default_name="Net.fit", config={"max_epochs": 2})
    assert run is not None and run.name == "Net.fit"
    first = s.epoch_end(0, 2)
    second = s.epoch_end(1, 2)
    assert isinstance(first, EpochFigures) and isinstance(second, EpochFigures)
    assert (first.energy_j, first.epoch_energy_j) == (10.0, 10.0)
    assert (second.energy_j, second.epoch_energy_j) == (20.0, 10.0)
    assert second.components_j == {"cpu": 20.0}
    assert second.metrics()["frugal/cpu_energy_j"] == 20.0
    assert second.metrics()["frugal/co2e_g"] == pytest.approx(run.co2e_g)
    ended = s.end()
    assert ended is run and ended.status == "finished" and ended.energy_j["total"] == 30.0
    assert ended.tags == {"team": "a", "integration": "test"}
    assert ended.config["max_epochs"] == 2
    assert s.end() is None  # a second end is a no-op


def test_each_epoch_end_forecasts_the_fits_total():
    s = session()
    s.begin(LONE, default_name="fit", config={})
    s.epoch_end(0, 4)
    second = s.epoch_end(1, 4)
    assert second is not None and second.forecast_energy_j is not None
    # two epochs of 10 J each at steady cost: four epochs forecast near 40 J
    assert 30.0 <= second.forecast_energy_j <= 50.0
    assert second.metrics()["frugal/forecast_energy_j"] == second.forecast_energy_j
    assert s.run is not None and s.run.forecast is not None
    assert s.run.forecast.energy_j == second.forecast_energy_j
    s.end()


def test_an_unknown_number_of_epochs_keeps_the_last_total():
    s = session()
    s.settings.tracker_kwargs["echo"] = False  # the forecast line: tested in tests/measure
    run = s.begin(LONE, default_name="fit", config={})
    assert run is not None
    s.epoch_end(0, 5)
    s.epoch_end(1, 5)
    third = s.epoch_end(2, -1)  # Lightning's max_epochs=-1: no end given, the last total kept
    assert third is not None and third.forecast_energy_j is not None
    assert run.forecast is not None and run.forecast.epochs_seen == 3
    assert run.forecast.total_epochs == 5
    assert s.end() is run


@pytest.mark.parametrize(
    ("on_budget", "status", "stops"),
    [("stop", "budget-stopped", True), ("warn", "finished", False)],
)
def test_energy_budget_stops_or_warns_once(on_budget, status, stops):
    s = session(budget_j=15.0, on_budget=on_budget)
    s.begin(LONE, default_name="fit", config={})
    s.epoch_end(0)  # 10 J: under budget
    assert not s.stop_requested
    with pytest.warns(BudgetWarning, match=r"20.0 J of a 15.0 J energy budget") as caught:
        s.epoch_end(1)
        s.epoch_end(2)  # spent again: no second warning
    assert len(caught) == 1
    assert s.stop_requested is stops and s.over_budget() is stops
    run = s.end()
    assert run is not None and run.status == status
    assert run.tags["budget_reached"] == on_budget
    assert run.config["budget_j"] == 15.0 and run.config["on_budget"] == on_budget


def test_co2e_budget():
    s = session(budget_co2e_g=1e-9)
    s.begin(LONE, default_name="fit", config={})
    with pytest.warns(BudgetWarning, match="CO2e budget"):
        s.epoch_end(0)
    assert s.stop_requested
    run = s.end()  # else the run stays the process's active run for the tests that follow
    assert run is not None and run.status == "budget-stopped"


def test_over_budget_between_steps_reads_the_last_sample():
    s = session(budget_j=5.0)
    s.begin(LONE, default_name="fit", config={})
    assert not s.over_budget()  # no sample since the start: 0 J
    assert s.tracker is not None
    s.tracker.sample(persist=False)
    with pytest.warns(BudgetWarning):
        assert s.over_budget()
    s.end()


def test_a_rank_of_a_job_records_its_part(tmp_path):
    s = session(db=tmp_path / "r.db")
    job = detect_job({"FRUGAL_JOB_ID": "e1", "FRUGAL_HOST": "n1"}, rank=1, world_size=2)
    run = s.begin(Role(job), default_name="fit", config={})
    assert run is not None and run.kind == "rank" and run.parent_id is not None
    assert run.tags["world_size"] == "2" and run.tags["rank"] == "1"
    s.end()


def test_trainer_metrics_are_copied_into_the_run():
    torch = pytest.importorskip("torch")
    s = session()
    s.begin(LONE, default_name="fit", config={})
    s.log_metrics(
        {
            "loss": torch.tensor(0.5),
            "acc": np.float32(0.75),
            "n": 3,
            "frugal/energy_j": 1.0,  # our own figure: not copied back
            "vec": torch.ones(2),  # not a scalar
            "flag": True,
            "text": "x",
        },
        step=1,
    )
    run = s.end()
    assert run is not None
    assert run.to_dict()["metrics"] == {"loss": 0.5, "acc": 0.75, "n": 3.0}


def test_a_new_fit_closes_a_fit_that_never_ended():
    s = session()
    first = s.begin(LONE, default_name="a", config={})
    second = s.begin(LONE, default_name="b", config={})
    assert first is not None and first.status == "failed" and "ended without" in str(first.error)
    assert second is not None and second.status == "running"
    s.end()


def test_a_tracker_that_cannot_start_is_a_warning_not_an_error(monkeypatch):
    from frugalml.measure.tracker import Tracker

    def broken(self):
        raise OSError("no /proc")

    monkeypatch.setattr(Tracker, "start", broken)
    s = session()
    with pytest.warns(FrugalWarning, match="training goes on unmeasured"):
        assert s.begin(LONE, default_name="fit", config={}) is None
    assert s.epoch_end(0) is None and s.end() is None


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (
            {"budget_j": -1.0},
            InputError,
            "The 'budget_j' parameter of EnergyCallback must be a float in (0, inf]. Got -1.0",
        ),
        ({"budget_co2e_g": "5"}, InputError, "The 'budget_co2e_g' parameter"),
        ({"on_budget": "halt"}, InputError, "must be one of 'stop', 'warn'. Got 'halt'"),
        ({"mlflow": "yes"}, InputError, "must be True, False or None"),
        ({"region": "Atlantis"}, InputError, "Unknown region 'Atlantis'"),
    ],
)
def test_bad_settings_fail_at_construction_with_one_clear_message(kw, error, message):
    with pytest.raises(error) as e:
        session(**kw)
    assert message in str(e.value)


def test_settings_warn_nothing_when_valid():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session(budget_j=10, budget_co2e_g=1.0, on_budget="warn", mlflow=False)
