"""PyTorch Lightning: ``EnergyCallback`` measures every ``trainer.fit`` as one frugalml run.

    from frugalml.integrations.lightning import EnergyCallback

    trainer = L.Trainer(max_epochs=10, callbacks=[EnergyCallback(region="FR", budget_j=5e5)])
    trainer.fit(model, train_loader)

At each epoch's end it reads every sensor and logs ``frugal/energy_j``, ``frugal/co2e_g``,
``frugal/epoch_energy_j``, ``frugal/epoch_power_w`` and ``frugal/<component>_energy_j`` to the
trainer's loggers (TensorBoard, CSV, MLflow, W&B...), and copies the trainer's metrics (loss,
accuracy) into the run. With a budget it stops training through ``trainer.should_stop`` once
the budget is spent (``on_budget="warn"``: warn only). With an ``MLFlowLogger`` (or an active
MLflow run) the run's figures and report go to that MLflow run at the end of the fit.

Needs ``pip install 'frugalml[lightning]'`` (the ``lightning`` package).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.integrations._role import process_role
from frugalml.integrations._session import EpochFigures, Settings, TrainingSession

if TYPE_CHECKING:
    from frugalml.measure.run import Run

pl = require("lightning.pytorch", "frugalml.integrations.lightning")

__all__ = ["EnergyCallback"]


class EnergyCallback(pl.Callback):  # type: ignore[misc, name-defined]
    """Measure each ``fit`` (energy, CO2e) and optionally stop it at a budget.

    Args:
        name: run name (default ``<LightningModule class>.fit``).
        region: grid region code (``FR``, ``aws:eu-west-3``...); default as :func:`frugalml.track`.
        pue: power usage effectiveness (number >= 1 or ``"datacenter"``).
        db: registry URL or path (None: the default registry; False: none).
        interval_s: sampling interval in seconds (default 1).
        tags: labels recorded with each run.
        budget_j: energy budget of one fit, in joules (IT energy, before PUE).
        budget_co2e_g: CO2e budget of one fit, in grams.
        on_budget: ``"stop"`` (default: set ``trainer.should_stop``, so the fit ends after the
            current step, as early stopping does) or ``"warn"`` (a :class:`~frugalml.errors.BudgetWarning`
            only).
        mlflow: True: always log to MLflow (a new MLflow run if none is active); None
            (default): when an ``MLFlowLogger`` is attached or an MLflow run is active;
            False: never.
        log_metrics: copy the trainer's ``callback_metrics`` into the run at each epoch end.
        **tracker_kwargs: passed to :class:`frugalml.Tracker` (``sensors``, ``scope``,
            ``out_dir``, ``intensity_csv``...).

    Attributes:
        run: the current fit's run, or the last one's once it ended (None before any fit and
            on processes that do not measure).
        epochs: the figures of each epoch of the current or last fit.

    Example:
        >>> cb = EnergyCallback(region="FR", budget_j=1e6, db=False)
        >>> cb.settings.budget_j
        1000000.0
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
        log_metrics: bool = True,
        **tracker_kwargs: Any,
    ) -> None:
        super().__init__()
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
        self.log_metrics = log_metrics
        self.epochs: list[EpochFigures] = []
        self._session = TrainingSession(self.settings, "lightning")

    @property
    def run(self) -> Run | None:
        return self._session.run

    # -- fit ------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        role = process_role(trainer.global_rank, trainer.local_rank, trainer.world_size)
        config = {
            "framework": f"lightning {pl.__version__}",
            "model": type(pl_module).__name__,
            "parameters": sum(p.numel() for p in pl_module.parameters()),
            "max_epochs": trainer.max_epochs,
        }
        self.epochs = []
        self._session.begin(role, default_name=f"{type(pl_module).__name__}.fit", config=config)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # Between steps only on a lone process: with several ranks the decision must be
        # reduced across them, a collective too costly for every step (done at epoch ends).
        if trainer.world_size == 1 and self._session.over_budget():
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        figures = self._session.epoch_end(trainer.current_epoch, trainer.max_epochs)
        if figures is not None:
            self.epochs.append(figures)
            if self.log_metrics:
                self._session.log_metrics(trainer.callback_metrics, step=trainer.current_epoch)
            # through the module, so the figures land beside its own epoch metrics in every
            # logger and in callback_metrics (EarlyStopping/ModelCheckpoint can monitor them)
            pl_module.log_dict(figures.metrics(), on_step=False, on_epoch=True, rank_zero_only=True)
        if trainer.strategy.reduce_boolean_decision(self._session.stop_requested, all=False):
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._end(trainer)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        interrupted = isinstance(exception, KeyboardInterrupt)
        self._end(
            trainer,
            status="interrupted" if interrupted else "failed",
            error=f"{type(exception).__name__}: {exception}",
        )

    def _end(self, trainer: Any, *, status: str | None = None, error: str | None = None) -> None:
        if not self._session.active:
            return
        if self.settings.mlflow is not False:
            for logger in trainer.loggers:  # the fit's own MLflow run, when it logs to one
                if isinstance(logger, pl.loggers.MLFlowLogger) and logger.run_id:
                    self._session.mlflow_target = (logger.experiment, logger.run_id)
        self._session.end(status=status, error=error)
