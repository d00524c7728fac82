"""Weight-sharing architecture search (ENAS, Pham et al. 2018; single-path one-shot, Guo et
al. 2020): one supernet trained once, its sub-networks evaluated by slicing.

The supernet holds the largest network of a ``nas`` space (most layers, widest layers). A
sub-network of depth ``d`` and widths ``w_0 .. w_{d-1}`` uses the first ``w_i`` units (MLP) or
channels (CNN) of each of the first ``d`` layers and the classifier head of depth ``d``, sliced
to its input width. Training samples one sub-network uniformly per mini-batch, so every
sub-network's weights are trained a little and shared by all. A candidate is then evaluated
without training: for CNNs, batch-norm statistics are first recomputed for its widths on a
batch of training data (sliced channels change the statistics). The search's chosen
architecture is retrained alone with the task's recipe and measured like any trial.

This module imports torch; :mod:`frugalml.search` loads it only for ``--weight-sharing``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from frugalml.bench.spaces import DEPTHS, WIDTHS, Space
from frugalml.search.config import SearchConfig
from frugalml.search.objective import TaskObjective
from frugalml.search.tracking import TrialTracker

__all__ = ["CNNSupernet", "MLPSupernet", "SupernetObjective", "build_supernet", "train_supernet"]

CALIBRATION_SAMPLES = 512


class MLPSupernet(nn.Module):
    """An MLP of ``max_depth`` layers of ``max_width`` units, with one head per depth."""

    def __init__(self, in_features: int, max_width: int, max_depth: int, n_classes: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(in_features if i == 0 else max_width, max_width) for i in range(max_depth)
        )
        self.heads = nn.ModuleList(nn.Linear(max_width, n_classes) for _ in range(max_depth))

    def forward(self, x: torch.Tensor, widths: Sequence[int]) -> torch.Tensor:
        h, fan_in = x, x.shape[1]
        for layer, w in zip(self.layers, widths):
            assert isinstance(layer, nn.Linear)
            h = F.relu(F.linear(h, layer.weight[:w, :fan_in], layer.bias[:w]))
            fan_in = w
        return _head(self.heads[len(widths) - 1], h, fan_in)


class CNNSupernet(nn.Module):
    """``frugalml.train.small_cnn``'s layout (3x3 conv, BN, ReLU, a 2x2 max-pool after every
    second block, global average pool, linear) at the largest width, one head per depth."""

    def __init__(self, in_channels: int, max_width: int, max_depth: int, n_classes: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels if i == 0 else max_width, max_width, 3, padding=1, bias=False)
            for i in range(max_depth)
        )
        self.bn_weight = nn.ParameterList(
            nn.Parameter(torch.ones(max_width)) for _ in range(max_depth)
        )
        self.bn_bias = nn.ParameterList(
            nn.Parameter(torch.zeros(max_width)) for _ in range(max_depth)
        )
        self.heads = nn.ModuleList(nn.Linear(max_width, n_classes) for _ in range(max_depth))

    def forward(
        self,
        x: torch.Tensor,
        widths: Sequence[int],
        stats: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
        collect: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Logits of the sub-network ``widths``; batch statistics unless ``stats`` are given
        (then ``collect``, if a list, receives each layer's batch mean and variance)."""
        h, c_in = x, x.shape[1]
        for i, w in enumerate(widths):
            conv = self.convs[i]
            assert isinstance(conv, nn.Conv2d)
            h = F.conv2d(h, conv.weight[:w, :c_in], padding=1)
            if stats is None:
                if collect is not None:
                    collect.append((h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3))))
                mean = var = None
            else:
                mean, var = stats[i]
            h = F.batch_norm(
                h,
                mean,
                var,
                self.bn_weight[i][:w],
                self.bn_bias[i][:w],
                training=stats is None,
            )
            h = F.relu(h)
            if i % 2 == 1:
                h = F.max_pool2d(h, 2)
            c_in = w
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return _head(self.heads[len(widths) - 1], h, c_in)


def _head(head: nn.Module, h: torch.Tensor, fan_in: int) -> torch.Tensor:
    """The classifier ``head`` reading the first ``fan_in`` features."""
    assert isinstance(head, nn.Linear)
    return F.linear(h, head.weight[:, :fan_in], head.bias)


def build_supernet(space: Space, n_classes: int) -> nn.Module:
    """The supernet holding every architecture of ``space`` (a weight-sharing ``nas`` space)."""
    depth, width = DEPTHS[space.kind][1], max(WIDTHS[space.kind])
    if space.kind == "mlp":
        return MLPSupernet(space.task.input_shape[0], width, depth, n_classes)
    return CNNSupernet(space.task.input_shape[0], width, depth, n_classes)


def sample_widths(space: Space, rng: random.Random) -> list[int]:
    """A uniformly drawn architecture: a depth, then a width per layer."""
    lo, hi = DEPTHS[space.kind]
    return [rng.choice(WIDTHS[space.kind]) for _ in range(rng.randint(lo, hi))]


def train_supernet(net: nn.Module, space: Space, data: Any, seed: int) -> int:
    """Train ``net`` for the recipe's epochs, one random sub-network per mini-batch; returns
    the number of optimiser steps."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=data.lr)
    X, y = data.X_train, data.y_train
    steps = 0
    net.train()
    for _ in range(data.epochs):
        order = torch.randperm(len(X), generator=generator)
        for i in range(0, len(X), data.batch_size):
            idx = order[i : i + data.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(X[idx], sample_widths(space, rng)), y[idx])
            loss.backward()
            opt.step()
            steps += 1
    net.eval()
    return steps


@torch.inference_mode()
def evaluate_widths(net: nn.Module, widths: list[int], data: Any, X: Any, y: Any) -> float:
    """Accuracy of the sub-network ``widths`` on ``(X, y)``, batch-norm statistics recomputed
    on the first training samples for CNNs."""
    if isinstance(net, CNNSupernet):
        stats: list[tuple[torch.Tensor, torch.Tensor]] = []
        net(data.X_train[:CALIBRATION_SAMPLES], widths, collect=stats)
        logits = net(X, widths, stats=stats)
    else:
        logits = net(X, widths)
    return float((logits.argmax(dim=1) == y).float().mean())


class SupernetObjective:
    """Trials of a weight-sharing search: evaluate a sliced candidate; the trial enqueued with
    the user attribute ``role = "retrain"`` trains its architecture alone (:class:`TaskObjective`).
    """

    def __init__(
        self, config: SearchConfig, session: str, space: Space, net: nn.Module | None = None
    ) -> None:
        self.config = config
        self.session = session
        self.space = space
        self.net = net
        self.task_objective = TaskObjective(config, session, space)

    def warm_up(self) -> None:
        self.task_objective.warm_up()

    def __call__(self, trial: Any) -> float:
        if trial.user_attrs.get("role") == "retrain":
            value = self.task_objective(trial)
            assert isinstance(value, float)
            return value
        from frugalml.bench.measure_model import model_facts

        data, X_test, y_test = self.task_objective._data()
        cfg = self.config
        with TrialTracker(
            trial,
            session=self.session,
            db=cfg.db,
            region=cfg.region,
            pue=cfg.pue,
            tags={"task": str(cfg.task), "space": "nas", "role": "candidate"},
        ):
            if self.net is None:
                raise RuntimeError("SupernetObjective: train the supernet first (set .net)")
            params = self.space.suggest(trial)
            widths = self.space.widths(params)
            val = evaluate_widths(self.net, widths, data, data.X_val, data.y_val)
            test = evaluate_widths(self.net, widths, data, X_test, y_test)
            macs = model_facts(self.space.build(params, data.n_classes), X_test).macs
            for key, value in (("test_accuracy", test), ("macs", macs), ("epochs_run", 0)):
                trial.set_user_attr(key, value)
        return val
