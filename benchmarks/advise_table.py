"""Distil the committed benchmark results into the table ``frugal advise`` ships.

``frugal advise --model`` names, for each technique that fits a model's structure, what the bench
measured on the closest bench task. An installed frugalml has no ``benchmarks/`` folder, so the
figures travel in ``src/frugalml/advise/data/bench_savings.json``, generated here from
``benchmarks/results/training.json`` (``benchmarks/training.py``) and
``benchmarks/results/compression.json`` (``benchmarks/compression.py``). A test checks that the
shipped table is what this script makes of the committed results; rerun it after rerunning
either benchmark:

    .venv/bin/python benchmarks/advise_table.py

Every figure is a mean over the benchmark's seeds; ``ratio`` is technique / baseline of what
``ratio_of`` names (training energy, inference energy, or batch-256 latency where the benchmark
measured no energy) and ``accuracy_delta_pt`` is test accuracy in points against the baseline.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "src" / "frugalml" / "advise" / "data" / "bench_savings.json"
TRAINING = "benchmarks/results/training.json"
COMPRESSION = "benchmarks/results/compression.json"

# Tasks of the training.json sections whose rows do not name one (benchmarks/training.py runs
# early-exit and the block techniques on digits-cnn, the softmax techniques on zipf-10k, active
# learning on digits-mlp and transfer from digits 0-4 to 5-9).
SECTION_TASK = {
    "early_exit": "digits-cnn",
    "blocks": "digits-cnn",
    "softmax": "zipf-10k",
    "active": "digits-mlp",
    "transfer": "digits-5to9-mlp",
}
# compression.json rows that are a variant of a registered technique: the default's row
DEFAULT_VARIANT = {"binary-connect (deterministic)": "binary-connect"}


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def _row(
    technique: str,
    task: str,
    rows: list[dict[str, Any]],
    ratio: Callable[[dict[str, Any]], float | None],
    delta: Callable[[dict[str, Any]], float | None],
    ratio_of: str,
    source: str,
    detail: str = "",
) -> dict[str, Any]:
    r, d = _mean(ratio(x) for x in rows), _mean(delta(x) for x in rows)
    return {
        "technique": technique,
        "task": task,
        "ratio": None if r is None else round(r, 4),
        "ratio_of": ratio_of,
        "accuracy_delta_pt": None if d is None else round(d, 2),
        "seeds": len(rows),
        "source": source,
        "detail": detail,
    }


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


def training_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the training-side techniques, from training.json."""
    out = []
    for task, rows in _by(d["early_stop"]["rows"], "task").items():
        out.append(
            _row(
                "early-stop-energy", task, rows,
                lambda x: x["train_loss"]["energy_j"] / x["baseline_energy_j"],
                lambda x: x["train_loss"]["delta_pt"], "training energy", TRAINING,
                "monitor train_loss (the default)",
            )
        )  # fmt: skip
    for task, rows in _by(d["progressive"]["rows"], "task").items():
        out.append(
            _row(
                "progressive", task, rows, lambda x: x["energy_ratio"], lambda x: x["delta_pt"],
                "training energy", TRAINING,
            )
        )  # fmt: skip
    transfer = d["transfer"]["rows"]
    with_base = _mean(x["frozen"]["ratio_with_base"] for x in transfer)
    out.append(
        _row(
            "transfer", SECTION_TASK["transfer"], transfer,
            lambda x: x["frozen"]["ratio_excl_base"], lambda x: x["frozen"]["delta_pt"],
            "training energy", TRAINING,
            f"frozen features, excluding the source model's training ({with_base:.2f}x with it)",
        )
    )  # fmt: skip
    exits = d["early_exit"]["rows"]
    macs = _mean(x["macs_reduction"] for x in exits)
    train = _mean(x["train_energy_j"] / x["baseline_train_energy_j"] for x in exits)
    out.append(
        _row(
            "early-exit", SECTION_TASK["early_exit"], exits,
            lambda x: x["infer_energy_j_per_1k"] / x["baseline_infer_energy_j_per_1k"],
            lambda x: x["delta_pt"], "inference energy", TRAINING,
            f"mean MACs per inference {1 / macs:.2f}x; training energy {train:.2f}x",
        )
    )  # fmt: skip
    for name, rows in _by(d["blocks"]["rows"], "technique").items():
        macs = _mean(x["macs_reduction"] for x in rows)
        out.append(
            _row(
                name, SECTION_TASK["blocks"], rows, lambda x: x["energy_ratio"],
                lambda x: x["delta_pt"], "training energy", TRAINING,
                f"MACs per inference {1 / macs:.2f}x",
            )
        )  # fmt: skip
    soft = d["softmax"]["rows"]
    for name in ("adaptive-softmax", "hierarchical-softmax"):
        out.append(
            _row(
                name, SECTION_TASK["softmax"], soft, lambda x, n=name: x[n]["energy_ratio"],
                lambda x, n=name: x[n]["delta_pt"], "training energy", TRAINING,
            )
        )  # fmt: skip
    strategy = d["active"]["params"]["strategy"]
    active = [x for x in d["active"]["rows"] if x["strategy"] == strategy]
    to_1pt = _mean(x["energy_to_within_1pt_ratio"] for x in active)
    out.append(
        _row(
            "active-learning", SECTION_TASK["active"], active,
            lambda x: x["energy_j"] / x["baseline_energy_j"],
            lambda x: 100 * (x["accuracy"] - x["baseline_accuracy"]), "training energy", TRAINING,
            f"strategy {strategy}, up to {d['active']['params']['max_labels']:.0%} of the labels"
            + ("" if to_1pt is None else f"; within 1 pt of full-data accuracy at {to_1pt:.2f}x"),
        )
    )  # fmt: skip
    return out


def compression_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the compression techniques, from compression.json (latency, no energy)."""
    out = []
    for row in d["rows"]:
        name = DEFAULT_VARIANT.get(row["technique"], row["technique"])
        if name == "baseline" or "(" in name:
            continue
        out.append(
            _row(
                name, row["task"], [row], lambda x: 1 / x["speedup"] if x["speedup"] else None,
                lambda x: x["accuracy_delta_pt"], "latency (batch 256)", COMPRESSION,
                f"saved size {row['size_ratio']:.2f}x"
                + (
                    f"; non-zero parameters {1 / row['nonzero_reduction']:.2f}x"
                    if row.get("nonzero_reduction")
                    else ""
                ),
            )
        )  # fmt: skip
        out[-1]["seeds"] = len(row.get("accuracy_by_seed", [])) or 1
    return out


def build() -> dict[str, Any]:
    training = json.loads((RESULTS / "training.json").read_text())
    compression = json.loads((RESULTS / "compression.json").read_text())
    return {
        "generated_by": "python benchmarks/advise_table.py",
        "sources": {
            TRAINING: {"benchmark": "benchmarks/training.py", "machine": training["machine"]},
            COMPRESSION: {
                "benchmark": "benchmarks/compression.py",
                "machine": compression["machine"],
            },
        },
        "rows": training_rows(training) + compression_rows(compression),
    }


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
