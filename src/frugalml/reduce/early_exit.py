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

The network is cut into stages (:mod:`frugalml.reduce._structure`): by default a stage
starts at each ``Conv2d`` (an ``nn.Sequential`` is sliced, any other model traced with
``torch.fx``), or where the user says (``stages=["features.0", "features.4", "head"]``); the
last stage holds the pooling and classifier. A side exit pools a stage's feature maps
(``AdaptiveAvgPool2d``, ``Flatten``, ``Linear``), or is a ``Linear`` on a flat output.

The returned :class:`~frugalml.reduce.layers.EarlyExitNet` does early-exit inference when
called in eval mode (its ``threshold`` is set to the chosen one), so it is measured, saved
and served like any model; ``net.threshold = 0`` makes it the plain network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Needs, Technique

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["EarlyExit", "exit_assignment"]


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


class EarlyExit(Technique):
    """Train a network with BranchyNet side exits and pick an entropy threshold (kind ``"train"``).

    Args:
        exits_after: 0-based stages followed by a side exit; None puts one after every
            stage but the last.
        exit_pool: side exits on feature maps are ``AdaptiveAvgPool2d(exit_pool)``,
            ``Flatten``, ``Linear``.
        loss_weights: weight of each exit's loss, side exits first then the final one;
            None weighs all 1.
        threshold: entropy threshold (nats); None chooses it on the validation split.
        max_val_drop_pt: the choice rule's allowed validation accuracy loss (points).
        epochs: training epochs; None takes the recipe's. lr: None takes the recipe's.
        stages: names of the submodules where each stage starts, in forward order (e.g.
            ``["features.0", "features.4", "classifier"]``); None: one per ``Conv2d``.

    Learned state:
        threshold_, n_exits_ (side exits + final), exit_macs_ (list: MACs of leaving at each
        exit), macs_full_ (final exit, side exits skipped: the plain network's forward).
        val_accuracy_ / val_accuracy_final_exit_ / val_mean_macs_ at the chosen threshold.
        threshold_curve_val_: ``[threshold, accuracy, mean_macs, *exit_rates]`` per
        candidate. After ``bench_evaluate`` (on the test split): mean_macs_,
        macs_reduction_, exit_rates_test_, threshold_curve_test_, accuracy_final_exit_.

    Example:
        >>> t = EarlyExit(); net = t.apply(data.make_model(), data)  # doctest: +SKIP
        >>> logits = net(X)        # early-exit inference at t.threshold_  # doctest: +SKIP
        >>> pred, exit_index = net.infer(X, t.threshold_)  # doctest: +SKIP
    """

    name: ClassVar[str] = "early-exit"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(
        model=("stages",), stage_layer="Conv2d", min_stages=2, data="train+val"
    )
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy",)
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
        stages: Sequence[str] | None = None,
    ) -> None:
        self.exits_after = exits_after
        self.exit_pool = exit_pool
        self.loss_weights = loss_weights
        self.threshold = threshold
        self.max_val_drop_pt = max_val_drop_pt
        self.epochs = epochs
        self.lr = lr
        self.stages = stages

    def _named_stages(self) -> Sequence[str] | None:
        return self.stages

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
        self._check_stages(self.stages)
        for name, value, kind in (
            ("exits_after", self.exits_after, int),
            ("loss_weights", self.loss_weights, int | float),
        ):
            if value is not None and (
                isinstance(value, str)
                or not isinstance(value, Sequence)
                or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
            ):
                raise InputError(
                    f"The '{name}' parameter of {owner} must be a list of numbers or None. "
                    f"Got {value!r} instead."
                )

    def report(self) -> dict[str, Any]:
        """Scalars as for every technique, plus the threshold curves and per-exit MACs."""
        out: dict[str, Any] = dict(super().report())
        for key in (
            "exit_macs_",
            "threshold_curve_val_",
            "threshold_curve_test_",
            "exit_rates_test_",
        ):
            if key in vars(self):
                out[key[:-1]] = getattr(self, key)
        return out

    def _build(self, model: nn.Module, example: Any) -> Any:
        torch = require("torch", "early exit")
        from frugalml.reduce._structure import cut_stages, linear_head, output_width
        from frugalml.reduce.layers import EarlyExitNet

        blocks = cut_stages(model, self.stages, "Conv2d")
        n_out = output_width(model, example)[-1]
        widths = []
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                x = example
                for block in blocks:
                    x = block(x)
                    widths.append(tuple(int(d) for d in x.shape[1:]))
        finally:
            model.train(was_training)
        after = (
            sorted(set(self.exits_after))
            if self.exits_after is not None
            else list(range(len(blocks) - 1))
        )
        if not after or after[0] < 0 or after[-1] >= len(blocks) - 1:
            raise InputError(
                f"The 'exits_after' parameter of EarlyExit must list stages in [0, "
                f"{len(blocks) - 2}] (the model has {len(blocks)} stages); got "
                f"{self.exits_after!r}."
            )
        stages, exits, start = [], [], 0
        for i in after:
            stages.append(torch.nn.Sequential(*blocks[start : i + 1]))
            head = linear_head(widths[i], n_out, int(self.exit_pool))
            exits.append(
                head if isinstance(head, torch.nn.Sequential) else torch.nn.Sequential(head)
            )
            start = i + 1
        stages.append(torch.nn.Sequential(*blocks[start:]))
        return EarlyExitNet(stages, exits)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "early exit")
        from frugalml.profiler import profile

        example = next(data.chunks("val"))[0][:1]
        torch.manual_seed(data.seed)
        net = self._build(model, example)
        n_exits = len(net.exits) + 1
        weights = (
            [1.0] * n_exits if self.loss_weights is None else [float(w) for w in self.loss_weights]
        )
        if len(weights) != n_exits:
            raise InputError(
                f"The 'loss_weights' parameter of EarlyExit needs {n_exits} weights (side exits "
                f"then the final one); got {len(weights)}."
            )
        loss = data.loss_fn()

        def joint_loss(outs: Any, y: Any, x: Any) -> Any:
            return sum(w * loss(o, y) for w, o in zip(weights, outs))

        net.all_exits = True
        try:
            self.epochs_run_ = self._fit(
                net, data, epochs=self.epochs, lr=self.lr, loss_fn=joint_loss
            ).epochs_run
        finally:
            net.all_exits = False
        net.eval()
        self.n_exits_ = n_exits
        self.exit_macs_, self.exit_flops_effective_ = _prefix_costs(net, example)
        self.macs_full_ = int(profile(net, (example,)).macs)
        self._choose_threshold(_exit_outputs(net, data.chunks("val")))
        net.threshold = self.threshold_
        return net

    def _sweep(
        self, outputs: tuple[Any, Any, Any], thresholds: Sequence[float]
    ) -> list[list[float]]:
        """``[threshold, accuracy, mean_macs, *exit_rates]`` per threshold, from the exits'
        entropies and predictions (:func:`_exit_outputs`)."""
        torch = require("torch", "early exit")
        ent, preds, y = outputs
        rows = []
        for t in thresholds:
            where = exit_assignment(ent, t)
            pred = preds.gather(0, where.unsqueeze(0)).squeeze(0)
            rates = torch.bincount(where, minlength=len(preds)).float() / len(y)
            mean_macs = float((rates * torch.tensor(self.exit_macs_, dtype=torch.float32)).sum())
            rows.append(
                [float(t), float((pred == y).float().mean()), mean_macs, *[float(r) for r in rates]]
            )
        return rows

    def _choose_threshold(self, outputs: tuple[Any, Any, Any]) -> None:
        torch = require("torch", "early exit")
        ent = outputs[0].flatten()
        qs = torch.quantile(ent, torch.linspace(0, 1, 51)).tolist()
        # just above each percentile, so a sample at that entropy leaves
        candidates = sorted({0.0, *[math.nextafter(q, math.inf) for q in qs], math.inf})
        curve = self._sweep(outputs, candidates)
        final_acc = curve[0][1]  # threshold 0: every sample at the final exit
        self.threshold_curve_val_ = curve
        self.val_accuracy_final_exit_ = final_acc
        if self.threshold is not None:
            chosen = self._sweep(outputs, [float(self.threshold)])[0]
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

    def bench_evaluate(self, model: nn.Module, X_test: Any, y_test: Any) -> dict[str, float]:
        """Mean MACs and effective FLOPs per test sample at the chosen threshold (each sample
        pays the prefix up to its exit), and the test split's exit rates and threshold curve
        (learned state). The bench measures accuracy, energy and latency of ``model`` itself:
        called in eval mode, it leaves early."""
        outputs = _exit_outputs(model, [(X_test, y_test)])
        rates = self._sweep(outputs, [self.threshold_])[0][3:]
        self.exit_rates_test_ = rates
        mean_macs = float(sum(r * m for r, m in zip(rates, self.exit_macs_)))
        mean_fe = float(sum(r * m for r, m in zip(rates, self.exit_flops_effective_)))
        self.mean_macs_ = mean_macs
        self.macs_reduction_ = self.macs_full_ / mean_macs if mean_macs else float("nan")
        self.threshold_curve_test_ = self._sweep(outputs, [r[0] for r in self.threshold_curve_val_])
        self.accuracy_final_exit_ = self.threshold_curve_test_[0][1]
        return {"macs": mean_macs, "flops_effective": mean_fe}


def _exit_outputs(net: Any, chunks: Iterable[tuple[Any, Any]]) -> tuple[Any, Any, Any]:
    """Entropy of every side exit ``(n_side, n)``, prediction of every exit ``(n_exits, n)``
    and the targets, over ``chunks`` of ``(inputs, targets)``."""
    torch = require("torch", "early exit")
    from frugalml.reduce.layers import entropy

    ents, preds, ys = [], [], []
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for x, y in chunks:
                outs = net.exit_logits(x)
                ents.append(torch.stack([entropy(o) for o in outs[:-1]]))
                preds.append(torch.stack([o.argmax(dim=1) for o in outs]))
                ys.append(y)
    finally:
        net.train(was_training)
    return torch.cat(ents, dim=1), torch.cat(preds, dim=1), torch.cat(ys)


def _prefix_costs(net: Any, example: Any) -> tuple[list[int], list[int]]:
    """MACs and effective FLOPs of leaving at each exit (frugalml.profiler on each prefix)."""
    from frugalml.profiler import profile
    from frugalml.reduce.layers import ExitPrefix

    macs, fe = [], []
    for k in range(len(net.stages)):
        p = profile(ExitPrefix(net, k), (example,))
        macs.append(int(p.macs))
        fe.append(int(p.flops_effective or 0))  # counted: count_nonzero is on
    return macs, fe
