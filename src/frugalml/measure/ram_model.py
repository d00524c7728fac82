"""DRAM energy model (method ``ram-model``).

Power is proportional to the memory the job holds::

    P_dram = 0.375 W/GiB * resident memory

0.375 W per GiB is 3 W per 8 GiB module, Crucial/Micron's figure for DDR3/DDR4 ("How much
power does memory use?"), the constant CodeCarbon also uses. In process scope the memory is
the resident set of the tracked process tree; in machine scope it is the machine's memory in
use (MemTotal - MemAvailable). It is never the host's installed total: a container on a 1 TB
host must not be charged for the host's DIMMs.

Relative uncertainty 0.5: DIMM power varies with generation (DDR3 -> DDR5), density and
activity, and resident memory is only a proxy for what a job keeps powered.
"""

from __future__ import annotations

from frugalml.measure._proc import ProcessTree, machine_memory_used_bytes
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["W_PER_GIB", "RamModelSensor"]

W_PER_GIB = 3.0 / 8.0
UNCERTAINTY = 0.5


class RamModelSensor(Sensor):
    """Modelled DRAM power from resident memory.

    Args:
        scope: ``"process"`` (resident memory of the tree rooted at ``pid``) or ``"machine"``.
        pid: root of the tracked tree (default: this process).
        tree: a shared :class:`ProcessTree` (the tracker passes one to several sensors).
        w_per_gib: watts per GiB of memory held.
    """

    name = "ram-model"

    def __init__(
        self,
        scope: str = "process",
        pid: int | None = None,
        *,
        tree: ProcessTree | None = None,
        w_per_gib: float = W_PER_GIB,
    ) -> None:
        self.scope = scope
        self.w_per_gib = w_per_gib
        self._tree = tree if tree is not None or scope != "process" else ProcessTree(pid)

    def available(self) -> Availability:
        return Availability(True)

    def coverage(self) -> str:
        return "process" if self.scope == "process" else "host"

    def channels(self) -> list[Channel]:
        return [Channel("dram", "dram", "ram-model", UNCERTAINTY)]

    def read(self) -> dict[str, Reading]:
        if self.scope == "process":
            assert self._tree is not None
            used = self._tree.rss_bytes()
        else:
            used = machine_memory_used_bytes()
        return {"dram": Reading(power_w=self.w_per_gib * used / 2**30)}
