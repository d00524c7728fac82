"""The forecast history of a run in ``frugal show``: what each epoch end predicted, against
the figure the run ended with."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from frugalml import _fmt as fmt
from frugalml.cli._common import cell

#: Rows shown in the table; longer histories show the first and last ones and are complete
#: in ``--json``.
MAX_ROWS = 12


def forecast_error(row: dict[str, Any], final_energy_j: float | None, status: str) -> float | None:
    """The forecast's relative error against the run's final energy: ``forecast/final - 1``.

    Only for a run that finished: a run stopped early (failed, interrupted, budget-stopped) did
    not run the epochs the forecast was about.

    Example:
        >>> forecast_error({"energy_j": 110.0}, 100.0, "finished")
        0.1
        >>> forecast_error({"energy_j": 110.0}, 100.0, "budget-stopped") is None
        True
    """
    energy = row.get("energy_j")
    if status != "finished" or not final_energy_j or energy is None:
        return None
    return round(float(energy) / final_energy_j - 1.0, 12)


def shown_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """At most :data:`MAX_ROWS` rows: the first ones and the last ones, None where rows are
    left out."""
    if len(rows) <= MAX_ROWS:
        return list(rows)
    head = MAX_ROWS // 2
    return [*rows[:head], None, *rows[-(MAX_ROWS - head - 1) :]]


def forecast_table(rows: list[dict[str, Any]], final_energy_j: float | None, status: str) -> Table:
    """A Rich table of the forecast history (the registry's ``forecasts`` rows, in order)."""
    table = Table(
        title=f"forecast at each epoch end ({len(rows)} in all)",
        title_justify="left",
    )
    for name in ("epoch", "at", "energy forecast", "CO2e", "method"):
        table.add_column(name, justify="left" if name == "method" else "right")
    finished = status == "finished"
    if finished:
        table.add_column("vs final", justify="right")
        table.caption = (
            f"vs final: forecast / the run's final energy ({fmt.energy(final_energy_j)}) - 1; "
            "the final figure also counts what ran after the last epoch end"
        )
        table.caption_justify = "left"
    for row in shown_rows(rows):
        if row is None:
            table.add_row("…", *[""] * (len(table.columns) - 1))
            continue
        epoch = f"{row['epochs_seen']}"
        if row.get("total_epochs"):
            epoch += f"/{row['total_epochs']}"
        interval = ""
        if row.get("energy_j_low") is not None and row.get("energy_j_high") is not None:
            interval = f" [{fmt.energy(row['energy_j_low'])}–{fmt.energy(row['energy_j_high'])}]"
        values = [
            epoch,
            fmt.duration(row.get("t_s")),
            fmt.energy(row["energy_j"]) + interval,
            fmt.co2e(row.get("co2e_g")) if row.get("co2e_g") is not None else "",
            cell(row.get("method") or ""),
        ]
        if finished:
            error = forecast_error(row, final_energy_j, status)
            values.append("" if error is None else f"{error * 100:+.1f} %")
        table.add_row(*values)
    return table
