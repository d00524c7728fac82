"""CPU energy model for machines without energy counters (no RAPL, most cloud VMs).

Power of the CPU share this machine may use::

    P_machine(u) = n_threads * (TDP / threads_per_chip) * f(u)

where ``u`` is the CPU utilisation over the interval (busy CPU-seconds / (n_threads * dt))
and ``f`` is the SPECpower-derived load curve published by Teads and used by Boavizta
(piecewise linear through f(0) = 0.12, f(0.10) = 0.32, f(0.50) = 0.75, f(1.00) = 1.02;
Teads Engineering, "Building an AWS EC2 carbon emissions dataset", 2021).
``n_threads`` respects CPU affinity and the cgroup CPU quota.

Process scope charges the tracked process tree for the CPU time it used, at the power a busy
hardware thread draws at full load::

    E_process = cpu_seconds(tree) * (TDP / threads_per_chip) * f(1.0)

so two jobs are charged in proportion to the CPU time they burn, and idle threads' static power
stays with the machine (use machine scope to count it).

``TDP / threads_per_chip`` comes from, in order: (1) the model name in ``data/cpu_power.csv``
(vendor specification sheets), (2) the CPUID family/model in ``data/cpu_microarch.csv`` (a
representative server SKU of that microarchitecture), (3) 3.43 W per thread, the Cloud Carbon
Footprint average of 3.5 W per vCPU at full load (SPECpower-derived) divided by f(1.0).

Relative uncertainty (one standard deviation, judgement informed by the spread of SPECpower
results around the load curve and by TDP not being measured power): 0.30 for a matched model,
0.40 for a microarchitecture match, 0.60 for the generic fallback.
"""

from __future__ import annotations

import csv
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from frugalml.measure._proc import CpuCapacity, MachineCpu, ProcessTree, cpu_capacity
from frugalml.measure.base import Availability, Channel, Reading, Sensor
from frugalml.measure.hardware import CpuInfo, read_cpuinfo

__all__ = ["LOAD_CURVE", "CpuModelSensor", "CpuPowerSpec", "cpu_power_spec", "load_factor"]

LOAD_CURVE: tuple[tuple[float, float], ...] = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.0, 1.02))
FALLBACK_W_PER_THREAD = 3.5 / 1.02
UNCERTAINTY = {"table": 0.30, "microarch": 0.40, "fallback": 0.60}
# Beside this module (package data); a plain path, as importlib.resources costs ~10 ms to
# import on the start path.
_DATA = Path(__file__).parent / "data"


def load_factor(u: float) -> float:
    """Fraction of TDP drawn at utilisation ``u`` in [0, 1] (Teads/SPECpower curve)."""
    u = min(1.0, max(0.0, u))
    for (u0, f0), (u1, f1) in itertools.pairwise(LOAD_CURVE):
        if u <= u1:
            return f0 + (f1 - f0) * (u - u0) / (u1 - u0)
    return LOAD_CURVE[-1][1]


@dataclass(frozen=True)
class CpuPowerSpec:
    """Where the CPU's power figure comes from."""

    w_per_thread: float
    basis: str  # "table", "microarch" or "fallback"
    source: str

    @property
    def uncertainty(self) -> float:
        return UNCERTAINTY[self.basis]


@lru_cache(maxsize=1)
def _power_table() -> tuple[tuple[Callable[[str], bool], float, int, str], ...]:
    rows = []
    text = (_DATA / "cpu_power.csv").read_text()
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        rows.append(
            (_matcher(row["pattern"]), float(row["tdp_w"]), int(row["threads"]), row["source"])
        )
    return tuple(rows)


def _matcher(pattern: str) -> Callable[[str], bool]:
    """A case-insensitive search for ``pattern``; patterns that are plain text (most: a model
    name with escaped parentheses) are matched as text, because compiling ~90 regular
    expressions would cost more than the rest of starting a run."""
    literal = pattern.replace("\\(", "(").replace("\\)", ")")
    if not any(ch in literal for ch in "\\.^$*+?{}[]|"):
        needle = literal.lower()
        return lambda name: needle in name.lower()
    compiled = re.compile(pattern, re.I)
    return lambda name: compiled.search(name) is not None


@lru_cache(maxsize=1)
def _microarch_table() -> tuple[dict[str, str], ...]:
    text = (_DATA / "cpu_microarch.csv").read_text()
    return tuple(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def cpu_power_spec(cpu: CpuInfo | None = None) -> CpuPowerSpec:
    """Look up watts per hardware thread for ``cpu`` (default: this machine's).

    Example:
        >>> from frugalml.measure.hardware import CpuInfo
        >>> spec = cpu_power_spec(CpuInfo(model_name="AMD EPYC 7763 64-Core Processor"))
        >>> round(spec.w_per_thread, 3), spec.basis
        (2.188, 'table')
    """
    cpu = cpu or read_cpuinfo()
    for matches, tdp_w, threads, source in _power_table():
        if matches(cpu.model_name):
            return CpuPowerSpec(
                tdp_w / threads, "table", f"{source}: {tdp_w:g} W TDP / {threads} threads"
            )
    for row in _microarch_table():
        models = {int(m) for m in row["models"].split(";")}
        if row["vendor"] == cpu.vendor and cpu.family == int(row["family"]) and cpu.model in models:
            tdp_w, threads = float(row["tdp_w"]), int(row["threads"])
            return CpuPowerSpec(
                tdp_w / threads,
                "microarch",
                f"{row['microarch']} (CPUID family {cpu.family} model {cpu.model}) taken as "
                f"{row['representative_sku']}: {tdp_w:g} W TDP / {threads} threads",
            )
    return CpuPowerSpec(
        FALLBACK_W_PER_THREAD,
        "fallback",
        "unknown CPU: Cloud Carbon Footprint average of 3.5 W per vCPU at full load",
    )


class CpuModelSensor(Sensor):
    """Modelled CPU energy from utilisation and a CPU power table (method ``cpu-model``).

    Exposes a cumulative energy counter so that segments of any length (even a single
    sampling interval) get their energy from the CPU time actually used.

    Args:
        scope: ``"process"`` (the tree rooted at ``pid``) or ``"machine"``.
        pid: root of the tracked tree in process scope (default: this process).
        spec: power figure; default looked up for this machine's CPU.
        capacity: threads and cgroup quota; default read from the system.
        tree: a shared :class:`ProcessTree` (the tracker passes one to several sensors).
    """

    name = "cpu-model"

    def __init__(
        self,
        scope: str = "process",
        pid: int | None = None,
        *,
        spec: CpuPowerSpec | None = None,
        capacity: CpuCapacity | None = None,
        tree: ProcessTree | None = None,
        machine: MachineCpu | None = None,
    ) -> None:
        self.scope = scope
        self.spec = spec or cpu_power_spec()
        self.capacity = capacity or cpu_capacity()
        self._tree = tree if tree is not None or scope != "process" else ProcessTree(pid)
        self._machine = machine or MachineCpu()
        self._energy_j = 0.0
        self._last_t = time.monotonic()
        self._last_busy_s = self._machine.busy_s() if scope == "machine" else 0.0

    def available(self) -> Availability:
        return Availability(True)

    def coverage(self) -> str:
        return "process" if self.scope == "process" else "host"

    def channels(self) -> list[Channel]:
        return [Channel("cpu", "cpu", "cpu-model", self.spec.uncertainty)]

    def read(self) -> dict[str, Reading]:
        if self.scope == "process":
            assert self._tree is not None
            e = self._tree.cpu_s() * self.spec.w_per_thread * load_factor(1.0)
            return {"cpu": Reading(energy_j=e)}
        now = time.monotonic()
        busy = self._machine.busy_s()
        dt = now - self._last_t
        threads = self.capacity.effective_threads
        if dt > 0:
            u = (busy - self._last_busy_s) / (dt * threads)
            self._energy_j += threads * self.spec.w_per_thread * load_factor(u) * dt
        self._last_t, self._last_busy_s = now, busy
        return {"cpu": Reading(energy_j=self._energy_j)}

    def hardware(self) -> dict[str, object]:
        return {
            "cpu_power_w_per_thread": round(self.spec.w_per_thread, 4),
            "cpu_power_basis": self.spec.basis,
            "cpu_power_source": self.spec.source,
            "cpu_quota_threads": self.capacity.quota_threads,
        }
