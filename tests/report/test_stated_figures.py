"""What a reader reads matches its own arithmetic: the intensity actually used (time series),
several regions and PUEs, old runs with non-finite figures, and text that cannot attack the
reader's terminal."""

from __future__ import annotations

import json
import math
import re

import pytest

from frugalml.cli.summary import carbon_lines
from frugalml.measure.tracker import Tracker
from frugalml.report import build_report, render_html, render_json, render_markdown
from frugalml.testing import ConstantPowerSensor

from .conftest import T0, add_run

EVIL = "ev\x1b]0;owned\x07il\x1b[2J\u202etxt.exe"


@pytest.fixture
def series_run(tmp_path):
    """A run in France (annual 44.18 g/kWh) charged on a time series of 1000 g/kWh."""
    csv = tmp_path / "grid.csv"
    csv.write_text("timestamp,g_per_kwh\n2020-01-01T00:00:00Z,1000\n")
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    with Tracker(
        "series",
        sensors=[ConstantPowerSensor(50.0, "cpu")],
        db=url,
        region="FR",
        intensity_csv=csv,
        interval_s=0.05,
        out_dir=tmp_path / "out",
        handle_signals=False,
    ):
        pass
    return url, json.loads((tmp_path / "out" / "run.json").read_text())


def test_run_json_states_the_intensity_actually_used(series_run):
    _, data = series_run
    kwh = data["energy_j"]["total"] / 3.6e6
    assert data["intensity_g_per_kwh"] == pytest.approx(1000.0)
    assert data["co2e_g"] == pytest.approx(kwh * data["pue"] * data["intensity_g_per_kwh"])
    assert data["intensity_time_varying"] is True
    assert data["intensity_file"].endswith("grid.csv")
    assert data["intensity_annual_g_per_kwh"] == pytest.approx(44.18)
    # no annual-average grid-factor uncertainty when a time series was used
    assert data["uncertainty"]["co2e"] == pytest.approx(data["uncertainty"]["total"], abs=1e-4)


def test_console_formula_multiplies_out_to_its_result(series_run):
    _, data = series_run
    formula = carbon_lines(data)[0]
    assert "× 1000 g/kWh (energy-weighted mean over the run of the time series in grid.csv" in (
        formula
    )
    assert "FR annual average 44.18 g/kWh, for comparison" in formula
    m = re.search(r"= ([\d.e+-]+) kWh × PUE ([\d.]+) × ([\d.]+) g/kWh", formula)
    assert m is not None
    product = math.prod(float(x) for x in m.groups())
    assert product == pytest.approx(data["co2e_g"], rel=5e-3)  # 3 significant digits printed


def test_report_and_paper_statement_state_the_series(series_run):
    url, _ = series_run
    report = build_report(store=url)
    s = report.summary
    assert s.intensity_g_per_kwh == pytest.approx(1000.0)
    assert s.intensity_basis == "time series"
    assert "grid.csv" in s.intensity_source
    assert "1,000 gCO2e/kWh" in report.statement and "grid.csv" in report.statement
    assert "annual average, 44.2 gCO2e/kWh, for comparison only" in report.statement
    assert "annual-average grid factor" not in report.statement
    html = render_html(report)
    assert "no annual-average grid-factor uncertainty is added" in html
    assert "CO2e adds the uncertainty of an annual-average grid factor" not in html


def test_mixed_regions_and_pues_are_listed_never_n_a(store):
    add_run(store, "aaaa", "fr", region="FR", intensity=44.18, power_w={"cpu": 30.0})
    add_run(store, "bbbb", "de", started_at=T0 + 50, region="DE", intensity=344.14, pue=1.15)
    report = build_report(store=store)
    card = report.model_card
    assert card is not None
    location = card.co2_eq_emissions["geographical_location"]
    assert location == (
        "mixed: France (FR; 58 % of the energy; 44.2 gCO2e/kWh), DE (DE; 42 %; 344 gCO2e/kWh)"
    )
    statement = report.statement
    assert "n/a" not in statement and "n/a" not in card.yaml
    assert (
        "France (FR; 58 % of the energy; 44.2 gCO2e/kWh), DE (DE; 42 %; 344 gCO2e/kWh)" in statement
    )
    assert "PUE) of 1.00 (58 %), 1.15 (42 %)" in statement
    # the stated mean is the CO2e over the facility energy
    s = report.summary
    assert s.intensity_g_per_kwh == pytest.approx(s.co2e_g / (s.facility_energy_j / 3.6e6))
    assert f"an energy-weighted mean of {s.intensity_g_per_kwh:.0f} gCO2e/kWh" in statement
    html = render_html(report)
    assert "n/a" not in html and "mixed: 2 regions" in html


def test_a_run_with_a_non_finite_energy_still_renders(store, tmp_path):
    add_run(store, "aaaa", "fine")
    add_run(store, "bbbb", "broken", started_at=T0 + 50, power_w={"cpu": math.inf, "dram": 1.0})
    report = build_report(store=store)
    assert math.isfinite(report.summary.energy_j) and math.isfinite(report.summary.co2e_g)
    assert any("non-finite" in n and "broken" in n for n in report.summary.notes)
    html = render_html(report)
    assert "non-finite" in html
    json.loads(render_json(report))
    assert "non-finite" in render_markdown(report, tmp_path / "files", "files")


def test_control_sequences_never_reach_a_report(store, tmp_path):
    add_run(store, "aaaa", EVIL, metrics=[(EVIL, 0.5, 2.0), ("accuracy", 0.9, 5.0)])
    report = build_report(store=store)
    outputs = {
        "html": render_html(report),
        "md": render_markdown(report, tmp_path / "files", "files"),
        "json": render_json(report),
    }
    for what, text in outputs.items():
        for raw in ("\x1b", "\x07", "\u202e"):
            assert raw not in text, (what, raw)
    assert r"ev\x1b]0;owned\x07il\x1b[2J\u202etxt.exe" in outputs["html"]
    # Markdown escapes the backslash itself, so the reader sees \x1b
    assert r"ev\\x1b\]0;owned\\x07il\\x1b\[2J\\u202etxt.exe" in outputs["md"]
    # JSON keeps the value itself (escaped as JSON does), for machines
    assert json.loads(outputs["json"])["runs"][0]["name"] == EVIL
