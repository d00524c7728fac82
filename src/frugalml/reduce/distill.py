"""Knowledge distillation into a smaller student (Hinton, Vinyals & Dean 2015).

The student, built by the task's ``make_model(width=student_width)``, is trained on
``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) *
loss(student, y)`` (``loss``: the data's, cross-entropy by default). For regression (float
targets) the soft term is the mean squared error between the student's and the teacher's
outputs (``T`` does not apply). The teacher is the (trained) model given to ``apply``; it
only runs inference here, once per training batch. Training the teacher is not part of
``apply``: the bench reuses its baseline, and ``teacher_trained_in_apply_`` says so in
the results row.

The student starts from random weights (``init="scratch"``, Hinton et al.) or from the
teacher itself, structurally pruned to the student's width (``init="pruned-teacher"``: the
``student_width`` share of each layer's channels with the largest L1 norm, through
Torch-Pruning as ``channel-prune``), as DistilBERT (Sanh et al. 2019) initialises its
student from the teacher's layers and Minitron (Muralidharan et al. 2024) prunes then
distils. A small student trained from scratch may not reach the teacher in the recipe's
epochs; one that starts from the teacher's strongest filters usually does.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import TechniqueError
from frugalml.reduce.base import Needs, Technique, count_params

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["Distill"]


class Distill(Technique):
    """Train a student of the task's architecture at ``student_width`` on the teacher's outputs.

    Args:
        student_width: width multiplier handed to ``data.make_model`` (``"scratch"``), or
            the share of channels kept (``"pruned-teacher"``); 0.25 gives >= 4x fewer
            parameters for the bench's MLP and CNN, 0.45 4.4-4.8x for the CNN.
        temperature: softmax temperature ``T`` of the soft targets (> 0).
        alpha: weight of the soft-target term, in [0, 1].
        epochs: student training epochs; None takes the recipe's.
        lr: learning rate; None takes the recipe's. Small students often want a
            higher one (the benchmark uses 3e-3 where the recipe has 1e-3).
        init: ``"scratch"`` (a fresh ``make_model(width=student_width)``) or
            ``"pruned-teacher"`` (the teacher with ``1 - student_width`` of each layer's
            channels removed; needs Torch-Pruning, as channel-prune).

    Learned state:
        teacher_params_, student_params_: parameter counts.
        param_reduction_: ``teacher_params_ / student_params_``.
        teacher_trained_in_apply_: always False (the teacher comes trained).
        epochs_run_: student training epochs run.

    Example:
        >>> student = Distill(student_width=0.25).apply(teacher, data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "distill"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(teacher=True, targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = (
        "Hinton, Vinyals & Dean 2015, Distilling the Knowledge in a Neural Network"
    )

    def __init__(
        self,
        student_width: float = 0.25,
        temperature: float = 4.0,
        alpha: float = 0.5,
        epochs: int | None = None,
        lr: float | None = None,
        init: str = "scratch",
    ) -> None:
        self.student_width = student_width
        self.temperature = temperature
        self.alpha = alpha
        self.epochs = epochs
        self.lr = lr
        self.init = init

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "student_width", self.student_width, low=0, low_open=True)
        check_number(owner, "temperature", self.temperature, low=0, low_open=True)
        check_number(owner, "alpha", self.alpha, low=0, high=1)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)
        check_choice(owner, "init", self.init, ("scratch", "pruned-teacher"))
        if self.init == "pruned-teacher":
            check_number(owner, "student_width", self.student_width, low=0, high=1, low_open=True)

    def _check_needs(
        self, model: nn.Module, data: TrainData | None, needs: Needs | None = None
    ) -> None:
        # a student pruned from the teacher is not built by data.make_model
        if self.init == "pruned-teacher":
            needs = dataclasses.replace(self.needs, teacher=False)
        super()._check_needs(model, data, needs)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "distill")
        functional = torch.nn.functional
        teacher = model.eval()
        torch.manual_seed(data.seed)
        student = self._student(teacher, data)
        for p in teacher.parameters():
            p.requires_grad_(False)
        t, alpha = float(self.temperature), float(self.alpha)
        hard_loss = data.loss_fn()
        regression = data.target_kind == "regression"

        def kd_loss(out: Any, y: Any, x: Any) -> Any:
            with torch.no_grad():
                teacher_out = teacher(x)
            if regression:
                soft = functional.mse_loss(out, teacher_out)
            else:
                soft = (
                    t
                    * t
                    * functional.kl_div(
                        functional.log_softmax(out / t, dim=1),
                        functional.softmax(teacher_out / t, dim=1),
                        reduction="batchmean",
                    )
                )
            return alpha * soft + (1 - alpha) * hard_loss(out, y)

        self.epochs_run_ = self._fit(
            student, data, epochs=self.epochs, lr=self.lr, loss_fn=kd_loss
        ).epochs_run
        self.teacher_params_ = count_params(teacher)
        self.student_params_ = count_params(student)
        self.param_reduction_ = self.teacher_params_ / max(self.student_params_, 1)
        self.teacher_trained_in_apply_ = False
        return student

    def _student(self, teacher: nn.Module, data: TrainData) -> nn.Module:
        if self.init == "pruned-teacher":
            import copy

            from frugalml.reduce.prune import ChannelPrune

            pruner = ChannelPrune(pruning_ratio=1 - self.student_width, fine_tune_epochs=0)
            try:
                return pruner.apply(copy.deepcopy(teacher), data).train()
            except TechniqueError as e:
                raise self._fail("the teacher could not be pruned into a student", e) from e
        assert data.make_model is not None  # checked against needs.teacher
        try:
            return data.make_model(width=self.student_width)
        except TypeError as e:
            raise self._fail(
                "make_model does not accept width=",
                e,
                "Give TrainData a factory taking a width multiplier, e.g. "
                "functools.partial(frugalml.train.mlp, 64, 256, 10).",
            ) from e
