"""CPU time and memory of a process tree and of the machine, read from /proc.

Cheap enough to call every sampling interval: the machine figures are one read of
``/proc/stat`` / ``/proc/meminfo``; the process tree uses psutil, which reads
``/proc/<pid>/stat`` of the tracked processes only (plus one ``/proc`` listing to find
children).

Units: seconds of CPU time (summed over threads), bytes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["CpuCapacity", "MachineCpu", "ProcessTree", "cpu_capacity", "machine_memory_used_bytes"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuCapacity:
    """How many hardware threads the job may use, and why.

    Attributes:
        threads: logical CPUs visible to this process (affinity), the machine's in machine scope.
        quota_threads: the cgroup CPU quota in threads (``cpu.max`` / ``cfs_quota_us``), if set.
        effective_threads: ``min(threads, quota_threads)``: what a full-load job can use.
    """

    threads: int
    quota_threads: float | None

    @property
    def effective_threads(self) -> float:
        if self.quota_threads is None:
            return float(self.threads)
        return max(0.01, min(float(self.threads), self.quota_threads))


def cpu_capacity(
    cgroup_root: str | Path = "/sys/fs/cgroup", self_cgroup: str | Path = "/proc/self/cgroup"
) -> CpuCapacity:
    """Visible CPUs and the cgroup CPU quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``)."""
    try:
        threads = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        threads = os.cpu_count() or 1
    return CpuCapacity(
        threads=threads, quota_threads=_cgroup_quota_threads(Path(cgroup_root), Path(self_cgroup))
    )


def _cgroup_quota_threads(root: Path, self_cgroup: Path) -> float | None:
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")
        if controllers == "":  # cgroup v2
            for candidate in (root / rel / "cpu.max", root / "cpu.max"):
                quota = _read_cpu_max(candidate)
                if quota is not None:
                    return quota
        elif "cpu" in controllers.split(","):
            for base in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                for d in (base / rel, base):
                    quota = _read_cfs(d)
                    if quota is not None:
                        return quota
    return None


def _read_cpu_max(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def _read_cfs(d: Path) -> float | None:
    try:
        quota = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


class MachineCpu:
    """Busy CPU seconds of the whole machine from ``/proc/stat`` (steal excluded)."""

    def __init__(self, proc_root: str | Path = "/proc") -> None:
        self._stat = Path(proc_root) / "stat"

    def busy_s(self) -> float:
        """Cumulative busy CPU-seconds over all CPUs (user+nice+system+irq+softirq)."""
        with open(self._stat, "rb") as f:
            fields = f.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
        return (user + nice + system + irq + softirq) / _CLK_TCK


class ProcessTree:
    """CPU seconds and resident memory of a process and all its descendants.

    CPU time of a descendant is counted while it lives; when it exits, the part of its
    time not yet seen is recovered from its parent's ``children_*`` times once reaped.
    ``cpu_s()`` is monotonically non-decreasing and starts at 0 when the tree is created.

    Args:
        pid: root of the tree (default: this process).
    """

    #: Finding descendants reads /proc/<pid>/stat of every process on the machine (~2 ms per
    #: 100 processes), so it is redone at most this often; known processes are read at every
    #: sample. A child found late loses nothing: its CPU time since birth is counted when it is
    #: found, or through its parent's ``children_*`` times if it was reaped before that.
    RESCAN_EVERY_S = 5.0

    def __init__(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._root = psutil.Process(self.pid)
        self._procs: dict[int, psutil.Process] = {self.pid: self._root}
        self._scanned_at = -float("inf")
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (create_time, last total)
        self._total_s = 0.0
        self._rss_bytes = 0
        self._sampled_at = -1.0
        self._baseline_done = False
        self._baseline_root_s: float | None = None

    def _processes(self, rescan: bool) -> list[psutil.Process]:
        now = time.monotonic()
        if rescan or now - self._scanned_at >= self.RESCAN_EVERY_S:
            try:
                children = self._root.children(recursive=True)
            except psutil.Error:
                children = []
            # keep known Process objects (psutil caches their static fields) unless pid reused
            known = self._procs
            self._procs = {self.pid: self._root}
            for c in children:
                old = known.get(c.pid)
                self._procs[c.pid] = old if old is not None and old == c else c
            self._scanned_at = now
        return list(self._procs.values())

    def sample(self, max_age_s: float = 0.002, *, rescan: bool = False) -> None:
        """Refresh CPU and memory figures.

        Args:
            max_age_s: a sample finished less than this ago is reused, so that the sensors
                read in one tick share it.
            rescan: look for new descendants now (else at most every ``RESCAN_EVERY_S``).
        """
        if not rescan and time.monotonic() - self._sampled_at < max_age_s:
            return
        current: dict[int, tuple[float, float]] = {}
        rss = 0
        for p in self._processes(rescan):
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    total = t.user + t.system + t.children_user + t.children_system
                    ctime = p.create_time()
                    rss += p.memory_info().rss
            except psutil.Error:
                continue
            current[p.pid] = (ctime, total)
        self._sampled_at = time.monotonic()
        if not self._baseline_done:
            root = current.get(self.pid)
            self._baseline_root_s = None if root is None else root[1]
            self._seen = current
            self._baseline_done = True
            self._rss_bytes = rss
            return
        delta = 0.0
        for pid, (ctime, total) in current.items():
            prev = self._seen.get(pid)
            if prev is not None and prev[0] == ctime:
                delta += total - prev[1]
            else:
                delta += total  # born since last sample: all its time is new
        for pid, (ctime, total) in self._seen.items():
            if pid not in current or current[pid][0] != ctime:
                # Gone: its whole total reappears in a reaping parent's children_* times.
                delta -= total
        self._total_s += max(0.0, delta)
        self._seen = current
        self._rss_bytes = rss

    def root_exited(self, rusage_cpu_s: float) -> None:
        """Account for the root's final CPU time after it was reaped (``os.wait4`` rusage:
        the root and all descendants it waited for), which /proc can no longer show."""
        root = self._baseline_root_s
        if root is not None:
            self._total_s = max(self._total_s, rusage_cpu_s - root)
        self._sampled_at = time.monotonic()  # freeze: the tree is gone

    def cpu_s(self) -> float:
        """CPU seconds the tree used since this object was created."""
        self.sample()
        return self._total_s

    def rss_bytes(self) -> int:
        """Resident memory of the tree now (shared pages counted once per process)."""
        self.sample()
        return self._rss_bytes

    def alive(self) -> bool:
        try:
            return self._root.is_running() and self._root.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def machine_memory_used_bytes(proc_root: str | Path = "/proc") -> int:
    """Memory in use on the machine: MemTotal - MemAvailable (never the host's total)."""
    info: dict[str, int] = {}
    with open(Path(proc_root) / "meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                info[key] = int(rest.split()[0]) * 1024
            if len(info) == 2:
                break
    return max(0, info.get("MemTotal", 0) - info.get("MemAvailable", 0))
