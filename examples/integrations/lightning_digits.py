"""Measure a PyTorch Lightning training with frugalml's EnergyCallback.

A small MLP on scikit-learn's bundled digits, 3 epochs, with an energy budget. Each epoch's
energy and CO2e go to the trainer's loggers (here a CSV logger); the run goes to the frugalml
registry (`frugal runs`, `frugal report`).

    pip install 'frugalml[lightning,bench]'
    python examples/integrations/lightning_digits.py
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from frugalml.integrations.lightning import EnergyCallback


class DigitsMLP(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        self.log("accuracy", (logits.argmax(1) == y).float().mean(), on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def main() -> None:
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

    energy = EnergyCallback(region="FR", budget_j=50_000, on_budget="stop")
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[energy],
        logger=CSVLogger("frugal-out", name="lightning"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(DigitsMLP(), loader)

    run = energy.run
    assert run is not None
    for e in energy.epochs:
        print(f"epoch {e.epoch}: {e.epoch_energy_j:.2f} J in {e.epoch_duration_s:.2f} s")
    print(
        f"run {run.id}: {run.energy_j['total']:.2f} J ({run.energy_method}), "
        f"{run.co2e_g:.5f} g CO2e in {run.region_name}, status {run.status}"
    )
    print(f"per-epoch figures logged to {trainer.logger.log_dir}/metrics.csv")


if __name__ == "__main__":
    main()
