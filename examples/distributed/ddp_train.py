"""Train a tiny network with DistributedDataParallel, every rank calling ``frugalml.track()``.

Launch it as you launch your own job; the ranks join ONE logical run (one row per host and
per rank under it), and host-wide sensors are read once per host::

    torchrun --standalone --nproc_per_node 2 examples/distributed/ddp_train.py
    frugal runs                      # one row: ddp-train [1 host, 2 ranks]
    frugal show <id>                 # the tree: host, ranks, and how the total adds up

Under ``frugal run -- torchrun ...`` the outer run measures the whole job; the ranks'
``track()`` join it (their ``log_metric`` calls land there) and store no run of their own.
On SLURM, ``srun python ddp_train.py`` works the same (see docs/distributed.md).
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch import nn

import frugalml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per rank")
    parser.add_argument("--no-track", action="store_true", help="train without track()")
    parser.add_argument("--name", default="ddp-train", help="the run's name")
    args = parser.parse_args()

    dist.init_process_group("gloo")  # CPU: gloo; on GPUs use "nccl"
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(rank)  # each rank its shard of generated data
    x = torch.randn(512, 64, generator=generator)
    y = torch.randint(0, 10, (512,), generator=generator)

    def train() -> float:
        loss = torch.tensor(0.0)
        for _ in range(args.steps):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    if args.no_track:
        loss = train()
    else:
        with frugalml.track(args.name) as run:
            loss = train()
            run.log_metric("loss", loss, step=args.steps)
        print(
            f"rank {rank}: {run.energy_j['total']:.2f} J, loss {loss:.3f}, "
            f"run {run.id} ({run.kind or 'lone'} of {run.parent_id or '-'})"
        )
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0 and os.environ.get("FRUGAL_OUTER_RUN") is None and not args.no_track:
        print("one logical run for the job: frugal runs")


if __name__ == "__main__":
    main()
