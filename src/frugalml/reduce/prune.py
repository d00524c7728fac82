"""Pruning: global unstructured magnitude pruning, and structured channel pruning.

- ``magnitude-prune`` (Han et al. 2015, "Learning both Weights and Connections for
  Efficient Neural Networks"): zero the smallest-magnitude weights across all Linear
  and Conv layers at once, in steps towards a target sparsity with fine-tuning after
  each step; the masks are then made permanent. Linear layers then run with a sparse
  kernel (``torch.sparse`` CSR) where that measures faster on this machine at the batch
  you infer at; convolutions keep their dense shape (PyTorch has no sparse convolution
  kernel for the CPU), so there the gain is in non-zero parameters only.
- ``channel-prune`` (L1-norm filter pruning, Li et al. 2017 "Pruning Filters for
  Efficient ConvNets"; ThiNet, Luo et al. 2017, for the prune-then-fine-tune recipe):
  remove whole output channels / hidden units with the smallest L1 norm, with
  Torch-Pruning's dependency graph (Fang et al. 2023, "DepGraph") shrinking every
  coupled layer, so the model is physically smaller and faster; then fine-tune.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.reduce.base import Needs, Technique, count_nonzero, count_params, weight_layers

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["ChannelPrune", "MagnitudePrune", "sparsity_schedule"]

logger = logging.getLogger(__name__)

KERNEL_MODES = ("auto", "always", "never")


def sparsity_schedule(target: float, steps: int, schedule: str = "geometric") -> list[float]:
    """Sparsity after each of ``steps`` pruning rounds, ending at ``target``.

    ``"geometric"`` removes the same fraction of the remaining weights each round
    (target 0.9375 in 4 steps: 50 %, 75 %, 87.5 %, 93.75 %), the iterative schedule of
    Han et al.; ``"cubic"`` is Zhu & Gupta's (2017) ``target * (1 - (1 - i/steps) ** 3)``,
    which prunes fast first and slowly near the end.

    Example:
        >>> sparsity_schedule(0.9375, 4)
        [0.5, 0.75, 0.875, 0.9375]
    """
    check_number("sparsity_schedule", "target", target, low=0, high=1, high_open=True)
    check_number("sparsity_schedule", "steps", steps, low=1, integer=True)
    check_choice("sparsity_schedule", "schedule", schedule, ("geometric", "cubic"))
    if schedule == "geometric":
        out = [1 - (1 - target) ** (i / steps) for i in range(1, steps + 1)]
    else:
        out = [target * (1 - (1 - i / steps) ** 3) for i in range(1, steps + 1)]
    return [round(s, 12) for s in out]


class MagnitudePrune(Technique):
    """Global unstructured magnitude pruning with iterative prune -> fine-tune rounds.

    Args:
        target_sparsity: fraction of Linear/Conv weights set to zero at the end, in
            [0, 1). The default 0.9 leaves 9.5x fewer non-zero parameters on the bench's
            64-256-256-10 MLP with its (unpruned) biases counted; models with a larger
            share of biases/norms need a higher target for the same ratio.
        steps: pruning rounds.
        schedule: ``"cubic"`` (default; prunes most in the first rounds, when the network
            recovers easily) or ``"geometric"`` (see :func:`sparsity_schedule`).
        fine_tune_epochs: epochs of fine-tuning after each round (0: prune only).
        lr: fine-tuning learning rate; None takes the recipe's.
        sparse_kernels: how the pruned Linear layers run. ``"auto"`` (default): at the
            end of ``apply``, time each layer's dense and sparse (CSR) product on
            ``sparse_batch`` rows (median of 9 interleaved runs) and keep the sparse one
            where it is at least 1.1x faster; ``"always"``; ``"never"`` (dense, no timing).
            Sparse layers are :class:`~frugalml.reduce._sparse.SparseLinear` (inference
            only; ``frugalml.reduce._sparse.to_dense(model)`` restores ``nn.Linear``).
        sparse_batch: batch size the kernels are timed at (the batch you will infer at).

    Learned state:
        sparsity_: fraction of prunable weights that are zero.
        nonzero_params_, total_params_: non-zero / all parameter elements, biases included.
        param_reduction_: ``total_params_ / nonzero_params_``.
        epochs_run_: fine-tuning epochs run in total.
        sparse_layers_, linear_layers_: Linear layers running a sparse kernel / in all.
        sparse_speedup_: measured time of the Linear layers with dense kernels over their
            time with the chosen kernels, at ``sparse_batch`` (1.0 when none switched).
        kernels_: per Linear layer, its density, the measured sparse-vs-dense speed-up and
            the kernel kept, e.g. ``"0: density 0.11, sparse 2.3x, sparse; ..."``.

    Example:
        >>> MagnitudePrune(target_sparsity=0.9).apply(model, data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "magnitude-prune"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("size", "inference-energy")
    paper: ClassVar[str] = "Han et al. 2015, Learning both Weights and Connections (NeurIPS)"

    def __init__(
        self,
        target_sparsity: float = 0.9,
        steps: int = 4,
        schedule: str = "cubic",
        fine_tune_epochs: int = 4,
        lr: float | None = None,
        sparse_kernels: str = "auto",
        sparse_batch: int = 256,
    ) -> None:
        self.target_sparsity = target_sparsity
        self.steps = steps
        self.schedule = schedule
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr
        self.sparse_kernels = sparse_kernels
        self.sparse_batch = sparse_batch

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "target_sparsity", self.target_sparsity, low=0, high=1, high_open=True)
        check_number(owner, "steps", self.steps, low=1, integer=True)
        check_choice(owner, "schedule", self.schedule, ("geometric", "cubic"))
        self._check_epochs("fine_tune_epochs", self.fine_tune_epochs)
        self._check_lr("lr", self.lr)
        check_choice(owner, "sparse_kernels", self.sparse_kernels, KERNEL_MODES)
        check_number(owner, "sparse_batch", self.sparse_batch, low=1, integer=True)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        prune = require("torch.nn.utils.prune", "magnitude-prune")
        targets = [(m, "weight") for m in weight_layers(model)]
        if not targets:
            raise self._fail("the model has no Linear or Conv layer to prune")
        n_weights = sum(m.weight.numel() for m, _ in targets)
        epochs_run = 0
        pruned = 0
        for sparsity in sparsity_schedule(self.target_sparsity, self.steps, self.schedule):
            # an integer amount prunes exactly that many of the still-unpruned weights
            n_more = round(sparsity * n_weights) - pruned
            if n_more > 0:
                prune.global_unstructured(
                    targets, pruning_method=prune.L1Unstructured, amount=n_more
                )
                pruned += n_more
            if self.fine_tune_epochs:
                epochs_run += self._fit(
                    model, data, epochs=self.fine_tune_epochs, lr=self.lr
                ).epochs_run
            logger.debug("magnitude-prune: sparsity %.4f reached", sparsity)
        for module, param in targets:
            if prune.is_pruned(module):
                prune.remove(module, param)
        zeros = sum(int((m.weight == 0).sum()) for m, _ in targets)
        self.sparsity_ = zeros / n_weights
        self.total_params_ = count_params(model)
        self.nonzero_params_ = count_nonzero(model)
        self.param_reduction_ = self.total_params_ / max(self.nonzero_params_, 1)
        self.epochs_run_ = epochs_run
        return self._choose_kernels(model)

    def _choose_kernels(self, model: nn.Module) -> nn.Module:
        torch = require("torch", "magnitude-prune")
        linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        self.linear_layers_ = len(linear)
        self.sparse_layers_ = 0
        self.sparse_speedup_ = 1.0
        if self.sparse_kernels == "never" or not linear:
            self.kernels_ = "dense (sparse_kernels='never')" if linear else "no Linear layer"
            return model
        from frugalml.reduce._sparse import choose_kernels

        model, choices = choose_kernels(model, batch=self.sparse_batch, mode=self.sparse_kernels)
        self.sparse_layers_ = sum(c.sparse for c in choices)
        chosen_s = sum(c.sparse_s if c.sparse else c.dense_s for c in choices)
        self.sparse_speedup_ = sum(c.dense_s for c in choices) / chosen_s if chosen_s else 1.0
        self.kernels_ = (
            "; ".join(
                f"{c.name or 'model'}: density {c.density:.2f}, sparse {c.speedup:.2f}x, "
                f"{'sparse' if c.sparse else 'dense'}"
                for c in choices
            )
            + f" (timed at batch {self.sparse_batch})"
        )
        return model


class ChannelPrune(Technique):
    """Structured L1-norm channel pruning with Torch-Pruning, then fine-tuning.

    Every prunable layer loses ``pruning_ratio`` of its output channels (hidden units
    for Linear layers): those whose own filter (weight row) has the smallest L1 norm,
    as in Li et al. 2017; Torch-Pruning's
    dependency graph removes the matching inputs of the next layers and BatchNorm
    entries. The classifier's outputs are kept.

    Args:
        pruning_ratio: fraction of channels removed from each prunable layer, in [0, 1).
        fine_tune_epochs: epochs of fine-tuning after pruning.
        lr: fine-tuning learning rate; None takes the recipe's.
        round_to: keep channel counts a multiple of this (SIMD-friendly), or None.

    Learned state:
        channels_before_, channels_after_: output channels summed over pruned layers.
        params_before_, params_after_, param_reduction_: parameter counts and ratio.
        epochs_run_: fine-tuning epochs run.

    Example:
        >>> ChannelPrune(pruning_ratio=0.5).apply(model, data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "channel-prune"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = (
        "Li et al. 2017, Pruning Filters for Efficient ConvNets (ICLR); "
        "Fang et al. 2023, DepGraph (CVPR)"
    )

    def __init__(
        self,
        pruning_ratio: float = 0.5,
        fine_tune_epochs: int = 10,
        lr: float | None = None,
        round_to: int | None = None,
    ) -> None:
        self.pruning_ratio = pruning_ratio
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr
        self.round_to = round_to

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "pruning_ratio", self.pruning_ratio, low=0, high=1, high_open=True)
        self._check_epochs("fine_tune_epochs", self.fine_tune_epochs)
        self._check_lr("lr", self.lr)
        if self.round_to is not None:
            check_number(owner, "round_to", self.round_to, low=1, integer=True)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        tp = require("torch_pruning", "channel-prune")
        layers = weight_layers(model)
        if not layers:
            raise self._fail("the model has no Linear or Conv layer to prune")
        from frugalml.reduce._structure import output_width

        # the model's outputs (logits, or regression values) must all stay: the last layer
        # with as many outputs as the model (or, failing that, the last weight layer)
        n_out = output_width(model, data.example_input(2))[0]
        heads = [m for m in layers if _out_channels(m) == n_out]
        ignored = heads[-1:] or layers[-1:]
        kept = [m for m in layers if m not in ignored]
        self.channels_before_ = sum(_out_channels(m) for m in kept)
        self.params_before_ = count_params(model)
        model.eval()
        try:
            pruner = tp.pruner.MetaPruner(
                model,
                data.example_input(2),
                # the L1 norm of each channel's own filter, as Li et al. 2017
                importance=tp.importance.MagnitudeImportance(
                    p=1, normalizer=None, group_reduction="first"
                ),
                pruning_ratio=self.pruning_ratio,
                ignored_layers=ignored,
                round_to=self.round_to,
            )
            pruner.step()
        except Exception as e:  # Torch-Pruning raises many kinds on graphs it cannot trace
            raise self._fail(
                "Torch-Pruning could not prune this graph",
                e,
                "Use magnitude-prune, or pass a model built from standard modules.",
            ) from e
        self.channels_after_ = sum(_out_channels(m) for m in kept)
        self.params_after_ = count_params(model)
        self.param_reduction_ = self.params_before_ / max(self.params_after_, 1)
        self.epochs_run_ = 0
        if self.fine_tune_epochs:
            self.epochs_run_ = self._fit(
                model, data, epochs=self.fine_tune_epochs, lr=self.lr
            ).epochs_run
        return model


def _out_channels(module: nn.Module) -> int:
    for attr in ("out_features", "out_channels"):
        if hasattr(module, attr):
            return int(getattr(module, attr))
    return 0
