"""Bench results for the console: one Rich table per task (every figure with its unit and
ratio, each row's verdict) followed by why the rows that do not win do not and the task's
best row per purpose; or one TSV row per task and technique.

Names and failure reasons are shown literally (no Rich markup, controls made visible).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from frugalml import _fmt as fmt

__all__ = ["TSV_COLUMNS", "task_notes", "task_table", "tsv_rows"]

TSV_COLUMNS = (
    "task",
    "row",
    "status",
    "accuracy",
    "accuracy_delta_pt",
    "train_energy_j",
    "train_energy_ratio",
    "infer_energy_j_per_1k",
    "infer_energy_ratio",
    "latency_ms",
    "params_nonzero",
    "size_bytes",
    "macs",
    "energy_method",
    "device",
    "verdict",
    "verdict_purpose",
    "verdict_reason",
    "reason",
)

#: short names of the purposes, for the table's verdict column
_SHORT = {"inference-energy": "inference", "training-energy": "training"}
_STYLE = {"win": "green", "no-gain": "yellow", "loss": "red"}


def _f(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _ratio(x: Any) -> str:
    return "" if x is None else f" ({x:.2g}x)"


def _rows(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in [task["baseline"], *task["techniques"].values()] if r is not None]


def task_table(name: str, task: dict[str, Any], config: dict[str, Any]) -> Any:
    """A Rich table for one task: baseline first, then each technique with ratios."""
    from rich.table import Table
    from rich.text import Text

    def cell(value: object, style: str = "") -> Text:
        return Text(fmt.safe(value), style=style)

    batch = config.get("latency_batch", 256)
    info = task["task"]
    tolerance = info.get("tolerance_pt")
    judged = (
        f"; verdicts at {tolerance:g} pt tolerance (one test sample = "
        f"{info.get('test_sample_pt', 100 / max(info['n_test'], 1)):.2g} pt)"
        if tolerance is not None
        else ""
    )
    t = Table(
        title=cell(
            f"{name} — {info['model']}; accuracy on the test split "
            f"({info['n_test']} samples), mean of {config['repeats']} repeat(s){judged}"
        ),
        title_justify="left",
        show_lines=False,
    )
    for col in (
        "row",
        "accuracy",
        "Δ pt",
        "train energy",
        "infer J/1k",
        f"latency b{batch}",
        "non-zero params",
        "size",
        "MACs",
        "verdict",
    ):
        t.add_column(col, justify="left" if col in ("row", "verdict") else "right")
    rows = _rows(task)
    for row in rows:
        if row["status"] != "ok":
            t.add_row(
                cell(row["name"]),
                cell("failed", "red"),
                "",
                cell(str(row["reason"])[:60]),
                "",
                "",
                "",
                "",
                "",
                _verdict_cell(row),
            )
            continue
        r = row["ratios"]
        lat = (row.get("latency_ms") or {}).get(f"batch_{batch}")
        t.add_row(
            cell(row["name"]),
            cell(f"{row['accuracy'] * 100:.2f} %"),
            cell(_f(r.get("accuracy_delta_pt"), "+.2f")),
            cell(f"{row['train_energy_j']:.3g} J{_ratio(r.get('train_energy'))}"),
            cell(
                f"{_f(row['infer_energy_j_per_1k'], '.3g')}{_ratio(r.get('infer_energy_per_1k'))}"
            ),
            cell(f"{_f(lat, '.3g')} ms{_ratio(r.get(f'latency_batch_{batch}'))}"),
            cell(f"{_f(row['params_nonzero'], ',')}{_ratio(r.get('params_nonzero'))}"),
            cell(f"{_f(row['size_bytes'], ',')} B{_ratio(r.get('size_bytes'))}"),
            cell(f"{_f(row['macs'], ',')}{_ratio(r.get('macs'))}"),
            _verdict_cell(row),
        )
    t.caption = cell(
        "train energy of compression rows is the technique's own (fine-tuning, calibration); "
        f"energy method {rows[0].get('energy_method') if rows else '-'}; ratios vs baseline"
    )
    return t


def _verdict_cell(row: dict[str, Any]) -> Any:
    from rich.text import Text

    verdict = row.get("verdict")
    if not verdict:
        return Text("reference" if row.get("name") == "baseline" else "")
    purpose = row.get("verdict_purpose") or ""
    return Text(
        fmt.safe(f"{verdict} ({_SHORT.get(purpose, purpose)})"), style=_STYLE.get(verdict, "")
    )


def task_notes(task: dict[str, Any]) -> list[str]:
    """The lines printed under a task's table: why each row that does not win does not, and
    the best winning row per purpose.

    Example:
        >>> task = {"baseline": {"name": "baseline", "status": "ok"}, "techniques": {
        ...     "fp16": {"name": "fp16", "status": "ok", "verdict": "loss",
        ...              "verdict_purpose": "inference-energy", "verdict_reason": "3x more"}},
        ...     "summary": ["best for size: fp16 (2x less, +0.00 pt)"]}
        >>> task_notes(task)
        ['fp16: loss at inference energy: 3x more', 'best for size: fp16 (2x less, +0.00 pt)']
    """
    lines = [
        f"{row['name']}: {row['verdict']} at "
        f"{str(row.get('verdict_purpose')).replace('-', ' ')}: {row['verdict_reason']}"
        for row in _rows(task)
        if row.get("verdict") not in (None, "win") and row.get("verdict_reason")
    ]
    return [*lines, *task.get("summary", [])]


def tsv_rows(results: dict[str, Any]) -> Iterator[list[object]]:
    """One row per task and technique, columns :data:`TSV_COLUMNS`, raw numbers in base units
    (latency at the bench's latency batch)."""
    batch = results["config"].get("latency_batch", 256)
    for name, task in results["tasks"].items():
        for row in _rows(task):
            r = row.get("ratios") or {}
            yield [
                name,
                row["name"],
                row["status"],
                row.get("accuracy"),
                r.get("accuracy_delta_pt"),
                row.get("train_energy_j"),
                r.get("train_energy"),
                row.get("infer_energy_j_per_1k"),
                r.get("infer_energy_per_1k"),
                (row.get("latency_ms") or {}).get(f"batch_{batch}"),
                row.get("params_nonzero"),
                row.get("size_bytes"),
                row.get("macs"),
                row.get("energy_method"),
                row.get("device"),
                row.get("verdict"),
                row.get("verdict_purpose"),
                row.get("verdict_reason"),
                row.get("reason"),
            ]
