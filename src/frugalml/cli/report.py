"""``frugal report``: write an HTML / Markdown / JSON report of runs or of a bench."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from frugalml.cli._common import PAGE, db_option

FORMATS = ("html", "md", "json")
TRAINING_TYPES = ("pre-training", "fine-tuning")


def _check_out(out: Path) -> None:
    from frugalml.errors import InputError

    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise InputError(
            f"--out {out} is a folder. Give a file name, e.g. --out {out / 'report.html'}."
        )
    if not parent.is_dir():
        raise InputError(
            f"--out {out}: the folder {parent} does not exist. Create it or choose another --out."
        )
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise InputError(f"--out {out}: not writable. Choose another --out.")


@click.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option(
    "--bench",
    "bench_dir",
    metavar="DIR",
    default=None,
    help="Report a bench: its output folder (or results.json).",
)
@click.option(
    "--search",
    "search_dirs",
    metavar="DIR",
    multiple=True,
    help="Report searches: `frugal search` output folders (repeatable: one convergence line each).",
)
@click.option(
    "--last",
    "-n",
    type=PAGE,
    default=None,
    help="The newest N runs (default: 20 when no RUN_ID is given).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: from --out's suffix, else html).",
)
@click.option(
    "--out",
    "-o",
    metavar="FILE",
    default=None,
    help="Output file; '-' prints to stdout (default: frugal-report.<format>).",
)
@click.option(
    "--metric", default="accuracy", show_default=True, help="Metric the leaderboards rank by."
)
@click.option(
    "--target",
    type=float,
    default=None,
    help="Value of --metric to reach for the energy-to-target ranking (default: 95 % of the best).",
)
@click.option(
    "--page",
    type=PAGE,
    default=1,
    show_default=True,
    help="Page of the runs table and leaderboards.",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1, max=10_000),
    default=50,
    show_default=True,
    help="Rows per page.",
)
@click.option(
    "--training-type",
    type=click.Choice(TRAINING_TYPES),
    default="pre-training",
    show_default=True,
    help="Model-card training_type.",
)
@click.option(
    "--final", default=None, metavar="TECHNIQUE", help="Bench technique that is the final model."
)
@click.option(
    "--fpo",
    type=click.FloatRange(min=0),
    default=None,
    help="Floating-point operations per sample of the final model, for the energy statement.",
)
@click.option("--title", default=None, help="Report title.")
@db_option
def report(
    run_ids: tuple[str, ...],
    bench_dir: str | None,
    search_dirs: tuple[str, ...],
    last: int | None,
    fmt: str | None,
    out: str | None,
    metric: str,
    target: float | None,
    page: int,
    page_size: int,
    training_type: str,
    final: str | None,
    fpo: float | None,
    title: str | None,
    db: str | None,
) -> None:
    """Write a report of runs (RUN_ID prefixes, or the newest --last N) or of a bench (--bench DIR).

    The HTML report is one offline file (plots inline as SVG); Markdown writes its plots as PNG
    files into FILE_files/ beside it; JSON is for machines.
    """
    from frugalml.report import build_report, format_for, render_json, render_markdown, write_report

    empty = [i for i in run_ids if not i.strip()]
    if empty:
        raise click.BadParameter(
            "'' is not a run id. Give run ids or unique prefixes (list them with: frugal runs).",
            param_hint="'RUN_ID'",
        )
    out_path = None if out in (None, "-") else Path(out)
    fmt = fmt or (format_for(out_path) if out_path else "html")
    if out_path is None and out != "-":
        out_path = Path(f"frugal-report.{fmt}")
    if out_path is not None:
        _check_out(out_path)
    built = build_report(
        list(run_ids) or None,
        bench=bench_dir,
        search=list(search_dirs) or None,
        store=db,
        last=last,
        metric=metric,
        target=target,
        page=page,
        page_size=page_size,
        training_type=training_type,
        final=final,
        fpo=fpo,
        title=title,
    )
    if out_path is None:
        from frugalml.report import render_html

        renderers = {"html": render_html, "json": render_json, "md": render_markdown}
        sys.stdout.write(renderers[fmt](built))
        return
    path = write_report(out_path, fmt, report=built)
    click.echo(str(path))
