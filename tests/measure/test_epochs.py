"""Forecasts and budgets of a tracked run: track(total_epochs=), epoch_end, BudgetExceeded."""

from __future__ import annotations

import csv
import json
import logging
import os
import time
import warnings
from pathlib import Path

import pytest

import frugalml
from frugalml.errors import BudgetWarning, FrugalWarning, InputError
from frugalml.measure.forecast import EarlyStopping
from frugalml.reduce import EnergyAwareEarlyStopping
from frugalml.store import Store, open_registry
from frugalml.store.spool import Journal, import_spooled
from frugalml.testing import ConstantPowerSensor, ScriptedSensor

EPOCH_J = 100.0


def per_read(joules: float = EPOCH_J) -> ScriptedSensor:
    """A counter that advances ``joules`` at every reading: with a long sampling interval the
    only readings are the start, each epoch_end and the stop."""
    return ScriptedSensor(lambda n: joules * n)


def track(**kw):
    kw.setdefault("db", False)
    kw.setdefault("interval_s", 60.0)
    kw.setdefault("region", "FR")
    kw.setdefault("echo", False)
    return frugalml.track("fit", **kw)


def test_each_epoch_end_reads_now_and_forecasts(tmp_path):
    db = tmp_path / "r.db"
    sensor = per_read()
    with track(sensors=[sensor], total_epochs=10, db=db, out_dir=tmp_path / "out") as run:
        for epoch in range(1, 6):
            f = frugalml.epoch_end()
            assert sensor.reads == epoch + 1  # a reading at this moment, not the last sample
            assert f is run.forecast and f.epochs_seen == epoch
            assert f.energy_j_so_far == pytest.approx(EPOCH_J * epoch)
    f = run.forecast
    assert f.energy_j == pytest.approx(10 * EPOCH_J)  # steady: exactly 100 J x 10 epochs
    assert f.energy_j_low <= f.energy_j <= f.energy_j_high
    assert f.method == "level" and f.total_epochs == 10
    assert f.co2e_g == pytest.approx(10 * EPOCH_J / 3.6e6 * run.pue * run.intensity_g_per_kwh)
    assert f.finish_at == pytest.approx(run.started_at + f.duration_s)
    assert run.to_dict()["forecast"]["energy_j"] == pytest.approx(f.energy_j)
    history = open_registry(db).forecasts(run.id)
    assert [h["epochs_seen"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["energy_j"] == pytest.approx(f.energy_j)
    assert history[-1]["method"] == "level"
    with open(tmp_path / "out" / "forecasts.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epochs_seen"]) for r in rows] == [1, 2, 3, 4, 5]
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert saved["forecast"]["epochs_seen"] == 5 and saved["config"]["total_epochs"] == 10


def test_run_epoch_end_and_explicit_epochs_and_late_total():
    with track(sensors=[per_read()]) as run:
        assert run.epoch_end() is None  # the number of epochs is not known yet
        f = run.epoch_end(2, total_epochs=4)
        assert f is not None and f.epochs_seen == 2 and f.total_epochs == 4
        assert frugalml.epoch_end(4).method == "done"


def test_lines_at_a_rate_a_log_can_bear(caplog):
    with (
        caplog.at_level(logging.INFO, logger="frugalml.measure.epochs"),
        track(sensors=[per_read()], total_epochs=50, echo=True),
    ):
        for _ in range(50):
            frugalml.epoch_end()
    lines = [r.getMessage() for r in caplog.records if r.name == "frugalml.measure.epochs"]
    # the first forecast, the last one ("done"); a steady job moves less than 10 %
    assert len(lines) == 2, lines
    assert lines[0].startswith("forecast: 5.00 kJ [") and "CO2e, done in" in lines[0]
    assert lines[-1].endswith(", done")


def test_lines_go_to_stderr_without_logging_and_to_a_callable(capsys, monkeypatch):
    from frugalml.measure import epochs

    monkeypatch.setattr(epochs, "_logging_configured", lambda logger: False)
    with track(sensors=[per_read()], total_epochs=2, echo=True):
        frugalml.epoch_end()
    assert capsys.readouterr().err.startswith("frugalml: forecast: ")
    got: list[str] = []
    with track(
        sensors=[per_read()], total_epochs=2, echo=got.append, budget_j=150.0, on_budget="warn"
    ) as run:
        frugalml.epoch_end()
        frugalml.epoch_end()
    assert got[0].startswith("forecast: ") and any(g.startswith("budget: ") for g in got)
    assert run.status == "finished"
    assert capsys.readouterr().err == ""


def test_budget_warn_says_early_then_spent_and_goes_on():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with track(sensors=[per_read()], total_epochs=10, budget_j=550.0, on_budget="warn") as run:
            for _ in range(10):
                frugalml.epoch_end()
    said = [str(w.message) for w in caught if issubclass(w.category, BudgetWarning)]
    assert len(said) == 2, said
    assert "the forecast 1.00 kJ [" in said[0] and "exceeds the 550 J energy budget" in said[0]
    assert "100 J spent after epoch 1 of 10" in said[0]  # early: after the first epoch
    assert said[1].startswith("frugalml: energy budget spent: 600 J of 550 J; training goes on")
    assert all(w.filename == __file__ for w in caught)  # pointed at the user's line
    assert run.status == "finished" and run.tags["budget_reached"] == "warn"


def test_budget_stop_raises_between_epochs_after_recording(tmp_path):
    db = tmp_path / "r.db"
    reached = []
    with (
        pytest.warns(BudgetWarning),
        pytest.raises(frugalml.BudgetExceeded) as info,
        track(sensors=[per_read()], total_epochs=10, budget_j=350.0, db=db) as run,
    ):
        for epoch in range(10):
            reached.append(epoch)
            frugalml.epoch_end()
    assert reached == [0, 1, 2, 3]  # the 4th epoch end found 400 J >= 350 J
    err = info.value
    assert err.run is run and run.status == "budget-stopped"
    assert "energy budget spent: 400 J of 350 J" in str(err) and "budget-stopped" in str(err)
    stored = open_registry(db).get_run(run.id)
    assert stored.status == "budget-stopped" and stored.summary["config"]["budget_j"] == 350.0
    assert run.epoch_end() is None  # the run is over


def test_stop_never_inside_a_step():
    """The sampler finds the budget spent mid-epoch; only the next epoch_end raises."""
    with (
        pytest.warns(BudgetWarning, match="spent"),
        track(
            sensors=[ConstantPowerSensor(1000.0)], interval_s=0.02, budget_j=5.0, total_epochs=9
        ) as run,
    ):
        time.sleep(0.2)  # a "step": 200 J at 1 kW, found by the sampler thread
        assert run.status == "running"
        with pytest.raises(frugalml.BudgetExceeded):
            frugalml.epoch_end()
    assert run.status == "budget-stopped"


def test_co2e_budget():
    per_epoch_g = EPOCH_J / 3.6e6 * 1.0 * 44.18  # FR: 44.18 g/kWh, PUE 1 (personal machine)
    with (
        pytest.warns(BudgetWarning) as said,
        pytest.raises(frugalml.BudgetExceeded),
        track(sensors=[per_read()], total_epochs=10, budget_co2e_g=2.5 * per_epoch_g) as run,
    ):
        for _ in range(10):
            frugalml.epoch_end()
    assert run.intensity_g_per_kwh == 44.18 and run.pue == 1.0
    messages = [str(w.message) for w in said]
    assert "exceeds the 0.00307 g CO2e budget" in messages[0]
    assert "CO2e budget spent: 0.00368 g of 0.00307 g CO2e" in messages[1]
    assert run.status == "budget-stopped" and run.forecast.epochs_seen == 3


def test_early_stopping_state_shortens_the_forecast():
    stopper = EnergyAwareEarlyStopping(window=2, min_relative_gain=0.1)
    losses = [1.0, 0.5, 0.3, 0.25, 0.24]
    with track(sensors=[per_read()], total_epochs=100) as run:
        for i, loss in enumerate(losses, 1):
            stopper.update(loss, energy_j=EPOCH_J * i)
            frugalml.epoch_end(early_stopping=stopper)
    f = run.forecast
    assert f.method.endswith("+early-stop") and f.epochs_expected < 100
    assert f.energy_j < 100 * EPOCH_J / 2
    with track(sensors=[per_read()], total_epochs=100) as run:
        frugalml.epoch_end(early_stopping=EarlyStopping.expected(10))
    assert run.forecast.epochs_expected == 10 and run.forecast.energy_j == pytest.approx(1000.0)


def test_innermost_active_run_and_library_meters():
    with track(sensors=[per_read()], total_epochs=4) as outer:
        with track(sensors=[per_read()], total_epochs=4) as inner:
            frugalml.epoch_end()
        with frugalml.Tracker("meter", sensors=[per_read()], db=False, active=False):
            frugalml.epoch_end()  # the meter is not the active run
    assert inner.forecast.epochs_seen == 1 and outer.forecast.epochs_seen == 1


def test_without_a_run_epoch_end_warns_and_returns_none():
    with pytest.warns(FrugalWarning, match="no active run"):
        assert frugalml.epoch_end() is None


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"total_epochs": 0}, "total_epochs"),
        ({"budget_j": 0}, "budget_j"),
        ({"budget_co2e_g": float("nan")}, "budget_co2e_g"),
        ({"on_budget": "explode"}, "on_budget"),
        ({"epoch_work": [1.0, -1.0], "total_epochs": 2}, "work"),
    ],
)
def test_bad_arguments_one_clear_error(kwargs, needle):
    with pytest.raises(InputError, match=needle), track(sensors=[per_read()], **kwargs):
        frugalml.epoch_end()


def test_bad_epoch_numbers():
    with track(sensors=[per_read()], total_epochs=5) as run:
        with pytest.raises(InputError, match="epoch \\+ 1 from a 0-based loop"):
            frugalml.epoch_end(0)
        frugalml.epoch_end(2)
        with pytest.warns(FrugalWarning, match="no forecast"):
            assert frugalml.epoch_end(1) is None  # backwards: refused by the model, not raised
        assert frugalml.epoch_end(3).epochs_seen == 3
    assert [e["source"] for e in run.errors] == ["forecast"]


def test_forecasts_survive_the_spool(tmp_path):
    """A run whose registry never took it keeps its forecast history in its journal."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spool = Path(os.environ["FRUGAL_SPOOL"])
    journal = Journal.create(
        spool, "spooled1", url=url, run={"id": "spooled1", "name": "x", "started_at": 1.0}
    )
    with track(sensors=[per_read()], total_epochs=4) as run:
        frugalml.epoch_end()
    row = run.to_dict()["forecast"] | {"timestamp": 2.0}
    journal.append_sample([], [], 1, forecasts=[row])
    journal.close(delete=False)
    store = Store(url)  # a writer imports what waits in the spool
    assert import_spooled(store, spool) == [] and store.get_run("spooled1").status == "interrupted"
    assert [f["energy_j"] for f in store.forecasts("spooled1")] == [pytest.approx(400.0)]
