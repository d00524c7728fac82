"""Carbon in context: the same energy on the user's grid and on the cleanest and dirtiest ones.

Uses the offline grid-intensity table (``frugalml.carbon``): every country row, ranked by
annual-average intensity. The figures are annual averages, so "your region" here can differ
from the run's own CO2e when that used a time-varying intensity file.
"""

from __future__ import annotations

from frugalml import _fmt as fmt
from frugalml.carbon import Region, co2e_g, lookup_region, search_regions
from frugalml.errors import UnknownNameError
from frugalml.report.equivalents import equivalents
from frugalml.report.model import CarbonContext, RegionRow
from frugalml.report.plots import Bar, Figure

__all__ = ["N_EXTREMES", "carbon_context"]

N_EXTREMES = 5
_COLOR = {"yours": 7, "lowest": 2, "highest": 3}


def _row(region: Region, group: str, energy_j: float, pue: float) -> RegionRow:
    return RegionRow(
        code=region.code,
        name=region.name,
        group=group,
        intensity_g_per_kwh=region.intensity_g_per_kwh,
        co2e_g=co2e_g(energy_j, region.intensity_g_per_kwh, pue),
        source=region.source,
        year=region.year,
    )


def carbon_context(
    energy_j: float, pue: float, region_code: str | None, co2e_g_total: float
) -> CarbonContext:
    """Rows for the user's region and the ``N_EXTREMES`` lowest/highest-intensity countries.

    ``energy_j`` is IT energy; every row applies the same ``pue``. Equivalents use the
    facility energy and the report's own CO2e (``co2e_g_total``).
    """
    ctx = CarbonContext(energy_j=energy_j, pue=pue)
    countries = sorted(
        search_regions(kind="country"), key=lambda r: (r.intensity_g_per_kwh, r.code)
    )
    if region_code:
        try:
            ctx.regions.append(_row(lookup_region(region_code), "yours", energy_j, pue))
        except UnknownNameError:
            ctx.notes.append(f"The runs' region {region_code!r} is not in this version's table.")
    ctx.regions += [_row(r, "lowest", energy_j, pue) for r in countries[:N_EXTREMES]]
    ctx.regions += [_row(r, "highest", energy_j, pue) for r in countries[-N_EXTREMES:][::-1]]
    ctx.equivalents = equivalents(energy_j * pue, co2e_g_total)
    bars = [
        Bar(
            label=f"{r.name} ({r.code})",
            value=r.co2e_g,
            color=_COLOR[r.group],
            text=fmt.co2e(r.co2e_g) + (" (your region)" if r.group == "yours" else ""),
        )
        for r in ctx.regions
    ]
    ctx.figure = Figure(
        id="carbon-context",
        title="The same energy on other grids",
        kind="bars",
        x_label="g CO2e",
        bars=bars,
        caption=f"{fmt.energy(energy_j)} × PUE {fmt.num(pue)} at each grid's annual-average "
        "intensity: "
        f"your region, the {N_EXTREMES} lowest- and the {N_EXTREMES} highest-intensity countries.",
    )
    return ctx
