"""Energy-aware early stopping (after Walsh et al. 2021), and the energy meter the training
techniques share.

Walsh et al. ("Sustainable AI: Environmental Implications, Challenges and Opportunities",
2021) show a plateau: on Iris, 96.17 % accuracy took 964 J and the next 2.5 points took
15,077 J more. :class:`EnergyAwareEarlyStopping` stops training when the improvement bought
per joule over the last ``window`` evaluations falls below a threshold:

- absolute (``min_gain_per_kj``): improvement in points (accuracy percentage points, or
  loss x 100) per kilojoule; the user's own exchange rate between accuracy and energy;
- relative (``min_relative_gain``, the default): the window's rate is below that fraction
  of the average rate since the first evaluation, which needs no knowledge of the
  machine's power (no gain at all since the first evaluation, over a whole window, also
  stops).

The improvement is taken on the running best (highest accuracy, lowest loss), so a noisy
evaluation neither stops nor extends training by itself. It is a ``fit`` callback
(``fit(..., callbacks=[stopper])``; add ``validate=True`` to watch validation accuracy) and
works in a user's own loop through ``update(value, energy_j)``.

:class:`EnergyMeter` gives cumulative joules of this process from a nested
:class:`~frugalml.measure.tracker.Tracker` (``db=False``), or from any function the user
passes; ``exclude()`` keeps monitoring work (test-set evaluations for a curve) out of the
count.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.measure.epochs import report_epoch
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.base import Needs, Technique

if TYPE_CHECKING:
    from torch import nn

    from frugalml.measure.forecast import EarlyStopping as ForecastStopping
    from frugalml.train.data import TrainData
    from frugalml.train.loop import EpochEnd

__all__ = ["MONITORS", "EarlyStopEnergy", "EnergyAwareEarlyStopping"]

logger = logging.getLogger(__name__)

#: What the stopper watches: validation accuracy (higher is better, needs
#: ``fit(validate=True)``), validation cross-entropy or the epoch's mean training loss
#: (lower is better; the training loss costs no extra pass).
MONITORS = ("val_accuracy", "val_loss", "train_loss")


class EnergyAwareEarlyStopping:
    """Stop when the improvement per joule over the last ``window`` evaluations is too low.

    Args:
        window: evaluations (epochs in ``fit``) over which the rate is measured (>= 1).
        min_gain_per_kj: stop when the window improved less than this many points per kJ
            (accuracy percentage points, or loss x 100). None uses ``min_relative_gain``.
        min_relative_gain: stop when the window's rate is below this fraction of the
            average rate since the first evaluation (in [0, 1]).
        monitor: one of :data:`MONITORS`.
        energy: an :class:`EnergyMeter`, a started ``Tracker`` or a function returning
            cumulative joules; None starts an ``EnergyMeter`` at the first evaluation.
        val_data: ``(X_val, y_val)``, or a ``TrainData`` with a validation split (its loss
            is used), for ``monitor="val_loss"`` (``fit`` gives only the metric).

    After each ``update``: ``history`` (list of ``(energy_j, value)``), ``best``,
    ``best_index`` (0-based evaluation of the best value), ``stopped`` and ``rate_per_kj``
    (last window's improvement per kJ).

    Example:
        >>> stop = EnergyAwareEarlyStopping(window=2, min_gain_per_kj=1.0, monitor="val_accuracy")
        >>> [stop.update(acc, energy_j=e) for e, acc in [(0, 0.5), (1000, 0.9), (2000, 0.9),
        ...                                               (3000, 0.9)]]
        [False, False, False, True]
    """

    def __init__(
        self,
        window: int = 5,
        min_gain_per_kj: float | None = None,
        min_relative_gain: float = 0.1,
        monitor: str = "train_loss",
        energy: EnergyMeter | Callable[[], float] | Any = None,
        val_data: tuple[Any, Any] | TrainData | None = None,
    ) -> None:
        check_number("EnergyAwareEarlyStopping", "window", window, low=1, integer=True)
        if min_gain_per_kj is not None:
            check_number("EnergyAwareEarlyStopping", "min_gain_per_kj", min_gain_per_kj, low=0)
        check_number(
            "EnergyAwareEarlyStopping", "min_relative_gain", min_relative_gain, low=0, high=1
        )
        check_choice("EnergyAwareEarlyStopping", "monitor", monitor, MONITORS)
        if monitor == "val_loss" and val_data is None:
            raise InputError(
                "EnergyAwareEarlyStopping(monitor='val_loss') needs val_data=(X_val, y_val)."
            )
        self.window = int(window)
        self.min_gain_per_kj = min_gain_per_kj
        self.min_relative_gain = float(min_relative_gain)
        self.monitor = monitor
        self.val_data = val_data
        self._energy = energy
        self._meter: EnergyMeter | None = None
        self.history: list[tuple[float, float]] = []
        self.best: float | None = None
        self.best_index: int | None = None
        self.stopped = False
        self.rate_per_kj: float | None = None
        self._running_best: list[float] = []

    @property
    def higher_is_better(self) -> bool:
        return self.monitor.endswith("accuracy")

    def early_stopping_state(self) -> ForecastStopping | None:
        """This rule's state for the forecast: ``frugalml.epoch_end(early_stopping=stopper)``
        then forecasts the epochs the rule is expected to run, not the configured ones.

        None for the absolute rule (``min_gain_per_kj``: when it stops depends on the
        machine's power, which the forecast's rule model leaves out); the forecast then
        counts the configured epochs.
        """
        if self.min_gain_per_kj is not None:
            return None
        from frugalml.measure.forecast import EarlyStopping as Stopping

        return Stopping.relative_gain(
            self.window,
            self.min_relative_gain,
            values=[value for _, value in self.history],
            higher_is_better=self.higher_is_better,
        )

    def _energy_now(self) -> float:
        source = self._energy
        if source is None:
            if self._meter is None:
                self._meter = EnergyMeter(name="early-stop", min_interval_s=0.1).start()
            return self._meter.energy_j()
        if isinstance(source, EnergyMeter):
            return source.energy_j()
        if hasattr(source, "sample"):  # a started Tracker
            return float(source.sample().energy_j["total"])
        return float(source())

    def update(self, value: float, energy_j: float | None = None) -> bool:
        """Record one evaluation; True when training should stop.

        Args:
            value: the monitored metric (accuracy as a fraction, or a loss).
            energy_j: cumulative joules at this evaluation; None reads the energy source.
        """
        energy = self._energy_now() if energy_j is None else float(energy_j)
        sign = 1.0 if self.higher_is_better else -1.0
        score = sign * float(value)  # higher is better from here on
        best = max(score, self._running_best[-1]) if self._running_best else score
        if best != (self._running_best[-1] if self._running_best else None):
            self.best, self.best_index = sign * best, len(self.history)
        self.history.append((energy, float(value)))
        self._running_best.append(best)
        i, w = len(self.history) - 1, self.window
        if i < w:
            return False
        d_energy_kj = (energy - self.history[i - w][0]) / 1000
        if d_energy_kj <= 0:  # a sensor that does not advance cannot decide
            return False
        self.rate_per_kj = 100 * (best - self._running_best[i - w]) / d_energy_kj
        if self.min_gain_per_kj is not None:
            threshold = self.min_gain_per_kj
        else:
            spent_kj = (energy - self.history[0][0]) / 1000
            average = 100 * (best - self._running_best[0]) / spent_kj
            if average <= 0:  # no gain since the first evaluation, for a whole window
                self.stopped = True
                return True
            threshold = self.min_relative_gain * average
        self.stopped = self.rate_per_kj < threshold
        return self.stopped

    def __call__(self, end: EpochEnd) -> bool:
        """The ``fit`` callback: reads the monitored value from ``end``."""
        if self.monitor == "val_accuracy":
            if end.val_accuracy is None:
                raise InputError(
                    "EnergyAwareEarlyStopping watches validation accuracy: call "
                    "fit(..., validate=True), or use monitor='train_loss'."
                )
            value = end.val_accuracy
        elif self.monitor == "train_loss":
            value = end.train_loss
        else:
            value = _val_loss(end.model, self.val_data)
            end.model.train()
        stop = self.update(value)
        if stop or end.epoch >= end.epochs:  # the fit's last epoch: the meter is done
            self.close()
        return stop

    def close(self) -> None:
        """Stop the energy meter this callback started itself (``energy=None``); the fit
        callback does it after the last epoch. A meter passed in is the caller's to stop."""
        if self._meter is not None:
            self._meter.stop()


def _val_loss(model: nn.Module, val: Any) -> float:
    """Mean loss on the validation split: cross-entropy on ``(X, y)``, or the data's loss."""
    torch = require("torch", "early stopping")
    from frugalml.train.data import TrainData

    if isinstance(val, TrainData):
        chunks, loss = val.chunks("val"), val.loss_fn()
    else:
        chunks, loss = iter([tuple(val)]), torch.nn.functional.cross_entropy
    model.eval()
    with torch.inference_mode():
        parts = [(float(loss(model(x), y)), len(y)) for x, y in chunks]
    if len(parts) == 1:
        return parts[0][0]
    return sum(v * n for v, n in parts) / sum(n for _, n in parts)


class BenchMonitored(Technique):
    """Base of the training techniques that draw a curve: figures from the bench's context.

    The bench calls ``bench_context(baseline=..., evaluate_test=...)`` before ``apply``:
    ``baseline`` is the task's baseline run of the same repeat (``accuracy``,
    ``train_energy_j``); ``evaluate_test(model) -> accuracy`` is used only to draw the
    technique's curve on the same split as the baseline's (it selects nothing, and the
    energy it spends is kept out of the curve's energy axis). Without it, curves use the
    validation split (no curve without one).
    """

    _bench_baseline: Mapping[str, Any] | None = None
    _bench_evaluate: Callable[[Any], float] | None = None
    _data: TrainData | None = None  # the data of the current apply, for curves

    def bench_context(
        self,
        baseline: Mapping[str, Any] | None = None,
        evaluate_test: Callable[[Any], float] | None = None,
    ) -> None:
        """Keep the baseline's figures and the test-split monitor (see the class doc)."""
        self._bench_baseline = baseline
        self._bench_evaluate = evaluate_test

    def _curve_point(
        self, meter: EnergyMeter, model: nn.Module, val_accuracy: float | None, *more: float
    ) -> None:
        """Append ``[energy_j, accuracy, *more]`` to ``curve_`` (nothing without a monitor
        or a validation split)."""
        energy = meter.energy_j()
        if self._bench_evaluate is not None:
            with meter.exclude():
                accuracy = float(self._bench_evaluate(model))
            split = "test"
        else:
            if val_accuracy is None:  # the technique's own (cheap) pass; counted
                if self._data is None or not self._data.has("val"):
                    return
                from frugalml.train.loop import score

                val_accuracy = score(model, self._data, "val")
            accuracy, split = float(val_accuracy), "validation"
        if self.curve_ is None:
            self.curve_ = []
        self.curve_.append([energy, accuracy, *more])
        self.curve_split_ = split

    def _curve_on_test(self) -> bool:
        """Whether ``curve_`` was drawn on the bench's test split."""
        return self.curve_ is not None and self.curve_split_ == "test"

    def _energy_to_reach(self, target: float | None) -> float | None:
        """Curve energy (J) at which accuracy first reached ``target``; None if never."""
        if target is None:
            return None
        return next((e for e, acc, *_ in self.curve_ or [] if acc >= target), None)


class EarlyStopEnergy(BenchMonitored):
    """Train from scratch with :class:`EnergyAwareEarlyStopping` (kind ``"train"``).

    Args:
        window, min_gain_per_kj, min_relative_gain, monitor: as for
            :class:`EnergyAwareEarlyStopping`.
        max_epochs: epochs at most; None takes the recipe's.
        restore_best: return the weights of the best validation evaluation, not the last
            (validation monitors; with ``train_loss`` the last weights are returned).
        lr: learning rate; None takes the recipe's.

    Learned state:
        epochs_run_, max_epochs_, stopped_early_, best_epoch_ (1-based), best_value_.
        energy_j_: joules of the whole run (nested tracker), validation passes included.
        curve_: ``[energy_j, accuracy]`` per epoch (test split when the bench gives a
            monitor, else validation); curve_split_ says which.
        epochs_saved_fraction_: ``1 - epochs_run_ / max_epochs_``.
        With the bench's baseline: baseline_energy_ratio_ (this run's energy over the
        baseline's training energy).

    Example:
        >>> model = EarlyStopEnergy(window=5).apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "early-stop-energy"
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=(), targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("training-energy",)
    paper: ClassVar[str] = (
        "Walsh et al. 2021, Sustainable AI: environmental implications (energy-aware stopping)"
    )

    def __init__(
        self,
        window: int = 5,
        min_gain_per_kj: float | None = None,
        min_relative_gain: float = 0.1,
        monitor: str = "train_loss",
        max_epochs: int | None = None,
        restore_best: bool = True,
        lr: float | None = None,
    ) -> None:
        self.window = window
        self.min_gain_per_kj = min_gain_per_kj
        self.min_relative_gain = min_relative_gain
        self.monitor = monitor
        self.max_epochs = max_epochs
        self.restore_best = restore_best
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "window", self.window, low=1, integer=True)
        if self.min_gain_per_kj is not None:
            check_number(owner, "min_gain_per_kj", self.min_gain_per_kj, low=0)
        check_number(owner, "min_relative_gain", self.min_relative_gain, low=0, high=1)
        check_choice(owner, "monitor", self.monitor, MONITORS)
        self._check_epochs("max_epochs", self.max_epochs)
        self._check_lr("lr", self.lr)
        if not isinstance(self.restore_best, bool):
            raise InputError(
                f"The 'restore_best' parameter of {owner} must be a bool. "
                f"Got {self.restore_best!r} instead."
            )

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        if self.monitor != "train_loss" and not data.has("val"):
            raise InputError(
                f"early-stop-energy with monitor={self.monitor!r} watches the validation split: "
                "pass val= to TrainData.from_loader, or use monitor='train_loss'."
            )
        self._data = data
        meter = EnergyMeter(name="early-stop-energy", min_interval_s=0.1).start()
        stopper = EnergyAwareEarlyStopping(
            window=self.window,
            min_gain_per_kj=self.min_gain_per_kj,
            min_relative_gain=self.min_relative_gain,
            monitor=self.monitor,
            energy=meter,
            val_data=data if data.has("val") else None,
        )
        best_state: dict[str, Any] = {}
        # the training loss's best is its last epoch but for noise: copying is wasted work
        keep_best = self.restore_best and self.monitor != "train_loss"

        def on_epoch(end: EpochEnd) -> bool:
            stop = stopper(end)
            # the run the user tracks this training in (if any) forecasts the epochs the rule
            # will run; its budget may stop the training here (BudgetExceeded)
            if stop:  # the rule ends the training now: this epoch is the last
                report_epoch(end.epoch, end.epoch)
            else:
                report_epoch(end.epoch, end.epochs, early_stopping=stopper)
            if keep_best and stopper.best_index == len(stopper.history) - 1:
                best_state.clear()
                best_state.update(copy.deepcopy(end.model.state_dict()))
            self._curve_point(meter, end.model, end.val_accuracy)
            return stop

        try:
            history = self._fit(
                model,
                data,
                epochs=self.max_epochs,
                lr=self.lr,
                callbacks=[on_epoch],
                validate=self.monitor == "val_accuracy",
            )
        finally:
            self.energy_j_ = meter.stop()
        if keep_best and best_state:
            model.load_state_dict(best_state)
        self.max_epochs_ = data.epochs if self.max_epochs is None else int(self.max_epochs)
        self.epochs_run_ = history.epochs_run
        self.stopped_early_ = history.stopped_early
        self.best_epoch_ = (stopper.best_index or 0) + 1
        self.best_value_ = float(stopper.best) if stopper.best is not None else float("nan")
        self.epochs_saved_fraction_ = 1 - self.epochs_run_ / max(self.max_epochs_, 1)
        base = self._bench_baseline
        if base and base.get("train_energy_j"):
            self.baseline_energy_ratio_ = self.energy_j_ / float(base["train_energy_j"])
        return model
