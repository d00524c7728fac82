"""An energy or CO2e budget for a run: warn early, and stop or warn when it is spent.

One implementation for every place a budget can be set: ``frugalml.track(budget_j=...,
budget_co2e_g=..., on_budget=...)``, the training callbacks (Lightning, Hugging Face) and
``frugal run --budget-*``. A :class:`Budget` only decides and words the message; its owner
says what stopping means (raise from ``epoch_end``, ``trainer.should_stop``, SIGTERM to the
command) and where the line goes.

Two moments, each said once:

1. **forecast**: the first time the run's forecast total (``Forecast.energy_j`` or
   ``co2e_g``, the central value) exceeds a budget, before it is spent;
2. **spent**: the first time the energy (or CO2e) measured so far reaches a budget. With
   ``on_budget="stop"`` the owner stops the run then; with ``"warn"`` it goes on.

Checking costs two comparisons (the tracker does it at every sample); the lines are built
only when a moment comes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frugalml import _fmt as fmt
from frugalml._params import check_choice, check_number

if TYPE_CHECKING:
    from frugalml.measure.forecast import Forecast

__all__ = ["ON_BUDGET", "Budget", "BudgetEvent"]

#: What happens when a budget is spent: ``stop`` the run (how depends on the owner) or
#: ``warn`` and go on.
ON_BUDGET = ("stop", "warn")


@dataclass(frozen=True)
class BudgetEvent:
    """A budget moment: ``kind`` is ``forecast`` or ``spent``; ``stop`` says whether the owner
    must stop the run now; ``message`` is the line to show (no prefix)."""

    kind: str
    stop: bool
    message: str


@dataclass
class Budget:
    """An energy and/or CO2e budget with what to do when it is spent.

    Args:
        energy_j: budget of IT energy (joules, before PUE, as ``run.energy_j["total"]``).
        co2e_g: budget of grams CO2e (as ``run.co2e_g``).
        on_budget: ``"stop"`` or ``"warn"`` (see :data:`ON_BUDGET`).
        owner: who is configured (for error messages): ``track``, ``EnergyCallback``...
        subject: what the budget is about, in the lines (``"training"``, ``"the command"``).
        stopping: what stopping does, for the spent line (``"training stops at this epoch's
            end"``, ``"sending SIGTERM to the command"``).
        setting: how the user chose the behaviour, shown in the lines (``on_budget='stop'``,
            ``--on-budget stop``).

    Example:
        >>> b = Budget(energy_j=1000.0, on_budget="warn")
        >>> b.spent_event(400.0, 0.1) is None
        True
        >>> print(b.spent_event(1200.0, 0.3).message)
        energy budget spent: 1.20 kJ of 1.00 kJ; training goes on (on_budget='warn')
        >>> b.spent_event(1500.0, 0.4) is None  # said once
        True
    """

    energy_j: float | None = None
    co2e_g: float | None = None
    on_budget: str = "stop"
    owner: str = "track"
    subject: str = "training"
    stopping: str = "training stops at this epoch's end"
    setting: str = ""
    _forecast_said: bool = field(default=False, repr=False)
    _spent: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for key, value in (("budget_j", self.energy_j), ("budget_co2e_g", self.co2e_g)):
            if value is not None:
                check_number(self.owner, key, value, low=0, low_open=True)
        check_choice(self.owner, "on_budget", self.on_budget, ON_BUDGET)
        if self.energy_j is not None:
            self.energy_j = float(self.energy_j)
        if self.co2e_g is not None:
            self.co2e_g = float(self.co2e_g)
        if not self.setting:
            self.setting = f"on_budget={self.on_budget!r}"

    @property
    def stops(self) -> bool:
        return self.on_budget == "stop"

    @property
    def spent(self) -> bool:
        """Whether the budget was found spent."""
        return self._spent is not None

    @property
    def spent_what(self) -> str | None:
        """What was spent (``"energy budget spent: 1.20 kJ of 1.00 kJ"``), or None."""
        return self._spent

    def limits(self) -> dict[str, float]:
        """The budget as recorded with a run: ``budget_j`` / ``budget_co2e_g``, ``on_budget``."""
        out: dict[str, float] = {}
        if self.energy_j is not None:
            out["budget_j"] = self.energy_j
        if self.co2e_g is not None:
            out["budget_co2e_g"] = self.co2e_g
        return out

    def spent_event(
        self, energy_j: float, co2e_g: float, *, ended: bool = False
    ) -> BudgetEvent | None:
        """The ``spent`` event the first time a budget is reached (thread-safe), else None.
        ``ended``: found in the run's last reading, when there is nothing left to stop."""
        over_j = self.energy_j is not None and energy_j >= self.energy_j
        over_g = self.co2e_g is not None and co2e_g >= self.co2e_g
        if not (over_j or over_g) or self._spent is not None:
            return None
        with self._lock:
            if self._spent is not None:
                return None
            parts = []
            if over_j:
                parts.append(f"energy budget spent: {_j(energy_j)} of {_j(self.energy_j)}")
            if over_g:
                parts.append(
                    f"CO2e budget spent: {fmt.co2e(co2e_g)} of {fmt.co2e(self.co2e_g)} CO2e"
                )
            self._spent = "; ".join(parts)
        if ended:
            return BudgetEvent("spent", False, f"{self._spent}, by the end of the run")
        then = self.stopping if self.stops else f"{self.subject} goes on"
        return BudgetEvent("spent", self.stops, f"{self._spent}; {then} ({self.setting})")

    def forecast_event(self, f: Forecast) -> BudgetEvent | None:
        """The ``forecast`` event the first time a forecast exceeds a budget that is not
        spent yet (thread-safe), else None."""
        over_j = self.energy_j is not None and f.energy_j > self.energy_j
        over_g = self.co2e_g is not None and f.co2e_g is not None and f.co2e_g > self.co2e_g
        if not (over_j or over_g) or self._forecast_said or self._spent is not None:
            return None
        with self._lock:
            if self._forecast_said:
                return None
            self._forecast_said = True
        parts = []
        if over_j:
            parts.append(
                f"the forecast {_j(f.energy_j, f.energy_j_low, f.energy_j_high)} exceeds the "
                f"{_j(self.energy_j)} energy budget"
            )
        if over_g:
            parts.append(
                f"the forecast {fmt.co2e(f.co2e_g)} CO2e exceeds the "
                f"{fmt.co2e(self.co2e_g)} CO2e budget"
            )
        then = f"{self.subject} stops when it is spent" if self.stops else f"{self.subject} goes on"
        seen = f"{_j(f.energy_j_so_far)} spent after epoch {f.epochs_seen} of {f.total_epochs}"
        return BudgetEvent(
            "forecast", False, f"{' and '.join(parts)} ({seen}); {then} ({self.setting})"
        )


def _j(joules: float | None, low: float | None = None, high: float | None = None) -> str:
    """Energy in J, kJ, kWh, MWh (the forecast line's units); with an interval, all three in
    the unit of the first (``12.3 kJ [11.8-12.9]``)."""
    if joules is None:
        return fmt.DASH
    units = (("J", 1.0, 1e3), ("kJ", 1e3, 3.6e6), ("kWh", 3.6e6, 3.6e9), ("MWh", 3.6e9, math.inf))
    unit, div = next((u, d) for u, d, limit in units if abs(joules) < limit)
    text = f"{fmt.num(joules / div)} {unit}"
    if low is not None and high is not None:
        text += f" [{fmt.num(low / div)}-{fmt.num(high / div)}]"
    return text
