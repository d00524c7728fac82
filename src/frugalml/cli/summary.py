"""Printing a run's energy and carbon for a human, every figure with its method."""

from __future__ import annotations

from typing import Any

from frugalml import _fmt as fmt
from frugalml.cli._common import console


def print_summary(run: dict[str, Any], *, stderr: bool = False) -> None:
    """Print the summary of a ``run.json``-shaped dict as a Rich table."""
    from rich.markup import escape
    from rich.table import Table

    out = console(stderr)
    energy = run["energy_j"]
    unc = run.get("uncertainty") or {}
    methods = run.get("methods") or {}
    table = Table(
        title=f"frugalml run {escape(str(run['name']))} ({run['id']}) — {run['status']}",
        title_justify="left",
    )
    table.add_column("component")
    table.add_column("energy", justify="right")
    table.add_column("method")
    table.add_column("uncertainty", justify="right")
    for comp in sorted(k for k in energy if k != "total"):
        table.add_row(
            comp, fmt.energy(energy[comp]), methods.get(comp, "?"), fmt.pct(unc.get(comp))
        )
    table.add_row(
        "[b]total[/b]", f"[b]{fmt.energy(energy['total'])}[/b]", "", fmt.pct(unc.get("total"))
    )
    out.print(table)
    region = run["region"]
    how = run.get("region_source", "")
    note = (
        " (world average: no region configured; set --region or FRUGAL_REGION)"
        if region == "world"
        else ""
    )
    out.print(
        f"duration {fmt.duration(run['duration_s'])} · CO2e {fmt.co2e(run['co2e_g'])} ({fmt.pct(unc.get('co2e'))}) = "
        f"{energy['total'] / 3.6e6:.3g} kWh × PUE {run['pue']:g} × {run['intensity_g_per_kwh']:g} g/kWh "
        f"[{region}{note}; region from {how}; PUE: {run.get('pue_source', '')}]"
    )
    kind = (
        "measured by hardware counters"
        if run.get("measured")
        else "modelled (no energy counters for some components)"
    )
    out.print(f"scope: {run['scope']} · energy {kind}")
    for err in run.get("errors") or []:
        out.print(
            f"[yellow]note[/yellow]: {escape(str(err['source']))}: {escape(str(err['message']))}"
        )
