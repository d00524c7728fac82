from __future__ import annotations

import json

from frugalml.report import build_report
from frugalml.report.modelcard import hardware_line

from .conftest import add_run


def _parse(yaml_text: str) -> dict:
    """The block is flat `key: scalar` lines whose scalars are JSON (valid YAML) values."""
    lines = yaml_text.splitlines()
    assert lines[0] == "co2_eq_emissions:"
    out = {}
    for line in lines[1:]:
        key, _, value = line.strip().partition(": ")
        out[key] = json.loads(value)
    return out


def test_model_card_block(store):
    add_run(store, "m1", 'name "with" quotes', region="FR", intensity=44.18)
    card = build_report(store=store, training_type="fine-tuning").model_card
    fields = _parse(card.yaml)
    assert set(fields) == {
        "emissions",
        "source",
        "training_type",
        "geographical_location",
        "hardware_used",
    }
    assert (
        fields["emissions"] == round(220 / 3.6e6 * 44.18, 8)
        or abs(fields["emissions"] - 220 / 3.6e6 * 44.18) < 1e-6
    )
    assert fields["training_type"] == "fine-tuning" and fields["geographical_location"] == "France"
    assert fields["source"].startswith("frugalml ") and "modelled" in fields["source"]
    assert fields["hardware_used"] == "Test CPU 3000 (8 threads), 16 GiB RAM"


def test_energy_statement_has_every_figure(store):
    add_run(store, "m2", "x", duration_s=3600, region="FR", intensity=44.18, pue=1.2)
    text = build_report(store=store).statement
    for needle in (
        "1 h 0 min",
        "Test CPU 3000",
        "0.0220 kWh",
        "±40 %",
        "PUE",
        "1.20",
        "France",
        "44.2 gCO2e/kWh",
        "CO2e",
        "modelled",
        "FPO",
    ):
        assert needle in text, needle


def test_hardware_line_with_gpus():
    hw = {
        "cpu_model": "X",
        "cpu_threads": 4,
        "ram_bytes": 8 * 2**30,
        "gpus": [{"name": "NVIDIA H100"}, {"name": "NVIDIA H100"}],
    }
    assert hardware_line(hw) == "X (4 threads), 8 GiB RAM, 2 × NVIDIA H100"
    assert hardware_line({}) == "hardware not recorded"
