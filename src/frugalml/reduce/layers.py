"""The torch modules the techniques build: Fire blocks, early-exit networks, weight
parametrizations (shared codebooks, binary weights).

They are plain module-level classes, so reduced models pickle and type-check like any other.
This module imports torch; the techniques import it inside ``apply`` (``import
frugalml.reduce`` stays free of torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from frugalml.errors import InputError

__all__ = ["Binarize", "EarlyExitNet", "ExitPrefix", "FireModule", "SharedWeights", "entropy"]


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Softmax entropy (nats) of each row of ``logits``."""
    return torch.special.entr(torch.softmax(logits, dim=1)).sum(dim=1)


class FireModule(nn.Module):
    """SqueezeNet's Fire module: 1x1 squeeze, ReLU, then 1x1 and kxk expands concatenated.

    Example:
        >>> FireModule(8, 2, 4, 4)(torch.zeros(1, 8, 5, 5)).shape
        torch.Size([1, 8, 5, 5])
    """

    def __init__(
        self,
        c_in: int,
        squeeze: int,
        expand1: int,
        expand3: int,
        kernel_size: int = 3,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, squeeze, 1, stride=stride)
        self.relu = nn.ReLU()
        self.expand1 = nn.Conv2d(squeeze, expand1, 1) if expand1 else None
        self.expand3 = nn.Conv2d(squeeze, expand3, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.relu(self.squeeze(x))
        if self.expand1 is None:
            return self.expand3(s)
        return torch.cat([self.expand1(s), self.expand3(s)], dim=1)


class EarlyExitNet(nn.Module):
    """A network cut into ``stages`` with a side ``exits[i]`` after each stage but the last.

    ``forward`` in eval mode with ``threshold`` set is early-exit inference: each sample
    leaves at the first side exit whose softmax entropy (nats) is below ``threshold``, and
    only the samples still in flight run the next stages; the output holds, per sample, the
    logits of the exit it left at. In training mode, or with ``threshold`` None, it is the
    plain network (the final exit); with ``all_exits`` set it returns every exit's logits
    (joint training). ``infer(x, threshold)`` also says where each sample left.
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        exits: Sequence[nn.Module],
        threshold: float | None = None,
    ) -> None:
        super().__init__()
        if len(exits) != len(stages) - 1:
            raise InputError("EarlyExitNet needs one exit per stage but the last.")
        self.stages = nn.ModuleList(stages)
        self.exits = nn.ModuleList(exits)
        self.threshold = threshold
        self.all_exits = False

    def forward(self, x: torch.Tensor) -> Any:
        if self.all_exits:
            return self.exit_logits(x)
        if self.training or self.threshold is None:
            for stage in self.stages:
                x = stage(x)
            return x
        return self._leave_early(x, self.threshold)[0]

    def exit_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every exit on every sample (no early leaving)."""
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            outs.append(self.exits[i](x) if i < len(self.exits) else x)
        return outs

    def infer(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted class and exit index per sample at ``threshold``."""
        logits, where = self._leave_early(x, threshold)
        return logits.argmax(dim=1), where

    def _leave_early(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        out: torch.Tensor | None = None
        where = torch.empty(n, dtype=torch.long)
        alive = torch.arange(n)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            last = i == len(self.exits)
            logits = x if last else self.exits[i](x)
            if out is None:
                out = logits.new_empty((n, *logits.shape[1:]))
            if last:
                out[alive], where[alive] = logits, i
                break
            leave = entropy(logits) < threshold
            if bool(leave.any()):
                out[alive[leave]], where[alive[leave]] = logits[leave], i
                keep = ~leave
                alive, x = alive[keep], x[keep]
            if len(alive) == 0:
                break
        assert out is not None
        return out, where


class ExitPrefix(nn.Module):
    """What a sample leaving at exit ``k`` computes: the stages up to it and every exit (with
    its entropy) up to and including ``k``. For counting MACs."""

    def __init__(self, net: EarlyExitNet, k: int) -> None:
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        out = x
        for i in range(self.k + 1):
            x = net.stages[i](x)
            if i < len(net.exits):
                out = net.exits[i](x)
                entropy(out)
            else:
                out = x
        return out


class SharedWeights(nn.Module):
    """Parametrization whose output is ``centroids[labels]``: only the codebook trains.

    Autograd sums the gradients of all weights sharing a centroid into that centroid,
    the shared-gradient update of Deep Compression.
    """

    labels: torch.Tensor

    def __init__(self, centroids: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__()
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("labels", labels)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.centroids[self.labels]


class Binarize(nn.Module):
    """Parametrization: binary weights ``{-h, +h}`` forward, straight-through gradient to the
    real-valued ones. Stochastic rounding (hard sigmoid) in training mode when asked."""

    def __init__(self, h: float, stochastic: bool = False) -> None:
        super().__init__()
        self.h, self.stochastic = h, stochastic

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        h = self.h
        if self.stochastic and self.training:
            p = ((w / h + 1) / 2).clamp(0, 1)
            wb = torch.where(torch.rand_like(w) < p, h, -h)
        else:
            wb = torch.where(w >= 0, h, -h)
        # exactly wb in value (w - w.detach() is 0), identity gradient to w
        return wb + (w - w.detach())
