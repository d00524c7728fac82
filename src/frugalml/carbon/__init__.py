"""Carbon: offline grid-intensity table, region lookup, PUE rules, CO2e conversion.

Nothing here touches the network. See ``docs/carbon.md`` for the data sources.

Example:
    >>> from frugalml.carbon import resolve_region, resolve_pue, co2e_g
    >>> region, how = resolve_region("FR")
    >>> pue, pue_source = resolve_pue(None, region)
    >>> grams = co2e_g(3.6e6, region.intensity_g_per_kwh, pue)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frugalml._lazy import lazy_exports

if TYPE_CHECKING:
    from frugalml.carbon.intensity import IntensityTimeline
    from frugalml.carbon.regions import (
        DATACENTER_PUE,
        DATACENTER_PUE_SOURCE,
        KINDS,
        PERSONAL_PUE_SOURCE,
        WORLD_CODE,
        Region,
        co2e_g,
        load_regions,
        lookup_region,
        resolve_pue,
        resolve_region,
        search_regions,
    )

__all__ = [
    "DATACENTER_PUE",
    "DATACENTER_PUE_SOURCE",
    "KINDS",
    "PERSONAL_PUE_SOURCE",
    "WORLD_CODE",
    "IntensityTimeline",
    "Region",
    "co2e_g",
    "load_regions",
    "lookup_region",
    "resolve_pue",
    "resolve_region",
    "search_regions",
]

# Loaded on first use: the tracker's start path needs the regions, not the time series.
_LAZY = {name: "frugalml.carbon.intensity" for name in ("IntensityTimeline",)}
_LAZY.update({name: "frugalml.carbon.regions" for name in __all__ if name != "IntensityTimeline"})

__getattr__, __dir__ = lazy_exports("frugalml.carbon", _LAZY, globals(), __all__)
