"""The bench figures ``frugal advise`` ships are what the committed benchmark results say."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_table_matches_the_committed_results() -> None:
    spec = importlib.util.spec_from_file_location(
        "advise_table", ROOT / "benchmarks" / "advise_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = json.loads((ROOT / "src/frugalml/advise/data/bench_savings.json").read_text())
    assert shipped == json.loads(json.dumps(module.build())), (
        "benchmarks/results changed: regenerate the table with "
        "python benchmarks/advise_table.py and commit it"
    )
    assert all(
        r["seeds"] >= 1 and r["source"].startswith("benchmarks/results/") for r in shipped["rows"]
    )
