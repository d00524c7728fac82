"""``frugal regions [QUERY]``: list what the offline grid-intensity table holds."""

from __future__ import annotations

import json

import click

from frugalml.carbon.regions import KINDS, Region, load_regions, search_regions
from frugalml.cli._common import cell, console, format_options, output_format, print_tsv
from frugalml.errors import InputError

TSV_COLUMNS = ("code", "name", "kind", "g_per_kwh", "grid", "pue", "source", "year")


@click.command("regions")
@click.argument("query", required=False)
@click.option(
    "--kind",
    type=click.Choice(KINDS, case_sensitive=False),
    help="Only this kind of region.",
)
@format_options
def regions(query: str | None, kind: str | None, out_format: str | None, as_json: bool) -> None:
    """List grid-intensity regions whose code or name contains QUERY.

    Use a code with --region or FRUGAL_REGION, e.g. FR, US-CAMX, aws:eu-west-1.
    """
    how = output_format(out_format, as_json)
    found = search_regions(query, kind=kind.lower() if kind else None)
    if not found:
        what = f"matches {query!r}" if query else "is in the table"
        what += f" with --kind {kind}" if kind else ""
        raise InputError(
            f"No region {what}. Run 'frugal regions' without a query to list all "
            f"{len(load_regions())} regions."
        )
    if how == "json":
        click.echo(json.dumps([r.to_dict() for r in found], indent=2, ensure_ascii=False))
    elif how == "tsv":
        print_tsv(
            TSV_COLUMNS,
            (
                (r.code, r.name, r.kind, r.intensity_g_per_kwh, r.grid, r.pue, r.source, r.year)
                for r in found
            ),
        )
    else:
        _print_table(found)


def _print_table(found: list[Region]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{len(found)} region(s), grid intensity in gCO2e/kWh", title_justify="left"
    )
    table.add_column("code", no_wrap=True, style="bold")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("g/kWh", justify="right")
    table.add_column("grid")
    table.add_column("PUE", justify="right")
    table.add_column("source", overflow="fold")
    table.add_column("year", justify="right")
    for r in found:
        table.add_row(
            cell(r.code),
            cell(r.name),
            cell(r.kind),
            cell(f"{r.intensity_g_per_kwh:.1f}"),
            cell(r.grid or ""),
            cell(f"{r.pue:.2f}" if r.pue is not None else ""),
            cell(r.source),
            cell(r.year),
        )
    console().print(table)
