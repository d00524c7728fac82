"""The offline grid-intensity table: regions, their lookup, and the PUE rules.

Everything here reads the CSV shipped in ``frugalml/carbon/data/grid_intensity.csv``;
nothing is ever fetched from the network and no region is ever guessed. With no region
configured, runs use the world average and say so. See ``docs/carbon.md`` for where
every number comes from.

Example:
    >>> from frugalml.carbon import lookup_region, resolve_pue, co2e_g
    >>> fr = lookup_region("fr")
    >>> pue, why = resolve_pue(None, fr)
    >>> round(co2e_g(3.6e6, fr.intensity_g_per_kwh, pue), 2)  # 1 kWh in France
    44.18
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from frugalml.errors import ConfigError, UnknownNameError

__all__ = [
    "DATACENTER_PUE",
    "DATACENTER_PUE_SOURCE",
    "KINDS",
    "PERSONAL_PUE_SOURCE",
    "WORLD_CODE",
    "Region",
    "co2e_g",
    "load_regions",
    "lookup_region",
    "resolve_pue",
    "resolve_region",
    "search_regions",
]

WORLD_CODE = "world"
KINDS = ("world", "country", "subregion", "cloud")

# 1.59 is the industry average the project's users were promised (issue #2: "1.59, Uptime
# Institute 2021"). It is the average of Uptime Institute's 2020 survey (published mid-2020 and
# the figure cited through 2021); later surveys: 1.57 (2021), 1.55 (2022), 1.58 (2023).
DATACENTER_PUE = 1.59
DATACENTER_PUE_SOURCE = (
    "industry-average data centre (Uptime Institute Global Data Center Survey 2020, "
    "the average cited in 2021)"
)
PERSONAL_PUE_SOURCE = "personal machine (no data-centre overhead)"

_DATACENTER_WORDS = frozenset(
    {"datacenter", "datacentre", "data-center", "data-centre", "data center", "data centre", "dc"}
)
_PERSONAL_WORDS = frozenset({"personal", "laptop", "desktop", "none"})
_PUE_HELP = "PUE must be a number >= 1.0 (1.0 = no overhead, {dc} = average data centre)"
_J_PER_KWH = 3.6e6
_LIST_HINT = "List regions with: frugal regions QUERY"


@dataclass(frozen=True)
class Region:
    """One row of the grid-intensity table.

    Attributes:
        code: Display code: ISO 3166 alpha-2 (``"FR"``), a sub-national grid
            (``"US-CAMX"``, ``"CA-QC"``, ``"AU-NSW"``), ``"world"``, or a cloud region
            ``"provider:region"`` (``"aws:eu-west-1"``).
        name: Human-readable name.
        kind: One of ``world``, ``country``, ``subregion``, ``cloud``.
        intensity_g_per_kwh: Average grid carbon intensity, grams CO2e per kWh.
        grid: For cloud regions, the code of the grid the region draws from; else None.
        pue: For cloud regions, the provider-reported PUE; else None.
        source: Where the figure comes from (dataset and, for clouds, the PUE report).
        year: The year the intensity figure describes.
    """

    code: str
    name: str
    kind: str
    intensity_g_per_kwh: float
    grid: str | None
    pue: float | None
    source: str
    year: int

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON output and run.json."""
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "grid": self.grid,
            "pue": self.pue,
            "source": self.source,
            "year": self.year,
        }


@lru_cache(maxsize=1)
def _table() -> Mapping[str, Region]:
    # a plain path (package data beside this module): importlib.resources costs ~10 ms to
    # import, on the path of every tracker's start
    text = (Path(__file__).parent / "data" / "grid_intensity.csv").read_text("utf-8")
    table: dict[str, Region] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            region = Region(
                code=row["code"],
                name=row["name"],
                kind=row["kind"],
                intensity_g_per_kwh=float(row["intensity_g_per_kwh"]),
                grid=row["grid"] or None,
                pue=float(row["pue"]) if row["pue"] else None,
                source=row["source"],
                year=int(row["year"]),
            )
        except (KeyError, TypeError, ValueError) as e:  # a broken package, not user input
            raise RuntimeError(f"grid_intensity.csv line {line} is malformed: {e}") from e
        table[region.code.lower()] = region
    return MappingProxyType(table)


def load_regions() -> dict[str, Region]:
    """Return the whole table, keyed by lower-case code.

    The CSV is parsed once per process; each call returns a fresh dict.

    Example:
        >>> regions = load_regions()
        >>> regions["world"].kind
        'world'
    """
    return dict(_table())


def lookup_region(code: str) -> Region:
    """Find a region by code, ignoring case (``"FR"``, ``"fr"``, ``"aws:eu-west-1"``).

    Raises:
        UnknownNameError: the code is not in the table; the message names the closest
            known codes and how to list them.

    Example:
        >>> lookup_region("us-camx").code
        'US-CAMX'
    """
    return _lookup(code, origin="")


def _lookup(code: str, *, origin: str) -> Region:
    table = _table()
    key = code.strip().lower()
    if key in table:
        return table[key]
    suggestions = [table[k].code for k in _suggest(key, table)]
    where = f" (from {origin})" if origin else ""
    msg = f"Unknown region {code.strip()!r}{where}."
    if suggestions:
        msg += f" Did you mean {', '.join(map(repr, suggestions))}?"
    raise UnknownNameError(f"{msg} {_LIST_HINT}")


def _suggest(key: str, table: Mapping[str, Region]) -> list[str]:
    if not key:
        return []
    close = difflib.get_close_matches(key, list(table), n=3, cutoff=0.6)
    # A country name ("germany") or ISO alpha-3 code ("FRA") finds its row by name/prefix.
    by_name = [
        k for k, r in table.items() if len(key) >= 3 and r.kind != "cloud" and key in r.name.lower()
    ]
    by_prefix = [
        k for k in table if len(key) == 3 and table[k].kind == "country" and key.startswith(k)
    ]
    out: list[str] = []
    for k in [*close, *by_prefix, *by_name[:3]]:
        if k not in out:
            out.append(k)
    return out[:5]


def search_regions(query: str | None = None, *, kind: str | None = None) -> list[Region]:
    """Regions whose code or name contains ``query`` (case-insensitive), in table order.

    Args:
        query: Substring to look for; None or "" lists everything.
        kind: Keep only this kind (``world``, ``country``, ``subregion``, ``cloud``).

    Example:
        >>> [r.code for r in search_regions("sweden")]
        ['SE', 'azure:swedencentral']
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"Unknown region kind {kind!r}; use one of {', '.join(KINDS)}.")
    q = (query or "").strip().lower()
    order = {k: i for i, k in enumerate(KINDS)}
    found = [
        r
        for r in _table().values()
        if (kind is None or r.kind == kind) and (q in r.code.lower() or q in r.name.lower())
    ]
    return sorted(found, key=lambda r: (order[r.kind], r.code.lower()))


def resolve_pue(pue: float | str | None, region: Region) -> tuple[float, str]:
    """Decide the PUE (facility energy / IT energy) and say where it comes from.

    Rules: None -> the provider's PUE for a cloud region, else 1.0 (a personal machine
    has no data-centre overhead); ``"datacenter"`` (or ``"data-centre"``, ``"dc"`` ...)
    -> :data:`DATACENTER_PUE`; a number or numeric string -> itself, if >= 1.0.

    Raises:
        ConfigError: a negative, < 1, non-finite or non-numeric PUE.

    Example:
        >>> resolve_pue("datacenter", lookup_region("FR"))[0]
        1.59
        >>> resolve_pue(None, lookup_region("aws:eu-west-1"))[0]
        1.15
    """
    if pue is None:
        if region.kind == "cloud" and region.pue is not None:
            return region.pue, f"provider-reported PUE for {region.code} ({_pue_source(region)})"
        return 1.0, PERSONAL_PUE_SOURCE
    if isinstance(pue, str):
        word = pue.strip().lower()
        if word in _DATACENTER_WORDS:
            return DATACENTER_PUE, DATACENTER_PUE_SOURCE
        if word in _PERSONAL_WORDS:
            return 1.0, PERSONAL_PUE_SOURCE
        try:
            value = float(word)
        except ValueError:
            raise ConfigError(_bad_pue(pue, also_words=True)) from None
    elif isinstance(pue, bool) or not isinstance(pue, int | float):
        raise ConfigError(_bad_pue(pue, also_words=True))
    else:
        value = float(pue)
    if not math.isfinite(value) or value < 1.0:
        raise ConfigError(_bad_pue(pue, also_words=False))
    return value, "given by the user"


def _pue_source(region: Region) -> str:
    for part in region.source.split(";"):
        if part.strip().startswith("PUE"):
            return part.strip()
    return region.source


def _bad_pue(value: object, *, also_words: bool) -> str:
    shown = value if isinstance(value, str) else repr(value)
    words = " or the word 'datacenter'" if also_words else ""
    return f"{_PUE_HELP.format(dc=DATACENTER_PUE)}{words}. Got {shown} instead."


def resolve_region(
    region: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, object] | None = None,
) -> tuple[Region, str]:
    """Pick the region: argument > ``FRUGAL_REGION`` > config ``region`` > world average.

    Args:
        region: Explicit code (``--region``); empty or None means "not given".
        env: Environment to read ``FRUGAL_REGION`` from; None reads ``os.environ``.
        config: Parsed config file (``{"region": "FR", ...}``); None means no file.

    Returns:
        ``(region, how)`` where ``how`` is ``"argument"``, ``"FRUGAL_REGION"``,
        ``"config file"`` or ``"default (world average: no region configured)"``.

    Raises:
        UnknownNameError: the chosen code is unknown (message says where it came from).
        ConfigError: the config's ``region`` is not a string.

    Example:
        >>> resolve_region(env={}, config={})[0].code
        'world'
        >>> resolve_region(env={"FRUGAL_REGION": "SE"})[1]
        'FRUGAL_REGION'
    """
    if region is not None and region.strip():
        return _lookup(region, origin="--region"), "argument"
    environ = os.environ if env is None else env
    from_env = environ.get("FRUGAL_REGION", "")
    if from_env.strip():
        return _lookup(from_env, origin="FRUGAL_REGION"), "FRUGAL_REGION"
    if config is not None and config.get("region") not in (None, ""):
        value = config["region"]
        if not isinstance(value, str):
            raise ConfigError(
                f"The config file's 'region' must be a region code such as \"FR\". "
                f"Got {value!r} instead. List regions with: frugal regions"
            )
        if value.strip():
            return _lookup(value, origin="config file"), "config file"
    return _table()[WORLD_CODE], "default (world average: no region configured)"


def co2e_g(energy_j: float, intensity_g_per_kwh: float, pue: float) -> float:
    """Grams CO2e for ``energy_j`` joules of IT energy on a grid of the given intensity.

    ``energy_j / 3.6e6 * pue * intensity_g_per_kwh``.

    Example:
        >>> co2e_g(3.6e6, 100.0, 1.5)  # 1 kWh, 100 g/kWh, PUE 1.5
        150.0
    """
    return energy_j / _J_PER_KWH * pue * intensity_g_per_kwh
