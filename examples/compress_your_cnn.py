"""Prune, int8-quantise and distil a small CNN of your own, trained from a DataLoader.

    python examples/compress_your_cnn.py            # about a minute on a laptop CPU
    python examples/compress_your_cnn.py --quick    # a few seconds (what the tests run)

Replace ``DigitsCNN`` and ``digits_loaders`` by your model and your DataLoaders: nothing else
changes. Every technique works on a copy (your model is untouched), and each one's whole cost
(fine-tuning, calibration, student training) is measured with the tracker.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import frugalml
from frugalml.reduce import count_nonzero, get_technique, state_dict_bytes
from frugalml.train import TrainData, fit, score


class DigitsCNN(nn.Module):
    """Your model: any nn.Module. ``width`` lets distillation build a narrower student."""

    def __init__(self, n_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        c1, c2 = max(1, round(16 * width)), max(1, round(32 * width))
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def digits_loaders(batch_size: int = 64) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Your data: scikit-learn's bundled digits as 1x8x8 images, split 1100/300/397."""
    X, y = load_digits(return_X_y=True)
    images = torch.tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    labels = torch.tensor(y)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    parts = order[:1100], order[1100:1400], order[1400:]
    train, val, test = (TensorDataset(images[i], labels[i]) for i in parts)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=256),
        DataLoader(test, batch_size=256),
    )


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs (for the tests)")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else 15
    torch.set_num_threads(1)  # small models: more threads waste energy

    train, val, test = digits_loaders()
    data = TrainData.from_loader(
        train, val=val, test=test, make_model=DigitsCNN, epochs=epochs, lr=3e-3
    )
    fit(DigitsCNN(), data, epochs=1)  # warm-up: PyTorch's one-off start-up cost, not measured
    torch.manual_seed(0)
    model = DigitsCNN()
    with frugalml.track("example:cnn:train", db=False) as run:
        fit(model, data)
    rows = [_row("your CNN", model, data, run.energy_j["total"])]

    steps = {
        "magnitude-prune": {"target_sparsity": 0.8, "fine_tune_epochs": 1 if args.quick else 3},
        "int8-static": {},
        "distill": {"student_width": 0.5, "epochs": epochs},
    }
    reduced = {}
    for name, params in steps.items():
        technique = get_technique(name, **params)
        with frugalml.track(f"example:cnn:{name}", db=False) as run:
            reduced[name] = technique.apply(model, data)
        rows.append(_row(name, reduced[name], data, run.energy_j["total"]))
    # techniques stack: the distilled student, quantised
    with frugalml.track("example:cnn:distill+int8", db=False) as run:
        stacked = get_technique("int8-static").apply(reduced["distill"], data)
    rows.append(_row("distill + int8-static", stacked, data, run.energy_j["total"]))

    print(f"{'model':<24}{'test acc':>10}{'non-zero params':>17}{'size (B)':>11}{'cost (J)':>10}")
    for r in rows:
        nonzero = f"{r['nonzero_params']:,}" if r["nonzero_params"] else "packed int8"
        print(
            f"{r['model']:<24}{r['accuracy']:>10.1%}{nonzero:>17}"
            f"{r['size_bytes']:>11,}{r['energy_j']:>10.2f}"
        )
    print(
        "size: the saved state_dict; cost: joules of training your CNN, and of each "
        "technique's own work (measured by the tracker)."
    )
    return rows


def _row(label: str, model: nn.Module, data: TrainData, energy_j: float) -> dict[str, object]:
    return {
        "model": label,
        "accuracy": score(model, data, "test"),
        "nonzero_params": count_nonzero(model),  # int8 weights are packed, not parameters
        "size_bytes": state_dict_bytes(model),
        "energy_j": energy_j,
    }


if __name__ == "__main__":
    main()
