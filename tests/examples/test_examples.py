"""The scripts in examples/ run, at small size, as a user would run them."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, "--quick"])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_compress_your_cnn(capsys, monkeypatch):
    out = run("compress_your_cnn.py", capsys, monkeypatch)
    for row in ("your CNN", "magnitude-prune", "int8-static", "distill + int8-static"):
        assert row in out
    assert "packed int8" in out


def test_early_stop_your_loop(capsys, monkeypatch):
    out = run("early_stop_your_loop.py", capsys, monkeypatch)
    assert "energy-aware stop" in out and "full schedule" in out and "saved" in out


def test_transfer_from_your_base(capsys, monkeypatch):
    out = run("transfer_from_your_base.py", capsys, monkeypatch)
    assert "transfer (frozen, layer" in out and "from scratch" in out


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_is_tested_here(name):
    assert name in Path(__file__).read_text(), f"examples/{name} has no test"
