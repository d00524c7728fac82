"""Rich tables of bench results: one per task, every figure with its unit and ratio."""

from __future__ import annotations

from typing import Any


def _f(x: Any, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _ratio(x: Any) -> str:
    return "" if x is None else f" ({x:.2g}x)"


def task_table(name: str, task: dict[str, Any], config: dict[str, Any]) -> Any:
    """A Rich table for one task: baseline first, then each technique with ratios."""
    from rich.markup import escape
    from rich.table import Table

    batch = config.get("latency_batch", 256)
    t = Table(
        title=f"{escape(name)} — {escape(task['task']['model'])}; accuracy on the test split "
        f"({task['task']['n_test']} samples), mean of {config['repeats']} repeat(s)",
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
    ):
        t.add_column(col, justify="left" if col == "row" else "right")
    rows = [task["baseline"], *task["techniques"].values()]
    for row in rows:
        if row is None:
            continue
        if row["status"] != "ok":
            t.add_row(
                escape(row["name"]),
                "[red]failed[/red]",
                "",
                escape(str(row["reason"]))[:60],
                "",
                "",
                "",
                "",
                "",
            )
            continue
        r = row["ratios"]
        lat = (row.get("latency_ms") or {}).get(f"batch_{batch}")
        t.add_row(
            escape(row["name"]),
            f"{row['accuracy'] * 100:.2f} %",
            _f(r.get("accuracy_delta_pt"), "+.2f"),
            f"{row['train_energy_j']:.3g} J{_ratio(r.get('train_energy'))}",
            f"{_f(row['infer_energy_j_per_1k'], '.3g')}{_ratio(r.get('infer_energy_per_1k'))}",
            f"{_f(lat, '.3g')} ms{_ratio(r.get(f'latency_batch_{batch}'))}",
            f"{_f(row['params_nonzero'], ',')}{_ratio(r.get('params_nonzero'))}",
            f"{_f(row['size_bytes'], ',')} B{_ratio(r.get('size_bytes'))}",
            f"{_f(row['macs'], ',')}{_ratio(r.get('macs'))}",
        )
    t.caption = (
        "train energy of compression rows is the technique's own (fine-tuning, calibration); "
        f"energy method {rows[0].get('energy_method') if rows and rows[0] else '-'}; ratios vs baseline"
    )
    return t
