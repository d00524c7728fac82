"""``frugal runs`` and ``frugal show RUN_ID``: read the registry."""

from __future__ import annotations

import json
from datetime import datetime

import click

from frugalml import _fmt as fmt
from frugalml.cli._common import console, db_option


@click.command()
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs.",
)
@click.option(
    "--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page of --limit runs."
)
@click.option("--name", default=None, help="Only runs with this name.")
@click.option(
    "--status", type=click.Choice(["running", "finished", "failed", "interrupted"]), default=None
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@db_option
def runs(
    limit: int, page: int, name: str | None, status: str | None, as_json: bool, db: str | None
) -> None:
    """List runs in the registry, newest first."""
    from rich.table import Table

    from frugalml.store import Store

    store = Store(db)
    records = store.list_runs(limit=limit, offset=(page - 1) * limit, name=name, status=status)
    if as_json:
        for r in records:
            click.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "name": r.name,
                        "status": r.status,
                        "started_at": r.started_at,
                        "duration_s": r.duration_s,
                        "energy_j": r.energy_j,
                        "kwh": r.kwh,
                        "co2e_g": r.co2e_g,
                        "methods": r.methods,
                        "uncertainty": r.uncertainty,
                        "region": r.region,
                    }
                )
            )
        return
    table = Table(
        title=f"runs in {store.url} (page {page}, {store.count_runs()} in all)",
        title_justify="left",
    )
    for col, justify in (
        ("id", "left"),
        ("name", "left"),
        ("when", "left"),
        ("duration", "right"),
        ("kWh", "right"),
        ("gCO2e", "right"),
        ("methods", "left"),
        ("status", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            r.id,
            _text(r.name),
            datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M:%S"),
            fmt.duration(r.duration_s),
            f"{r.kwh:.3g}",
            f"{r.co2e_g:.3g}",
            ",".join(sorted(set(r.methods.values()))),
            _status(r.status),
        )
    console().print(table)
    if not records:
        console().print("No runs yet. Measure one with: frugal run -- python train.py")


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@db_option
def show(run_id: str, as_json: bool, db: str | None) -> None:
    """Show one run (RUN_ID or a unique prefix) with its components."""
    from frugalml.cli.summary import print_summary
    from frugalml.store import Store

    store = Store(db)
    record = store.get_run(run_id)
    data = dict(record.summary) if record.summary else {}
    data.update(
        id=record.id,
        name=record.name,
        status=record.status,
        duration_s=record.duration_s,
        co2e_g=record.co2e_g,
        methods=record.methods,
    )
    data.setdefault("energy_j", {"total": record.energy_j})
    data.setdefault("region", record.region)
    data.setdefault("pue", record.pue)
    data.setdefault("intensity_g_per_kwh", record.intensity_g_per_kwh)
    data.setdefault("scope", record.scope)
    samples = store.samples(record.id)
    metrics = store.metrics(record.id)
    if as_json:
        data["samples"] = len(samples)
        click.echo(json.dumps(data, indent=2, default=str))
        return
    print_summary(data)
    out = console()
    out.print(
        f"{len(samples)} samples, {len(metrics)} metric values · energy {fmt.energy(record.energy_j)} · "
        f"{fmt.co2e(record.co2e_g)} CO2e"
    )
    if record.status == "interrupted":
        out.print(
            "[yellow]This run was interrupted: figures cover it up to its last saved sample.[/yellow]"
        )


def _text(s: str) -> str:
    from rich.markup import escape

    return escape(s)


def _status(s: str) -> str:
    color = {"finished": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}.get(
        s, "white"
    )
    return f"[{color}]{s}[/{color}]"
