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
- What it needs and what it is for are declared on its class, in the vocabulary of
  :mod:`frugalml.reduce.needs`: ``kind`` (``"compress"``: a trained model; ``"train"``: the
  technique *is* a way of training and trains the model it is given), ``needs`` (model
  parts, data, targets, teacher, the kind of task) and ``purpose``. ``apply`` checks
  ``needs`` before any work; the bench derives where a technique runs from them
  (:meth:`Technique.applies_to`).
- A technique that cannot handle a model (an op the int8 backend lacks, a graph
  Torch-Pruning cannot trace) raises :class:`~frugalml.errors.TechniqueError` whose
  message starts with the technique name and gives the reason; the bench records the
  row as failed. Bad parameters and missing data raise :class:`~frugalml.errors.InputError`.
- Optional hooks, declared here with no-op defaults: ``bench_context`` (the bench's
  baseline figures and test monitor), ``bench_evaluate`` (per-sample costs of a
  data-dependent model) and ``curve_`` (accuracy against energy while training).

The registry (:mod:`frugalml.reduce.registry`) knows the 20 built-in techniques and those
installed under the ``frugalml.techniques`` entry-point group; ``get_technique(name,
**params)`` builds one. Technique modules import torch only inside ``apply``, so listing
the registry stays cheap.
"""

from __future__ import annotations

import copy
import io
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import ParamsMixin, check_number
from frugalml.errors import InputError, TechniqueError
from frugalml.reduce.needs import DATA, PURPOSES, Needs

if TYPE_CHECKING:
    from torch import nn
    from torch.nn.modules.conv import _ConvNd

    from frugalml.train.data import TrainData
    from frugalml.train.loop import FitHistory

__all__ = [
    "KINDS",
    "PURPOSES",
    "Needs",
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

    Subclasses set ``name`` (registry key), ``kind``, ``needs``, ``purpose`` and ``paper``
    (the reference), implement ``_apply`` and may override ``_check_params`` and the hooks.

    Example:
        >>> from frugalml.reduce import get_technique
        >>> t = get_technique("magnitude-prune", target_sparsity=0.9)
        >>> t.get_params()["target_sparsity"], t.kind, t.purpose
        (0.9, 'compress', ('size', 'inference-energy'))
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    needs: ClassVar[Needs] = Needs()
    purpose: ClassVar[tuple[str, ...]]
    paper: ClassVar[str] = ""
    #: torch device types whose kernels the returned model runs on; the bench runs a
    #: technique that lacks the chosen device on the CPU, and its verdict says so
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    #: why the technique is limited to ``devices`` (shown in the bench's verdict)
    devices_reason: ClassVar[str] = ""

    #: ``[energy_j, accuracy, ...]`` per evaluation while training, for techniques that
    #: train with evaluations (None: no curve). Set by ``apply``.
    curve_: list[list[float]] | None = None

    def apply(self, model: nn.Module, data: TrainData | None = None) -> nn.Module:
        """Return a reduced copy of ``model``; ``model`` itself is left untouched.

        Args:
            model: the model to reduce (trained for ``kind == "compress"``).
            data: the training (and validation) data and recipe; None for techniques that
                need none (``needs.data == "none"``).

        Returns:
            The reduced model, in eval mode, taking and returning float32 tensors.

        Raises:
            TechniqueError: the technique cannot handle this model; the message says why.
            InputError: a parameter is invalid, or the data is not what it needs.
        """
        self._check_params()
        self._check_needs(model, data)
        self._clear_learned_state()
        work = copy.deepcopy(model)
        out = self._apply(work, data)
        out.eval()
        return out

    @abstractmethod
    def _apply(self, model: nn.Module, data: Any) -> nn.Module:
        """Reduce ``model`` (a private copy, free to modify) and set the ``*_`` state."""

    def _check_params(self) -> None:
        """Raise InputError for invalid parameters; called at the start of ``apply``."""

    def _named_stages(self) -> Sequence[str] | None:
        """The stages the user named (techniques with a ``stages`` parameter)."""
        return None

    def _check_needs(
        self, model: nn.Module, data: TrainData | None, needs: Needs | None = None
    ) -> None:
        """Raise, in one line, when ``model`` or ``data`` lacks what ``needs`` (by default the
        class's declaration) declares."""
        needs = needs or self.needs
        if data is None:
            if needs.data != "none":
                raise InputError(
                    f"{self.name} needs {DATA[needs.data]}: pass data=TrainData.from_loader(...) "
                    "or TrainData.from_arrays(...)."
                )
        else:
            if needs.data == "train+val" and not data.has("val"):
                raise InputError(
                    f"{self.name} needs a validation split: pass val= to "
                    "TrainData.from_loader (or X_val, y_val to TrainData)."
                )
            if data.target_kind not in needs.targets:
                raise InputError(
                    f"{self.name} handles {' and '.join(needs.targets)} targets only; this data "
                    f"has {data.target_kind} targets (float targets with a user loss)."
                )
            if needs.teacher and data.make_model is None:
                raise InputError(
                    f"{self.name} builds a student with data.make_model(width=...): pass "
                    "make_model= to TrainData (e.g. functools.partial(frugalml.train.mlp, 64, "
                    "256, 10))."
                )
        from frugalml.reduce._structure import unmet_model_need

        missing = unmet_model_need(needs, model, self._named_stages())
        if missing:
            raise TechniqueError(f"{self.name} needs {missing}.")

    # --- optional hooks (no-op defaults) ---------------------------------------------------

    @classmethod
    def applies_to(cls, task: Any) -> bool:
        """Whether the bench runs this technique on ``task`` by default.

        Derived from the declarations: the task's role is the one ``needs.task`` names, the
        task is meant to show one of ``purpose`` (``task.purposes``), and its model has
        what ``needs.model`` asks for (the same check ``apply`` makes).
        """
        if task.extra.get("role") != cls.needs.task or not set(cls.purpose) & set(task.purposes):
            return False
        torch = require("torch", "frugal bench")
        from frugalml.reduce._structure import unmet_model_need

        with torch.random.fork_rng():  # building the probe leaves the caller's RNG alone
            model = task.make_model()
        return unmet_model_need(cls.needs, model) is None

    def bench_context(
        self,
        baseline: Mapping[str, Any] | None = None,
        evaluate_test: Callable[[Any], float] | None = None,
    ) -> None:
        """Hook called by the bench before ``apply``: the baseline of the same repeat
        (``accuracy``, ``train_energy_j``) and a test-split monitor for curves. No-op here."""

    def bench_evaluate(self, model: nn.Module, X_test: Any, y_test: Any) -> dict[str, float]:
        """Hook called by the bench after ``apply``: per-sample costs that profiling one
        sample cannot give (a model whose cost depends on the input), as overrides of the
        row's ``macs`` / ``flops_effective``. The bench measures accuracy, energy and latency
        itself. Nothing here."""
        return {}

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

    def _check_stages(self, value: Any) -> None:
        if value is not None:
            from frugalml.reduce._structure import _check_names

            _check_names(value, type(self).__name__)

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
    """Number of non-zero parameter elements, biases and norms included (a sparse CSR
    weight counts its stored values that are non-zero)."""
    return sum(
        int((p.values() if p.is_sparse_csr else p).count_nonzero()) for p in model.parameters()
    )


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
