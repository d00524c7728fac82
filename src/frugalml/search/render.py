"""What ``frugal search`` prints at the end: the trials that matter and the search's whole cost.

Printed sums add up as printed: the trials' share is the printed total less the printed
overhead, each within rounding of its stored value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frugalml import _fmt as fmt

__all__ = ["describe_params", "energy_sum", "summary_lines", "trials_table"]

TOP = 10


def _pct(x: Any) -> str:
    return fmt.DASH if x is None else f"{x * 100:.2f} %"


def energy_sum(total_j: float, overhead_j: float) -> tuple[str, str, str]:
    """``(trials, overhead, total)`` as text in one unit, the first two adding up to the third."""
    if total_j < 1000:
        scale, unit, digits = 1.0, "J", 2
    else:
        scale, unit, digits = 3600.0, "Wh", 3
    total = round(total_j / scale, digits)
    over = round(overhead_j / scale, digits)
    trials = round(total - over, digits)
    return tuple(f"{v:,.{digits}f} {unit}" for v in (trials, over, total))  # type: ignore[return-value]


def describe_params(params: dict[str, Any]) -> str:
    """Parameters in a few characters: ``lr=0.003 batch_size=64 widths=128/64 fire``.

    Example:
        >>> describe_params({"lr": 0.00312, "depth": 2, "width_0": 128, "width_1": 64})
        'lr=0.00312 widths=128/64'
    """
    widths = [str(params[k]) for k in sorted(p for p in params if p.startswith("width_"))]
    out = []
    for key, value in params.items():
        if key.startswith("width_") or (key == "depth" and widths):
            continue
        out.append(f"{key}={fmt.g(value) if isinstance(value, float) else value}")
    if widths:
        out.append("widths=" + "/".join(widths))
    return " ".join(out)


def trials_table(data: dict[str, Any]) -> tuple[Any, list[str]]:
    """A Rich table of the Pareto trials (several objectives) or the most accurate ones, and
    one line of parameters per row."""
    from rich.markup import escape
    from rich.table import Table

    rows = [t for t in data["trials"] if t["state"] == "complete"]
    front = set(data["pareto"])
    multi = len([o for o in data["objectives"] if "direction" in o]) > 1
    if multi:
        shown = sorted((t for t in rows if t["number"] in front), key=lambda t: t["energy_j"] or 0)
        title = f"Pareto front ({len(shown)} of {len(rows)} complete trials)"
    else:
        shown = sorted(rows, key=lambda t: -(t["accuracy"] or 0.0))[:TOP]
        title = f"Most accurate trials ({len(shown)} of {len(rows)} complete)"
    table = Table(title=title, title_justify="left")
    for col in ("trial", "val acc", "test acc", "train J", "trial J", "infer J/1k", "MACs"):
        table.add_column(col, justify="right", no_wrap=True)
    for t in shown:
        mark = "*" if t["number"] == data["best"] else ""
        table.add_row(
            f"{t['number']}{mark}",
            _pct(t["accuracy"]),
            _pct(t["test_accuracy"]),
            fmt.num(t["train_energy_j"]),
            fmt.num(t["energy_j"]),
            fmt.num(t["infer_energy_j_per_1k"]),
            fmt.num(t["macs"]),
        )
    return table, [escape(f"  trial {t['number']}: {describe_params(t['params'])}") for t in shown]


def summary_lines(data: dict[str, Any], path: Path | None, notes: list[str] = ()) -> list[Any]:  # type: ignore[assignment]
    """The end-of-search report: table, choice, failures, energy and where the file is."""
    from rich.markup import escape

    trials = data["trials"]
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    study = data["study"]
    lines: list[Any] = [
        escape(
            f"study {study['name']} · storage {data['storage']} · sampler {data['sampler']} · "
            f"pruner {data['pruner']} · {len(trials)} trials ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + ")"
        )
    ]
    if any(t["state"] == "complete" for t in trials):
        table, params = trials_table(data)
        lines += [table, *params]
    best = next((t for t in trials if t["number"] == data["best"]), None)
    if best is not None:
        lines.append(
            escape(
                f"chosen: trial {best['number']} (*) · validation accuracy {_pct(best['accuracy'])}"
                f" · test accuracy {_pct(best['test_accuracy'])} · training "
                f"{fmt.energy(best['train_energy_j'])} · {describe_params(best['params'])}"
            )
        )
    lines += [escape(n) for n in notes]
    trials_j, over_j, total_j = energy_sum(data["total_energy_j"], data["overhead_energy_j"])
    method = data["energy_method"]
    how = "modelled" if "model" in method else "measured"
    lines.append(
        escape(
            f"search energy: {total_j} = {trials_j} in trials (pruned and failed included) + "
            f"{over_j} outside them (worker start-up, data, samplers, storage"
            + (", supernet" if study.get("weight_sharing") else "")
            + f") · {fmt.co2e(data['total_co2e_g'])} CO2e · {fmt.duration(data['total_time_s'])} "
            f"· {method} ({how})"
        )
    )
    if path is not None:
        lines.append(escape(f"results: {path}"))
    return lines
