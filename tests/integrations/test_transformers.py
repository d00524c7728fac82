"""Hugging Face Trainer: one run per train(), figures through Trainer.log each epoch, budget
stop through control.should_training_stop, co2_eq_emissions in the model card it writes."""

from __future__ import annotations

import pytest
from tests.integrations.conftest import run_example

from frugalml.errors import BudgetWarning, InputError
from frugalml.store import Store
from frugalml.testing import ConstantPowerSensor

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch
import yaml
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification

from frugalml.integrations.transformers import EnergyCallback


class Blobs(torch.utils.data.Dataset):
    def __init__(self, n: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 2
        self.x = torch.randn(n, 1, 4, 4, generator=g) + self.y.view(-1, 1, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def tiny_trainer(tmp_path, callback: EnergyCallback, epochs: int = 3) -> Trainer:
    config = ViTConfig(
        image_size=4,
        patch_size=2,
        num_channels=1,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    return Trainer(
        model=ViTForImageClassification(config),
        args=args,
        train_dataset=Blobs(),
        callbacks=[callback],
    )


def card_header(path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])


def test_example_fills_the_model_card_and_logs_each_epoch(tmp_path, monkeypatch, one_thread):
    run_example("transformers_digits.py", tmp_path, monkeypatch)
    card = card_header(tmp_path / "frugal-out/vit-digits/README.md")
    (record,) = Store().list_runs(with_summary=True)
    block = card["co2_eq_emissions"]
    assert block["emissions"] == pytest.approx(record.co2e_g, rel=1e-3)  # grams, 4 digits
    assert block["training_type"] == "pre-training"  # built from a config, not a checkpoint
    assert block["geographical_location"] == "France"
    assert block["source"].startswith("frugalml ") and "modelled" in block["source"]
    assert "threads" in block["hardware_used"]
    assert card["library_name"] == "transformers"  # the Trainer's own header is kept
    assert record.name == "ViTForImageClassification.train" and record.status == "finished"
    assert record.summary["tags"]["integration"] == "transformers"
    assert {"loss", "eval_accuracy"} <= set(record.summary["metrics"])
    text = (tmp_path / "frugal-out/vit-digits/README.md").read_text(encoding="utf-8")
    assert "| No log " not in text  # the Trainer's own epoch loss still reaches its log


def test_epoch_figures_reach_log_history_and_budget_stops_training(tmp_path, one_thread):
    cb = EnergyCallback(budget_j=1.0, db=False, sensors=[ConstantPowerSensor(1000.0)])
    trainer = tiny_trainer(tmp_path, cb)
    with pytest.warns(BudgetWarning, match="stopping training"):
        trainer.train()
    assert trainer.state.global_step < trainer.state.max_steps
    assert cb.run is not None and cb.run.status == "budget-stopped"
    logged = [h for h in trainer.state.log_history if "frugal/energy_j" in h]
    assert len(logged) == len(cb.epochs) == 1
    assert logged[0]["frugal/energy_j"] == cb.epochs[0].energy_j
    # no card yet: train() writes none; the block waits for create_model_card
    assert not (tmp_path / "out/README.md").exists()
    trainer.create_model_card()
    block = card_header(tmp_path / "out/README.md")["co2_eq_emissions"]
    assert block == cb.co2_eq_emissions
    assert block["emissions"] == pytest.approx(cb.run.co2e_g, rel=1e-3)


def test_active_mlflow_run_receives_the_figures(tmp_path, mlflow_uri, one_thread):
    import mlflow

    cb = EnergyCallback(db=False, training_type="fine-tuning")
    with mlflow.start_run() as active:
        tiny_trainer(tmp_path, cb, epochs=1).train()
    data = mlflow.MlflowClient().get_run(active.info.run_id).data
    assert cb.run is not None
    assert data.tags["frugal.run_id"] == cb.run.id
    assert data.metrics["frugal.co2e_g"] == pytest.approx(cb.run.co2e_g)
    assert cb.co2_eq_emissions is not None
    assert cb.co2_eq_emissions["training_type"] == "fine-tuning"


def test_bad_training_type_is_one_clear_error():
    with pytest.raises(InputError, match="'training_type' parameter of EnergyCallback"):
        EnergyCallback(training_type="pretraining", db=False)
