"""Lightning: one run per fit, figures in the trainer's loggers at each epoch, budget stop
through trainer.should_stop, failures recorded, MLflow through MLFlowLogger."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
from tests.integrations.conftest import run_example

from frugalml.errors import BudgetWarning
from frugalml.store import Store
from frugalml.testing import ConstantPowerSensor

pytest.importorskip("lightning")

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from frugalml.integrations.lightning import EnergyCallback


class Tiny(L.LightningModule):
    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.fail_at = fail_at

    def training_step(self, batch, batch_idx):
        if batch_idx == self.fail_at:
            raise RuntimeError("boom")
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.layer(x), y)
        self.log("loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(64, 4, generator=g), torch.arange(64) % 2), 16)


def trainer(callback: EnergyCallback, tmp_path: Path, epochs: int = 4, logger=False) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        logger=logger,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_example_logs_each_epoch_to_the_trainers_logger(tmp_path, monkeypatch, one_thread):
    run_example("lightning_digits.py", tmp_path, monkeypatch)
    with open(tmp_path / "frugal-out/lightning/version_0/metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["frugal/energy_j"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    energy = [float(r["frugal/energy_j"]) for r in rows]
    assert 0 < energy[0] < energy[1] < energy[2]
    for r in rows:  # components add up to the total, beside the module's own epoch metrics
        parts = float(r["frugal/cpu_energy_j"]) + float(r["frugal/dram_energy_j"])
        assert parts == pytest.approx(float(r["frugal/energy_j"]), rel=1e-5)
        assert float(r["accuracy"]) > 0
    (record,) = Store().list_runs(with_summary=True)
    assert record.name == "DigitsMLP.fit" and record.status == "finished"
    assert record.energy_j >= energy[-1] * (1 - 1e-5)  # float32 in the logger
    assert record.region == "FR"
    assert record.summary["tags"]["integration"] == "lightning"
    assert record.summary["config"]["max_epochs"] == 3
    assert "accuracy" in record.summary["metrics"]


def test_budget_stops_the_fit_after_the_step_that_spends_it(tmp_path, one_thread):
    # 1 kW declared: the first epoch's reading is far past 1 J
    cb = EnergyCallback(budget_j=1.0, db=False, sensors=[ConstantPowerSensor(1000.0)])
    t = trainer(cb, tmp_path)
    with pytest.warns(BudgetWarning, match="stopping training"):
        t.fit(Tiny(), loader())
    assert len(cb.epochs) == 1 and t.current_epoch == 1 and t.should_stop
    assert cb.run is not None and cb.run.status == "budget-stopped"
    assert cb.run.tags["budget_reached"] == "stop"


def test_warn_budget_trains_on_and_logs_to_the_mlflow_logger(tmp_path, mlflow_uri, one_thread):
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow import MlflowClient

    logger = MLFlowLogger(experiment_name="lit", tracking_uri=mlflow_uri)
    cb = EnergyCallback(
        budget_j=1.0, on_budget="warn", db=False, sensors=[ConstantPowerSensor(1000.0)]
    )
    t = trainer(cb, tmp_path, epochs=2, logger=logger)
    with pytest.warns(BudgetWarning, match="training goes on"):
        t.fit(Tiny(), loader())
    assert len(cb.epochs) == 2 and cb.run is not None and cb.run.status == "finished"
    data = MlflowClient(mlflow_uri).get_run(logger.run_id).data
    assert data.metrics["frugal.energy_j"] == pytest.approx(cb.run.energy_j["total"])
    assert data.tags["frugal.run_id"] == cb.run.id
    assert data.params["frugal.pue"] == "1.0"
    history = MlflowClient(mlflow_uri).get_metric_history(logger.run_id, "frugal/epoch_energy_j")
    assert len(history) == 2  # the per-epoch figures, through the logger
    artifacts = [a.path for a in MlflowClient(mlflow_uri).list_artifacts(logger.run_id, "frugalml")]
    assert f"frugalml/run-{cb.run.id}.json" in artifacts


def test_a_failing_fit_is_recorded_as_failed_and_leaves_signals_alone(tmp_path, one_thread):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    cb = EnergyCallback(db=False)
    with pytest.raises(RuntimeError, match="boom"):
        trainer(cb, tmp_path).fit(Tiny(fail_at=2), loader())
    assert cb.run is not None and cb.run.status == "failed"
    assert cb.run.error == "RuntimeError: boom"
    # Lightning puts back the handlers it found at the start of the fit: none may be ours
    assert {s: signal.getsignal(s) for s in before} == before
