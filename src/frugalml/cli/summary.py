"""Printing a run's energy and carbon for a human, every figure with its method.

Every user or data string goes through :func:`~frugalml.cli._common.cell` (shown literally,
controls made visible): a region code like ``aws:eu-west-1`` or a run name with brackets is
never read as Rich markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frugalml import _fmt as fmt
from frugalml.cli._common import cell, console

SET_REGION_HINT = (
    'set one with --region CODE, FRUGAL_REGION=CODE or region = "CODE" in '
    "~/.frugal/config.toml (find codes with: frugal regions QUERY)"
)


def carbon_lines(run: dict[str, Any]) -> list[str]:
    """The CO2e formula with the figures actually used, and where the region and PUE came from.

    Example:
        >>> run = {"energy_j": {"total": 3.6e6}, "co2e_g": 44.2, "pue": 1.0,
        ...        "intensity_g_per_kwh": 44.2, "region": "FR", "region_name": "France",
        ...        "region_source": "argument", "pue_source": "personal machine",
        ...        "uncertainty": {"co2e": 0.43}, "duration_s": 60.0}
        >>> print("\\n".join(carbon_lines(run)))
        duration 1 min 0 s · CO2e 44.2 g (±43 %) = 1 kWh × PUE 1 × 44.2 g/kWh
        region FR (France), from --region; PUE 1: personal machine
    """
    energy = run["energy_j"]
    unc = run.get("uncertainty") or {}
    intensity = run.get("intensity_g_per_kwh")
    formula = (
        f"duration {fmt.duration(run.get('duration_s'))} · CO2e {fmt.co2e(run['co2e_g'])} "
        f"({fmt.pct(unc.get('co2e'))}) = {energy['total'] / 3.6e6:.3g} kWh × PUE "
        f"{fmt.g(run.get('pue'))} × {fmt.g(intensity)} g/kWh"
    )
    region = str(run.get("region") or "unknown")
    if run.get("intensity_time_varying"):
        source = run.get("intensity_file")
        annual = run.get("intensity_annual_g_per_kwh")
        formula += (
            " (energy-weighted mean over the run of the time series in "
            f"{Path(source).name if source else 'the --intensity-csv file'}"
            + (f"; {region} annual average {fmt.g(annual)} g/kWh, for comparison" if annual else "")
            + ")"
        )
    how = str(run.get("region_source") or "")
    if region == "world" and not how.startswith("argument"):
        where = (
            f"region: world average ({fmt.g(run.get('intensity_g_per_kwh'))} g/kWh), because no "
            f"region is configured: {SET_REGION_HINT}"
        )
        if run.get("intensity_time_varying"):
            where = f"region: world (no region configured: {SET_REGION_HINT})"
    else:
        origin = {"argument": "--region"}.get(how, how or "not recorded")
        where = f"region {region} ({run.get('region_name') or region}), from {origin}"
    pue = f"PUE {fmt.g(run.get('pue'))}: {run.get('pue_source') or 'source not recorded'}"
    return [formula, f"{where}; {pue}"]


def print_summary(run: dict[str, Any], *, stderr: bool = False) -> None:
    """Print the summary of a ``run.json``-shaped dict as a Rich table."""
    from rich.table import Table

    out = console(stderr)
    energy = run["energy_j"]
    unc = run.get("uncertainty") or {}
    methods = run.get("methods") or {}
    table = Table()
    table.add_column("component")
    table.add_column("energy", justify="right")
    table.add_column("method")
    table.add_column("uncertainty", justify="right")
    for comp in sorted(k for k in energy if k != "total"):
        table.add_row(
            cell(comp),
            cell(fmt.energy(energy[comp])),
            cell(methods.get(comp, "?")),
            cell(fmt.pct(unc.get(comp))),
        )
    table.add_row(
        cell("total", "bold"),
        cell(fmt.energy(energy["total"]), "bold"),
        "",
        cell(fmt.pct(unc.get("total"))),
    )
    out.print(cell(f"frugalml run {run['name']} ({run['id']}) — {run['status']}"))
    out.print(table)
    for line in carbon_lines(run):
        out.print(cell(line))
    kind = (
        "measured by hardware counters"
        if run.get("measured")
        else "modelled (no energy counters for some components)"
    )
    out.print(cell(f"scope: {run.get('scope')} · energy {kind}"))
    for err in run.get("errors") or []:
        out.print(cell("note", "yellow"), cell(f": {err['source']}: {err['message']}"), sep="")
