"""A rank of a two-process gloo job for test_torchrun.py: one DDP step, then one tracked run
per registry given (``--db`` repeated: SQLite and PostgreSQL from one launch)."""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
from torch import nn

import frugalml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="append", default=[])
    args = parser.parse_args()
    dist.init_process_group("gloo")
    model = nn.parallel.DistributedDataParallel(nn.Linear(8, 2))
    for db in args.db:
        with frugalml.track("ddp-test", db=db, region="FR") as run:
            model(torch.randn(4, 8)).sum().backward()  # an all-reduce between the ranks
            run.log_metric("rank", float(dist.get_rank()))
        print(f"RANK {dist.get_rank()} {run.id} {run.parent_id} {run.energy_j['total']!r}")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
