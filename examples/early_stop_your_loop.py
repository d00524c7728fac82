"""Stop your own training loop when the accuracy bought per joule has run out.

    python examples/early_stop_your_loop.py            # about 20 s on a laptop CPU
    python examples/early_stop_your_loop.py --quick    # a few seconds (what the tests run)

Your loop stays yours: ``EnergyAwareEarlyStopping.update(val_accuracy)`` after each epoch
returns True once the last ``window`` epochs improved the best accuracy by less than a tenth
of the average rate since the start (points per joule, read from the tracker). The script
also trains the full schedule, measured the same way, to show what stopping saved.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import frugalml
from frugalml.reduce.early_stop import EnergyAwareEarlyStopping


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def loaders() -> tuple[DataLoader, tuple[torch.Tensor, torch.Tensor]]:
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, val = order[:1400], order[1400:]
    return DataLoader(TensorDataset(X[train], y[train]), batch_size=32, shuffle=True), (
        X[val],
        y[val],
    )


def train(max_epochs: int, window: int | None) -> dict[str, float]:
    """Your usual loop; the additions are the tracker and the stopper (``window``: None for
    the full schedule)."""
    torch.manual_seed(0)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader, (X_val, y_val) = loaders()
    tracker = frugalml.Tracker("example:early-stop", db=False)
    with tracker as run:
        stopper = (
            EnergyAwareEarlyStopping(window=window, monitor="val_accuracy", energy=tracker)
            if window
            else None
        )
        for epoch in range(1, max_epochs + 1):
            model.train()
            for xb, yb in train_loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                accuracy = float((model(X_val).argmax(dim=1) == y_val).float().mean())
            run.log_metric("accuracy", accuracy, step=epoch)
            if stopper is not None and stopper.update(accuracy):
                break
    return {"epochs": epoch, "accuracy": accuracy, "energy_j": run.energy_j["total"]}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    max_epochs, window = (8, 2) if args.quick else (40, 5)
    train(1, None)  # warm-up: PyTorch's one-off start-up cost, so neither run is charged it
    stopped = train(max_epochs, window)
    full = train(max_epochs, None)
    for label, r in (("energy-aware stop", stopped), ("full schedule", full)):
        print(
            f"{label:<18} {int(r['epochs']):>3} epochs  accuracy {r['accuracy']:.1%}  "
            f"{r['energy_j']:.1f} J"
        )
    print(
        f"stopping saved {1 - stopped['energy_j'] / full['energy_j']:.0%} of the energy "
        f"for {100 * (stopped['accuracy'] - full['accuracy']):+.1f} pt (both measured)."
    )
    return {"stopped": stopped, "full": full}


if __name__ == "__main__":
    main()
