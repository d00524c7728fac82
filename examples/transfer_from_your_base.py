"""Fine-tune a base model of your own on a new task, and see when training it paid off.

    python examples/transfer_from_your_base.py            # about 30 s on a laptop CPU
    python examples/transfer_from_your_base.py --quick    # a few seconds (what the tests run)

Your base (here an MLP trained on digits 0-4) is any ``nn.Module`` with a last ``Linear``;
``transfer`` replaces that classifier for the new task (digits 5-9) and trains only it on
the frozen features (``mode="frozen"``), picking the hidden layer whose features work best
on the validation split. Name the stages (``stages=[...]``) if torch.fx cannot trace your
model. Training the new task from scratch is measured the same way for comparison.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import frugalml
from frugalml.reduce import get_technique
from frugalml.reduce.transfer import break_even_tasks
from frugalml.train import TrainData, fit, score


class Base(nn.Module):
    """Your network: any module whose last Linear is the classifier."""

    def __init__(self, n_classes: int = 5, width: float = 1.0) -> None:
        super().__init__()
        h = max(1, round(256 * width))
        self.body = nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.classifier = nn.Linear(h, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def digits(labels: range, epochs: int) -> TrainData:
    """The digits with ``labels`` (relabelled from 0), streamed from DataLoaders."""
    X, y = load_digits(return_X_y=True)
    keep = torch.isin(torch.tensor(y), torch.tensor(list(labels)))
    X = torch.tensor(X / 16.0, dtype=torch.float32)[keep]
    y = torch.tensor(y)[keep] - labels.start
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    n_train, n_val = int(0.6 * len(X)), int(0.2 * len(X))
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    train, val, test = (TensorDataset(X[i], y[i]) for i in parts)
    return TrainData.from_loader(
        DataLoader(train, batch_size=32, shuffle=True),
        val=val,
        test=test,
        make_model=Base,
        epochs=epochs,
        lr=1e-3,
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    epochs = 3 if args.quick else 20
    source, target = digits(range(0, 5), epochs), digits(range(5, 10), epochs)

    fit(Base(), source, epochs=1)  # warm-up: PyTorch's one-off start-up cost, not measured
    torch.manual_seed(0)
    base = Base()
    with frugalml.track("example:transfer:base", db=False) as run:
        fit(base, source)
    base_j = run.energy_j["total"]

    transfer = get_technique("transfer", mode="frozen")
    with frugalml.track("example:transfer:fine-tune", db=False) as run:
        tuned = transfer.apply(base, target)  # the base is untouched; tuned is a new model
    tuned_j = run.energy_j["total"]

    torch.manual_seed(0)
    scratch = Base()
    with frugalml.track("example:transfer:scratch", db=False) as run:
        fit(scratch, target)
    scratch_j = run.energy_j["total"]

    out = {
        "transfer_accuracy": score(tuned, target, "test"),
        "scratch_accuracy": score(scratch, target, "test"),
        "base_j": base_j,
        "fine_tune_j": tuned_j,
        "scratch_j": scratch_j,
    }
    rows = (
        ("base (digits 0-4)", base_j, None),
        (f"transfer (frozen, layer {transfer.feature_layer_})", tuned_j, out["transfer_accuracy"]),
        ("from scratch", scratch_j, out["scratch_accuracy"]),
    )
    for label, joules, accuracy in rows:
        tail = "" if accuracy is None else f"  test accuracy {accuracy:.1%}"
        print(f"{label:<28}{joules:6.1f} J{tail}")
    tasks = break_even_tasks(base_j, scratch_j, tuned_j)
    print(
        f"the base pays for itself after {tasks} new task(s) like this one (energies measured)."
        if tasks
        else "fine-tuning cost as much as training from scratch here: the base never pays off."
    )
    return out


if __name__ == "__main__":
    main()
