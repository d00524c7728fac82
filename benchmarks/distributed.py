"""A two-rank torchrun job measured by ``frugal run``, with and without ``track()`` in the ranks.

Issue #15's figure: ``frugal run -- torchrun --nproc_per_node 2 train.py`` whose ranks call
``frugalml.track()`` must report the same energy as without those calls (within 10 %), not
twice it. Three variants of the same job (``examples/distributed/ddp_train.py``: a small MLP,
DistributedDataParallel over gloo on CPU, ``--steps`` steps per rank):

- ``outer``: ``frugal run -- torchrun ... ddp_train.py --no-track`` (the ranks do not track);
- ``outer+inner``: ``frugal run -- torchrun ... ddp_train.py`` (each rank's ``track()`` joins
  the outer run: it stores no run, its ``log_metric`` lands in the outer run);
- ``ranks``: ``torchrun ... ddp_train.py`` alone: the ranks' runs make one logical run (job
  row, host row, rank rows), whose total is the sum of the ranks.

Each repeat runs the three in a rotated order; the figures are the medians over repeats of the
per-repeat ratios to ``outer``, with their range. Energy is the registry's ``total`` (on this
machine the CPU and RAM models, from each process tree's CPU time: the job's work, not the wall
time). The outer run also measures torchrun's agent and the interpreters' start-up, which the
ranks' own runs do not; that is why ``ranks`` is below ``outer``.

    python benchmarks/distributed.py [--repeats 5] [--steps 400]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from frugalml.store import Store

RESULTS = Path(__file__).parent / "results" / "distributed.json"
EXAMPLE = Path(__file__).parents[1] / "examples" / "distributed" / "ddp_train.py"
FRUGAL = str(Path(sys.executable).with_name("frugal"))
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
VARIANTS = ("outer", "outer+inner", "ranks")


def run_variant(variant: str, steps: int, tmp: Path, n: int) -> dict[str, Any]:
    db = tmp / f"{variant}-{n}.db"
    job = [*TORCHRUN, str(EXAMPLE), "--steps", str(steps)]
    if variant == "outer":
        job.append("--no-track")
    cmd = job if variant == "ranks" else [FRUGAL, "run", "-q", "--db", str(db), "--", *job]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRUGAL_")}
    env.update(FRUGAL_DB=str(db), FRUGAL_REGION="FR", OMP_NUM_THREADS="1")
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    store = Store(db)
    runs = store.list_runs()
    store.close()
    assert len(runs) == 1, f"{variant}: {len(runs)} runs in the registry"
    return {"energy_j": runs[0].energy_j, "kind": runs[0].kind or "run", "runs": len(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="frugal-bench-dist-") as tmp:
        for n in range(args.repeats):
            order = VARIANTS[n % 3 :] + VARIANTS[: n % 3]
            row = {v: run_variant(v, args.steps, Path(tmp), n) for v in order}
            rows.append(row)
            print(
                f"repeat {n + 1}: "
                + ", ".join(f"{v} {row[v]['energy_j']:.2f} J" for v in VARIANTS),
                flush=True,
            )
    ratios = {v: [r[v]["energy_j"] / r["outer"]["energy_j"] for r in rows] for v in VARIANTS[1:]}
    result = {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, shared), {platform.processor()}",
        "python": platform.python_version(),
        "command": "frugal run -- torchrun --standalone --nproc_per_node 2 "
        f"examples/distributed/ddp_train.py --steps {args.steps}",
        "repeats": args.repeats,
        "median_energy_j": {v: statistics.median(r[v]["energy_j"] for r in rows) for v in VARIANTS},
        "ratio_to_outer": {
            v: {"median": statistics.median(x), "min": min(x), "max": max(x)}
            for v, x in ratios.items()
        },
        "runs_in_registry": {v: rows[0][v]["runs"] for v in VARIANTS},
        "rows": rows,
    }
    for v, x in result["ratio_to_outer"].items():
        print(f"{v} / outer: median {x['median']:.3f} (range {x['min']:.3f}-{x['max']:.3f})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
