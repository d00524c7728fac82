"""Where: the same run's energy on every grid frugalml knows, ranked by CO2e.

A cloud region is charged its provider's PUE (AWS 1.15, Google 1.09, Azure 1.18); a country or a
sub-national grid is charged the PUE the run had (the same kind of facility on another grid).
Intensities are the annual averages of the offline table (``docs/carbon.md``).

Three scopes, each ranked cleanest first:

- ``overall``: every region of the table (the world average left out: it is not a place);
- ``same-provider``: the regions of the cloud provider the run used (only for a cloud run);
- ``same-country``: the sub-regions of the run's country (US eGRID subregions, Canadian
  provinces, Australian states, Japanese areas, Indian grids), when that country has them.

Example:
    >>> options = advise_where(3.6e6, "US-SRVC", pue=1.0, intensity_g_per_kwh=284.0, top=1)
    >>> [(o.scope, o.region) for o in options]
    [('overall', 'gcp:europe-north2'), ('same-country', 'US-NYUP')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from frugalml import _fmt
from frugalml.carbon.regions import WORLD_CODE, Region, co2e_g, load_regions, lookup_region

__all__ = ["SCOPES", "WhereOption", "advise_where", "rank_regions"]

SCOPES = ("overall", "same-provider", "same-country")


@dataclass(frozen=True)
class WhereOption:
    """The run's energy in another region.

    Attributes:
        region: region code (``IS``, ``gcp:europe-north1``, ``CA-QC``).
        name: human-readable name.
        intensity_g_per_kwh: the region's annual grid intensity.
        pue: PUE applied there.
        co2e_g: grams CO2e of the run's energy there.
        ratio: ``co2e_g`` over the CO2e where the run ran (0.1 = ten times less); None when
            the run's own CO2e is zero.
        scope: ``overall``, ``same-provider`` or ``same-country``.
        basis: how the figure was obtained.
    """

    region: str
    name: str
    intensity_g_per_kwh: float
    pue: float
    co2e_g: float
    ratio: float | None
    scope: str
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_regions(energy_j: float, pue: float) -> list[tuple[Region, float, float]]:
    """Every region but the world average as ``(region, pue, co2e_g)``, cleanest first.

    Args:
        energy_j: IT energy of the run, joules.
        pue: PUE applied to non-cloud regions (cloud regions take their provider's).

    Example:
        >>> [r.code for r, pue, grams in rank_regions(3.6e6, 1.0)[:2]]
        ['gcp:europe-north2', 'gcp:northamerica-northeast1']
    """
    ranked = []
    for region in load_regions().values():
        if region.code == WORLD_CODE:
            continue
        region_pue = region.pue if region.kind == "cloud" and region.pue else pue
        ranked.append(
            (region, region_pue, co2e_g(energy_j, region.intensity_g_per_kwh, region_pue))
        )
    return sorted(ranked, key=lambda r: (r[2], r[0].code.lower()))


def _country(region: Region) -> str | None:
    """ISO code of the country a region's grid lies in, or None (world)."""
    if region.kind == "country":
        return region.code
    if region.kind == "subregion":
        return region.code.split("-")[0]
    if region.kind == "cloud" and region.grid:
        return _country(lookup_region(region.grid))
    return None


def advise_where(
    energy_j: float,
    region: str | None,
    *,
    pue: float,
    intensity_g_per_kwh: float,
    top: int = 3,
) -> list[WhereOption]:
    """The cleanest places for the run's energy, ``top`` per scope, cleanest first.

    Args:
        energy_j: the run's IT energy, joules (before PUE).
        region: code of the region the run ran in (None or ``world``: unknown).
        pue: the run's PUE.
        intensity_g_per_kwh: the intensity the run was charged (its own CO2e is
            ``energy x pue x intensity``, the ``ratio``'s denominator).
        top: options per scope.

    Returns:
        The options of every applicable scope, sorted by CO2e (a region may appear under
        two scopes).
    """
    here = lookup_region(region) if region and region.lower() != WORLD_CODE else None
    here_g = co2e_g(energy_j, intensity_g_per_kwh, pue)
    kwh = _fmt.kwh(energy_j)
    ranked = rank_regions(energy_j, pue)
    scopes: dict[str, list[tuple[Region, float, float]]] = {"overall": ranked}
    if here is not None and here.kind == "cloud":
        provider = here.code.split(":")[0]
        scopes["same-provider"] = [r for r in ranked if r[0].code.startswith(provider + ":")]
    country = _country(here) if here is not None else None
    if country is not None:
        subs = [r for r in ranked if r[0].kind == "subregion" and _country(r[0]) == country]
        if subs:
            scopes["same-country"] = subs
    options: list[WhereOption] = []
    for scope, rows in scopes.items():
        for reg, reg_pue, grams in rows[:top]:
            pue_why = (
                f"{reg.code.split(':')[0]} PUE"
                if reg.kind == "cloud" and reg.pue
                else "the run's own PUE"
            )
            options.append(
                WhereOption(
                    region=reg.code,
                    name=reg.name,
                    intensity_g_per_kwh=reg.intensity_g_per_kwh,
                    pue=reg_pue,
                    co2e_g=grams,
                    ratio=grams / here_g if here_g > 0 else None,
                    scope=scope,
                    basis=(
                        f"{kwh} (the run's IT energy) x PUE {_fmt.g(reg_pue)} ({pue_why}) x "
                        f"{_fmt.g(reg.intensity_g_per_kwh)} gCO2e/kWh ({reg.source}, {reg.year})"
                    ),
                )
            )
    return sorted(options, key=lambda o: (o.co2e_g, SCOPES.index(o.scope)))
