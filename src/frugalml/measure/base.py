"""The sensor interface: a small object the tracker reads at every sample.

A sensor exposes one or more *channels* (a RAPL package, a GPU, the modelled CPU).
Each read returns, per channel, either a monotonically increasing energy counter
(``energy_j``, which may wrap at ``wrap_j``) or an instantaneous power (``power_w``), or, for a
channel that failed while the others still read, the ``error``.
The tracker owns differencing, wraparound, integration of power over time, process
attribution and aggregation of channels into components (``cpu``, ``dram``,
``gpu:0``...). Sensors stay simple and stateless about time.

Units: joules, watts, seconds, relative uncertainties (0.05 = ±5 %).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["Availability", "Channel", "Reading", "Sensor"]


@dataclass(frozen=True)
class Availability:
    """Whether a sensor can be used here, and if not, why and what to do."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Channel:
    """One measured quantity of a sensor.

    Attributes:
        id: unique within the sensor, e.g. ``"intel-rapl:0"`` or ``"gpu:0"``.
        component: what it adds to in the run, e.g. ``"cpu"``, ``"dram"``, ``"gpu:0"``.
        method: how it is obtained, e.g. ``"rapl"``, ``"nvml-energy"``, ``"cpu-model"``.
        uncertainty: relative standard uncertainty of the energy it yields (0.05 = ±5 %).
        machine_wide: True when the reading covers the whole machine (a RAPL package),
            so the tracker scales it by the tracked processes' CPU share in process scope.
    """

    id: str
    component: str
    method: str
    uncertainty: float
    machine_wide: bool = False


@dataclass(frozen=True)
class Reading:
    """One reading of one channel: a cumulative energy counter or a power.

    Attributes:
        energy_j: cumulative energy counter (J); only differences are meaningful.
        wrap_j: counter range (J) after which ``energy_j`` restarts from 0, if it wraps.
        power_w: instantaneous (or short-average) power (W).
        error: why this channel could not be read this time (the sensor's other channels
            did); the tracker records it and, for CPU and DRAM, lets the model take over.
    """

    energy_j: float | None = None
    power_w: float | None = None
    wrap_j: float | None = None
    error: str | None = None


class Sensor(ABC):
    """Base class of every sensor. Subclasses set ``name`` (the registry key)."""

    name: str = "sensor"

    @abstractmethod
    def available(self) -> Availability:
        """Probe cheaply whether the sensor works here; never raise."""

    @abstractmethod
    def channels(self) -> list[Channel]:
        """The channels this sensor reads (call after ``available()`` is true)."""

    @abstractmethod
    def read(self) -> dict[str, Reading]:
        """Read every channel now; raise :class:`~frugalml.errors.SensorError` when nothing
        can be read, or give a failing channel a ``Reading(error=...)``."""

    def hardware(self) -> dict[str, object]:
        """Describe the measured hardware for ``run.json`` (e.g. GPU names)."""
        return {}

    def coverage(self) -> str:
        """What one reading covers, which decides who reads it in a distributed job:
        ``"host"`` (the whole machine: RAPL, a declared power; read once per host),
        ``"process"`` (the tracked process tree: the models in process scope; every rank
        reads its own) or ``"devices"`` (boards, see :meth:`boards`; each read by the rank
        it is bound to)."""
        return "host"

    def boards(self) -> dict[str, str]:
        """For ``"devices"`` sensors: channel id -> an identity of the board that is the same
        in every process of the host (a GPU's UUID)."""
        return {}

    def close(self) -> None:  # noqa: B027 - most sensors hold nothing
        """Release handles (NVML shutdown...). Safe to call twice."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
