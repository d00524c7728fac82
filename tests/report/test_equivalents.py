from __future__ import annotations

import pytest

from frugalml.report.context import carbon_context
from frugalml.report.equivalents import EQUIVALENTS, equivalents


def test_every_equivalent_has_a_source_and_basis():
    for f in EQUIVALENTS:
        assert f.source and f.basis in ("energy", "co2e") and f.per_unit > 0


def test_equivalent_amounts():
    by = {e.unit: e for e in equivalents(3.6e6, 248.5)}  # 1 kWh, 248.5 g
    assert by["km"].amount == pytest.approx(248.5 / (400 / 1.609344))
    assert by["kettles"].amount == pytest.approx(3.6e6 / (4186 * 80))
    assert by["hours"].amount == pytest.approx(1 / 0.06)


def test_carbon_context_rows():
    ctx = carbon_context(3.6e6, 1.5, "FR", 66.0)
    groups = [r.group for r in ctx.regions]
    assert groups == ["yours"] + ["lowest"] * 5 + ["highest"] * 5
    lows = [r.intensity_g_per_kwh for r in ctx.regions if r.group == "lowest"]
    highs = [r.intensity_g_per_kwh for r in ctx.regions if r.group == "highest"]
    assert lows == sorted(lows) and highs == sorted(highs, reverse=True) and max(lows) < min(highs)
    fr = ctx.regions[0]
    assert fr.code == "FR" and fr.co2e_g == pytest.approx(1.5 * fr.intensity_g_per_kwh)
    assert ctx.figure is not None and len(ctx.figure.bars) == 11


def test_unknown_region_is_noted():
    ctx = carbon_context(1.0, 1.0, "atlantis", 0.0)
    assert ctx.notes and ctx.regions[0].group == "lowest"
