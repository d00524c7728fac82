"""Epoch ends of a tracked run: the reading, the forecast, the printed line and the budget.

``frugalml.epoch_end()`` (one line in a training loop) finds the active run — the innermost
``track()``/``Tracker`` started in this process and not stopped — and calls its
``epoch_end``; with no active run, under ``frugal run``, it reports to the outer run through
:mod:`frugalml.measure.channel`. The tracker takes a reading at that moment, hands it to the
forecast model (:mod:`frugalml.measure.forecast`), keeps the forecast on the run
(``run.forecast``, the history in the registry), prints one line at a rate a log can bear
(the first forecast, then at most once a minute of run time unless the forecast moves by more
than 10 %, and after the last epoch) and checks the budget (:mod:`frugalml.measure.budget`).

Where the lines go: to the ``frugalml.measure.epochs`` logger (INFO) when the program has
configured logging, else to stderr as ``frugalml: forecast: ...``; ``echo=False`` silences
them, a callable receives them (``frugal run`` prints them itself). Budget lines are
:class:`~frugalml.errors.BudgetWarning` warnings (filterable), or go to that callable.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from frugalml._params import check_number
from frugalml.errors import BudgetWarning, FrugalWarning, InputError
from frugalml.measure.budget import Budget, BudgetEvent
from frugalml.store.columns import FORECAST_COLUMNS

#: The channel's environment variable (``frugalml.measure.channel.ENV_VAR``), checked without
#: importing the channel.
ENV_VAR = "FRUGAL_OUTER_RUN"

if TYPE_CHECKING:
    from frugalml.measure.forecast import EarlyStopping, Forecast, Forecaster
    from frugalml.measure.run import Run
    from frugalml.measure.tracker import Tracker

__all__ = [
    "FORECAST_COLUMNS",
    "EpochOutcome",
    "EpochState",
    "ReportsEarlyStopping",
    "active_tracker",
    "early_stopping_from_dict",
    "epoch_end",
]

log = logging.getLogger(__name__)


Echo = bool | Callable[[str], None]


@runtime_checkable
class ReportsEarlyStopping(Protocol):
    """An early-stopping callback that can tell the forecast its state (frugalml's
    ``EnergyAwareEarlyStopping`` does): pass it as ``epoch_end(early_stopping=...)``."""

    def early_stopping_state(self) -> EarlyStopping | None:
        """The rule and the monitored values so far; None when it cannot say."""


def as_early_stopping(value: Any) -> EarlyStopping | None:
    """An :class:`EarlyStopping` from what a user passes as ``early_stopping``."""
    if value is None:  # before the import: the forecast model loads numpy (~1 s cold)
        return None
    from frugalml.measure.forecast import EarlyStopping

    if isinstance(value, EarlyStopping):
        return value
    if isinstance(value, ReportsEarlyStopping):
        return value.early_stopping_state()
    raise InputError(
        "The 'early_stopping' parameter of epoch_end must be an EarlyStopping "
        "(frugalml.measure.forecast.EarlyStopping.with_patience(...) ...) or a callback with "
        f"early_stopping_state() (frugalml.reduce.EnergyAwareEarlyStopping). Got {value!r}."
    )


def early_stopping_to_dict(state: EarlyStopping) -> dict[str, Any]:
    """JSON-ready form of a state (what the channel carries)."""
    out = asdict(state)
    out["values"] = list(state.values)
    return out


def early_stopping_from_dict(data: dict[str, Any]) -> EarlyStopping:
    """The state back from :func:`early_stopping_to_dict`, checked by its constructors.

    Raises:
        InputError: an unknown rule or bad values.
    """
    from frugalml.measure.forecast import EarlyStopping

    rule = data.get("rule")
    values = data.get("values") or ()
    better = bool(data.get("higher_is_better"))
    if rule == "expected":
        return EarlyStopping.expected(data["expected_stop_epoch"])
    if rule == "patience":
        return EarlyStopping.with_patience(
            data["patience"],
            values=values,
            epochs_since_best=data.get("epochs_since_best"),
            higher_is_better=better,
            min_delta=float(data.get("min_delta") or 0.0),
        )
    if rule == "relative-gain":
        return EarlyStopping.relative_gain(
            data["window"], data["min_relative_gain"], values=values, higher_is_better=better
        )
    raise InputError(f"Unknown early-stopping rule {rule!r} (expected, patience, relative-gain).")


@dataclass(frozen=True)
class EpochOutcome:
    """What an epoch end produced: the forecast (None while the number of epochs is unknown)
    and whether the budget says stop now."""

    forecast: Forecast | None
    stop: bool
    events: tuple[BudgetEvent, ...] = ()


def check_epochs(owner: str, epoch: int | None, total_epochs: int | None) -> None:
    """The arguments of ``epoch_end`` (one message shape, raised at once)."""
    if epoch is not None:
        try:
            check_number(owner, "epoch", epoch, low=1, integer=True)
        except InputError:
            raise InputError(
                f"The 'epoch' parameter of {owner} counts the epochs completed (1 after the first "
                f"epoch). Got {epoch!r} instead: pass epoch + 1 from a 0-based loop, or leave it "
                "out to count calls."
            ) from None
    if total_epochs is not None:
        check_number(owner, "total_epochs", total_epochs, low=1, integer=True)


@dataclass
class EpochState:
    """A tracker's epoch-end state: the forecaster (built at the first epoch end: numpy is
    imported then, not when tracking starts), the budget and where lines go.

    Args:
        total_epochs: epochs configured (may come later, from ``epoch_end``).
        work: relative work of every epoch (the forecast's declared schedule), or None.
        budget: the run's budget, or None.
        echo: True (logging or stderr), False (silent), or a callable taking each line.
        forward: also forecast in the outer run (under ``frugal run``): the local forecast
            line is then not printed, the outer run prints its own.
    """

    total_epochs: int | None = None
    work: Sequence[float] | None = None
    budget: Budget | None = None
    echo: Echo = True
    forward: bool = False
    errors_said: set[str] = field(default_factory=set)
    _forecaster: Forecaster | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(
        self,
        run: Run,
        *,
        epoch: int | None,
        total_epochs: int | None,
        early_stopping: EarlyStopping | None,
        t_s: float,
        energy_j: float,
        co2e_g: float,
    ) -> EpochOutcome:
        """Forecast from this reading, keep it on the run, print the line if due, check the
        budget. Never raises for a reading the model refuses (recorded once in the run)."""
        with self._lock:  # two threads ending epochs at once must not interleave readings
            forecast = self._forecast(
                run, epoch, total_epochs, early_stopping, t_s, energy_j, co2e_g
            )
        events: list[BudgetEvent] = []
        if forecast is not None:
            run.add_forecast(forecast, time.time())
            fc = self._forecaster
            if fc is not None and fc.due(forecast) and not (self.forward and self.echo is True):
                from frugalml.measure.forecast import format_forecast

                self.say(format_forecast(forecast))
            if self.budget is not None:
                event = self.budget.forecast_event(forecast)
                if event is not None:
                    events.append(event)
        if self.budget is not None:
            event = self.budget.spent_event(energy_j, co2e_g)
            if event is not None:
                events.append(event)
        for event in events:
            self.tell(event, run)
        stop = self.budget is not None and self.budget.stops and self.budget.spent
        return EpochOutcome(forecast, stop, tuple(events))

    def _forecast(
        self,
        run: Run,
        epoch: int | None,
        total_epochs: int | None,
        early_stopping: EarlyStopping | None,
        t_s: float,
        energy_j: float,
        co2e_g: float,
    ) -> Forecast | None:
        from frugalml.measure.forecast import Forecaster

        if self._forecaster is None:
            self._forecaster = Forecaster(
                total_epochs=self.total_epochs,
                work=self.work,
                intensity_g_per_kwh=run.intensity_g_per_kwh,
                pue=run.pue,
                timeline=run._timeline,
                started_at=run.started_at,
            )
        try:
            return self._forecaster.update(
                epoch,
                t_s,
                energy_j,
                total_epochs=total_epochs,
                early_stopping=early_stopping,
                co2e_g_so_far=co2e_g,
            )
        except InputError as e:  # a reading the model refuses: the run goes on
            self._record_once(run, "forecast", f"no forecast at this epoch end: {e}")
            return None

    def spent_check(
        self, run: Run, energy_j: float, co2e_g: float, *, ended: bool = False
    ) -> BudgetEvent | None:
        """At every sample (the tracker's thread): the spent event, told, or None."""
        if self.budget is None:
            return None
        event = self.budget.spent_event(energy_j, co2e_g, ended=ended)
        if event is not None:
            self.tell(event, run)
        return event

    def tell(self, event: BudgetEvent, run: Run) -> None:
        """Show a budget line and record it in the run."""
        if event.kind == "spent":
            run.set_tag("budget_reached", "stop" if self.budget and self.budget.stops else "warn")
        if callable(self.echo):
            self._call(f"budget: {event.message}")
        else:
            warnings.warn(
                f"frugalml: {event.message}", BudgetWarning, stacklevel=_user_stacklevel()
            )

    def say(self, line: str) -> None:
        """A forecast line, where ``echo`` sends it."""
        if self.echo is False:
            return
        if callable(self.echo):
            self._call(line)
        elif _logging_configured(log):
            log.info("%s", line)
        else:
            print(f"frugalml: {line}", file=sys.stderr, flush=True)

    def _call(self, line: str) -> None:
        assert callable(self.echo)
        try:
            self.echo(line)
        except Exception:  # a broken stderr, a user's callable: never into the job
            log.debug("echo failed", exc_info=True)

    def _record_once(self, run: Run, source: str, message: str) -> None:
        key = message.split(":")[0]
        if key in self.errors_said:
            return
        self.errors_said.add(key)
        run.add_error(source, message)
        warnings.warn(f"frugalml: {message}", FrugalWarning, stacklevel=_user_stacklevel())


def _logging_configured(logger: logging.Logger) -> bool:
    """Whether a record of ``logger`` reaches a real handler (not only our NullHandler)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent  # type: ignore[assignment]
    return False


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside frugalml."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("frugalml"):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


# -- the active run ------------------------------------------------------------------------
_ACTIVE: list[weakref.ref[Tracker]] = []
_ACTIVE_LOCK = threading.Lock()


def register(tracker: Tracker) -> None:
    """A tracker started: it is now the innermost active run."""
    with _ACTIVE_LOCK:
        _ACTIVE.append(weakref.ref(tracker))


def unregister(tracker: Tracker) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE[:] = [r for r in _ACTIVE if r() is not None and r() is not tracker]


def active_tracker() -> Tracker | None:
    """The innermost tracker started in this process and not stopped (any thread)."""
    with _ACTIVE_LOCK:
        for ref in reversed(_ACTIVE):
            tracker = ref()
            if tracker is not None:
                return tracker
    return None


def epoch_end(
    epoch: int | None = None,
    total_epochs: int | None = None,
    *,
    early_stopping: Any = None,
) -> Forecast | None:
    """Tell the active run that an epoch ended: a reading now, the forecast, the budget.

    The active run is the innermost ``frugalml.track()``/``Tracker`` running in this process.
    With none, under ``frugal run``, the outer run takes the reading and forecasts (this
    returns None then). With neither, it warns once and returns None.

    Args:
        epoch: epochs completed so far (1 after the first); None counts the calls.
        total_epochs: epochs the training is configured for (or give it to ``track``).
        early_stopping: the state of an early-stopping rule
            (:class:`~frugalml.measure.forecast.EarlyStopping`, or a callback with
            ``early_stopping_state()`` such as ``frugalml.reduce.EnergyAwareEarlyStopping``):
            the forecast then counts the epochs the rule is expected to run.

    Returns:
        The run's new forecast (also ``run.forecast``), or None.

    Raises:
        frugalml.BudgetExceeded: the run's budget is spent and ``on_budget="stop"``; the run
            was recorded (status ``budget-stopped``) before this was raised.
        InputError: ``epoch`` or ``total_epochs`` is not a positive integer.

    Example:
        >>> import frugalml
        >>> with frugalml.track("fit", db=False, total_epochs=3) as run:  # doctest: +SKIP
        ...     for _ in range(3):
        ...         train_one_epoch()
        ...         frugalml.epoch_end()
    """
    found, forecast = _report(epoch, total_epochs, early_stopping)
    if found:
        return forecast
    warnings.warn(  # once per calling line (the default filter)
        "frugalml.epoch_end() found no active run: wrap the training in "
        "`with frugalml.track(...):`, or run the script under `frugal run`.",
        FrugalWarning,
        stacklevel=2,
    )
    return None


def report_epoch(
    epoch: int | None = None,
    total_epochs: int | None = None,
    *,
    early_stopping: Any = None,
) -> Forecast | None:
    """:func:`epoch_end` for library training loops (``EarlyStopEnergy``): tells the active or
    outer run if there is one, and does nothing otherwise."""
    return _report(epoch, total_epochs, early_stopping)[1]


def _report(
    epoch: int | None, total_epochs: int | None, early_stopping: Any
) -> tuple[bool, Forecast | None]:
    check_epochs("epoch_end", epoch, total_epochs)
    tracker = active_tracker()
    if tracker is not None:
        return True, tracker.epoch_end(epoch, total_epochs, early_stopping=early_stopping)
    if ENV_VAR not in os.environ:  # no import of the channel otherwise
        return False, None
    from frugalml.measure import channel

    outer = channel.client()
    if outer is None:
        return False, None
    state = as_early_stopping(early_stopping)
    outer.send(
        "epoch_end",
        {
            "epoch": epoch,
            "total_epochs": total_epochs,
            "early_stopping": None if state is None else early_stopping_to_dict(state),
        },
    )
    return True, None
