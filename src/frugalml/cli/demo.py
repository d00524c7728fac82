"""``frugal demo``: the main job on its built-in default.

Runs the quick bench (every technique on the bundled tasks, measured under the tracker and
recorded in the registry), prints a table per task, then writes the HTML report of that bench
and prints its path.
"""

from __future__ import annotations

from pathlib import Path

import click

from frugalml.cli._common import cell, console, db_option, writable_folder


@click.command()
@click.option(
    "--out",
    "out_dir",
    default="frugal-out",
    show_default=True,
    metavar="DIR",
    callback=writable_folder,
    help="Where bench/results.json and report.html go.",
)
@click.option("--region", "-r", default=None, help="Grid region for CO2e (see `frugal regions`).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@db_option
def demo(out_dir: str, region: str | None, seed: int, db: str | None) -> None:
    """Run the quick bench, print what each technique saved, and write its report."""
    from frugalml.bench import BenchConfig
    from frugalml.cli.bench import run_and_print
    from frugalml.report import write_report

    bench_dir = Path(out_dir) / "bench"
    run_and_print(BenchConfig(suite="quick", seed=seed, out_dir=bench_dir, db=db, region=region))
    report = write_report(Path(out_dir) / "report.html", "html", bench=str(bench_dir), store=db)
    console().print(cell(f"report: {report.resolve()}  (open it in a browser; it works offline)"))
