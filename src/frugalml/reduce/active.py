"""Pool-based active learning: label only the training samples the model asks for.

The training split is the unlabelled pool; its labels are revealed only for the samples
selected. A random ``initial_labels`` fraction is labelled first; then, each round, the model
scores every unlabelled sample, the ``labels_per_round`` most informative are labelled and
the model is trained again (continuing from its weights with ``warm_start``, else from its
initial weights), until ``max_labels`` of the pool is labelled (or ``target_val_accuracy``
is reached on the validation split). Strategies (higher score = labelled first):

- ``random``: a random order (the baseline every strategy must beat);
- ``least-confident``: ``1 - max_y p(y|x)``;
- ``margin``: ``-(p_1 - p_2)``, the gap between the two most likely classes (Joshi, Porikli
  & Papanikolopoulos 2009, "Multi-class active learning for image classification", who
  also use ``entropy``);
- ``entropy``: ``-sum_y p log p``;
- ``expected-model-change``: the expected gradient length (Settles, Craven & Ray 2008;
  expected model output change, Freytag, Rodner & Denzler 2014) of the classifier layer,
  ``sum_y p(y|x) ||grad_W loss(x, y)||`` with ``||grad|| = ||p - e_y|| sqrt(||h||^2 + 1)``
  for the last Linear's weights and bias (``h`` its input): exact for that layer, the
  usual approximation for the rest of the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.base import Needs
from frugalml.reduce.early_stop import BenchMonitored

if TYPE_CHECKING:
    import torch
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["STRATEGIES", "ActiveLearning", "informativeness"]

STRATEGIES = ("random", "least-confident", "margin", "entropy", "expected-model-change")


def informativeness(
    model: nn.Module, X: torch.Tensor, strategy: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Score per row of ``X`` under ``strategy`` (higher = label first), in inference mode.

    Example:
        >>> import torch
        >>> from frugalml.train import mlp
        >>> informativeness(mlp(4, 8, 3), torch.randn(5, 4), "entropy").shape
        torch.Size([5])
    """
    torch = require("torch", "active learning")
    check_choice("informativeness", "strategy", strategy, STRATEGIES)
    if strategy == "random":
        return torch.rand(len(X), generator=generator)
    from frugalml.reduce.transfer import classifier_inputs

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = torch.cat([model(X[i : i + 1024]) for i in range(0, len(X), 1024)])
    finally:
        model.train(was_training)
    p = torch.softmax(logits, dim=1)
    if strategy == "least-confident":
        return 1 - p.max(dim=1).values
    if strategy == "margin":
        top2 = p.topk(2, dim=1).values
        return -(top2[:, 0] - top2[:, 1])
    if strategy == "entropy":
        return torch.special.entr(p).sum(dim=1)
    h = classifier_inputs(model, X)
    # ||p - e_y||^2 = ||p||^2 - 2 p_y + 1, for every y at once
    dist = ((p * p).sum(dim=1, keepdim=True) - 2 * p + 1).clamp_min(0).sqrt()
    return (p * dist).sum(dim=1) * ((h * h).sum(dim=1) + 1).sqrt()


def _fraction(owner: str, name: str, value: Any) -> None:
    check_number(owner, name, value, low=0, low_open=True, high=1)


class ActiveLearning(BenchMonitored):
    """Train on labels chosen round by round from the training pool (kind ``"train"``).

    Args:
        strategy: one of :data:`STRATEGIES`.
        initial_labels: fraction of the pool labelled at random before the first round.
        labels_per_round: fraction of the pool labelled each round (the per-round budget).
        max_labels: the labelling budget: fraction of the pool labelled at most.
        epochs_per_round: training epochs after each labelling; None takes a sixth of the
            recipe's epochs (rounded up): with the default schedule (10 % then 5 % per
            round up to 50 %) the labelled sets over the 9 trainings add up to 2.7 pools,
            so the run makes about 0.45x the sample passes of full-data training.
        warm_start: continue from the previous round's weights (else restart each round
            from the initial weights).
        target_val_accuracy: stop once the validation accuracy reaches it; None runs
            until the budget is spent (needs a validation split).
        lr: learning rate; None takes the recipe's.

    Streamed data (``TrainData.from_loader``) needs a map-style ``Dataset`` (indexable):
    the labelled samples are a ``Subset`` of it.

    Learned state:
        labels_used_, pool_size_, label_fraction_, rounds_ (labelling rounds after the
        initial one), epochs_run_, energy_j_ (nested tracker: training and scoring).
        labelled_indices_: training-split rows labelled (a tensor; not in ``report()``).
        curve_: ``[energy_j, accuracy, labels]`` after each round's training (test split when
        the bench gives a monitor, else validation; ``curve_split_``).
        With the bench's baseline and test monitor (the full-data model):
        labels_to_within_1pt_ and energy_to_within_1pt_j_ (first curve point within 1 point
        of the baseline's test accuracy; absent if never).

    Example:
        >>> t = ActiveLearning(strategy="margin", max_labels=0.5)
        >>> model = t.apply(data.make_model(), data)  # doctest: +SKIP
        >>> t.labels_used_ <= 0.5 * len(data.y_train)  # doctest: +SKIP
        True
    """

    name: ClassVar[str] = "active-learning"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=())
    purpose: ClassVar[tuple[str, ...]] = ("labels", "training-energy")
    paper: ClassVar[str] = (
        "Joshi et al. 2009, Multi-class active learning for image classification; "
        "Freytag et al. 2014, Selecting influential examples (expected model change)"
    )

    def __init__(
        self,
        strategy: str = "margin",
        initial_labels: float = 0.1,
        labels_per_round: float = 0.05,
        max_labels: float = 0.5,
        epochs_per_round: int | None = None,
        warm_start: bool = True,
        target_val_accuracy: float | None = None,
        lr: float | None = None,
    ) -> None:
        self.strategy = strategy
        self.initial_labels = initial_labels
        self.labels_per_round = labels_per_round
        self.max_labels = max_labels
        self.epochs_per_round = epochs_per_round
        self.warm_start = warm_start
        self.target_val_accuracy = target_val_accuracy
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_choice(owner, "strategy", self.strategy, STRATEGIES)
        if not isinstance(self.warm_start, bool):
            raise InputError(
                f"The 'warm_start' parameter of {owner} must be a bool. "
                f"Got {self.warm_start!r} instead."
            )
        _fraction(owner, "initial_labels", self.initial_labels)
        _fraction(owner, "labels_per_round", self.labels_per_round)
        _fraction(owner, "max_labels", self.max_labels)
        self._check_epochs("epochs_per_round", self.epochs_per_round)
        if self.target_val_accuracy is not None:
            check_number(owner, "target_val_accuracy", self.target_val_accuracy, low=0, high=1)
        self._check_lr("lr", self.lr)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "active learning")
        import copy
        import math

        from frugalml.train.loop import score

        if self.target_val_accuracy is not None and not data.has("val"):
            raise InputError(
                "active-learning with target_val_accuracy stops on the validation split: pass "
                "val= to TrainData.from_loader."
            )
        n = data.n_samples("train")
        budget = max(1, math.floor(self.max_labels * n))
        n_initial = min(budget, max(1, round(self.initial_labels * n)))
        per_round = max(1, round(self.labels_per_round * n))
        epochs = (
            math.ceil(data.epochs / 6)
            if self.epochs_per_round is None
            else int(self.epochs_per_round)
        )
        generator = torch.Generator().manual_seed(data.seed)
        labelled = torch.zeros(n, dtype=torch.bool)
        labelled[torch.randperm(n, generator=generator)[:n_initial]] = True
        initial_state = copy.deepcopy(model.state_dict())
        self._data = data
        self.epochs_run_ = 0
        self.rounds_ = 0
        meter = EnergyMeter(name="active-learning").start()
        try:
            while True:
                subset = data.subset(labelled.nonzero().squeeze(1))
                if not self.warm_start:
                    model.load_state_dict(initial_state)
                self.epochs_run_ += self._fit(
                    model,
                    subset,
                    epochs=epochs,
                    lr=self.lr,
                    seed=data.seed + self.rounds_,
                ).epochs_run
                val_acc = None
                if data.has("val") and (
                    self.target_val_accuracy is not None or self._bench_evaluate is None
                ):
                    val_acc = score(model, data, "val")
                self._curve_point(meter, model, val_acc, int(labelled.sum()))
                n_labelled = int(labelled.sum())
                if n_labelled >= budget or n_labelled >= n:
                    break
                if (
                    self.target_val_accuracy is not None
                    and val_acc is not None
                    and (val_acc >= self.target_val_accuracy)
                ):
                    break
                pool = (~labelled).nonzero().squeeze(1)
                scores = self._score_pool(model, data.subset(pool, shuffle=False), generator)
                k = min(per_round, budget - n_labelled, len(pool))
                labelled[pool[scores.topk(k).indices]] = True
                self.rounds_ += 1
        finally:
            self.energy_j_ = meter.stop()
        self.labelled_indices_ = labelled.nonzero().squeeze(1)
        self.labels_used_ = int(labelled.sum())
        self.pool_size_ = n
        self.label_fraction_ = self.labels_used_ / n
        self._compare_with_full_data()
        return model

    def _score_pool(self, model: nn.Module, pool: TrainData, generator: Any) -> Any:
        """Informativeness of every pool sample, in pool order (streamed batch by batch)."""
        torch = require("torch", "active learning")
        return torch.cat(
            [informativeness(model, x, self.strategy, generator) for x, _ in pool.chunks("train")]
        )

    def _compare_with_full_data(self) -> None:
        base = self._bench_baseline
        if not base or base.get("accuracy") is None or not self._curve_on_test():
            return
        floor = float(base["accuracy"]) - 0.01
        hit = next((row for row in self.curve_ or [] if row[1] >= floor), None)
        if hit is not None:
            self.energy_to_within_1pt_j_ = hit[0]
            self.labels_to_within_1pt_ = int(hit[2])
