"""Early exits (BranchyNet, Teerapittayanon, McDanel & Kung 2016).

Side classifiers ("exits") are attached after some blocks of a CNN and trained jointly with
it on the weighted sum of every exit's cross-entropy. At inference a sample leaves at the
first exit whose softmax entropy (nats) is below ``threshold``; only the samples still in
flight run the next blocks. Threshold 0 sends every sample to the final exit (the plain
network); an infinite threshold makes every sample leave at the first exit.

The default threshold is chosen on the validation split by a stated rule: among thresholds
at the validation entropies' percentiles, the one with the fewest mean MACs per sample whose
validation accuracy is at most ``max_val_drop_pt`` points below the final exit's.

MACs are counted by :func:`frugalml.profiler.profile` on each prefix of the network: a
sample leaving at exit ``i`` pays the blocks up to it and every exit (with its entropy)
up to and including ``i``. The mean per sample weights those prefix counts by how many
samples leave at each exit.

The network must be an ``nn.Sequential`` CNN of conv blocks (``frugalml.train.small_cnn``):
a block starts at each ``Conv2d``; the last block holds the pooling and classifier.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Technique

if TYPE_CHECKING:
    import torch
    from torch import nn

    from frugalml.train.data import TrainData

# EarlyExitNet is a torch module, defined on first access
__all__ = ["EarlyExit", "exit_assignment"]

_LAZY = ("EarlyExitNet",)


def exit_assignment(entropies: Any, threshold: float) -> Any:
    """Index of the exit each sample leaves at: the first side exit with entropy < threshold,
    else the final one.

    Args:
        entropies: ``(n_side_exits, n_samples)`` tensor of entropies (nats).
        threshold: entropy threshold (nats); 0 never leaves early, ``inf`` always at exit 0.

    Example:
        >>> import torch
        >>> exit_assignment(torch.tensor([[0.1, 0.9], [0.2, 0.3]]), 0.5).tolist()
        [0, 1]
    """
    torch = require("torch", "early exit")
    n_side, n = entropies.shape
    leave = entropies < threshold  # (n_side, n)
    first = torch.full((n,), n_side, dtype=torch.long)
    for i in reversed(range(n_side)):
        first = torch.where(leave[i], torch.tensor(i), first)
    return first


@functools.cache
def _modules() -> SimpleNamespace:
    require("torch", "early exit")
    import torch
    from torch import nn as nn_

    def entropy(logits: torch.Tensor) -> torch.Tensor:
        return torch.special.entr(torch.softmax(logits, dim=1)).sum(dim=1)

    class EarlyExitNet(nn_.Module):
        """A network cut into ``stages`` with a side ``exits[i]`` after each stage but the last.

        ``forward`` returns the final exit's logits (the full network); with ``all_exits``
        set it returns the list of every exit's logits (joint training).
        ``infer(x, threshold)`` runs entropy-thresholded early-exit inference.
        """

        def __init__(self, stages: Sequence[nn.Module], exits: Sequence[nn.Module]) -> None:
            super().__init__()
            if len(exits) != len(stages) - 1:
                raise InputError("EarlyExitNet needs one exit per stage but the last.")
            self.stages = nn_.ModuleList(stages)
            self.exits = nn_.ModuleList(exits)
            self.all_exits = False

        def forward(self, x: torch.Tensor) -> Any:
            outs = []
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i < len(self.exits) and self.all_exits:
                    outs.append(self.exits[i](x))
            return [*outs, x] if self.all_exits else x

        def exit_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
            """Logits of every exit on every sample (no early leaving)."""
            outs = []
            for i, stage in enumerate(self.stages):
                x = stage(x)
                outs.append(self.exits[i](x) if i < len(self.exits) else x)
            return outs

        def infer(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
            """Predicted class and exit index per sample; each sample runs only up to its exit."""
            n = len(x)
            pred = torch.empty(n, dtype=torch.long)
            where = torch.empty(n, dtype=torch.long)
            alive = torch.arange(n)
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i == len(self.exits):
                    pred[alive], where[alive] = x.argmax(dim=1), i
                    break
                logits = self.exits[i](x)
                leave = entropy(logits) < threshold
                if bool(leave.any()):
                    pred[alive[leave]], where[alive[leave]] = logits[leave].argmax(dim=1), i
                    keep = ~leave
                    alive, x = alive[keep], x[keep]
                if len(alive) == 0:
                    break
            return pred, where

    class Prefix(nn_.Module):
        """What a sample leaving at exit ``k`` computes (for MAC counting)."""

        def __init__(self, net: Any, k: int) -> None:
            super().__init__()
            self.net, self.k = net, k

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            net = self.net
            for i in range(self.k + 1):
                x = net.stages[i](x)
                if i < len(net.exits):
                    out = net.exits[i](x)
                    entropy(out)
                else:
                    out = x
            return out

    for cls in (EarlyExitNet, Prefix):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return SimpleNamespace(EarlyExitNet=EarlyExitNet, Prefix=Prefix, entropy=entropy)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(_modules(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cnn_stages(model: nn.Module) -> tuple[list[nn.Module], list[int]]:
    """Cut a Sequential CNN into blocks starting at each Conv2d; return blocks and their widths."""
    torch = require("torch", "early exit")
    if not isinstance(model, torch.nn.Sequential):
        raise InputError(f"early exit needs an nn.Sequential CNN; got {type(model).__name__}")
    groups: list[list[nn.Module]] = []
    widths: list[int] = []
    for module in model:
        if isinstance(module, torch.nn.Conv2d):
            groups.append([module])
            widths.append(int(module.out_channels))
        elif not groups:
            raise InputError("early exit: the network must start with a Conv2d block")
        else:
            groups[-1].append(module)
    if len(groups) < 2:
        raise InputError("early exit needs at least two conv blocks to put an exit between")
    return [torch.nn.Sequential(*g) for g in groups], widths


class EarlyExit(Technique):
    """Train a CNN with BranchyNet side exits and pick an entropy threshold (kind ``"train"``).

    Args:
        exits_after: 0-based conv blocks followed by a side exit; None puts one after every
            block but the last.
        exit_pool: side exits are ``AdaptiveAvgPool2d(exit_pool)``, ``Flatten``, ``Linear``.
        loss_weights: weight of each exit's loss, side exits first then the final one;
            None weighs all 1.
        threshold: entropy threshold (nats); None chooses it on the validation split.
        max_val_drop_pt: the choice rule's allowed validation accuracy loss (points).
        epochs: training epochs; None takes the recipe's. lr: None takes the recipe's.

    Learned state:
        threshold_, n_exits_ (side exits + final), exit_macs_ (list: MACs of leaving at each
        exit), macs_full_ (final exit, side exits skipped: the plain network's forward).
        val_accuracy_ / val_accuracy_final_exit_ / val_mean_macs_ at the chosen threshold.
        threshold_curve_val_: ``[threshold, accuracy, mean_macs, *exit_rates]`` per
        candidate. After ``bench_evaluate``: mean_macs_, macs_reduction_,
        exit_rates_test_, threshold_curve_test_, accuracy_final_exit_.

    Example:
        >>> t = EarlyExit(); net = t.apply(data.make_model(), data)  # doctest: +SKIP
        >>> pred, exit_index = net.infer(X, t.threshold_)  # doctest: +SKIP
    """

    name: ClassVar[str] = "early-exit"
    kind: ClassVar[str] = "train"
    paper: ClassVar[str] = (
        "Teerapittayanon, McDanel & Kung 2016, BranchyNet: Fast Inference via Early Exiting"
    )

    def __init__(
        self,
        exits_after: Sequence[int] | None = None,
        exit_pool: int = 4,
        loss_weights: Sequence[float] | None = None,
        threshold: float | None = None,
        max_val_drop_pt: float = 0.5,
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.exits_after = exits_after
        self.exit_pool = exit_pool
        self.loss_weights = loss_weights
        self.threshold = threshold
        self.max_val_drop_pt = max_val_drop_pt
        self.epochs = epochs
        self.lr = lr

    @classmethod
    def applies_to(cls, task: Any) -> bool:
        """The CNN tasks."""
        return bool(task.kind == "cnn")

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "exit_pool", self.exit_pool, low=1, integer=True)
        if self.threshold is not None and not (
            isinstance(self.threshold, int | float) and self.threshold >= 0
        ):
            raise InputError(
                f"The 'threshold' parameter of {owner} must be a float >= 0 (inf allowed) or "
                f"None. Got {self.threshold!r} instead."
            )
        check_number(owner, "max_val_drop_pt", self.max_val_drop_pt, low=0)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def report(self) -> dict[str, Any]:
        """Scalars as for every technique, plus the threshold curves and per-exit MACs."""
        out: dict[str, Any] = dict(super().report())
        for key in (
            "exit_macs_",
            "threshold_curve_val_",
            "threshold_curve_test_",
            "exit_rates_test_",
        ):
            if hasattr(self, key):
                out[key[:-1]] = getattr(self, key)
        return out

    def _build(self, model: nn.Module, n_classes: int) -> Any:
        torch = require("torch", "early exit")
        try:
            blocks, widths = _cnn_stages(model)
        except InputError as e:
            raise self._fail("cannot cut the model into blocks", e) from e
        after = (
            sorted(set(self.exits_after))
            if self.exits_after is not None
            else list(range(len(blocks) - 1))
        )
        if not after or after[0] < 0 or after[-1] >= len(blocks) - 1:
            raise InputError(
                f"The 'exits_after' parameter of EarlyExit must list blocks in [0, "
                f"{len(blocks) - 2}] (the model has {len(blocks)} conv blocks); got "
                f"{self.exits_after!r}."
            )
        stages, exits, start = [], [], 0
        for i in after:
            stages.append(torch.nn.Sequential(*blocks[start : i + 1]))
            p = int(self.exit_pool)
            exits.append(
                torch.nn.Sequential(
                    torch.nn.AdaptiveAvgPool2d(p),
                    torch.nn.Flatten(),
                    torch.nn.Linear(widths[i] * p * p, n_classes),
                )
            )
            start = i + 1
        stages.append(torch.nn.Sequential(*blocks[start:]))
        return _modules().EarlyExitNet(stages, exits)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "early exit")
        functional = torch.nn.functional
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        n_classes = int(linears[-1].out_features) if linears else data.n_classes
        torch.manual_seed(data.seed)
        net = self._build(model, n_classes)
        n_exits = len(net.exits) + 1
        weights = (
            [1.0] * n_exits if self.loss_weights is None else [float(w) for w in self.loss_weights]
        )
        if len(weights) != n_exits:
            raise InputError(
                f"The 'loss_weights' parameter of EarlyExit needs {n_exits} weights (side exits "
                f"then the final one); got {len(weights)}."
            )

        def joint_loss(outs: Any, y: Any, x: Any) -> Any:
            return sum(w * functional.cross_entropy(o, y) for w, o in zip(weights, outs))

        net.all_exits = True
        try:
            self.epochs_run_ = self._fit(
                net, data, epochs=self.epochs, lr=self.lr, loss_fn=joint_loss
            ).epochs_run
        finally:
            net.all_exits = False
        net.eval()
        self.n_exits_ = n_exits
        self.exit_macs_, self.exit_flops_effective_ = _prefix_costs(net, data.X_val[:1])
        from frugalml.profiler import profile

        self.macs_full_ = int(profile(net, (data.X_val[:1],)).macs)
        self._choose_threshold(net, data.X_val, data.y_val)
        return net

    def _sweep(self, net: Any, X: Any, y: Any, thresholds: Sequence[float]) -> list[list[float]]:
        """``[threshold, accuracy, mean_macs, *exit_rates]`` per threshold (one full pass)."""
        torch = require("torch", "early exit")
        entropy = _modules().entropy
        with torch.inference_mode():
            outs = net.exit_logits(X)
        ent = torch.stack([entropy(o) for o in outs[:-1]])
        preds = torch.stack([o.argmax(dim=1) for o in outs])
        rows = []
        for t in thresholds:
            where = exit_assignment(ent, t)
            pred = preds.gather(0, where.unsqueeze(0)).squeeze(0)
            rates = torch.bincount(where, minlength=len(outs)).float() / len(y)
            mean_macs = float((rates * torch.tensor(self.exit_macs_, dtype=torch.float32)).sum())
            rows.append(
                [float(t), float((pred == y).float().mean()), mean_macs, *[float(r) for r in rates]]
            )
        return rows

    def _candidates(self, net: Any, X: Any) -> list[float]:
        torch = require("torch", "early exit")
        entropy = _modules().entropy
        with torch.inference_mode():
            outs = net.exit_logits(X)
        ent = torch.cat([entropy(o) for o in outs[:-1]])
        qs = torch.quantile(ent, torch.linspace(0, 1, 51)).tolist()
        # just above each percentile, so a sample at that entropy leaves
        return sorted({0.0, *[math.nextafter(q, math.inf) for q in qs], math.inf})

    def _choose_threshold(self, net: Any, X_val: Any, y_val: Any) -> None:
        candidates = self._candidates(net, X_val)
        curve = self._sweep(net, X_val, y_val, candidates)
        final_acc = curve[0][1]  # threshold 0: every sample at the final exit
        self.threshold_curve_val_ = curve
        self.val_accuracy_final_exit_ = final_acc
        if self.threshold is not None:
            chosen = self._sweep(net, X_val, y_val, [float(self.threshold)])[0]
            self.threshold_rule_ = "given"
        else:
            floor = final_acc - self.max_val_drop_pt / 100
            ok = [row for row in curve if row[1] >= floor - 1e-12]
            chosen = min(ok, key=lambda r: (r[2], -r[1], r[0]))
            self.threshold_rule_ = (
                f"fewest mean MACs with validation accuracy >= final exit's - "
                f"{self.max_val_drop_pt} pt"
            )
        self.threshold_ = chosen[0]
        self.val_accuracy_ = chosen[1]
        self.val_mean_macs_ = chosen[2]

    def bench_evaluate(
        self, model: Any, X_test: Any, y_test: Any, *, min_seconds: float = 0.3
    ) -> dict[str, Any]:
        """Test accuracy and cost with early-exit inference at the chosen threshold.

        Returns the row's accuracy and overrides: ``macs`` / ``flops_effective`` (mean per
        sample over the test split), ``infer_energy_j_per_1k`` (measured with a tracker over
        repeated early-exit passes at batch 256, for at least ``min_seconds``) and
        ``latency_ms`` (batch 1: mean over up to 200 test samples, as the cost depends on
        the sample; batch 256: median of passes).
        """
        torch = require("torch", "early exit")
        from frugalml.measure.tracker import Tracker

        model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            pred, where = model.infer(X_test, self.threshold_)
        rates = torch.bincount(where, minlength=self.n_exits_).float() / len(y_test)
        self.exit_rates_test_ = [float(r) for r in rates]
        mean_macs = float(sum(r * m for r, m in zip(self.exit_rates_test_, self.exit_macs_)))
        mean_fe = float(
            sum(r * m for r, m in zip(self.exit_rates_test_, self.exit_flops_effective_))
        )
        accuracy = float((pred == y_test).float().mean())
        self.mean_macs_ = mean_macs
        self.macs_reduction_ = self.macs_full_ / mean_macs if mean_macs else float("nan")
        self.threshold_curve_test_ = self._sweep(
            model, X_test, y_test, [r[0] for r in self.threshold_curve_val_]
        )
        self.accuracy_final_exit_ = self.threshold_curve_test_[0][1]
        batch = 256
        samples = 0
        with (
            torch.inference_mode(),
            Tracker("early-exit-infer", db=False, handle_signals=False) as run,
        ):
            start = time.perf_counter()
            while samples == 0 or time.perf_counter() - start < min_seconds:
                for i in range(0, len(X_test), batch):
                    model.infer(X_test[i : i + batch], self.threshold_)
                samples += len(X_test)
        one = []
        with torch.inference_mode():
            for i in range(min(200, len(X_test))):
                t = time.perf_counter()
                model.infer(X_test[i : i + 1], self.threshold_)
                one.append(time.perf_counter() - t)
            big = []
            xb = X_test[:batch]
            for _ in range(5):
                t = time.perf_counter()
                model.infer(xb, self.threshold_)
                big.append(time.perf_counter() - t)
        self.bench_evaluate_s_ = time.perf_counter() - t0
        return {
            "accuracy": accuracy,
            "macs": mean_macs,
            "flops_effective": mean_fe,
            "infer_energy_j_per_1k": run.energy_j["total"] / samples * 1000,
            "latency_ms": {
                "batch_1": statistics.fmean(one) * 1000,
                f"batch_{batch}": statistics.median(big) * 1000,
            },
        }


def _prefix_costs(net: Any, example: Any) -> tuple[list[int], list[int]]:
    """MACs and effective FLOPs of leaving at each exit (frugalml.profiler on each prefix)."""
    from frugalml.profiler import profile

    macs, fe = [], []
    for k in range(len(net.stages)):
        p = profile(_modules().Prefix(net, k), (example,))
        macs.append(int(p.macs))
        fe.append(int(p.flops_effective))
    return macs, fe
