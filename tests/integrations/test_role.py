"""Which process measures: the one rule every callback asks."""

from __future__ import annotations

import pytest

from frugalml.integrations._role import process_role


def test_lone_process_measures_everything():
    role = process_role(env={})
    assert (role.track, role.rank, role.world_size, role.launcher, role.note) == (
        True,
        0,
        1,
        "none",
        None,
    )
    assert role.tags() == {}


def test_framework_view_wins_over_the_environment():
    role = process_role(rank=1, local_rank=1, world_size=2, env={"RANK": "0", "WORLD_SIZE": "2"})
    assert not role.track
    assert (role.rank, role.local_rank, role.launcher) == (1, 1, "framework")


@pytest.mark.parametrize(
    ("env", "launcher"),
    [
        ({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "4"}, "torchrun"),
        ({"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NTASKS": "4"}, "slurm"),
        (
            {
                "OMPI_COMM_WORLD_RANK": "0",
                "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                "OMPI_COMM_WORLD_SIZE": "4",
            },
            "openmpi",
        ),
        ({"PMI_RANK": "0", "PMI_SIZE": "4"}, "pmi"),
    ],
)
def test_rank_zero_of_a_launched_job_measures_and_says_what_it_covers(env, launcher):
    role = process_role(env=env)
    assert role.track and role.world_size == 4 and role.launcher == launcher
    assert role.note is not None and "only rank 0" in role.note
    assert role.tags() == {"rank": "0", "world_size": "4", "launcher": launcher}
    other = process_role(
        env={k: ("3" if k.endswith(("RANK", "PROCID")) else v) for k, v in env.items()}
    )
    assert not other.track and other.rank == 3


def test_unparsable_variables_are_ignored():
    assert process_role(env={"RANK": "x", "WORLD_SIZE": "2"}).world_size == 1
