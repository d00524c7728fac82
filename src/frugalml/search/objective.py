"""The built-in objective: train one point of a task's space under the tracker and measure it.

A trial of :class:`TaskObjective`:

1. asks the space for its parameters and builds the model (seeded, so equal parameters give
   equal models);
2. trains it with :func:`frugalml.train.fit`, evaluating on the validation split after every
   epoch (outside the training energy) and reporting that accuracy to Optuna, so pruners can
   stop it; the trial is also pruned when the study's energy budget is spent or when its
   training energy passes ``max_train_energy_j``. Networks with early exits train with the
   ``early-exit`` technique (one report at the end: the technique runs its own loop);
3. applies the post-training technique, if any (``get_technique(name).apply``), counted as
   training energy;
4. measures the result: validation and test accuracy, MACs per sample
   (:func:`frugalml.bench.measure_model.model_facts`) and inference energy per 1,000 test
   samples (:func:`frugalml.bench.measure_model.inference_energy`).

Everything, measurement included, happens inside :func:`frugalml.search.tracked`, so the
trial's ``energy_j`` is its whole cost; ``train_energy_j`` is the training part (steps 2-3
without the evaluations).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.search.config import SearchConfig
from frugalml.search.tracking import TrialTracker

if TYPE_CHECKING:
    from frugalml.bench.spaces import Space

__all__ = ["CONSTRAINT_ATTR", "TaskObjective"]

log = logging.getLogger(__name__)

#: User attribute holding a trial's constraint values (<= 0: feasible), as ``search.json``
#: reads them; the samplers get the same value through ``Trial.set_constraint``.
CONSTRAINT_ATTR = "constraint"


def _record_constraint(trial: Any, train_energy_j: float, cap: float) -> None:
    """Training energy above the cap (J), once per trial: for the samplers and for us."""
    value = train_energy_j - cap
    trial.set_constraint("train_energy_j", value)
    trial.set_user_attr(CONSTRAINT_ATTR, [value])


class _Prune(Exception):
    """Internal: stop training now, for the reason given."""


class TaskObjective:
    """Callable objective for one bench task and space (picklable: workers rebuild the data).

    Args:
        config: the search configuration (task, space, objectives, seed, budget ...).
        session: id of the search command (stored on each trial).
        space: the space to search (default: ``config.space`` of ``config.task``).
    """

    def __init__(self, config: SearchConfig, session: str | None, space: Space | None = None):
        self.config = config
        self.session = session
        self._space = space
        self._loaded: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # tasks hold data loaders (closures): a worker rebuilds the space and reloads the data
        return {**self.__dict__, "_loaded": None, "_space": None}

    @property
    def space(self) -> Space:
        if self._space is None:
            from frugalml.bench.spaces import get_space

            cfg = self.config
            self._space = get_space(str(cfg.task), cfg.space, weight_sharing=cfg.weight_sharing)
        return self._space

    def _data(self) -> Any:
        if self._loaded is None:
            self._loaded = self.space.task.train_data(seed=self.config.seed)
        return self._loaded

    def warm_up(self) -> None:
        """Pay a process's one-off costs before its first trial, so that trial is not charged
        for them (as the bench's warm-up epoch): load the task, import what trials use, run
        one untracked epoch, profile once and start a tracker. Counted in the session's
        overhead."""
        from frugalml.bench.measure_model import model_facts
        from frugalml.measure.tracker import Tracker
        from frugalml.reduce import get_technique  # noqa: F401 (imported for its cost)
        from frugalml.train.loop import evaluate, fit

        data, X_test, _ = self._data()
        if self.config.db is not False:
            import frugalml.store  # noqa: F401 (the registry's first import, ~0.4 s)
        model = self.space.task.make_model()
        fit(model, dataclasses.replace(data, epochs=1))
        evaluate(model, data.X_val, data.y_val)
        model_facts(model, X_test)
        with Tracker("warm-up", db=False, handle_signals=False):
            pass

    def __call__(self, trial: Any) -> Any:
        self._data()  # loading the task is per process, not per trial
        cfg = self.config
        tracker = TrialTracker(
            trial,
            session=self.session,
            db=cfg.db,
            region=cfg.region,
            pue=cfg.pue,
            tags={"task": str(cfg.task), "space": self.space.name},
        )
        with tracker as run:
            params = self.space.suggest(trial)
            facts = self.train_and_measure(trial, params, tracker)
        facts["energy_j"] = float(run.energy_j["total"])
        values = [facts[o.name] for o in cfg.parsed_objectives()]
        return values[0] if len(values) == 1 else values

    # -- one trial ------------------------------------------------------------------------
    def train_and_measure(
        self, trial: Any, params: dict[str, Any], tracker: TrialTracker
    ) -> dict[str, Any]:
        """Train and measure ``params`` inside ``tracker``; returns the objective values
        (``energy_j`` excepted: it is final only when the tracker stops)."""
        optuna = require("optuna", "frugal search")
        torch = require("torch", "frugal search")
        from frugalml.measure.meter import EnergyMeter

        data, X_test, y_test = self._data()
        recipe = self.space.recipe(params)
        data = dataclasses.replace(
            data, batch_size=recipe.batch_size, epochs=recipe.epochs, lr=recipe.lr
        )
        torch.manual_seed(self.config.seed)
        model = self.space.build(params, data.n_classes)
        meter = EnergyMeter(energy_fn=tracker.energy_j).start()
        early_exit = None
        try:
            if self.space.early_exit(params):
                model, early_exit, epochs_run = self._train_early_exit(model, data)
                train_j = meter.energy_j()
                with meter.exclude():
                    self._after_epoch(trial, tracker, train_j, early_exit.val_accuracy_, epochs_run)
            else:
                epochs_run = self._train(trial, tracker, meter, model, data, recipe.weight_decay)
            technique = self.space.technique(params)
            if technique is not None:
                from frugalml.reduce import get_technique

                model = get_technique(technique).apply(model, data)
        except _Prune as e:
            train_j = meter.energy_j()
            if self.config.max_train_energy_j is not None:
                _record_constraint(trial, train_j, self.config.max_train_energy_j)
            self._record(trial, {"train_energy_j": train_j, "pruned_reason": str(e)})
            raise optuna.TrialPruned(str(e)) from None
        train_energy_j = meter.stop()
        if self.config.max_train_energy_j is not None:
            _record_constraint(trial, train_energy_j, self.config.max_train_energy_j)
        facts = self._measure(model, early_exit, data, X_test, y_test)
        facts.update(train_energy_j=train_energy_j, epochs_run=epochs_run)
        self._record(trial, facts)
        # the registry run carries what the search optimised (validation) and the test figure
        tracker.run.log_metric("accuracy", facts["accuracy"])
        tracker.run.log_metric("test_accuracy", facts["test_accuracy"])
        return facts

    def _train(
        self, trial: Any, tracker: Any, meter: Any, model: Any, data: Any, weight_decay: float
    ) -> int:
        from frugalml.train.loop import evaluate, fit

        loss_fn = _l2_loss(model, weight_decay) if weight_decay > 0 else None

        def on_epoch(state: Any) -> None:
            train_j = meter.energy_j()
            with meter.exclude():  # evaluating and the search's bookkeeping are not training
                val = evaluate(state.model, data.X_val, data.y_val)
                self._after_epoch(trial, tracker, train_j, val, state.epoch)

        return fit(model, data, loss_fn=loss_fn, callbacks=[on_epoch]).epochs_run

    def _train_early_exit(self, model: Any, data: Any) -> tuple[Any, Any, int]:
        from frugalml.reduce.early_exit import EarlyExit

        technique = EarlyExit()
        net = technique.apply(model, data)
        return net, technique, int(technique.epochs_run_)

    def _after_epoch(
        self, trial: Any, tracker: Any, train_j: float, val: float, epoch: int
    ) -> None:
        """Report, publish the energy so far, and decide whether to stop (raises _Prune)."""
        cfg = self.config
        if not cfg.multi:
            trial.report(float(val), epoch)
        tracker.run.log_metric("val_accuracy", val, step=epoch)
        spent_here = tracker.publish()
        cap = cfg.max_train_energy_j
        if cap is not None and train_j > cap:  # it can no longer be feasible
            raise _Prune(f"training energy {train_j:.3g} J passed the cap of {cap:g} J")
        if cfg.budget_j is not None:
            from frugalml.search.tracking import search_energy_j

            spent = search_energy_j(trial.study)
            if spent >= cfg.budget_j:
                raise _Prune(
                    f"the study's energy budget is spent ({spent:.4g} of {cfg.budget_j:g} J, "
                    f"{spent_here:.3g} J of it in this trial)"
                )
        if not cfg.multi and trial.should_prune():
            raise _Prune(f"stopped by the {cfg.pruner_name} pruner after epoch {epoch}")

    def _measure(
        self, model: Any, early_exit: Any, data: Any, X_test: Any, y_test: Any
    ) -> dict[str, Any]:
        from frugalml.bench.measure_model import inference_energy, model_facts
        from frugalml.train.loop import evaluate

        cfg = self.config
        tracker_args = {"db": False, "handle_signals": False, "region": cfg.region, "pue": cfg.pue}
        infer, _, _ = inference_energy(
            model, X_test, 256, min_seconds=cfg.infer_seconds, tracker_args=tracker_args
        )
        if early_exit is not None:  # in eval mode the network itself leaves early
            out = early_exit.bench_evaluate(model, X_test, y_test)
            return {
                "accuracy": float(early_exit.val_accuracy_),
                "test_accuracy": evaluate(model, X_test, y_test),
                "macs": round(float(out["macs"])),
                "infer_energy_j_per_1k": float(infer),
            }
        return {
            "accuracy": evaluate(model, data.X_val, data.y_val),
            "test_accuracy": evaluate(model, X_test, y_test),
            "macs": model_facts(model, X_test).macs,
            "infer_energy_j_per_1k": float(infer),
        }

    @staticmethod
    def _record(trial: Any, facts: dict[str, Any]) -> None:
        for key, value in facts.items():
            trial.set_user_attr(key, value)


def _l2_loss(model: Any, weight_decay: float) -> Any:
    """Cross-entropy plus ``weight_decay / 2 * sum(w ** 2)`` (Adam's coupled L2 decay)."""
    torch = require("torch", "frugal search")
    params = [p for p in model.parameters() if p.requires_grad]

    def loss(logits: Any, y: Any, x: Any) -> Any:
        l2 = sum((p * p).sum() for p in params)
        return torch.nn.functional.cross_entropy(logits, y) + 0.5 * weight_decay * l2

    return loss
