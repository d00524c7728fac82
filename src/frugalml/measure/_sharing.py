"""Who reads what in a distributed job, so that nothing is counted twice.

Every rank runs its own tracker; this module decides, per sensor channel, whether this rank
reads it:

* ``process`` coverage (the CPU and RAM models in process scope): every rank, for its own
  process tree, which stops at descendants that are other ranks of the job (Lightning's DDP
  launcher starts ranks 1..n as children of rank 0);
* ``host`` coverage (RAPL packages and DRAM, the models in machine scope, a declared power):
  once per host, by local rank 0; in process scope a machine-wide counter is instead read by
  every rank for its share of the machine's CPU time (as in a lone run), which adds up to the
  ranks' share and never more;
* ``devices`` (GPU boards): each board by the rank bound to it: a process that sees one board
  owns it (SLURM's ``--gpus-per-task``, a ``CUDA_VISIBLE_DEVICES`` per rank); a process that
  sees several owns the one at its local rank (torchrun's ``cuda:LOCAL_RANK``) and local rank 0
  also the boards beyond the host's ranks (bound to none).

Claims make the rule safe when ranks see the same boards in ways it cannot tell apart (two
ranks on one GPU): a board, and the host's shared sensors, are claimed by creating a file in
a folder private to the user, per host and run; the first claimer reads it, the others record
who does. A claim whose process is gone is taken over.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from frugalml.measure.base import Availability, Channel, Reading, Sensor
from frugalml.measure.distributed import RANK_NAMES, JobContext

__all__ = ["Claims", "OtherRanks", "SubsetSensor", "share_sensors"]

log = logging.getLogger(__name__)


class Claims:
    """Exclusive claims of this host's shared sensors for one logical run.

    Args:
        run_key: the host row's id (one folder per host and logical run).
        root: where claim folders live (default: a folder of this user's in the temporary
            directory, mode 0700).
    """

    def __init__(self, run_key: str, root: str | os.PathLike[str] | None = None) -> None:
        import tempfile

        base = Path(root) if root is not None else Path(tempfile.gettempdir())
        self.dir = base / f"frugalml-claims-{os.getuid()}" / run_key
        self._held: list[Path] = []

    def take(self, name: str) -> str | None:
        """Claim ``name``; None when taken, else who holds it (``pid N``). A folder that
        cannot be made (a read-only temp) lets everyone read: a count is better than none."""
        path = self.dir / name.replace("/", "_")
        me = f"{os.getpid()} {_start_time(os.getpid())}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            log.debug("claims folder %s: %s", self.dir, e)
            return None
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                holder = _read(path)
                if holder is not None and _alive(holder):
                    return f"pid {holder.split()[0]}"
                path.unlink(missing_ok=True)  # its process is gone: take it over
                continue
            except OSError as e:
                log.debug("claim %s: %s", path, e)
                return None
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self._held.append(path)
            return None
        return "another process"

    def release(self) -> None:
        """Give back every claim (at the run's stop)."""
        for path in self._held:
            path.unlink(missing_ok=True)
        self._held.clear()
        try:
            self.dir.rmdir()
        except OSError:
            pass  # other ranks still hold claims there


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return "?"


def _alive(holder: str) -> bool:
    pid, _, start = holder.partition(" ")
    try:
        n = int(pid)
    except ValueError:
        return False
    try:
        os.kill(n, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start in ("", "?") or _start_time(n) in (start, "?")


class SubsetSensor(Sensor):
    """Some channels of another sensor (the ones this rank reads)."""

    def __init__(self, inner: Sensor, keep: set[str]) -> None:
        self.inner = inner
        self.keep = keep
        self.name = inner.name

    def available(self) -> Availability:
        return self.inner.available()

    def channels(self) -> list[Channel]:
        return [c for c in self.inner.channels() if c.id in self.keep]

    def read(self) -> dict[str, Reading]:
        return {k: v for k, v in self.inner.read().items() if k in self.keep}

    def hardware(self) -> dict[str, object]:
        out = dict(self.inner.hardware())
        gpus = out.get("gpus")
        if isinstance(gpus, list):
            out["gpus"] = [g for g in gpus if f"gpu:{g.get('index')}" in self.keep]
        return out

    def coverage(self) -> str:
        return self.inner.coverage()

    def boards(self) -> dict[str, str]:
        return {k: v for k, v in self.inner.boards().items() if k in self.keep}

    def close(self) -> None:
        self.inner.close()


def share_sensors(
    ctx: JobContext, sensors: list[Sensor], scope: str, claims: Claims
) -> tuple[list[Sensor], dict[str, str], list[str]]:
    """The sensors (or parts) this rank reads.

    Returns:
        (sensors, skipped, host_wide): ``skipped`` says, per sensor or channel left to
        another process, who reads it; ``host_wide`` lists the components this rank reads for
        its whole host.
    """
    kept: list[Sensor] = []
    skipped: dict[str, str] = {}
    host_wide: list[str] = []
    for sensor in sensors:
        try:
            channels = sensor.channels()
            coverage = sensor.coverage()
            boards = sensor.boards() if coverage == "devices" else {}
        except Exception as e:  # a sensor failing here is left to the sampler to record
            log.debug("sharing %s: %s", sensor, e)
            kept.append(sensor)
            continue
        if coverage == "process":
            kept.append(sensor)
        elif coverage == "devices":
            mine = _own_boards(ctx, channels, boards, claims, skipped, sensor.name)
            _keep(sensor, {c.id for c in channels}, mine, kept)
            host_wide += [
                c.component
                for i, c in enumerate(channels)
                if c.id in mine and len(channels) > 1 and i != ctx.local_rank
            ]
        elif scope == "process" and channels and all(c.machine_wide for c in channels):
            kept.append(sensor)  # its share of the machine, by this rank's CPU time
        else:
            holder = claims.take("host") if ctx.reads_host else None
            if ctx.reads_host and holder is None:
                kept.append(sensor)
                host_wide += [c.component for c in channels]
            else:
                who = holder or f"local rank 0 of {ctx.host}"
                skipped[sensor.name] = f"host-wide: read once for {ctx.host} by {who}"
                sensor.close()
    return kept, skipped, sorted(set(host_wide))


def _own_boards(
    ctx: JobContext,
    channels: list[Channel],
    boards: Mapping[str, str],
    claims: Claims,
    skipped: dict[str, str],
    sensor_name: str,
) -> set[str]:
    mine: set[str] = set()
    for i, ch in enumerate(channels):
        if len(channels) == 1 or i == ctx.local_rank:
            wanted = True
        else:
            unbound = ctx.local_world_size is not None and i >= ctx.local_world_size
            wanted = unbound and ctx.reads_host
        if not wanted:
            skipped[f"{sensor_name}:{ch.id}"] = (
                f"bound to local rank {i} of {ctx.host}, which reads it"
                if ctx.local_world_size is None or i < ctx.local_world_size
                else f"bound to no rank: read once for {ctx.host} by local rank 0"
            )
            continue
        holder = claims.take(f"board-{boards.get(ch.id, f'{sensor_name}:{ch.id}')}")
        if holder is None:
            mine.add(ch.id)
        else:
            skipped[f"{sensor_name}:{ch.id}"] = f"the same board is read by {holder} of this job"
    return mine


def _keep(sensor: Sensor, all_ids: set[str], mine: set[str], kept: list[Sensor]) -> None:
    if mine == all_ids:
        kept.append(sensor)
    elif mine:
        kept.append(SubsetSensor(sensor, mine))
    else:
        sensor.close()


class OtherRanks:
    """``prune(pid)`` for a rank's process tree: True for a descendant that is another rank of
    the job (its environment names another rank), whose subtree that rank measures itself.

    Args:
        env: this process's environment (its rank variables).
        environ_of: reads a process's initial environment (tests pass a dict lookup).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        environ_of: Callable[[int], Mapping[str, str] | None] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.mine = {k: env[k] for k in (*RANK_NAMES, "LOCAL_RANK") if k in env}
        self._environ_of = environ_of or _proc_environ
        self._seen: dict[int, bool] = {}

    def __call__(self, pid: int) -> bool:
        found = self._seen.get(pid)
        if found is None:
            env = self._environ_of(pid) or {}
            found = any(k in env and env[k] != v for k, v in self.mine.items())
            if not self.mine:  # this process has no rank variable: a child with one is a rank
                found = any(k in env for k in (*RANK_NAMES, "LOCAL_RANK"))
            self._seen[pid] = found
        return found


def _proc_environ(pid: int) -> dict[str, str] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out
