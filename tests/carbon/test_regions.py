"""The packaged grid-intensity table, region lookup and the PUE rules."""

from __future__ import annotations

import math
import re

import pytest

from frugalml.carbon import (
    DATACENTER_PUE,
    KINDS,
    WORLD_CODE,
    co2e_g,
    load_regions,
    lookup_region,
    resolve_pue,
    resolve_region,
    search_regions,
)
from frugalml.errors import ConfigError, InputError, UnknownNameError

G20 = ["AR", "AU", "BR", "CA", "CN", "FR", "DE", "IN", "ID", "IT", "JP", "KR", "MX", "RU"]
G20 += ["SA", "ZA", "TR", "GB", "US"]
EU = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "GR", "HU", "IE", "LV", "LT"]
EU += ["LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "DE", "FR", "IT"]
OTHER_OECD = ["CL", "CO", "CR", "IS", "IL", "NZ", "NO", "CH"]
G20_EU_OECD = G20 + EU + OTHER_OECD


@pytest.fixture(scope="module")
def table():
    return load_regions()


# -- the table -------------------------------------------------------------------------
def test_world_row_present(table):
    world = table[WORLD_CODE]
    assert world.kind == "world"
    assert 300 < world.intensity_g_per_kwh < 600


def test_every_row_has_source_year_and_positive_intensity(table):
    for key, r in table.items():
        assert key == r.code.lower()
        assert r.kind in KINDS, r
        assert r.source.strip(), r
        assert r.name.strip(), r
        assert 2020 <= r.year <= 2025, r
        assert math.isfinite(r.intensity_g_per_kwh) and r.intensity_g_per_kwh > 0, r
        # No plausible grid averages 2 kgCO2e/kWh; catches kg/lb unit slips.
        assert r.intensity_g_per_kwh < 2000, r


def test_country_coverage(table):
    countries = {r.code for r in table.values() if r.kind == "country"}
    assert len(countries) >= 150
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in countries)
    missing = [c for c in G20_EU_OECD if c not in countries]
    assert not missing


def test_subnational_coverage(table):
    codes = {r.code for r in table.values() if r.kind == "subregion"}
    assert {"US-CAMX", "US-SRVC", "US-NWPP", "US-ERCT", "US-NYUP"} <= codes
    assert {
        f"CA-{p}" for p in ["AB", "BC", "MB", "NB", "NL", "NS", "ON", "PE", "QC", "SK"]
    } <= codes
    assert {f"AU-{s}" for s in ["NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT"]} <= codes


def test_cloud_rows_point_at_known_grids_with_a_pue(table):
    clouds = [r for r in table.values() if r.kind == "cloud"]
    for provider in ("aws", "gcp", "azure"):
        assert sum(r.code.startswith(provider + ":") for r in clouds) >= 25, provider
    for r in clouds:
        assert r.grid is not None and r.grid.lower() in table, r
        assert table[r.grid.lower()].kind in ("country", "subregion"), r
        assert r.pue is not None and r.pue >= 1.0, r
        if not r.code.startswith("gcp:"):  # Google publishes its own per-region figure
            assert r.intensity_g_per_kwh == table[r.grid.lower()].intensity_g_per_kwh, r
    assert not [r for r in table.values() if r.kind != "cloud" and (r.grid or r.pue)]


def test_known_values_spot_checks(table):
    # Cross-checked against the published sources listed in docs/carbon.md.
    assert table["fr"].intensity_g_per_kwh == pytest.approx(44.18)
    assert table["world"].intensity_g_per_kwh == pytest.approx(473.05)
    assert table["au-nsw"].intensity_g_per_kwh == pytest.approx(660.0)
    # eGRID2022 CAMX: 497.443 lb CO2 + 28*0.030 CH4 + 265*0.004 N2O per MWh.
    assert table["us-camx"].intensity_g_per_kwh == pytest.approx(499.343 * 0.453592, abs=0.06)
    assert table["gcp:europe-north1"].intensity_g_per_kwh == pytest.approx(39.32)
    assert table["aws:us-east-1"].grid == "US-SRVC"


def test_load_regions_returns_a_fresh_dict(table):
    table2 = load_regions()
    table2.pop("fr")
    assert "fr" in load_regions()


# -- lookup ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("FR", "FR"),
        ("fr", "FR"),
        (" Fr ", "FR"),
        ("aws:eu-west-1", "aws:eu-west-1"),
        ("AWS:EU-WEST-1", "aws:eu-west-1"),
        ("us-camx", "US-CAMX"),
        ("World", "world"),
        ("azure:westeurope", "azure:westeurope"),
        ("gcp:europe-north1", "gcp:europe-north1"),
    ],
)
def test_lookup_is_case_insensitive(given, code):
    assert lookup_region(given).code == code


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("FRA", "'FR'"),
        ("aws:eu-west-9", "'aws:eu-west-1'"),
        ("US-CA", "'US-CAMX'"),
        ("germany", "'DE'"),
        ("gcp:europe-west99", "'gcp:europe-west9'"),
    ],
)
def test_unknown_region_suggests_close_codes(given, suggested):
    with pytest.raises(UnknownNameError) as exc:
        lookup_region(given)
    msg = str(exc.value)
    assert msg.startswith(f"Unknown region {given!r}.")
    assert "Did you mean" in msg and suggested in msg
    assert msg.endswith("List regions with: frugal regions QUERY")
    assert isinstance(exc.value, InputError) and isinstance(exc.value, KeyError)


def test_unknown_region_without_close_match_still_says_what_to_do():
    with pytest.raises(UnknownNameError, match=r"^Unknown region 'qq'\. List regions with"):
        lookup_region("qq")


def test_search_regions():
    codes = [r.code for r in search_regions("sweden")]
    assert codes == ["SE", "azure:swedencentral"]
    assert [r.code for r in search_regions("EU-WEST-1")] == ["aws:eu-west-1"]
    assert len(search_regions()) == len(load_regions())
    assert len(search_regions("")) == len(load_regions())
    assert search_regions("no such place") == []
    clouds = search_regions("aws:", kind="cloud")
    assert clouds and all(r.code.startswith("aws:") for r in clouds)
    kinds = [r.kind for r in search_regions()]
    assert kinds == sorted(kinds, key=KINDS.index)  # world, countries, subregions, clouds
    with pytest.raises(ConfigError, match="kind"):
        search_regions(kind="planet")


# -- region resolution -----------------------------------------------------------------
def test_resolve_region_precedence():
    env = {"FRUGAL_REGION": "SE"}
    config = {"region": "DE"}
    assert resolve_region("FR", env=env, config=config)[0].code == "FR"
    assert resolve_region("FR", env=env, config=config)[1] == "argument"
    assert resolve_region(None, env=env, config=config) == (lookup_region("SE"), "FRUGAL_REGION")
    assert resolve_region(None, env={}, config=config) == (lookup_region("DE"), "config file")
    assert resolve_region("", env={"FRUGAL_REGION": " "}, config={"region": ""}) == (
        lookup_region("world"),
        "default (world average: no region configured)",
    )


def test_resolve_region_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("FRUGAL_REGION", "aws:eu-west-3")
    assert resolve_region()[0].code == "aws:eu-west-3"
    monkeypatch.delenv("FRUGAL_REGION")
    assert resolve_region()[0].code == "world"


def test_resolve_region_unknown_names_its_origin():
    with pytest.raises(UnknownNameError, match=r"'xx' \(from FRUGAL_REGION\)"):
        resolve_region(env={"FRUGAL_REGION": "xx"})
    with pytest.raises(UnknownNameError, match=r"'FRA' \(from config file\)\. Did you mean 'FR'"):
        resolve_region(env={}, config={"region": "FRA"})
    with pytest.raises(UnknownNameError, match=r"\(from --region\)"):
        resolve_region("atlantis", env={})
    with pytest.raises(ConfigError, match="config file's 'region'"):
        resolve_region(env={}, config={"region": 33})


# -- PUE -------------------------------------------------------------------------------
def test_pue_defaults():
    assert resolve_pue(None, lookup_region("FR")) == (
        1.0,
        "personal machine (no data-centre overhead)",
    )
    assert resolve_pue(None, lookup_region("world"))[0] == 1.0
    pue, source = resolve_pue(None, lookup_region("aws:eu-west-1"))
    assert pue == 1.15 and "aws:eu-west-1" in source and "AWS" in source
    assert resolve_pue(None, lookup_region("gcp:europe-west1"))[0] == 1.09
    assert resolve_pue(None, lookup_region("azure:westeurope"))[0] == 1.18


@pytest.mark.parametrize("word", ["datacenter", "data-centre", "Datacentre", "DC", "data center"])
def test_pue_datacenter_word(word):
    pue, source = resolve_pue(word, lookup_region("FR"))
    assert pue == DATACENTER_PUE == 1.59
    assert "Uptime Institute" in source


@pytest.mark.parametrize(
    ("given", "expected"), [(1, 1.0), (1.3, 1.3), ("1.25", 1.25), (" 2 ", 2.0)]
)
def test_pue_numbers(given, expected):
    # An explicit number wins over the provider's figure.
    assert resolve_pue(given, lookup_region("aws:eu-west-1")) == (expected, "given by the user")


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (-1, "-1"),
        ("-1", "-1"),
        (0.5, "0.5"),
        (math.nan, "nan"),
        ("inf", "inf"),
        ("fast", "fast"),
        (True, "True"),
    ],
)
def test_bad_pue_is_one_line_naming_value_and_fix(given, shown):
    with pytest.raises(ConfigError) as exc:
        resolve_pue(given, lookup_region("FR"))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(
        "PUE must be a number >= 1.0 (1.0 = no overhead, 1.59 = average data centre)"
    )
    assert msg.endswith(f"Got {shown} instead.")


# -- arithmetic ------------------------------------------------------------------------
def test_co2e_arithmetic():
    assert co2e_g(3.6e6, 100.0, 1.5) == pytest.approx(150.0)  # 1 kWh, 100 g/kWh, PUE 1.5
    assert co2e_g(0.0, 500.0, 1.2) == 0.0
    assert co2e_g(1800.0, 400.0, 1.0) == pytest.approx(0.2)  # 0.5 Wh at 400 g/kWh
