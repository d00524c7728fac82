"""Real ``torchrun --nproc_per_node 2`` jobs (gloo on CPU): the ranks' ``track()`` make one
logical run, on SQLite and PostgreSQL; under ``frugal run`` they join the outer run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frugalml.store import Store

pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
EXAMPLE = HERE.parents[1] / "examples" / "distributed" / "ddp_train.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRUGAL_")}
    env.update(FRUGAL_CONFIG=str(tmp_path / "none.toml"), FRUGAL_SPOOL=str(tmp_path / "spool"))
    env["OMP_NUM_THREADS"] = "1"
    return env


def _check_job(url: str, rank_ids: set[str]) -> None:
    store = Store(url)  # the PostgreSQL server is the session's: other tests' runs are there
    (job,) = store.list_runs(name="ddp-test")
    assert job.kind == "job" and store.count_runs(name="ddp-test") == 1
    (host,) = store.get_run(job.id).children
    ranks = host.children
    assert {r.id for r in ranks} == rank_ids and all(r.kind == "rank" for r in ranks)
    assert sorted(r.summary["job"]["rank"] for r in ranks) == [0, 1]
    # the parent's total is the sum of its components, and of its ranks, each once
    components = {k: v for k, v in job.summary["energy_j"].items() if k != "total"}
    assert job.energy_j == pytest.approx(sum(components.values()))
    assert job.energy_j == pytest.approx(sum(r.energy_j for r in ranks))
    assert job.co2e_g == pytest.approx(sum(r.co2e_g for r in ranks))
    # the job's metrics are rank 0's (DDP ranks log the same loss); each rank keeps its own
    assert [m["value"] for m in store.metrics(job.id)] == [0.0]
    assert sorted(m["value"] for r in ranks for m in store.metrics(r.id)) == [0.0, 1.0]
    store.close()


def test_two_ranks_make_one_run_on_sqlite_and_postgresql(tmp_path, postgres_url):
    sqlite_url = f"sqlite:///{tmp_path / 'r.db'}"
    r = subprocess.run(
        [*TORCHRUN, str(HERE / "ddp_ranks.py"), "--db", sqlite_url, "--db", postgres_url],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("RANK ")]
    assert len(lines) == 4
    by_rank = {rank: [ln[2] for ln in lines if ln[1] == rank] for rank in ("0", "1")}
    for index, url in enumerate((sqlite_url, postgres_url)):  # each rank prints in --db order
        _check_job(url, {ids[index] for ids in by_rank.values()})


def test_under_frugal_run_the_ranks_join_the_outer_run(tmp_path):
    db = tmp_path / "outer.db"
    frugal = [str(Path(sys.executable).with_name("frugal"))]
    r = subprocess.run(
        [
            *frugal,
            "run",
            "-q",
            "--db",
            str(db),
            "--name",
            "outer",
            "--out",
            str(tmp_path / "o"),
            "--",
            *TORCHRUN,
            str(EXAMPLE),
            "--steps",
            "20",
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    store = Store(db)
    (outer,) = store.list_runs()  # no run per rank, no job row: nothing counted twice
    assert outer.name == "outer" and outer.kind is None
    assert store.count_runs() == 1
    losses = [m for m in store.metrics(outer.id) if m["name"] == "loss"]
    assert len(losses) == 2  # each rank's log_metric landed in the outer run
    saved = json.loads((tmp_path / "o" / "run.json").read_text())
    assert saved["energy_j"]["total"] == pytest.approx(outer.energy_j)
    store.close()
