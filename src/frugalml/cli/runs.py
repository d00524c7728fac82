"""``frugal runs`` and ``frugal show RUN_ID``: read the registry."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click

from frugalml import _fmt as fmt
from frugalml.cli._common import (
    PAGE,
    cell,
    console,
    db_option,
    format_options,
    output_format,
    print_json_lines,
    print_tsv,
)

STATUS_STYLE = {
    "finished": "green",
    "failed": "red",
    "interrupted": "yellow",
    "running": "cyan",
    "budget-stopped": "yellow",
}
TSV_COLUMNS = (
    "id",
    "name",
    "started_at",
    "status",
    "duration_s",
    "energy_j",
    "kwh",
    "co2e_g",
    "methods",
    "region",
)


@click.command()
@click.option("--limit", "-n", type=PAGE, default=20, show_default=True, help="How many runs.")
@click.option("--page", type=PAGE, default=1, show_default=True, help="Page of --limit runs.")
@click.option(
    "--name",
    metavar="PATTERN",
    default=None,
    help="Only runs whose name contains PATTERN (case-insensitive), or matches it as a glob "
    "when it holds * or ? (e.g. 'train-*').",
)
@click.option(
    "--status",
    type=click.Choice(["running", "finished", "failed", "interrupted", "budget-stopped"]),
    default=None,
)
@format_options
@db_option
def runs(
    limit: int,
    page: int,
    name: str | None,
    status: str | None,
    out_format: str | None,
    as_json: bool,
    db: str | None,
) -> None:
    """List runs in the registry, newest first."""
    from rich.table import Table

    from frugalml.store import open_registry

    how = output_format(out_format, as_json)
    store = open_registry(db)
    records = store.list_runs(limit=limit, offset=(page - 1) * limit, name_like=name, status=status)
    if how == "json":
        print_json_lines(_json_row(r) for r in records)
    elif how == "tsv":
        print_tsv(TSV_COLUMNS, (_tsv_row(r) for r in records))
    filtered = name is not None or status is not None
    matching = store.count_runs(name_like=name, status=status) if filtered else None
    total = store.count_runs()
    if how != "table":
        if not records:
            console(stderr=True).print(cell(_nothing(name, status, page, matching, total)))
        return
    what = (
        f"{matching:,} matching {_filters(name, status)}, {total:,} in all"
        if filtered
        else (f"{total:,} in all")
    )
    pages = max(1, -(-(total if matching is None else matching) // limit))
    table = Table()
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
    from frugalml.cli._tree import job_label

    for r in records:
        table.add_row(
            cell(r.id),
            cell(job_label(r.name, r.summary)),
            cell(datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M:%S")),
            cell(fmt.duration(r.duration_s)),
            cell(f"{r.kwh:.3g}"),
            cell(f"{r.co2e_g:.3g}"),
            cell(",".join(sorted(set(r.methods.values())))),
            cell(r.status, STATUS_STYLE.get(r.status, "")),
        )
    out = console()
    out.print(cell(f"runs in {store.url} (page {page:,} of {pages:,}; {what})"))
    if records:
        out.print(table)
    else:
        out.print(cell(_nothing(name, status, page, matching, total)))


def _filters(name: str | None, status: str | None) -> str:
    parts = [f"--name {name!r}"] if name is not None else []
    parts += [f"--status {status}"] if status is not None else []
    return " ".join(parts)


def _nothing(
    name: str | None, status: str | None, page: int, matching: int | None, total: int
) -> str:
    if total == 0:
        return "No runs yet. Measure one with: frugal run -- python train.py"
    if matching == 0:
        return (
            f"No runs match {_filters(name, status)} ({total:,} runs in the registry). "
            "Try a shorter part of the name, or a glob such as 'train*'."
        )
    n = total if matching is None else matching
    return f"No runs on page {page:,} ({n:,} runs{' match' if matching is not None else ''}). Try --page 1."


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _json_row(r: Any) -> dict[str, Any]:
    return {
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
        "kind": r.kind or "run",
    }


def _tsv_row(r: Any) -> list[object]:
    methods = ",".join(sorted(set(r.methods.values())))
    return [
        r.id,
        r.name,
        _iso(r.started_at),
        r.status,
        r.duration_s,
        r.energy_j,
        r.kwh,
        r.co2e_g,
        methods,
        r.region,
    ]


@click.command()
@click.argument("run_id")
@format_options
@db_option
def show(run_id: str, out_format: str | None, as_json: bool, db: str | None) -> None:
    """Show one run (RUN_ID or a unique prefix, or a run.json / --out folder) with its components."""
    from frugalml.cli._forecasts import forecast_error, forecast_table
    from frugalml.cli.summary import print_summary
    from frugalml.store import open_registry

    how = output_format(out_format, as_json)
    if not run_id.strip():
        raise click.BadParameter(
            "'' is not a run id. Give a run id or a unique prefix of one (list them with: frugal runs).",
            param_hint="'RUN_ID'",
        )
    if os.sep in run_id or run_id.endswith(".json"):  # a file from --out, reconciled
        from frugalml.measure.runfile import read_run_json

        data = read_run_json(run_id, db=db)
        if how == "json":
            click.echo(json.dumps(data, indent=2, default=str))
        elif how == "tsv":
            print_tsv(("field", "value"), _flatten(data))
        else:
            print_summary(data)
        return
    store = open_registry(db)
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
    forecasts = store.forecasts(record.id)
    data["samples"] = len(samples)
    data["forecasts"] = [
        {
            **{k: v for k, v in row.items() if k not in ("id", "run_id")},
            "error_vs_final": forecast_error(row, record.energy_j, record.status),
        }
        for row in forecasts
    ]
    if how == "json":
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if how == "tsv":
        print_tsv(("field", "value"), _flatten(data))
        return
    print_summary(data)
    if record.kind in ("job", "host"):
        from frugalml.cli._tree import print_tree

        print_tree(data)
    out = console()
    out.print(
        cell(
            f"{len(samples)} samples, {len(metrics)} metric values · energy "
            f"{fmt.energy(record.energy_j)} · {fmt.co2e(record.co2e_g)} CO2e"
        )
    )
    if forecasts:
        out.print(forecast_table(forecasts, record.energy_j, record.status))
    if record.status == "budget-stopped":
        out.print(cell(f"Budget-stopped: {data.get('error') or 'its budget was spent'}.", "yellow"))
    if record.status == "interrupted":
        out.print(
            cell(
                "This run was interrupted: figures cover it up to its last saved sample.",
                "yellow",
            )
        )


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """``{"energy_j": {"cpu": 1}}`` -> ``[("energy_j.cpu", 1)]``; lists as JSON."""
    rows: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{name}.")
        elif isinstance(value, list | dict):
            rows.append((name, json.dumps(value, default=str)))
        else:
            rows.append((name, value))
    return rows
