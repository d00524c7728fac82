"""Printing a distributed job's tree (``frugal show JOB``): its hosts and ranks, each with what
it measured, and how the total adds up."""

from __future__ import annotations

from typing import Any

from frugalml import _fmt as fmt
from frugalml.cli._common import cell, console

__all__ = ["job_label", "print_tree"]

STATUS_STYLE = {"finished": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}


def job_label(name: str, summary: dict[str, Any]) -> str:
    """A job's name in listings: ``train [2 hosts, 8 ranks]``.

    Example:
        >>> job_label("train", {"kind": "job", "job": {"hosts": ["a", "b"], "ranks": 8}})
        'train [2 hosts, 8 ranks]'
        >>> job_label("solo", {})
        'solo'
    """
    if summary.get("kind") != "job":
        return name
    job = summary.get("job") or {}
    hosts, ranks = len(job.get("hosts") or []), int(job.get("ranks") or 0)
    return f"{name} [{hosts} host{'s' * (hosts != 1)}, {ranks} rank{'s' * (ranks != 1)}]"


def print_tree(data: dict[str, Any]) -> None:
    """The rows under a job or host, indented, then how the total is made."""
    from rich.table import Table

    children = data.get("children") or []
    out = console()
    table = Table(title=None)
    for col, justify in (
        ("part", "left"),
        ("id", "left"),
        ("energy", "right"),
        ("CO2e", "right"),
        ("methods", "left"),
        ("status", "left"),
        ("reads for its host", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    leaves = 0
    for node in children:
        leaves += _rows(table, node, 0)
    job = data.get("job") or {}
    world = job.get("world_size")
    out.print(table)
    line = (
        f"total {fmt.energy(data['energy_j']['total'])} = the sum of {leaves} rank run"
        f"{'s' * (leaves != 1)}, each counted once (host-wide sensors are read by one rank "
        "per host)"
    )
    out.print(cell(line))
    if isinstance(world, int) and data.get("kind") == "job" and leaves < world:
        out.print(
            cell(
                f"{leaves} of the job's {world} processes reported (launcher "
                f"{job.get('launcher', '?')}): ranks that never called track(), or whose "
                "registry rows are still spooled on their host, are not counted yet",
                "yellow",
            )
        )


def _rows(table: Any, node: dict[str, Any], depth: int) -> int:
    kind = node.get("kind")
    if kind == "host":
        label = f"host {node.get('host')}"
    elif kind == "rank":
        label = f"rank {node.get('rank')} (local {node.get('local_rank')})"
    else:
        label = str(node.get("name"))
    status = str(node.get("status"))
    methods = ",".join(sorted(set((node.get("methods") or {}).values())))
    table.add_row(
        cell("  " * depth + label),
        cell(str(node.get("id"))),
        cell(fmt.energy(node.get("energy_j") or 0.0)),
        cell(fmt.co2e(node.get("co2e_g") or 0.0)),
        cell(methods),
        cell(status, STATUS_STYLE.get(status, "")),
        cell(", ".join(node.get("host_wide") or [])),
    )
    kids = node.get("children")
    if not kids:
        return 1 if kind != "host" else 0
    return sum(_rows(table, k, depth + 1) for k in kids)
