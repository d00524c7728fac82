"""Hugging Face Transformers: ``EnergyCallback`` measures every ``Trainer.train`` as one run and
puts its ``co2_eq_emissions`` into the model card the Trainer writes.

    from frugalml.integrations.transformers import EnergyCallback

    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      callbacks=[EnergyCallback(region="FR", budget_j=5e5)])
    trainer.train()
    trainer.create_model_card()        # README.md now carries co2_eq_emissions

At each epoch's end it reads every sensor and logs ``frugal/energy_j``, ``frugal/co2e_g``,
``frugal/epoch_energy_j``, ``frugal/epoch_power_w`` and ``frugal/<component>_energy_j``
through ``Trainer.log`` (so every ``report_to`` integration and ``state.log_history`` get
them); the Trainer's own logs (loss, eval metrics) are copied into the run. With a budget it
sets ``control.should_training_stop`` once the budget is spent (checked after every step).

At the end of training the ``co2_eq_emissions`` block (emissions in g CO2e, source, training
type, region, hardware) is written into ``<output_dir>/README.md`` if that card exists, and
into every card the Trainer writes afterwards (``create_model_card``, ``push_to_hub``).

Needs ``pip install 'frugalml[transformers]'``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml._params import check_choice
from frugalml.integrations._card import emissions_block, write_emissions
from frugalml.integrations._role import process_role
from frugalml.integrations._session import EpochFigures, Settings, TrainingSession

if TYPE_CHECKING:
    from frugalml.measure.run import Run

hf = require("transformers", "frugalml.integrations.transformers")

__all__ = ["EnergyCallback"]

log = logging.getLogger(__name__)
TRAINING_TYPES = ("pre-training", "fine-tuning")
# How far up the stack the Trainer that fires on_train_begin is looked for.
_MAX_FRAMES = 12


class EnergyCallback(hf.TrainerCallback):  # type: ignore[misc, name-defined]
    """Measure each ``train()`` (energy, CO2e), stop it at a budget, fill the model card.

    Args:
        name: run name (default ``<model class>.train``).
        region: grid region code (``FR``, ``aws:eu-west-3``...); default as :func:`frugalml.track`.
        pue: power usage effectiveness (number >= 1 or ``"datacenter"``).
        db: registry URL or path (None: the default registry; False: none).
        interval_s: sampling interval in seconds (default 1).
        tags: labels recorded with each run.
        budget_j: energy budget of one ``train()``, in joules (IT energy, before PUE).
        budget_co2e_g: CO2e budget of one ``train()``, in grams.
        on_budget: ``"stop"`` (default: ``control.should_training_stop``, training ends after
            the current step) or ``"warn"`` (a :class:`~frugalml.errors.BudgetWarning` only).
        mlflow: True: always log to MLflow; None (default): when an MLflow run is active at the
            start of training (e.g. ``report_to="mlflow"``); False: never.
        training_type: the card's ``training_type``: ``"pre-training"`` or ``"fine-tuning"``;
            default ``fine-tuning`` when the model was loaded from a checkpoint
            (``from_pretrained``), else ``pre-training``.
        model_card: write ``co2_eq_emissions`` into the Trainer's model cards.
        **tracker_kwargs: passed to :class:`frugalml.Tracker` (``sensors``, ``scope``...).

    Attributes:
        run: the current training's run, or the last one's once it ended.
        epochs: the figures of each epoch of the current or last training.
        co2_eq_emissions: the model-card block of the last training (None before).

    Example:
        >>> cb = EnergyCallback(region="FR", db=False, training_type="fine-tuning")
        >>> cb.settings.region
        'FR'
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        region: str | None = None,
        pue: float | str | None = None,
        db: str | os.PathLike[str] | bool | None = None,
        interval_s: float | None = None,
        tags: dict[str, str] | None = None,
        budget_j: float | None = None,
        budget_co2e_g: float | None = None,
        on_budget: str = "stop",
        mlflow: bool | None = None,
        training_type: str | None = None,
        model_card: bool = True,
        **tracker_kwargs: Any,
    ) -> None:
        self.settings = Settings(
            owner="EnergyCallback",
            name=name,
            region=region,
            pue=pue,
            db=db,
            interval_s=interval_s,
            tags=dict(tags or {}),
            budget_j=None if budget_j is None else float(budget_j),
            budget_co2e_g=None if budget_co2e_g is None else float(budget_co2e_g),
            on_budget=on_budget,
            mlflow=mlflow,
            tracker_kwargs=tracker_kwargs,
        )
        if training_type is not None:
            check_choice("EnergyCallback", "training_type", training_type, TRAINING_TYPES)
        self.training_type = training_type
        self.model_card = model_card
        self.epochs: list[EpochFigures] = []
        self.co2_eq_emissions: dict[str, Any] | None = None
        self._session = TrainingSession(self.settings, "transformers")
        self._trainer: Any = None
        self._card_type = "pre-training"

    @property
    def run(self) -> Run | None:
        return self._session.run

    # -- events ---------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs.get("model")
        self._trainer = _calling_trainer()
        if self._trainer is not None and self.model_card:
            _wrap_model_card(self._trainer, self)
        pretrained = bool(getattr(getattr(model, "config", None), "_name_or_path", ""))
        self._card_type = self.training_type or ("fine-tuning" if pretrained else "pre-training")
        role = process_role(args.process_index, args.local_process_index, args.world_size)
        model_name = type(model).__name__ if model is not None else "model"
        config = {
            "framework": f"transformers {hf.__version__}",
            "model": model_name,
            "num_train_epochs": args.num_train_epochs,
            "max_steps": state.max_steps,
        }
        if model is not None and hasattr(model, "num_parameters"):
            config["parameters"] = int(model.num_parameters())
        self.epochs = []
        self._session.begin(role, default_name=f"{model_name}.train", config=config)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._session.over_budget():
            control.should_training_stop = True

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = max(0, round(state.epoch or 0) - 1)
        figures = self._session.epoch_end(epoch, int(args.num_train_epochs))
        if figures is not None:
            self.epochs.append(figures)
            if self._trainer is not None:  # to every report_to integration and log_history
                # Trainer.log clears should_log; keep the Trainer's own epoch log due next
                should_log = control.should_log
                self._trainer.log(figures.metrics())
                control.should_log = should_log
        if self._session.stop_requested:
            control.should_training_stop = True

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs:
            self._session.log_metrics(logs, step=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = self._session.end()
        if run is None:
            return
        try:
            self.co2_eq_emissions = emissions_block(run, self._card_type)
        except Exception as e:  # never into the user's training
            log.warning("frugalml: no model-card block for run %s: %s", run.id, e)
            return
        card = Path(args.output_dir) / "README.md"
        if self.model_card and card.exists():
            self.write_model_card(card)

    # -- model card -----------------------------------------------------------------------
    def write_model_card(self, path: str | os.PathLike[str]) -> Path | None:
        """Write the last training's ``co2_eq_emissions`` into the model card at ``path``
        (created when missing); None before any measured training."""
        if self.co2_eq_emissions is None:
            return None
        return write_emissions(path, self.co2_eq_emissions)


def _calling_trainer() -> Any:
    """The ``Trainer`` whose ``train()`` fired this event.

    Callbacks are never handed the Trainer, and the Trainer has no hook after it writes its
    model card, so the callback finds it on the stack (``self`` of the Trainer method that
    called the event) to extend that one instance's ``create_model_card`` and to ``log``.
    """
    frame = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, hf.Trainer):
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _wrap_model_card(trainer: Any, callback: EnergyCallback) -> None:
    """After the Trainer writes ``README.md`` (``create_model_card``, also called by
    ``push_to_hub``), add the emissions block of the callback's last training to it."""
    if getattr(trainer.create_model_card, "_frugalml", False):
        return
    original = trainer.create_model_card

    @functools.wraps(original)
    def create_model_card(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        if trainer.is_world_process_zero():
            try:
                callback.write_model_card(Path(trainer.args.output_dir) / "README.md")
            except Exception as e:  # the card is written; only our block is missing
                log.warning("frugalml: co2_eq_emissions not added to the model card: %s", e)

    create_model_card._frugalml = True  # type: ignore[attr-defined]
    trainer.create_model_card = create_model_card
