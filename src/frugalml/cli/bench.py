"""``frugal bench``: measure, on bundled data, what each technique saves and costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from frugalml._fmt import safe
from frugalml.cli._common import (
    console,
    db_option,
    format_options,
    output_format,
    print_tsv,
    writable_folder,
)

if TYPE_CHECKING:
    from frugalml.bench import BenchConfig


def _split_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[str] | None:
    from frugalml.bench.chain import split_specs

    # commas inside a recipe step's parameters do not split: distill(a=1, b=2)+qat
    names = [n for v in value for n in split_specs(v)]
    if value and not names:  # e.g. --techniques ",,": not "all of them"
        raise click.BadParameter(
            f"{','.join(value)!r} names nothing. Give names separated by commas, or leave the "
            "option out for the default (see frugal bench --list)."
        )
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
    help="Techniques to compare with the baseline (default: all that apply, then each task's "
    "declared stacks). A stack applies several in turn: distill+int8-static; a step takes "
    "parameters: 'distill(student_width=0.25)+qat'.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Where tasks train and models are measured (auto: cuda when PyTorch sees a GPU). "
    "CPU-only techniques (eager int8) run on the CPU and their verdict says so.",
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
@format_options
@db_option
def bench(
    suite: str,
    tasks: list[str] | None,
    techniques: list[str] | None,
    device: str,
    repeats: int | None,
    seed: int,
    out_dir: str,
    region: str | None,
    pue: str | None,
    threads: int,
    list_only: bool,
    out_format: str | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Train each task's baseline and every technique under the tracker; write DIR/results.json."""
    from rich.text import Text

    from frugalml.bench import BenchConfig, all_tasks, available_techniques

    how = output_format(out_format, as_json)
    if list_only:
        out = console()
        out.print(Text(safe("tasks: " + ", ".join(all_tasks()))))
        out.print(Text(safe("techniques: " + ", ".join(available_techniques()))))
        return
    config = BenchConfig(
        suite=suite,
        tasks=tasks,
        techniques=techniques,
        repeats=repeats,
        seed=seed,
        out_dir=out_dir,
        db=db,
        region=region,
        pue=_pue(pue),
        threads=threads,
        device=device,
    )
    config.plan()  # every value checked before the progress bar starts
    run_and_print(config, how)


def _pue(value: str | None) -> Any:
    """A number when it reads as one; names such as 'datacenter' pass through."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def run_and_print(config: BenchConfig, how: str = "table") -> dict[str, Any]:
    """Run the bench with a progress bar (on stderr), print its results as ``how`` says
    (``table``, ``tsv`` or ``json`` on stdout) and where they were written."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from frugalml.bench import run_bench
    from frugalml.bench.render import TSV_COLUMNS, task_notes, task_table, tsv_rows

    columns = (
        TextColumn("[progress.description]{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    # progress on stderr: stdout carries only the results (a table, TSV or JSON)
    with Progress(*columns, console=console(stderr=True), transient=False) as progress:
        results = run_bench(config, progress=progress)
    cfg = results["config"]
    where = (
        f"results: {Path(str(config.out_dir)) / 'results.json'} · {cfg['duration_s']:.0f} s · "
        f"energy method {cfg['energy_method']} · region {cfg['region']} "
        f"({cfg['intensity_g_per_kwh']:g} g/kWh, PUE {cfg['pue']:g})"
    )
    if how == "json":
        click.echo(json.dumps(results, indent=2, default=str))
    elif how == "tsv":
        print_tsv(TSV_COLUMNS, tsv_rows(results))
    else:
        out = console()
        for name, task in results["tasks"].items():
            out.print(task_table(name, task, results["config"]))
            for line in task_notes(task):
                out.print(Text(safe(line)))
    console(stderr=how != "table").print(Text(where))
    return results
