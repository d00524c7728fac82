"""Measure a Hugging Face Trainer run and put its CO2e into the model card.

A one-layer Vision Transformer built from a config (random weights, nothing downloaded)
classifies scikit-learn's bundled 8x8 digits. frugalml's EnergyCallback measures the
training, logs each epoch's energy through the Trainer, copies the Trainer's metrics
(loss, eval accuracy) into the run, and writes `co2_eq_emissions` into the model card the
Trainer creates.

    pip install 'frugalml[transformers,bench]'
    python examples/integrations/transformers_digits.py
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import numpy as np
import torch
from sklearn.datasets import load_digits
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification

from frugalml.integrations.transformers import EnergyCallback


class Digits(torch.utils.data.Dataset):
    """scikit-learn's digits as 1x8x8 images in [0, 1]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.x = torch.tensor(images / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
        self.y = torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def accuracy(pred: object) -> dict[str, float]:
    logits, labels = pred.predictions, pred.label_ids  # type: ignore[attr-defined]
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def main() -> None:
    torch.manual_seed(0)
    digits = load_digits()
    split = 1437  # 80 % to train, the rest to evaluate
    train = Digits(digits.data[:split], digits.target[:split])
    test = Digits(digits.data[split:], digits.target[split:])
    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
    )
    args = TrainingArguments(
        output_dir="frugal-out/vit-digits",
        num_train_epochs=3,
        per_device_train_batch_size=64,
        per_device_eval_batch_size=256,
        learning_rate=5e-3,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    energy = EnergyCallback(region="FR")
    trainer = Trainer(
        model=ViTForImageClassification(config),
        args=args,
        train_dataset=train,
        eval_dataset=test,
        compute_metrics=accuracy,
        callbacks=[energy],
    )
    trainer.train()
    trainer.create_model_card(model_name="vit-digits")

    run = energy.run
    assert run is not None
    for e in energy.epochs:
        print(f"epoch {e.epoch}: {e.epoch_energy_j:.2f} J in {e.epoch_duration_s:.2f} s")
    print(
        f"run {run.id}: {run.energy_j['total']:.2f} J ({run.energy_method}), "
        f"{run.co2e_g:.5f} g CO2e in {run.region_name}, eval accuracy "
        f"{run.to_dict()['metrics'].get('eval_accuracy', float('nan')):.3f}"
    )
    card = os.path.join(args.output_dir, "README.md")
    with open(card, encoding="utf-8") as f:
        header = f.read().split("---")[1]
    print(f"model card {card}:\n{header.strip()}")


if __name__ == "__main__":
    main()
