"""Where: every grid ranked, three scopes, arithmetic against the carbon table."""

from __future__ import annotations

import pytest

from frugalml.advise.where import advise_where, rank_regions
from frugalml.carbon import co2e_g, load_regions, lookup_region


def test_ranking_covers_every_region_but_the_world_and_is_sorted() -> None:
    ranked = rank_regions(3.6e6, 1.3)
    assert len(ranked) == len(load_regions()) - 1
    assert all(r.code != "world" for r, _, _ in ranked)
    grams = [g for _, _, g in ranked]
    assert grams == sorted(grams)
    for region, pue, g in ranked:
        expected_pue = region.pue if region.kind == "cloud" else 1.3
        assert pue == expected_pue
        assert g == pytest.approx(co2e_g(3.6e6, region.intensity_g_per_kwh, expected_pue))


def test_cloud_run_gets_three_scopes_with_ratios_against_where_it_ran() -> None:
    here = lookup_region("aws:us-east-1")
    energy = 7.2e6
    options = advise_where(
        energy, here.code, pue=1.15, intensity_g_per_kwh=here.intensity_g_per_kwh, top=2
    )
    by_scope: dict[str, list] = {}
    for o in options:
        by_scope.setdefault(o.scope, []).append(o)
    assert set(by_scope) == {"overall", "same-provider", "same-country"}
    assert all(len(v) == 2 for v in by_scope.values())
    assert all(o.region.startswith("aws:") and o.pue == 1.15 for o in by_scope["same-provider"])
    assert all(lookup_region(o.region).kind == "subregion" for o in by_scope["same-country"])
    assert all(o.region.startswith("US-") for o in by_scope["same-country"])
    here_g = co2e_g(energy, here.intensity_g_per_kwh, 1.15)
    for o in options:
        assert o.co2e_g == pytest.approx(co2e_g(energy, o.intensity_g_per_kwh, o.pue))
        assert o.ratio == pytest.approx(o.co2e_g / here_g)
        assert "kWh" in o.basis and str(lookup_region(o.region).year) in o.basis
    assert [o.co2e_g for o in options] == sorted(o.co2e_g for o in options)
    overall_best = min(g for _, _, g in rank_regions(energy, 1.15))
    assert by_scope["overall"][0].co2e_g == pytest.approx(overall_best)


def test_country_without_subregions_and_unknown_region() -> None:
    fr = advise_where(1e6, "FR", pue=1.0, intensity_g_per_kwh=44.18)
    assert {o.scope for o in fr} == {"overall"}
    world = advise_where(1e6, "world", pue=1.0, intensity_g_per_kwh=473.05)
    assert {o.scope for o in world} == {"overall"}
    zero = advise_where(0.0, "FR", pue=1.0, intensity_g_per_kwh=44.18)
    assert all(o.ratio is None and o.co2e_g == 0 for o in zero)
