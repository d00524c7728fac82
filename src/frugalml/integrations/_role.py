"""A process's part in its job: the one place where the callbacks' rank awareness lives.

Every integration asks :func:`process_role` once per run, passing what its framework knows
(Lightning's ``trainer.global_rank``, the Trainer's ``args.process_index`` ...); what the
framework leaves out is read from the launcher's environment (torchrun, SLURM, MPI), see
:mod:`frugalml.measure.distributed`.

The rule: every process measures. A lone process makes a run of its own; in a multi-process
job each rank's run is its part of the job's one logical run (its own process tree and GPUs;
local rank 0 also its host's shared sensors), so the job's total counts everything once. When
the environment names no job identity shared by all hosts (Lightning's own DDP launcher, a
``torchrun --rdzv-id none`` over several nodes) the run says so; ``FRUGAL_JOB_ID`` set for
every process joins them. No collective is made: a callback never blocks a rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from frugalml.measure.distributed import JobContext, detect_job

__all__ = ["Role", "process_role"]


@dataclass(frozen=True)
class Role:
    """What this process does for a run.

    Attributes:
        job: its place in a distributed job (None for a lone process).
    """

    job: JobContext | None = None

    def tags(self) -> dict[str, str]:
        """Tags recorded with the run (only for multi-process jobs)."""
        return {} if self.job is None else self.job.tags()


def process_role(
    rank: int | None = None,
    local_rank: int | None = None,
    world_size: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Role:
    """This process's part in its job, from the framework's view or the environment.

    Args:
        rank: global rank as the framework sees it (None: read the launcher's variables).
        local_rank: rank on this host.
        world_size: number of processes in the job.
        env: environment to read (default ``os.environ``).

    Example:
        >>> process_role(rank=0, world_size=1, env={}).job is None
        True
        >>> role = process_role(rank=1, local_rank=1, world_size=2, env={"FRUGAL_JOB_ID": "e1"})
        >>> role.job.rank, role.job.key, role.job.launcher
        (1, 'frugal:e1', 'framework')
        >>> process_role(env={"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "4",
        ...                   "SLURM_JOB_ID": "42"}).job.launcher
        'slurm'
    """
    return Role(detect_job(env, rank=rank, local_rank=local_rank, world_size=world_size))
