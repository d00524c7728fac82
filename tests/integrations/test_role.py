"""Which part of its job a process measures: the one rule every callback asks."""

from __future__ import annotations

import pytest

from frugalml.integrations._role import process_role


def test_lone_process_is_no_job():
    role = process_role(env={})
    assert role.job is None and role.tags() == {}


def test_framework_view_wins_over_the_environment():
    role = process_role(rank=1, local_rank=1, world_size=2, env={"RANK": "0", "WORLD_SIZE": "2"})
    assert role.job is not None
    assert (role.job.rank, role.job.local_rank, role.job.launcher) == (1, 1, "torchrun")
    assert not role.job.reads_host


@pytest.mark.parametrize(
    ("env", "launcher"),
    [
        ({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "4"}, "torchrun"),
        (
            {
                "SLURM_JOB_ID": "7",
                "SLURM_STEP_ID": "0",
                "SLURM_PROCID": "0",
                "SLURM_LOCALID": "0",
                "SLURM_NTASKS": "4",
            },
            "slurm",
        ),
        (
            {
                "OMPI_COMM_WORLD_RANK": "0",
                "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                "OMPI_COMM_WORLD_SIZE": "4",
            },
            "openmpi",
        ),
        ({"PMI_RANK": "0", "MPI_LOCALRANKID": "0", "PMI_SIZE": "4"}, "mpich"),
    ],
)
def test_every_rank_of_a_launched_job_measures_its_part(env, launcher):
    role = process_role(env={**env, "FRUGAL_HOST": "n1"})
    assert role.job is not None and role.job.world_size == 4 and role.job.launcher == launcher
    assert role.tags() == {
        "rank": "0",
        "local_rank": "0",
        "world_size": "4",
        "launcher": launcher,
        "host": "n1",
    }
    other = process_role(
        env={
            k: ("3" if k.endswith(("RANK", "PROCID", "LOCALID", "RANKID")) else v)
            for k, v in env.items()
        }
    )
    assert other.job is not None and other.job.rank == 3 and not other.job.reads_host


def test_unparsable_variables_are_ignored():
    assert process_role(env={"RANK": "x", "WORLD_SIZE": "2"}).job is None
