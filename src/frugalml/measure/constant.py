"""A power the user declares (method ``constant``), e.g. read off a wall meter.

"This box draws 350 W while training": the energy is that power times the elapsed time.
Relative uncertainty defaults to 0.10 (a plug-in meter's reading of a steady load) and can be
set to what the user knows of their figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from frugalml._params import check_number
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["ConstantPowerSensor"]


class ConstantPowerSensor(Sensor):
    """Energy = declared power x time.

    Args:
        power_w: declared power in watts (> 0).
        component: what it covers, e.g. ``"system"`` (the whole box), ``"gpu:0"``.
        uncertainty: relative uncertainty of the declared power.
        clock: seconds clock, injectable for tests.

    Example:
        >>> s = ConstantPowerSensor(350.0, clock=iter([0.0, 2.0]).__next__)
        >>> s.read()["system"].energy_j
        700.0
    """

    name = "constant"

    def __init__(
        self,
        power_w: float,
        component: str = "system",
        *,
        uncertainty: float = 0.10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_number("ConstantPowerSensor", "power_w", power_w, low=0, low_open=True)
        check_number("ConstantPowerSensor", "uncertainty", uncertainty, low=0)
        self.power_w = float(power_w)
        self.component = component
        self.uncertainty = uncertainty
        self._clock = clock
        self._t0 = clock()

    def available(self) -> Availability:
        return Availability(True)

    def channels(self) -> list[Channel]:
        return [Channel(self.component, self.component, "constant", self.uncertainty)]

    def read(self) -> dict[str, Reading]:
        return {self.component: Reading(energy_j=self.power_w * (self._clock() - self._t0))}
