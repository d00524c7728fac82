"""Distributed jobs as one run: which job, host and rank a process is.

Under ``torchrun``, SLURM (``srun``), Open MPI or MPICH every process that starts a tracker
joins **one logical run** per job and run name: a ``job`` row, one ``host`` row per host under
it, and one ``rank`` row per process under its host (rows of ``frugalml.store``; totals are the
sum of the rank rows, see ``frugalml.store.tree``). The processes never talk to each other:
they agree on the job's identity from what their launcher put in their environment, and
derive the same row ids from it.

Identity (the ``key``), from every source present, joined:

* ``FRUGAL_JOB_ID`` — set by the user; overrides the rest (e.g. ``srun --export=ALL,
  FRUGAL_JOB_ID=exp42``, or several ``frugal run`` on hosts a scheduler does not link);
* SLURM: ``SLURM_CLUSTER_NAME``, ``SLURM_JOB_ID`` and the step (``SLURM_STEP_ID``);
* torchrun: ``TORCHELASTIC_RUN_ID`` (its ``--rdzv-id``; a fresh UUID with ``--standalone`` or
  on one node; ``none``, torchrun's default for several nodes, is not an identity);
* MPI: ``PMIX_NAMESPACE`` (Open MPI 5, PRRTE, ``srun --mpi=pmix``), ``OMPI_MCA_ess_base_jobid``
  (Open MPI 4), ``PMI_KVSNAME`` (MPICH / Intel MPI, where set).

With none of them (``torchrun --rdzv-id none`` over several nodes, a bare ``mpiexec``), the
processes of one host still join through their common launcher process (the torchrun agent,
the MPI daemon: the parent of every local rank) and the run says that hosts were not joined.

Rank, local rank, world size: from the framework when an integration passes them, else
torchrun (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``), Open MPI
(``OMPI_COMM_WORLD_*``), MPICH (``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``,
``MPI_LOCALNRANKS``), then SLURM (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``,
``SLURM_STEP_TASKS_PER_NODE``), most specific first: a torchrun started by ``srun`` has ranks
of its own. Host: ``FRUGAL_HOST`` (tests simulate several hosts on one machine) or the host
name.

A process started by ``frugal run`` (its environment names the outer run, see
``frugalml.measure.channel``) is not a rank of its own: the outer run measures its whole
process tree, ranks included, so a ``track()`` there joins the outer run instead.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENV_HOST",
    "ENV_JOB_ID",
    "JobContext",
    "detect_job",
    "local_world_from_slurm",
    "outer_run_id",
]

ENV_JOB_ID = "FRUGAL_JOB_ID"
ENV_HOST = "FRUGAL_HOST"
#: Set by ``frugal run`` for its command (``<run id>:<socket path>``, frugalml.measure.channel).
ENV_OUTER_RUN = "FRUGAL_OUTER_RUN"

# launcher, rank, local rank, world size, local world size: most specific first
_RANK_VARIABLES = (
    ("torchrun", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"),
    (
        "openmpi",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("mpich", "PMI_RANK", "MPI_LOCALRANKID", "PMI_SIZE", "MPI_LOCALNRANKS"),
    ("slurm", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", None),
)
# SLURM's batch and extern steps (SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT), numbers and names
_SLURM_SCRIPT_STEPS = ("4294967294", "4294967295", "batch", "extern")
#: Variables naming a process's rank: a descendant whose value differs is another rank.
RANK_NAMES = tuple(v[1] for v in _RANK_VARIABLES)


@dataclass(frozen=True)
class JobContext:
    """This process's place in a distributed job.

    Attributes:
        key: the job's identity, the same in all its processes (see the module docstring).
        launcher: where the ranks came from: ``torchrun``, ``openmpi``, ``mpich``, ``slurm``,
            ``framework`` (an integration passed them) or ``none`` (``FRUGAL_JOB_ID`` alone).
        rank, local_rank, world_size: global rank, rank on this host, number of processes.
        local_world_size: processes of the job on this host, when the launcher says.
        host: this host's name (``FRUGAL_HOST`` overrides it).
        hosts_joined: False when the key is only shared by this host's processes.
        restart: torchrun's restart count (an elastic restart joins the same run).
        sources: what the key was built from, for the run's record.
        ordinal: which run of its name this is in the process (1 for the first); None counts
            them per process (:data:`ORDINALS`). Tests simulating several ranks in one process
            set it.
    """

    key: str
    launcher: str
    rank: int
    local_rank: int
    world_size: int
    local_world_size: int | None
    host: str
    hosts_joined: bool = True
    restart: int = 0
    sources: tuple[str, ...] = ()
    ordinal: int | None = None

    @property
    def reads_host(self) -> bool:
        """Whether this process reads the host-wide sensors (local rank 0 does)."""
        return self.local_rank == 0

    def run_ids(self, name: str, ordinal: int) -> tuple[str, str]:
        """(job row id, host row id) of the ``ordinal``-th run named ``name`` in this job:
        every process derives the same ids, so the rows are created once whoever comes first.

        Example:
            >>> ctx = JobContext("slurm:c:42.0", "slurm", 1, 1, 4, 2, "node1")
            >>> job, host = ctx.run_ids("train", 1)
            >>> job == JobContext("slurm:c:42.0", "slurm", 3, 1, 4, 2, "node2").run_ids("train", 1)[0]
            True
            >>> len(job), host != job
            (16, True)
        """
        job = _digest(f"job\n{self.key}\n{name}\n{ordinal}")
        return job, _digest(f"host\n{job}\n{self.host}")

    def tags(self) -> dict[str, str]:
        """Tags of a rank's run."""
        return {
            "rank": str(self.rank),
            "local_rank": str(self.local_rank),
            "world_size": str(self.world_size),
            "launcher": self.launcher,
            "host": self.host,
        }

    def describe(self) -> dict[str, Any]:
        """The ``job`` block of a rank's ``run.json``."""
        return {
            "key": self.key,
            "launcher": self.launcher,
            "rank": self.rank,
            "local_rank": self.local_rank,
            "world_size": self.world_size,
            "local_world_size": self.local_world_size,
            "host": self.host,
            "hosts_joined": self.hosts_joined,
            "restart": self.restart,
            "sources": list(self.sources),
        }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def local_world_from_slurm(env: Mapping[str, str]) -> int | None:
    """Tasks of this step on this node, from ``SLURM_STEP_TASKS_PER_NODE`` (or
    ``SLURM_TASKS_PER_NODE``) and ``SLURM_NODEID``.

    Example:
        >>> local_world_from_slurm({"SLURM_STEP_TASKS_PER_NODE": "4(x2),2", "SLURM_NODEID": "2"})
        2
    """
    text = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    node = _int(env.get("SLURM_NODEID"))
    if not text or node is None:
        return None
    counts: list[int] = []
    for part in text.split(","):
        count, _, times = part.partition("(x")
        n, k = _int(count), _int(times.rstrip(")")) if times else 1
        if n is None or k is None:
            return None
        counts.extend([n] * k)
    return counts[node] if 0 <= node < len(counts) else None


def _slurm_step(env: Mapping[str, str]) -> str | None:
    """The step id of a task started by ``srun``; None in the batch script itself, whose
    ``SLURM_PROCID``/``SLURM_NTASKS`` describe the allocation, not this process."""
    step = env.get("SLURM_STEP_ID") or env.get("SLURM_STEPID")
    return None if step in (None, "", *_SLURM_SCRIPT_STEPS) else step


def _ranks(env: Mapping[str, str]) -> tuple[str, int, int | None, int, int | None] | None:
    for launcher, rank_var, local_var, size_var, local_size_var in _RANK_VARIABLES:
        if launcher == "slurm" and _slurm_step(env) is None:
            continue
        rank, size = _int(env.get(rank_var)), _int(env.get(size_var))
        if rank is None or size is None:
            continue
        local = _int(env.get(local_var))
        if local_size_var is not None:
            local_size = _int(env.get(local_size_var))
        else:
            local_size = local_world_from_slurm(env)
        return launcher, rank, local, size, local_size
    # Lightning's own DDP launcher sets LOCAL_RANK, NODE_RANK and WORLD_SIZE but no RANK
    local, size, node = (_int(env.get(v)) for v in ("LOCAL_RANK", "WORLD_SIZE", "NODE_RANK"))
    if local is not None and size is not None and node in (None, 0):
        return "ddp", local, local, size, None
    return None


def _key_parts(env: Mapping[str, str]) -> list[str]:
    parts = []
    if env.get("SLURM_JOB_ID"):
        step = _slurm_step(env) or "batch"
        parts.append(f"slurm:{env.get('SLURM_CLUSTER_NAME', '')}:{env['SLURM_JOB_ID']}.{step}")
    run_id = env.get("TORCHELASTIC_RUN_ID")
    if run_id and run_id != "none":
        parts.append(f"torchrun:{run_id}")
    for var in ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_KVSNAME"):
        if env.get(var):
            parts.append(f"{var}={env[var]}")
    return parts


def _launcher_process_key(host: str) -> str:
    """This host's identity of the job: the parent process (the launcher of every local
    rank: torchrun's agent, the MPI daemon) and its start time, against pid reuse."""
    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/stat", "rb") as f:
            data = f.read()
        start = data[data.rindex(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError, ValueError):
        start = "?"
    return f"local:{host}:{ppid}@{start}"


def detect_job(
    env: Mapping[str, str] | None = None,
    *,
    rank: int | None = None,
    local_rank: int | None = None,
    world_size: int | None = None,
) -> JobContext | None:
    """This process's place in a distributed job, or None for a lone process.

    Args:
        env: the environment to read (default ``os.environ``).
        rank, local_rank, world_size: as the framework sees them (integrations pass
            Lightning's ``global_rank`` ...); None: read the launcher's variables.

    Example:
        >>> env = {"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_PROCID": "3",
        ...        "SLURM_LOCALID": "1", "SLURM_NTASKS": "4", "FRUGAL_HOST": "node2"}
        >>> ctx = detect_job(env)
        >>> ctx.launcher, ctx.rank, ctx.local_rank, ctx.world_size, ctx.host, ctx.reads_host
        ('slurm', 3, 1, 4, 'node2', False)
        >>> detect_job({}) is None
        True
    """
    env = os.environ if env is None else env
    host = env.get(ENV_HOST) or os.uname().nodename
    found = _ranks(env)
    launcher, local_size = "none", None
    if found is not None:
        launcher, env_rank, env_local, env_size, local_size = found
        rank = env_rank if rank is None else rank
        world_size = env_size if world_size is None else world_size
        local_rank = env_local if local_rank is None else local_rank
    elif rank is not None and world_size is not None:
        launcher = "framework"
    world_size = max(1, world_size or 1)
    rank = rank or 0
    if local_rank is None:
        local_rank = rank if world_size == 1 or local_size == world_size else 0
    job_id = env.get(ENV_JOB_ID)
    if world_size <= 1 and not job_id:
        return None
    hosts_joined = True
    sources: tuple[str, ...]
    if job_id:
        job_key, sources = f"frugal:{job_id}", (ENV_JOB_ID,)
    else:
        parts = _key_parts(env)
        if parts:
            job_key, sources = "|".join(parts), tuple(p.split(":")[0].split("=")[0] for p in parts)
        else:
            job_key, sources = _launcher_process_key(host), ("launcher process",)
            hosts_joined = False
    return JobContext(
        key=job_key,
        launcher=launcher,
        rank=rank,
        local_rank=local_rank,
        world_size=world_size,
        local_world_size=local_size,
        host=host,
        hosts_joined=hosts_joined,
        restart=_int(env.get("TORCHELASTIC_RESTART_COUNT")) or 0,
        sources=sources,
    )


def outer_run_id(env: Mapping[str, str] | None = None) -> str | None:
    """The id of the ``frugal run`` this process runs under, or None.

    Example:
        >>> outer_run_id({"FRUGAL_OUTER_RUN": "3f9c0a1b2c3d4e5f:/tmp/frugal-run-x/outer.sock"})
        '3f9c0a1b2c3d4e5f'
    """
    env = os.environ if env is None else env
    run_id, sep, path = (env.get(ENV_OUTER_RUN) or "").partition(":")
    return run_id if sep and run_id and path.startswith("/") else None


class RunOrdinals:
    """How many runs of each (job, name) this process has started: the n-th ``track("eval")``
    of every rank joins the n-th logical ``eval`` run of the job.

    One instance per process (:data:`ORDINALS`): the count is a property of the process, as
    the ranks' agreement needs it; tests pass their own instance.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._pid = os.getpid()

    def next(self, key: str, name: str) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a forked child counts its own runs
                self._counts, self._pid = {}, os.getpid()
            n = self._counts.get((key, name), 0) + 1
            self._counts[(key, name)] = n
            return n


ORDINALS = RunOrdinals()
