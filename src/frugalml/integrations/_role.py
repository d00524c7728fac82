"""A process's part in its job: the one place where the callbacks' rank awareness lives.

Every integration asks :func:`process_role` once per run, passing what its framework knows
(Lightning's ``trainer.global_rank``, the Trainer's ``args.process_index`` ...); what the
framework leaves out is read from the launcher's environment (torchrun, SLURM, MPI), see
:mod:`frugalml.measure.distributed`.

The rule: every process measures. A lone process makes a run of its own; in a multi-process
job each rank's run is its part of the job's one logical run (its own process tree and GPUs;
local rank 0 also its host's shared sensors), so the job's total counts everything once. When
the environment names no job identity shared by all hosts (Lightning's own DDP launcher, a
``torchrun --rdzv-id none`` over several nodes), the framework agrees one: rank 0 draws it and
broadcasts it (``agree``), a collective every rank makes at the start of the fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from frugalml.measure.distributed import JobContext, detect_job

__all__ = ["Role", "new_job_key", "process_role"]


@dataclass(frozen=True)
class Role:
    """What this process does for a run.

    Attributes:
        job: its place in a distributed job (None for a lone process).
    """

    job: JobContext | None = None

    @property
    def track(self) -> bool:
        """Every process measures (its part of the job)."""
        return True

    @property
    def world_size(self) -> int:
        return 1 if self.job is None else self.job.world_size

    @property
    def rank(self) -> int:
        return 0 if self.job is None else self.job.rank

    @property
    def launcher(self) -> str:
        return "none" if self.job is None else self.job.launcher

    def tags(self) -> dict[str, str]:
        """Tags recorded with the run (only for multi-process jobs)."""
        return {} if self.job is None else self.job.tags()


def new_job_key() -> str:
    """A fresh job identity, for rank 0 to broadcast."""
    return os.urandom(8).hex()


def process_role(
    rank: int | None = None,
    local_rank: int | None = None,
    world_size: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
    agree: Callable[[], str | None] | None = None,
) -> Role:
    """This process's part in its job, from the framework's view or the environment.

    Args:
        rank: global rank as the framework sees it (None: read the launcher's variables).
        local_rank: rank on this host.
        world_size: number of processes in the job.
        env: environment to read (default ``os.environ``).
        agree: a collective returning the same job identity on every rank (rank 0's
            :func:`new_job_key`, broadcast by the framework), called when the environment
            has none shared by all hosts; None or a failure keeps the per-host identity.

    Example:
        >>> process_role(rank=0, world_size=1, env={}).job is None
        True
        >>> role = process_role(rank=1, local_rank=1, world_size=2, agree=lambda: "ab12", env={})
        >>> role.track, role.job.rank, role.job.key, role.job.hosts_joined
        (True, 1, 'framework:ab12', True)
        >>> process_role(env={"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "4",
        ...                   "SLURM_JOB_ID": "42"}).launcher
        'slurm'
    """
    ctx = detect_job(env, rank=rank, local_rank=local_rank, world_size=world_size)
    if ctx is not None and not ctx.hosts_joined and agree is not None:
        try:
            key = agree()
        except Exception:  # a framework that cannot broadcast: this host's ranks still join
            key = None
        if key:
            ctx = detect_job(env, rank=rank, local_rank=local_rank, world_size=world_size, key=key)
    return Role(ctx)
