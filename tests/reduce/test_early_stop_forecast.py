"""EarlyStopEnergy tells the run the user tracks its training in what its rule expects."""

from __future__ import annotations

import frugalml
from frugalml.reduce import EarlyStopEnergy
from frugalml.store import open_registry


def test_early_stop_energy_reports_its_epochs_and_state(vec_data, tmp_path):
    db = tmp_path / "r.db"
    technique = EarlyStopEnergy(window=1, min_relative_gain=0.5, max_epochs=30)
    with frugalml.track("fit", db=db, region="FR", echo=False) as run:
        technique.apply(vec_data.make_model(), vec_data)
    history = open_registry(db).forecasts(run.id)
    assert technique.stopped_early_ and technique.epochs_run_ < 30
    assert [h["epochs_seen"] for h in history] == list(range(1, technique.epochs_run_ + 1))
    assert all(h["method"].endswith("+early-stop") for h in history[:-1])
    assert all(h["epochs_expected"] < 30 for h in history[:-1])
    last = history[-1]  # the rule stopped: the forecast is the run's measured energy
    assert last["method"] == "done" and last["energy_j"] == last["energy_j_so_far"]
