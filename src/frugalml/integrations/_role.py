"""Which process of a job measures, and how: the one place where rank awareness lives.

Every integration asks :func:`process_role` once per run, passing what its framework knows
(Lightning's ``trainer.global_rank``, the Trainer's ``args.process_index`` ...); what the
framework leaves out is read from the launcher's environment (torchrun, SLURM, MPI).

The rule today: a single process measures itself; in a multi-process job only global rank 0
measures (its own process tree, which includes ranks it spawned itself, as Lightning's DDP
launcher does), and the run says so. Counting every rank and host once, as one logical run,
replaces this rule here without touching the callbacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Role", "process_role"]

# (rank, local rank, world size) variables of each launcher, most specific first.
_LAUNCHERS = (
    ("torchrun", "RANK", "LOCAL_RANK", "WORLD_SIZE"),
    ("slurm", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS"),
    ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("pmi", "PMI_RANK", "MPI_LOCALRANKID", "PMI_SIZE"),
)


@dataclass(frozen=True)
class Role:
    """What this process does for a run.

    Attributes:
        track: whether this process starts a tracker.
        rank, local_rank, world_size: its place in the job (0, 0, 1 for a lone process).
        launcher: where the place came from (``framework``, ``torchrun``, ``slurm``...,
            ``none``).
        note: what the run must say about its coverage, or None when it covers the whole job.
    """

    track: bool
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    launcher: str = "none"
    note: str | None = None

    def tags(self) -> dict[str, str]:
        """Tags recorded with the run (only for multi-process jobs)."""
        if self.world_size <= 1:
            return {}
        return {
            "rank": str(self.rank),
            "world_size": str(self.world_size),
            "launcher": self.launcher,
        }


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def process_role(
    rank: int | None = None,
    local_rank: int | None = None,
    world_size: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Role:
    """Decide whether this process measures, from the framework's view or the environment.

    Args:
        rank: global rank as the framework sees it (None: read the launcher's variables).
        local_rank: rank on this host.
        world_size: number of processes in the job.
        env: environment to read (default ``os.environ``).

    Example:
        >>> process_role(rank=0, world_size=1).track
        True
        >>> process_role(rank=1, local_rank=1, world_size=2).track
        False
        >>> process_role(env={"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}).launcher
        'slurm'
    """
    env = os.environ if env is None else env
    launcher = "framework"
    if rank is None or world_size is None:
        launcher = "none"
        for name, rank_var, local_var, size_var in _LAUNCHERS:
            r, size = _int(env.get(rank_var)), _int(env.get(size_var))
            if r is not None and size is not None:
                rank = r if rank is None else rank
                world_size = size if world_size is None else world_size
                local_rank = _int(env.get(local_var)) if local_rank is None else local_rank
                launcher = name
                break
    rank = rank or 0
    world_size = max(1, world_size or 1)
    local_rank = rank if local_rank is None and world_size == 1 else (local_rank or 0)
    if world_size == 1:
        return Role(True, rank, local_rank, world_size, launcher)
    note = (
        f"distributed job of {world_size} processes: only rank 0's process tree was measured; "
        "other ranks and hosts are not counted"
    )
    return Role(rank == 0, rank, local_rank, world_size, launcher, note)
