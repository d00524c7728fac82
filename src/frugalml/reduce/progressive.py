"""Progressive, layer-wise training: train a shallow network, then grow it a layer at a time.

Stage 1 trains the first hidden block with the classifier on top. Each later stage inserts the
next block under the classifier and trains it from the settled lower blocks (Belilovsky,
Eickenberg & Oyallon 2018, "Greedy Layerwise Learning Can Scale to ImageNet"; progressive
stacking, Gong et al. 2019 and Yang et al. 2020, "Progressively Stacking 2.0"):

- ``freeze_lower=True``: the lower blocks are frozen, so their outputs on the training and
  validation sets are computed once and the stage trains only the new block and the
  classifier on those cached features (no forward or backward pass through the lower
  blocks); ``False`` trains the whole grown network at every stage.
- ``init="identity"``: a new square block starts as the identity (Net2Net's deeper
  operator, Chen et al. 2016: ``relu(I @ h) = h`` for post-ReLU ``h``), so growing keeps the
  network's function and the stage starts from the previous stage's accuracy;
  ``"random"`` keeps the fresh initialisation.
- ``final_epochs``: optional joint fine-tuning of the whole network at the end (the last
  stage of Yang et al.'s multi-stage schedule).

The model is cut into stages (:mod:`frugalml.reduce._structure`): by default a stage starts
at each ``Linear`` (an ``nn.Sequential`` MLP such as ``frugalml.train.mlp`` is sliced, any
other model traced with ``torch.fx``), or where the user says (``stages=["body.0",
"body.2", "head"]``). The last stage is the head (the classifier); the ones before it are the
blocks grown one at a time. The head is shared across stages when a block's output has the
shape the head takes, else a stage gets its own auxiliary classifier (Belilovsky et al.): a
``Linear`` on flat outputs, global average pooling and a ``Linear`` on feature maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.base import Needs, Technique
from frugalml.reduce.early_stop import BenchMonitored, EnergyAwareEarlyStopping

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData
    from frugalml.train.loop import EpochEnd

__all__ = ["Progressive"]

INITS = ("identity", "random")


class Progressive(BenchMonitored, Technique):
    """Grow an MLP one hidden block per stage, each stage on the settled lower blocks.

    Args:
        epochs_per_stage: epochs of each stage: an int for every stage, a list (one per
            stage), or None: each stage runs until it has settled, at most the recipe's
            epochs, stopped by :class:`~frugalml.reduce.early_stop.EnergyAwareEarlyStopping`
            on its training loss (defaults: window 5, relative gain 0.1).
        freeze_lower: freeze the lower blocks and train on their cached outputs.
        init: ``"identity"`` (function-preserving growth for square blocks) or ``"random"``.
        final_epochs: joint fine-tuning epochs of the whole network after the last stage.
        lr: learning rate; None takes the recipe's.
        stages: names of the submodules where each stage starts, in forward order, the
            last one being the head (e.g. ``["body.0", "body.2", "head"]``); None: one per
            ``Linear``.

    Learned state:
        depth_: hidden blocks of the returned network (the model's own depth).
        stages_: stages run; epochs_run_: epochs over all stages and the final fine-tuning.
        energy_j_: joules of the whole run (nested tracker).
        stage_energy_j_: joules per stage (a list; not in ``report()``).
        curve_: ``[energy_j, accuracy, depth]`` per epoch (test split when the bench gives
            a monitor, else validation; ``curve_split_``).
        With the bench's baseline and test monitor: energy_to_baseline_accuracy_j_ (first
        curve point at the baseline's test accuracy; absent if never reached),
        energy_to_baseline_minus_0_5pt_j_.

    Example:
        >>> model = Progressive().apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "progressive"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=("stages",), stage_layer="Linear", min_stages=2)
    purpose: ClassVar[tuple[str, ...]] = ("training-energy",)
    paper: ClassVar[str] = (
        "Belilovsky et al. 2018, Greedy Layerwise Learning Can Scale to ImageNet; "
        "Yang et al. 2020, Progressively Stacking 2.0"
    )

    def __init__(
        self,
        epochs_per_stage: int | Sequence[int] | None = None,
        freeze_lower: bool = True,
        init: str = "identity",
        final_epochs: int = 0,
        lr: float | None = None,
        stages: Sequence[str] | None = None,
    ) -> None:
        self.epochs_per_stage = epochs_per_stage
        self.freeze_lower = freeze_lower
        self.init = init
        self.final_epochs = final_epochs
        self.lr = lr
        self.stages = stages

    def _named_stages(self) -> Sequence[str] | None:
        return self.stages

    def _check_params(self) -> None:
        owner = type(self).__name__
        if isinstance(self.epochs_per_stage, Sequence) and not isinstance(
            self.epochs_per_stage, str
        ):
            for e in self.epochs_per_stage:
                check_number(owner, "epochs_per_stage", e, low=0, integer=True)
        else:
            self._check_epochs("epochs_per_stage", self.epochs_per_stage)
        check_choice(owner, "init", self.init, INITS)
        check_number(owner, "final_epochs", self.final_epochs, low=0, integer=True)
        self._check_lr("lr", self.lr)
        self._check_stages(self.stages)
        if not isinstance(self.freeze_lower, bool):
            raise InputError(
                f"The 'freeze_lower' parameter of {owner} must be a bool. "
                f"Got {self.freeze_lower!r} instead."
            )

    def _stage_epochs(self, depth: int, recipe_epochs: int) -> list[int]:
        e = self.epochs_per_stage
        if e is None:
            return [recipe_epochs] * depth  # each stage stops once settled
        if isinstance(e, Sequence):
            if len(e) != depth:
                raise InputError(
                    f"The 'epochs_per_stage' parameter of Progressive has {len(e)} entries but "
                    f"the model has {depth} hidden blocks; give one per block or an int."
                )
            return [int(x) for x in e]
        return [int(e)] * depth

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "progressive")
        from frugalml.reduce._structure import cut_stages, linear_head, output_width

        *blocks, head = cut_stages(model, self.stages, "Linear")
        depth = len(blocks)
        epochs = self._stage_epochs(depth, data.epochs)
        example = data.example_input(1)
        shapes = _block_shapes(blocks, example)
        n_out = output_width(model, example)[-1]
        self._data = data
        meter = EnergyMeter(name="progressive", min_interval_s=0.1).start()
        self.stage_energy_j_: list[float] = []
        self.epochs_run_ = 0
        validate = self._bench_evaluate is None and data.has("val")
        torch.manual_seed(data.seed)
        try:
            for k in range(depth):
                start_j = meter.energy_j()
                block = blocks[k]
                if k > 0 and self.init == "identity":
                    _identity_init(block)
                top = head if shapes[k] == shapes[-1] else linear_head(shapes[k], n_out)
                lower = torch.nn.Sequential(*blocks[:k])
                if self.freeze_lower and k > 0:
                    for p in lower.parameters():
                        p.requires_grad_(False)
                    lower.eval()
                    stage_data = data.map_inputs(lower)
                    trained = torch.nn.Sequential(block, top)
                else:
                    stage_data, trained = data, torch.nn.Sequential(*blocks[: k + 1], top)
                stage_net = torch.nn.Sequential(*blocks[: k + 1], top)

                def on_epoch(end: EpochEnd, net: nn.Module = stage_net, d: int = k + 1) -> None:
                    self._curve_point(meter, net, end.val_accuracy, d)

                callbacks: list[Any] = [on_epoch]
                if self.epochs_per_stage is None:
                    callbacks.append(EnergyAwareEarlyStopping(monitor="train_loss", energy=meter))
                history = self._fit(
                    trained,
                    stage_data,
                    epochs=epochs[k],
                    lr=self.lr,
                    callbacks=callbacks,
                    validate=validate,
                )
                self.epochs_run_ += history.epochs_run
                self.stage_energy_j_.append(meter.energy_j() - start_j)
            for p in model.parameters():
                p.requires_grad_(True)
            if self.final_epochs:
                start_j = meter.energy_j()

                def on_final(end: EpochEnd) -> None:
                    self._curve_point(meter, end.model, end.val_accuracy, depth)

                history = self._fit(
                    model,
                    data,
                    epochs=self.final_epochs,
                    lr=self.lr,
                    callbacks=[on_final],
                    validate=validate,
                )
                self.epochs_run_ += history.epochs_run
                self.stage_energy_j_.append(meter.energy_j() - start_j)
        finally:
            self.energy_j_ = meter.stop()
        self.depth_ = depth
        self.stages_ = depth
        base = self._bench_baseline
        if base and base.get("accuracy") is not None and self._curve_on_test():
            acc = float(base["accuracy"])
            self.energy_to_baseline_accuracy_j_ = self._energy_to_reach(acc)
            self.energy_to_baseline_minus_0_5pt_j_ = self._energy_to_reach(acc - 0.005)
        return model  # the model itself: its blocks and head are the ones trained


def _block_shapes(blocks: list[nn.Module], example: Any) -> list[tuple[int, ...]]:
    """Shape of one sample after each block (eval mode, no grad; modes restored)."""
    torch = require("torch", "progressive")
    shapes = []
    modes = [b.training for b in blocks]
    try:
        with torch.no_grad():
            x = example
            for block in blocks:
                block.eval()
                x = block(x)
                shapes.append(tuple(int(d) for d in x.shape[1:]))
    finally:
        for block, mode in zip(blocks, modes):
            block.train(mode)
    return shapes


def _identity_init(block: nn.Module) -> None:
    """Set a square ``Sequential(Linear, ...)`` block to the identity (keeps the network's
    function after ReLU); other blocks keep their fresh initialisation."""
    torch = require("torch", "progressive")
    if not isinstance(block, torch.nn.Sequential) or not isinstance(block[0], torch.nn.Linear):
        return
    linear: Any = block[0]
    has_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in block)
    if linear.in_features != linear.out_features or has_norm:
        return  # not function-preserving: keep the fresh initialisation
    with torch.no_grad():
        linear.weight.copy_(torch.eye(linear.in_features))
        if linear.bias is not None:
            linear.bias.zero_()
