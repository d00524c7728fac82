"""What the machine is: CPU model, threads, RAM, read straight from /proc (fast).

No hardware-probing library on the start path (py-cpuinfo takes over a second).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuInfo", "machine_hardware", "read_cpuinfo", "total_memory_bytes"]


@dataclass(frozen=True)
class CpuInfo:
    """The first CPU's identity as ``/proc/cpuinfo`` gives it."""

    model_name: str = "unknown CPU"
    vendor: str = ""
    family: int | None = None
    model: int | None = None
    sockets: int = 1
    logical_cpus: int = 1
    flags: frozenset[str] = field(default_factory=frozenset)


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """Parse ``/proc/cpuinfo`` (x86 and ARM layouts); unknown fields stay default."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return CpuInfo(
            model_name=os.uname().machine or "unknown CPU", logical_cpus=os.cpu_count() or 1
        )
    first: dict[str, str] = {}
    sockets: set[str] = set()
    n = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            n += 1
        elif key == "physical id":
            sockets.add(value)
        if n <= 1 and key not in first:
            first[key] = value
    name = (
        first.get("model name") or first.get("Hardware") or first.get("CPU part") or "unknown CPU"
    )
    if first.get("CPU part") == "0xd0c":
        name = f"{name} (Neoverse-N1)"

    def _int(key: str) -> int | None:
        try:
            return int(first[key], 0)
        except (KeyError, ValueError):
            return None

    return CpuInfo(
        model_name=" ".join(name.split()),
        vendor=first.get("vendor_id", ""),
        family=_int("cpu family"),
        model=_int("model"),
        sockets=max(1, len(sockets)),
        logical_cpus=max(1, n),
        flags=frozenset(first.get("flags", "").split()),
    )


def total_memory_bytes(path: str | Path = "/proc/meminfo") -> int:
    """MemTotal in bytes (0 when unknown)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def machine_hardware() -> dict[str, object]:
    """The ``hardware`` block of run.json, without GPUs (the GPU sensors add theirs)."""
    cpu = read_cpuinfo()
    try:
        visible = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        visible = os.cpu_count() or 1
    return {
        "cpu_model": cpu.model_name,
        "cpu_threads": cpu.logical_cpus,
        "cpu_threads_visible": visible,
        "cpu_sockets": cpu.sockets,
        "ram_bytes": total_memory_bytes(),
        # os.uname, not the platform module: it costs ~10 ms to import on the start path
        "os": f"{os.uname().sysname} {os.uname().release}",
        "python": ".".join(map(str, sys.version_info[:3])),
        "gpus": [],
    }
