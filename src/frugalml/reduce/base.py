"""The contract every reduction technique follows, and the measurements they share.

A technique is a configurable object with the estimator convention:

- ``__init__`` only stores its parameters (checked when ``apply`` runs);
  ``get_params()`` / ``set_params()`` come from :class:`~frugalml._params.ParamsMixin`.
- ``apply(model, data)`` does all the work - fine-tuning rounds, calibration, student
  training - and returns the reduced model. It never modifies ``model``: it works on a
  deep copy. So the bench charges a technique's whole cost by tracking ``apply``.
- Learned state ends with ``_`` (``sparsity_``, ``bits_per_weight_``,
  ``compressed_size_bytes_``, ``epochs_run_``...). ``report()`` returns the scalar ones
  as a dict for the results row, with the trailing underscore dropped.
- ``kind`` says what ``model`` must be:

  - ``"compress"``: a trained model; the technique compresses it (and may fine-tune).
  - ``"train"``: the technique *is* a way of training (binary-connect). ``apply`` trains
    ``model`` from its current weights for the recipe's epochs; pass a fresh model
    (``data.make_model()``) to train from scratch as the paper does, or a trained one to
    fine-tune. Compare it with the baseline's own training cost.

- A technique that cannot handle a model (an op the int8 backend lacks, a graph
  Torch-Pruning cannot trace) raises :class:`~frugalml.errors.TechniqueError` whose
  message starts with the technique name and gives the reason; the bench records the
  row as failed. Bad parameters raise :class:`~frugalml.errors.InputError`.

The registry (``frugalml.reduce.REGISTRY``) is a plain dict from kebab-case name to
class, written out explicitly in ``frugalml/reduce/__init__.py``; ``get_technique(name,
**params)`` builds one. Technique modules import torch only inside ``apply``, so listing
the registry stays cheap.
"""

from __future__ import annotations

import copy
import io
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import ParamsMixin, check_number
from frugalml.errors import TechniqueError

if TYPE_CHECKING:
    from torch import nn
    from torch.nn.modules.conv import _ConvNd

    from frugalml.train.data import TrainData
    from frugalml.train.loop import FitHistory

__all__ = [
    "KINDS",
    "Technique",
    "count_nonzero",
    "count_params",
    "state_dict_bytes",
    "weight_layers",
]

logger = logging.getLogger(__name__)

KINDS = ("compress", "train")
ReportValue = float | int | str


class Technique(ParamsMixin, ABC):
    """Base class of the reduction techniques (see the module docstring for the contract).

    Subclasses set ``name`` (registry key), ``kind`` (``"compress"`` or ``"train"``) and
    ``paper`` (the reference), implement ``_apply`` and may override ``_check_params``.

    Example:
        >>> from frugalml.reduce import get_technique
        >>> t = get_technique("magnitude-prune", target_sparsity=0.9)
        >>> t.get_params()["target_sparsity"]
        0.9
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    paper: ClassVar[str] = ""

    def apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        """Return a reduced copy of ``model``; ``model`` itself is left untouched.

        Args:
            model: the model to reduce (trained for ``kind == "compress"``).
            data: training/validation tensors and the task's recipe.

        Returns:
            The reduced model, in eval mode, taking and returning float32 tensors.

        Raises:
            TechniqueError: the technique cannot handle this model; the message says why.
            InputError: a parameter is invalid.
        """
        self._check_params()
        self._clear_learned_state()
        work = copy.deepcopy(model)
        out = self._apply(work, data)
        out.eval()
        return out

    @abstractmethod
    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        """Reduce ``model`` (a private copy, free to modify) and set the ``*_`` state."""

    def _check_params(self) -> None:
        """Raise InputError for invalid parameters; called at the start of ``apply``."""

    def report(self) -> dict[str, ReportValue]:
        """Measured facts from the last ``apply``, for the results row.

        Keys are the learned attributes without the trailing underscore, e.g.
        ``{"sparsity": 0.93, "nonzero_params": 6121, ...}``; only scalars are included.

        Raises:
            TechniqueError: ``apply`` has not run yet.
        """
        learned = self._learned_state()
        if not learned:
            raise TechniqueError(
                f"{self.name}: nothing to report yet; call apply(model, data) first."
            )
        return {
            k[:-1]: (int(v) if isinstance(v, bool) else v)
            for k, v in learned.items()
            if isinstance(v, int | float | str)
        }

    def _learned_state(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in vars(self).items()
            if k.endswith("_") and not k.startswith("_") and not k.endswith("__")
        }

    def _clear_learned_state(self) -> None:
        for key in self._learned_state():
            delattr(self, key)

    # --- helpers for subclasses -------------------------------------------------------

    def _fail(self, what: str, exc: BaseException | None = None, hint: str = "") -> TechniqueError:
        """A TechniqueError '<name> failed: <what>[: first line of exc]. <hint>'."""
        msg = f"{self.name} failed: {what}"
        if exc is not None:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            msg += f": {first}"
        msg = msg.rstrip(".") + "."
        if hint:
            msg += f" {hint}"
        return TechniqueError(msg)

    def _check_epochs(self, name: str, value: Any) -> None:
        if value is not None:
            check_number(type(self).__name__, name, value, low=0, integer=True)

    def _check_lr(self, name: str, value: Any) -> None:
        if value is not None:
            check_number(type(self).__name__, name, value, low=0, low_open=True)

    def _fit(self, model: nn.Module, data: TrainData, **kwargs: Any) -> FitHistory:
        """``frugalml.train.fit`` with the recipe's defaults; logs what it ran."""
        from frugalml.train.loop import fit

        history = fit(model, data, **kwargs)
        logger.debug(
            "%s: trained %d epochs in %.2f s", self.name, history.epochs_run, history.duration_s
        )
        return history


def is_plain_mlp_task(task: Any) -> bool:
    """A bench task with an MLP baseline and no special role (many-class, transfer...)."""
    return bool(task.kind == "mlp" and "role" not in task.extra)


def weight_layers(model: nn.Module) -> list[nn.Linear | _ConvNd]:
    """The Linear and Conv1d/2d/3d modules of ``model`` (the layers whose weights reduce)."""
    torch = require("torch", "frugalml.reduce")
    kinds = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    return [m for m in model.modules() if isinstance(m, kinds)]


def count_params(model: nn.Module) -> int:
    """Number of parameters (every element of ``model.parameters()``).

    Int8-converted layers hold packed weights that are not parameters; count those with
    :func:`state_dict_bytes` instead.
    """
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameter elements, biases and norms included."""
    return sum(int((p != 0).sum()) for p in model.parameters())


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the model's size on disk.

    Example:
        >>> from frugalml.train import mlp
        >>> state_dict_bytes(mlp(4, 8, 2)) > 4 * (4 * 8 + 8 + 8 * 2 + 2)
        True
    """
    torch = require("torch", "measuring model size")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()
