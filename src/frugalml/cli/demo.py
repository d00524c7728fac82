"""``frugal demo``: the main job on its built-in default.

Trains a small PyTorch MLP on scikit-learn's bundled digits under the tracker, prints accuracy
and the energy/carbon summary, and records the run in the registry.
"""

from __future__ import annotations

import click

from frugalml.cli._common import db_option


@click.command()
@click.option("--region", "-r", default=None, help="Grid region (see `frugal regions`).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@db_option
def demo(region: str | None, epochs: int, seed: int, db: str | None) -> None:
    """Train an MLP on the digits data under the tracker and print what it cost."""
    from frugalml._lazy import require
    from frugalml.cli.summary import print_summary
    from frugalml.measure.tracker import Tracker

    torch = require("torch", "frugal demo")
    datasets = require("sklearn.datasets", "frugal demo")
    model_selection = require("sklearn.model_selection", "frugal demo")

    torch.manual_seed(seed)
    X, y = datasets.load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = model_selection.train_test_split(X / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    X_tr, X_te = torch.tensor(X_tr, dtype=torch.float32), torch.tensor(X_te, dtype=torch.float32)
    y_tr, y_te = torch.tensor(y_tr), torch.tensor(y_te)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with Tracker("demo-digits-mlp", region=region, db=db, config={"epochs": epochs, "seed": seed}) as run:
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(X_tr))
            for i in range(0, len(X_tr), 64):
                idx = perm[i : i + 64]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx])
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                acc = (model(X_te).argmax(1) == y_te).float().mean().item()
            run.log_metric("loss", loss.item(), step=epoch)
            run.log_metric("accuracy", acc, step=epoch)
    click.echo(f"digits MLP: test accuracy {acc:.4f} after {epochs} epochs (test split 25 %, seed {seed})")
    print_summary(run.to_dict())
