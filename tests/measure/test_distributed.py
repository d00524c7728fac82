"""A distributed job measured as one run: identity from the launcher's variables, one row per
job, host and rank, host-wide sensors read once per host, totals summing the ranks once."""

from __future__ import annotations

import time

import pytest

from frugalml.measure.distributed import JobContext, detect_job, outer_run_id
from frugalml.measure.tracker import Tracker
from frugalml.store import Store
from frugalml.testing import ScriptedSensor


class ProcessSensor(ScriptedSensor):
    """A scripted reading of the rank's own process tree (every rank reads its own)."""

    def coverage(self) -> str:
        return "process"


SLURM = {
    "SLURM_CLUSTER_NAME": "c",
    "SLURM_JOB_ID": "42",
    "SLURM_STEP_ID": "0",
    "SLURM_PROCID": "3",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "1",
    "SLURM_NTASKS": "4",
    "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
    "FRUGAL_HOST": "node2",
}


def test_slurm_step_variables_give_the_rank_and_a_job_identity():
    ctx = detect_job(SLURM)
    assert ctx is not None
    assert (ctx.launcher, ctx.rank, ctx.local_rank, ctx.world_size, ctx.local_world_size) == (
        "slurm",
        3,
        1,
        4,
        2,
    )
    assert ctx.key == "slurm:c:42.0" and ctx.hosts_joined and not ctx.reads_host
    # another node's task of the same step derives the same job row id
    other = detect_job({**SLURM, "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "FRUGAL_HOST": "n1"})
    assert other is not None and other.reads_host
    assert other.run_ids("train", 1)[0] == ctx.run_ids("train", 1)[0]
    assert other.run_ids("train", 1)[1] != ctx.run_ids("train", 1)[1]  # one row per host
    # the batch script itself is no rank: its SLURM_PROCID describes the allocation
    batch = {k: v for k, v in SLURM.items() if k != "SLURM_STEP_ID"}
    assert detect_job({**batch, "SLURM_NTASKS": "1"}) is None


def test_mpi_variables_give_the_rank():
    env = {
        "OMPI_COMM_WORLD_RANK": "1",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
        "PMIX_NAMESPACE": "prterun-vm-123@1",
    }
    ctx = detect_job(env)
    assert ctx is not None and (ctx.launcher, ctx.rank, ctx.world_size) == ("openmpi", 1, 2)
    assert ctx.key == "PMIX_NAMESPACE=prterun-vm-123@1" and ctx.hosts_joined
    mpich = detect_job({"PMI_RANK": "0", "PMI_SIZE": "2", "MPI_LOCALRANKID": "0"})
    assert mpich is not None and mpich.launcher == "mpich" and not mpich.hosts_joined


def test_torchrun_run_id_none_does_not_join_hosts_but_frugal_job_id_does():
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none"}
    ctx = detect_job(env)
    assert ctx is not None and not ctx.hosts_joined
    joined = detect_job({**env, "FRUGAL_JOB_ID": "exp42"})
    assert joined is not None and joined.hosts_joined and joined.key == "frugal:exp42"


def test_outer_run_from_the_environment():
    assert outer_run_id({"FRUGAL_OUTER_RUN": "ab12:/tmp/x/outer.sock"}) == "ab12"
    assert outer_run_id({"FRUGAL_OUTER_RUN": "garbage"}) is None


def simulated_job(tmp_path):
    """Four ranks on two hosts (two per host), in this process: a host-wide ``dram`` sensor
    and each rank's own ``cpu``; returns (registry path, the ranks' runs)."""
    db = tmp_path / "r.db"
    trackers = [
        Tracker(
            "sim",
            sensors=[
                ScriptedSensor(lambda n: 100.0 * n, component="dram"),
                ProcessSensor(lambda n, r=rank: 10.0 * (r + 1) * n, component="cpu"),
            ],
            db=db,
            region="FR",
            interval_s=60,
            # several trackers in one process, stopped in start order: no signal handlers
            handle_signals=False,
            job=JobContext(
                key=f"frugal:sim-{tmp_path.name}",
                launcher="slurm",
                rank=rank,
                local_rank=rank % 2,
                world_size=4,
                local_world_size=2,
                host=f"node{rank // 2}",
                ordinal=1,
            ),
        )
        for rank in range(4)
    ]
    runs = [t.start() for t in trackers]
    for t in trackers:
        t.sample()
        t.sample()
    for t in trackers:
        t.stop()
    return db, runs


def test_simulated_two_host_job_counts_host_wide_sensors_once_per_host(tmp_path):
    db, runs = simulated_job(tmp_path)
    for run in runs:
        assert run.kind == "rank"
        assert ("dram" in run.energy_j) is (run.job["local_rank"] == 0)
    assert {r.parent_id for r in runs[:2]} != {r.parent_id for r in runs[2:]}

    store = Store(db)
    (job,) = store.list_runs()
    assert job.kind == "job" and job.summary["job"]["ranks"] == 4
    assert len(job.summary["job"]["hosts"]) == 2
    assert job.energy_j == pytest.approx(sum(r.energy_j["total"] for r in runs))
    dram = [r.energy_j["dram"] for r in runs if "dram" in r.energy_j]
    assert len(dram) == 2  # once per host, not once per rank
    assert job.summary["energy_j"]["dram"] == pytest.approx(sum(dram))
    assert job.co2e_g == pytest.approx(sum(r.co2e_g for r in runs))
    assert store.count_runs() == 1
    hosts = store.get_run(job.id).children
    assert len(hosts) == 2 and all(len(h.children) == 2 for h in hosts)
    assert len(store.samples(job.id)) == sum(len(store.samples(r.id)) for r in runs)


def test_nested_track_under_frugal_run_joins_the_outer_run(tmp_path, monkeypatch):
    from frugalml.measure import channel
    from frugalml.measure.tracker import track

    got: list[dict] = []
    server = channel.ChannelServer("0123456789abcdef", {"log_metric": lambda m: got.append(m.data)})
    server.start()
    try:
        for key, value in server.environ().items():
            monkeypatch.setenv(key, value)
        # a rank of a torchrun job under frugal run: the outer run measures its tree already
        monkeypatch.setenv("RANK", "0")
        monkeypatch.setenv("WORLD_SIZE", "2")
        db = tmp_path / "r.db"
        with track("inner", sensors=[ProcessSensor(lambda n: 5.0 * n)], db=db) as run:
            run.log_metric("loss", 0.5, step=1)
        assert run.kind == "joined" and run.parent_id == "0123456789abcdef"
        assert run.energy_j["total"] > 0  # it still measures for the caller
    finally:
        client = channel.client()
        if client is not None:
            client.close()
        stats = server.close()
    assert got == [{"name": "loss", "value": 0.5, "step": 1}] and stats.lost == 0
    assert not db.exists() or Store(db).count_runs() == 0  # no duplicate run


@pytest.mark.slow
def test_a_host_that_cannot_reach_the_registry_spools_and_joins_later(tmp_path):
    from tests.faults.conftest import sqlite_locked

    db = str(tmp_path / "r.db")
    Store(db).close()
    ctx = JobContext("frugal:spooled", "slurm", 2, 0, 4, 2, "node1", ordinal=1)
    sensors = [ProcessSensor(lambda n: 7.0 * n)]
    # the lock is held until the tracker has given up waiting at stop
    with sqlite_locked(db, 6.0), Tracker("late", sensors=sensors, db=db, job=ctx) as run:
        pass
    assert any("spool" in e["message"] for e in run.errors)
    # the writer goes on trying, and the next access imports the journal otherwise: either
    # way the job and host rows come with the rank's
    deadline = time.monotonic() + 20
    while not Store(db).list_runs() and time.monotonic() < deadline:
        time.sleep(0.2)
    store = Store(db)
    (job,) = store.list_runs()
    assert job.kind == "job" and job.energy_j == pytest.approx(run.energy_j["total"])
    (host,) = store.get_run(job.id).children
    assert host.name == "late @ node1" and [r.id for r in host.children] == [run.id]
    store.close()


def _gpu_rank(tmp_path, local_rank: int, visible: str | None, n_gpus: int = 4):
    """Local rank ``local_rank`` of a two-rank job on a host with ``n_gpus`` fake boards;
    ``visible`` is its CUDA_VISIBLE_DEVICES."""
    from frugalml.measure.nvml import NvmlSensor
    from frugalml.testing import FakeGPU, FakeNVML

    fake = FakeNVML([FakeGPU(power_w=100.0 * (i + 1)) for i in range(n_gpus)])
    ctx = JobContext(
        f"frugal:gpu-{tmp_path.name}-{visible is None}",
        "torchrun",
        local_rank,
        local_rank,
        2,
        2,
        "h",
        ordinal=1,
    )
    sensor = NvmlSensor(nvml=fake, visible=visible)
    return Tracker("gpus", sensors=[sensor], db=False, interval_s=60, job=ctx, handle_signals=False)


def test_each_rank_reads_its_own_gpu_and_local_rank_0_the_unbound_ones(tmp_path):
    trackers = [_gpu_rank(tmp_path, r, None) for r in (0, 1)]  # both see 4 boards
    runs = [t.start() for t in trackers]
    for t in trackers:
        t.stop()
    boards = [sorted(k for k in r.energy_j if k.startswith("gpu")) for r in runs]
    # torchrun's cuda:LOCAL_RANK: board 1 is rank 1's; 2 and 3 are bound to no rank
    assert boards == [["gpu:0", "gpu:2", "gpu:3"], ["gpu:1"]]
    assert "bound to local rank 0" in str(runs[1].sensors_skipped)


def test_a_rank_that_sees_one_board_owns_it(tmp_path):
    trackers = [_gpu_rank(tmp_path, r, str(r)) for r in (0, 1)]  # CUDA_VISIBLE_DEVICES=rank
    runs = [t.start() for t in trackers]
    for t in trackers:
        t.stop()
    # each process calls its board cuda:0; they are different boards, each read once
    assert [sorted(k for k in r.energy_j if k.startswith("gpu")) for r in runs] == [["gpu:0"]] * 2
    assert not any(k.startswith("nvml") for r in runs for k in r.sensors_skipped)


def test_the_trackers_cheap_check_knows_every_variable_that_makes_a_job():
    from frugalml.measure import distributed
    from frugalml.measure.tracker import JOB_HINTS

    sizes = {v[3] for v in distributed._RANK_VARIABLES}
    assert sizes | {distributed.ENV_JOB_ID, distributed.ENV_OUTER_RUN} <= set(JOB_HINTS)
