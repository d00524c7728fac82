"""``frugal bench``: measure, on bundled data, what each technique saves and costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from frugalml.cli._common import console, db_option, writable_folder


def _split_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[str] | None:
    names = [n.strip() for v in value for n in v.split(",") if n.strip()]
    return names or None


@click.command()
@click.option(
    "--suite",
    type=click.Choice(["quick", "full"]),
    default="quick",
    show_default=True,
    help="quick: 1 repeat (~5 min); full: 3 repeats and longer energy windows.",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    callback=_split_names,
    metavar="NAME",
    help="Task to run (repeatable; default: the suite's tasks).",
)
@click.option(
    "--techniques",
    multiple=True,
    callback=_split_names,
    metavar="NAME,NAME",
    help="Techniques to compare with the baseline (default: all).",
)
@click.option(
    "--repeats", type=click.IntRange(min=1), default=None, help="Repeats (default: by suite)."
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    default="frugal-out/bench",
    show_default=True,
    metavar="DIR",
    callback=writable_folder,
    help="Where results.json goes.",
)
@click.option("--region", "-r", default=None, help="Grid region for CO2e (see `frugal regions`).")
@click.option("--pue", default=None, help="PUE (>= 1) or 'datacenter'.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torch intra-op threads (small models waste energy on more).",
)
@click.option("--list", "list_only", is_flag=True, help="List tasks and techniques, then exit.")
@db_option
def bench(
    suite: str,
    tasks: list[str] | None,
    techniques: list[str] | None,
    repeats: int | None,
    seed: int,
    out_dir: str,
    region: str | None,
    pue: str | None,
    threads: int,
    list_only: bool,
    db: str | None,
) -> None:
    """Train each task's baseline and every technique under the tracker; write DIR/results.json."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from frugalml.bench import all_tasks, available_techniques, run_bench
    from frugalml.bench.render import task_table

    out = console()
    if list_only:
        out.print("tasks: " + ", ".join(all_tasks()))
        out.print("techniques: " + ", ".join(available_techniques()))
        return
    pue_value: Any = pue
    if pue is not None:
        try:
            pue_value = float(pue)
        except ValueError:
            pass
    columns = (
        TextColumn("[progress.description]{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=out, transient=False) as progress:
        results = run_bench(
            tasks,
            techniques,
            suite=suite,
            repeats=repeats,
            seed=seed,
            out_dir=out_dir,
            db=db,
            region=region,
            pue=pue_value,
            progress=progress,
            threads=threads,
        )
    for name, task in results["tasks"].items():
        out.print(task_table(name, task, results["config"]))
    cfg = results["config"]
    out.print(
        f"results: {Path(out_dir) / 'results.json'} · {cfg['duration_s']:.0f} s · energy method "
        f"{cfg['energy_method']} · region {cfg['region']} ({cfg['intensity_g_per_kwh']:g} g/kWh, PUE {cfg['pue']:g})"
    )
