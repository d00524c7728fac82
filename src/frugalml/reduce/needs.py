"""What a technique needs and what it is for: one vocabulary for the bench and the user's errors.

Every technique declares, on its class:

- ``kind``: what ``apply`` starts from: ``"compress"`` (a trained model) or ``"train"`` (a
  model it trains itself, fresh or pre-trained).
- ``needs``: a :class:`Needs` value: which parts of the model it works on
  (:data:`MODEL_PARTS`), which data (:data:`DATA`), which targets (:data:`TARGETS`), whether
  the model given is a teacher for a student built by ``data.make_model``, and the kind of
  task it is made for (:data:`TASK_ROLES`).
- ``purpose``: what it cuts, from :data:`PURPOSES`, the most important first.

``Technique.apply`` checks the model and data against ``needs`` before any work and fails
with one line saying what is missing and how to provide it; the bench runs a technique by
default on a task when the task's model and data meet the same ``needs``, its role is the
one the technique is made for, and the task is meant to show one of the technique's
purposes (``Task.purposes``).

Example:
    >>> from frugalml.reduce import get_technique
    >>> t = get_technique("early-exit")
    >>> t.needs.model, t.needs.stage_layer, t.purpose
    (('stages',), 'Conv2d', ('inference-energy',))
"""

from __future__ import annotations

from dataclasses import dataclass

from frugalml._params import check_choice

__all__ = ["DATA", "MODEL_PARTS", "PURPOSES", "TARGETS", "TASK_ROLES", "Needs"]

#: Parts of a model a technique works on, and how a user provides each.
MODEL_PARTS: dict[str, str] = {
    "weights": "Linear or Conv layers",
    "conv": "k x k Conv2d layers",
    "classifier": "a last Linear layer producing the outputs",
    "stages": "the model cut into stages",
}

#: What the technique needs of ``data``: nothing (``data=None`` works), some inputs
#: (calibration), the training split and recipe, or also a validation split.
DATA: dict[str, str] = {
    "none": "no data (data=None works)",
    "inputs": "some training inputs (calibration)",
    "train": "the training split and its recipe",
    "train+val": "the training and validation splits",
}

#: Kinds of targets: integer class labels, or float values with a user loss.
TARGETS = ("classification", "regression")

#: What a technique is for: what it makes cheaper.
PURPOSES = ("inference-energy", "training-energy", "size", "labels")

#: Kinds of bench task a technique is made for (``Task.extra["role"]``); None: the plain tasks.
TASK_ROLES = (None, "many-class", "transfer-target")


@dataclass(frozen=True)
class Needs:
    """What a technique needs from the model and the data (declared on its class).

    Attributes:
        model: parts of :data:`MODEL_PARTS` it works on (all of them are needed).
        stage_layer: with ``"stages"``: the layer type that starts a stage when the user names
            no stages (``"Linear"`` or ``"Conv2d"``).
        min_stages: with ``"stages"``: how many stages the model must have at least.
        data: one of :data:`DATA`.
        targets: the :data:`TARGETS` it handles.
        teacher: the model given to ``apply`` is a trained teacher, and ``data.make_model``
            (taking ``width=``) builds the student.
        task: the role of the bench tasks it is made for (:data:`TASK_ROLES`): None for the
            plain tasks, ``"many-class"`` or ``"transfer-target"``. The bench runs it only
            there by default; on the user's own data it is not enforced.

    Example:
        >>> Needs(model=("conv",)).describe_model()
        'k x k Conv2d layers'
    """

    model: tuple[str, ...] = ("weights",)
    stage_layer: str | None = None
    min_stages: int = 1
    data: str = "train"
    targets: tuple[str, ...] = ("classification",)
    teacher: bool = False
    task: str | None = None

    def __post_init__(self) -> None:
        for part in self.model:
            check_choice("Needs", "model", part, MODEL_PARTS)
        check_choice("Needs", "data", self.data, DATA)
        for target in self.targets:
            check_choice("Needs", "targets", target, TARGETS)
        if self.task not in TASK_ROLES:
            check_choice("Needs", "task", self.task, [r for r in TASK_ROLES if r])
        if "stages" in self.model:
            check_choice("Needs", "stage_layer", self.stage_layer, ("Linear", "Conv2d"))

    def describe_model(self) -> str:
        """The model parts needed, in words."""
        return ", ".join(MODEL_PARTS[p] for p in self.model)
