"""Bench rows and ``results.json``: every key in every row, ratios against the baseline.

Numbers are means over repeats, with ``*_std`` beside them; a failed row keeps every key (null
where nothing was measured) and says why in ``reason``. A recipe's row keeps each step's
figures (means over repeats) and ``report()`` in ``steps``. The verdict keys are filled by the
harness once the task's rows are known (:mod:`frugalml.bench.verdict`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from frugalml.errors import InputError

__all__ = ["ROW_KEYS", "SCHEMA", "finish_row", "load_results", "write_results"]

SCHEMA = "frugalml.bench/1"
ROW_KEYS = (
    "name",
    "status",
    "reason",
    "verdict",
    "verdict_purpose",
    "verdict_reason",
    "verdicts",
    "kind",
    "config",
    "accuracy",
    "accuracy_std",
    "accuracy_values",
    "train_energy_j",
    "train_energy_j_std",
    "train_energy_j_total",
    "train_energy_includes",
    "train_energy_j_components",
    "train_time_s",
    "infer_energy_j_per_1k",
    "infer_energy_j_per_1k_components",
    "latency_ms",
    "params",
    "params_nonzero",
    "size_bytes",
    "macs",
    "flops",
    "flops_effective",
    "energy_method",
    "device",
    "co2e_g",
    "run_ids",
    "ratios",
    "extra",
    "steps",
    "curve",
)
MEASURED = (
    "params",
    "params_nonzero",
    "size_bytes",
    "macs",
    "flops",
    "flops_effective",
    "infer_energy_j_per_1k",
    "infer_energy_j_per_1k_components",
    "device",
)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)


def finish_row(
    name: str,
    repeats: list[dict[str, Any]],
    baseline: dict[str, Any] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Aggregate the per-repeat measurements of one row into the results row."""
    ok = [r for r in repeats if "failed" not in r]
    failed = [r["failed"] for r in repeats if "failed" in r]
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row.update(
        name=name,
        status="ok" if ok and not failed else "failed",
        reason=failed[0] if failed else None,
        config=ok[0].get("config", params) if ok else params,
        kind=ok[0].get("kind", "baseline") if ok else None,
        extra=ok[0].get("extra", {}) if ok else {},
        run_ids=[i for r in ok for i in r["run_ids"]],
        ratios={},
        steps=_steps([r.get("steps") or [] for r in ok])
        if ok
        else (repeats[0].get("steps") or None),
    )
    if not ok:
        return row
    acc = [r["accuracy"] for r in ok]
    energy = [r["train_energy_j"] for r in ok]
    row.update(
        accuracy=_mean(acc),
        accuracy_std=_std(acc),
        accuracy_values=acc,
        train_energy_j=_mean(energy),
        train_energy_j_std=_std(energy),
        train_time_s=_mean([r["train_time_s"] for r in ok]),
        co2e_g=_mean([r["co2e_g"] for r in ok]),
        energy_method=ok[0]["energy_method"],
        train_energy_j_components=_mean_dict([r.get("train_energy_j_components") for r in ok]),
    )
    first = ok[0]
    for key in (*MEASURED, "latency_ms"):
        row[key] = first.get(key)
    if first.get("infer_run_id"):
        row["run_ids"].append(first["infer_run_id"])
    row["curve"] = first.get("curve")
    if baseline is None:
        row["extra"] = {**row["extra"], **energy_to_fraction(row["curve"], row["accuracy"])}
        row.update(
            kind="baseline",
            train_energy_j_total=row["train_energy_j"],
            train_energy_includes="training the baseline from scratch",
        )
    elif row["kind"] == "compress":
        row.update(
            train_energy_j_total=row["train_energy_j"] + (baseline["train_energy_j"] or 0.0),
            train_energy_includes="train_energy_j: the technique's own work on the trained baseline "
            "(fine-tuning, calibration, student training); train_energy_j_total adds the baseline's "
            "training, shared by every compression technique of the task",
        )
    else:
        row.update(
            train_energy_j_total=row["train_energy_j"],
            train_energy_includes="training from scratch with the technique",
        )
    if len(row["steps"] or []) > 1:
        names = " + ".join(s["name"] for s in row["steps"])
        start = (
            "on the trained baseline; train_energy_j_total adds the baseline's training"
            if row["kind"] == "compress"
            else "from scratch"
        )
        row["train_energy_includes"] = f"every step of the recipe summed ({names}), {start}"
    row["ratios"] = ratios(row, baseline or row)
    return row


def _mean_dict(values: list[dict[str, float] | None]) -> dict[str, float] | None:
    present = [v for v in values if v]
    if not present:
        return None
    return {k: statistics.fmean(v.get(k, 0.0) for v in present) for k in present[0]}


def _steps(per_repeat: list[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """A recipe's steps: the first repeat's, with energy, time and accuracy averaged."""
    if not per_repeat or not per_repeat[0]:
        return None
    out = []
    for i, first in enumerate(per_repeat[0]):
        same = [steps[i] for steps in per_repeat if len(steps) > i]
        step = dict(first)
        for key in ("train_energy_j", "train_time_s", "accuracy", "co2e_g"):
            step[key] = _mean([s[key] for s in same])
        step["train_energy_j_components"] = _mean_dict(
            [s.get("train_energy_j_components") for s in same]
        )
        out.append(step)
    return out


def energy_to_fraction(
    curve: list[list[float]] | None,
    final: float | None,
    fractions: tuple[float, ...] = (0.95, 0.99, 1.0),
) -> dict[str, float | None]:
    """Cumulative energy at which the curve first reached each fraction of ``final`` accuracy."""
    out: dict[str, float | None] = {}
    for f in fractions:
        key = f"energy_to_{round(f * 100)}pct_of_final_j"
        out[key] = None
        if curve and final is not None:
            out[key] = next((e for e, acc, *_ in curve if acc >= f * final), None)
    return out


def ratios(row: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """Technique / baseline for every cost; accuracy as a difference in points."""

    def ratio(a: Any, b: Any) -> float | None:
        if a is None or b is None or not b or (isinstance(b, float) and math.isnan(b)):
            return None
        return a / b

    out: dict[str, float | None] = {
        "accuracy_delta_pt": None
        if row["accuracy"] is None or base["accuracy"] is None
        else (row["accuracy"] - base["accuracy"]) * 100,
        "train_energy": ratio(row["train_energy_j"], base["train_energy_j"]),
        "train_energy_total": ratio(row["train_energy_j_total"], base["train_energy_j"]),
        "train_time": ratio(row["train_time_s"], base["train_time_s"]),
        "infer_energy_per_1k": ratio(row["infer_energy_j_per_1k"], base["infer_energy_j_per_1k"]),
    }
    lat, blat = row.get("latency_ms") or {}, base.get("latency_ms") or {}
    for key in lat:
        out[f"latency_{key}"] = ratio(lat.get(key), blat.get(key))
    for key in ("params", "params_nonzero", "size_bytes", "macs", "flops_effective"):
        out[key] = ratio(row[key], base[key])
    return out


def write_results(out_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write ``out_dir/results.json`` atomically."""
    from frugalml.measure.sinks import write_json_atomic

    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path / "results.json", results)
    return path / "results.json"


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the one in a folder), checking its schema."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(
            f"No bench results at {p}. Run `frugal bench --out {p.parent}` first."
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"Cannot read bench results {p}: {e}. Re-run `frugal bench`.") from e
    if data.get("schema") != SCHEMA:
        raise InputError(
            f"{p} is not a frugalml bench results file (schema {data.get('schema')!r})."
        )
    return data
