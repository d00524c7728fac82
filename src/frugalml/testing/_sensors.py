"""Small sensors for tests and examples: a null sensor and a scripted one with faults."""

from __future__ import annotations

from collections.abc import Callable

from frugalml.errors import SensorError
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["NullSensor", "ScriptedSensor"]


class NullSensor(Sensor):
    """Reads nothing: lets a tracker run where no measurement is wanted (0 J)."""

    name = "null"

    def available(self) -> Availability:
        return Availability(True)

    def channels(self) -> list[Channel]:
        return []

    def read(self) -> dict[str, Reading]:
        return {}


class ScriptedSensor(Sensor):
    """A sensor whose n-th read returns ``script(n)``; raises ``SensorError`` from read
    ``fail_from`` on (to test that a failing sensor never reaches the user's code).

    Args:
        script: n -> cumulative energy in joules (or power in watts with ``power=True``).
        component: component name; method is ``method``.
    """

    name = "scripted"

    def __init__(
        self,
        script: Callable[[int], float],
        *,
        component: str = "cpu",
        method: str = "scripted",
        power: bool = False,
        uncertainty: float = 0.0,
        fail_from: int | None = None,
        machine_wide: bool = False,
    ) -> None:
        self.script = script
        self.component = component
        self.method = method
        self.power = power
        self.uncertainty = uncertainty
        self.fail_from = fail_from
        self.machine_wide = machine_wide
        self.reads = 0
        self.closed = False

    def available(self) -> Availability:
        return Availability(True)

    def channels(self) -> list[Channel]:
        return [
            Channel(
                self.component, self.component, self.method, self.uncertainty, self.machine_wide
            )
        ]

    def read(self) -> dict[str, Reading]:
        n = self.reads
        self.reads += 1
        if self.fail_from is not None and n >= self.fail_from:
            raise SensorError(f"scripted failure at read {n}")
        value = self.script(n)
        reading = Reading(power_w=value) if self.power else Reading(energy_j=value)
        return {self.component: reading}

    def close(self) -> None:
        self.closed = True
