"""CPU time and memory of a process tree and of the machine, read from /proc.

Cheap enough to call every sampling interval: the machine figures are one read of
``/proc/stat`` / ``/proc/meminfo``; the process tree reads ``/proc/<pid>/stat`` of the tracked
processes only and finds their children through ``/proc/<pid>/task/<tid>/children`` (psutil
where there is no such /proc).

Units: seconds of CPU time (summed over threads), bytes.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    On Linux it reads ``/proc/<pid>/stat`` of the tree's processes and finds descendants
    through ``/proc/<pid>/task/<tid>/children`` (the tree only, never the whole machine's
    process list): a sample of a small tree costs tens of microseconds. Elsewhere, psutil.

    Args:
        pid: root of the tree (default: this process).
        prune: ``prune(pid)`` is True for a descendant whose subtree is not part of this tree
            (another rank of a distributed job, which measures itself); asked once per process.
    """

    #: Descendants are looked for at most this often (known processes are read at every
    #: sample). A child found late loses nothing: its CPU time since birth is counted when it is
    #: found, or through its parent's ``children_*`` times if it was reaped before that.
    RESCAN_EVERY_S = 5.0

    def __init__(self, pid: int | None = None, prune: Callable[[int], bool] | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._prune = prune
        self._reader: _Reader = _ProcfsReader() if _PROCFS else _PsutilReader()
        self._reader.check(self.pid)
        self._pids: list[int] = [self.pid]
        self._scanned_at = -float("inf")
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (start time, last total)
        self._total_s = 0.0
        self._rss_bytes = 0
        self._sampled_at = -1.0
        self._baseline_done = False
        self._baseline_root_s: float | None = None

    def _processes(self, rescan: bool) -> list[int]:
        now = time.monotonic()
        if rescan or now - self._scanned_at >= self.RESCAN_EVERY_S:
            pids = [self.pid, *self._reader.descendants(self.pid, self._prune)]
            for gone in set(self._pids) - set(pids):
                self._reader.forget(gone)
            self._pids = pids
            self._scanned_at = now
        return self._pids

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
        for pid in self._processes(rescan):
            stat = self._reader.read(pid)
            if stat is None:
                continue
            start, total, pid_rss = stat
            current[pid] = (start, total)
            rss += pid_rss
        self._sampled_at = time.monotonic()
        if not self._baseline_done:
            root = current.get(self.pid)
            self._baseline_root_s = None if root is None else root[1]
            self._seen = current
            self._baseline_done = True
            self._rss_bytes = rss
            return
        delta = 0.0
        for pid, (start, total) in current.items():
            prev = self._seen.get(pid)
            if prev is not None and prev[0] == start:
                delta += total - prev[1]
            else:
                delta += total  # born since last sample: all its time is new
        for pid, (start, total) in self._seen.items():
            if pid not in current or current[pid][0] != start:
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
        return self._reader.alive(self.pid, self._seen.get(self.pid, (None, 0.0))[0])

    def close(self) -> None:
        """Release the open /proc files (safe to call twice)."""
        self._reader.close()


_PROCFS = os.path.exists("/proc/self/task") and os.path.exists(
    f"/proc/self/task/{os.getpid()}/children"
)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Reader(ABC):
    """How processes are read: /proc on Linux, psutil elsewhere."""

    @abstractmethod
    def check(self, pid: int) -> None:
        """Raise ProcessLookupError when ``pid`` does not exist."""

    @abstractmethod
    def read(self, pid: int) -> tuple[float, float, int] | None:
        """(start time, CPU-s of itself and reaped children, resident bytes), None if gone."""

    @abstractmethod
    def descendants(self, pid: int, prune: Callable[[int], bool] | None = None) -> list[int]:
        """Every descendant of ``pid``, except the subtrees of those ``prune`` refuses."""

    @abstractmethod
    def alive(self, pid: int, start: float | None) -> bool:
        """Whether ``pid`` still runs and is the process that started at ``start``."""

    def close(self) -> None:  # noqa: B027 - an optional hook: nothing held by default
        """Release what reading holds."""

    def forget(self, pid: int) -> None:  # noqa: B027 - an optional hook: nothing kept by default
        """``pid`` left the tree."""


class _ProcfsReader(_Reader):
    def __init__(self) -> None:
        # /proc/<pid>/stat stays open and is re-read with pread: opening it costs more than
        # reading it. The descriptor belongs to that process: once it is gone, reads fail,
        # even if its pid is reused.
        self._fds: dict[int, int] = {}

    def check(self, pid: int) -> None:
        if self._fields(pid) is None:
            raise ProcessLookupError(f"no process {pid}")

    def _fields(self, pid: int) -> list[bytes] | None:
        fd = self._fds.get(pid)
        try:
            if fd is None:
                fd = self._fds[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            data = os.pread(fd, 4096, 0)
        except OSError:
            data = b""
        if not data:
            self.forget(pid)
            return None
        # after "pid (comm)": fields from 3 (state) on; comm may hold spaces and parentheses
        return data[data.rindex(b")") + 2 :].split()

    def forget(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for pid in list(self._fds):
            self.forget(pid)

    def __del__(self) -> None:
        self.close()

    def read(self, pid: int) -> tuple[float, float, int] | None:
        f = self._fields(pid)
        if f is None:
            return None
        # man 5 proc: utime 14, stime 15, cutime 16, cstime 17, starttime 22, rss 24
        ticks = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        return float(f[19]), ticks / _CLK_TCK, int(f[21]) * _PAGE

    def descendants(self, pid: int, prune: Callable[[int], bool] | None = None) -> list[int]:
        out: list[int] = []
        todo = [pid]
        while todo:
            parent = todo.pop()
            try:
                tids = os.listdir(f"/proc/{parent}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                        kids = [int(k) for k in f.read().split()]
                except (OSError, ValueError):
                    continue
                if prune is not None:
                    kids = [k for k in kids if not prune(k)]
                out.extend(kids)
                todo.extend(kids)
        return out

    def alive(self, pid: int, start: float | None) -> bool:
        f = self._fields(pid)
        return f is not None and f[0] != b"Z" and (start is None or float(f[19]) == start)


class _PsutilReader(_Reader):
    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._procs: dict[int, Any] = {}

    def _proc(self, pid: int) -> Any:
        p = self._procs.get(pid)
        if p is None:
            p = self._procs[pid] = self._psutil.Process(pid)
        return p

    def check(self, pid: int) -> None:
        try:
            self._proc(pid)
        except self._psutil.NoSuchProcess as e:
            raise ProcessLookupError(f"no process {pid}") from e

    def read(self, pid: int) -> tuple[float, float, int] | None:
        try:
            p = self._proc(pid)
            with p.oneshot():
                t = p.cpu_times()
                total = t.user + t.system + t.children_user + t.children_system
                return p.create_time(), total, p.memory_info().rss
        except self._psutil.Error:
            self._procs.pop(pid, None)
            return None

    def descendants(self, pid: int, prune: Callable[[int], bool] | None = None) -> list[int]:
        out: list[int] = []
        todo = [pid]
        while todo:
            try:
                kids = [c.pid for c in self._psutil.Process(todo.pop()).children()]
            except self._psutil.Error:
                continue
            kids = [k for k in kids if prune is None or not prune(k)]
            out.extend(kids)
            todo.extend(kids)
        return out

    def alive(self, pid: int, start: float | None) -> bool:
        try:
            p = self._proc(pid)
            return p.is_running() and p.status() != self._psutil.STATUS_ZOMBIE
        except self._psutil.Error:
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
