"""Rich tables of an :class:`~frugalml.advise.advice.Advice` (``frugal advise``).

Tables stay readable at 80 columns (piped output): codes never wrap, each item's long
``basis`` is summarised once under its table, and every figure shown is in the JSON output.
"""

from __future__ import annotations

from typing import Any

from frugalml import _fmt
from frugalml.advise.advice import Advice, describe_run
from frugalml.advise.how import HowOption

__all__ = ["render_advice"]

_SHORT_OF = {
    "inference energy": "infer. J",
    "training energy": "train. J",
    "latency (batch 256)": "latency",
}
_SHORT_SCOPE = {"overall": "overall", "same-provider": "provider", "same-country": "country"}


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _table(title: str, columns: list[tuple[str, str]]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1)
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return table


def _where(advice: Advice) -> list[Any]:
    table = _table(
        "Where: the same energy on other grids (annual averages), cleanest first",
        [
            ("scope", "left"),
            ("region", "left"),
            ("g/kWh", "right"),
            ("PUE", "right"),
            ("CO2e", "right"),
            ("vs. here", "right"),
        ],
    )
    for o in advice.where:
        table.add_row(
            _SHORT_SCOPE[o.scope],
            _esc(o.region),
            _fmt.g(o.intensity_g_per_kwh),
            _fmt.g(o.pue),
            _fmt.co2e(o.co2e_g),
            _fmt.ratio(o.ratio),
        )
    out: list[Any] = [table]
    if advice.where:
        out.append(
            "[dim]names and sources per row in the JSON. CO2e = the run's IT energy x PUE (a cloud region's provider figure, else the "
            "run's own) x the region's annual intensity; "
            "e.g. " + _esc(advice.where[0].basis) + "[/dim]"
        )
    return out


def _when(advice: Advice) -> list[Any]:
    if not advice.when:
        return []
    table = _table(
        "When: start times within the forecast series, best first",
        [
            ("start (UTC)", "left"),
            ("CO2e", "right"),
            ("if started now", "right"),
            ("saving", "right"),
        ],
    )
    for o in advice.when:
        table.add_row(
            o.best_start,
            _fmt.co2e(o.co2e_g),
            _fmt.co2e(o.co2e_g_now),
            f"{o.saving_ratio * 100:.0f} %",
        )
    return [table, f"[dim]basis: {_esc(advice.when[0].basis)}[/dim]"]


def _accuracy(o: HowOption) -> str:
    if "(bench: " in o.accuracy:
        return o.accuracy.split("(bench: ")[1].split(" on ")[0] + " *"
    return "needs data"


def _source(o: HowOption) -> str:
    if o.measured:
        return "here"
    if o.verify_bench and "--task " in o.verify_bench:
        return o.verify_bench.split("--task ")[1].split()[0]
    return "—"


def _how(advice: Advice) -> list[Any]:
    if not advice.how:
        return []
    out: list[Any] = []
    m = advice.model
    if m is not None:
        out.append(
            f"Your model ({m.structure}, {m.params:,} parameters, {_fmt.num(m.macs)} MACs per "
            f"batch of {m.batch}): {_fmt.num(m.infer_energy_j_per_1k)} J per 1,000 inferences, "
            f"{_fmt.num(m.latency_ms)} ms per batch ({m.energy_method})"
        )
    table = _table(
        "How: measured on your model first, then the bench's figures (J/1k: joules per 1,000 "
        "inferences; ratio: technique / baseline)",
        [
            ("technique", "left"),
            ("J/1k", "right"),
            ("ratio", "right"),
            ("of", "left"),
            ("from", "left"),
            ("accuracy", "left"),
        ],
    )
    for o in advice.how:
        table.add_row(
            o.technique,
            _fmt.num(o.infer_energy_j_per_1k),
            _fmt.ratio(o.ratio),
            _SHORT_OF.get(o.ratio_of, o.ratio_of) if o.ratio is not None else "",
            _source(o),
            _accuracy(o) if o.ratio is not None else "",
        )
    out.append(table)
    measured = [o for o in advice.how if o.measured]
    if measured:
        out.append(f"[dim]here: {_esc(measured[0].basis.split('; ')[0])}[/dim]")
    for o in advice.how:
        if o.technique == "magnitude-prune" and o.measured:
            out.append(f"[dim]magnitude-prune: {_esc(o.basis.rsplit('; ', 1)[-1])}[/dim]")
    bench = [o for o in advice.how if not o.measured and o.ratio is not None]
    if bench:
        out.append(
            "[dim]bench: figures measured by frugalml's committed benchmarks on the closest "
            "bench task (see the JSON's basis); * accuracy on that task, not on your data: "
            "not measured: needs your data[/dim]"
        )
    for o in advice.how:
        if o.note:
            out.append(f"[dim]{o.technique}: {_esc(o.note)}[/dim]")
    out.append(
        '[dim]verify on your data: frugalml.reduce.get_technique("NAME").apply(model, data); '
        "a bench figure: frugal bench --task TASK --techniques NAME[/dim]"
    )
    return out


def render_advice(advice: Advice) -> list[Any]:
    """Renderables for ``Console.print``: the run, then where, when and how."""
    parts: list[Any] = [_esc(describe_run(advice.run))]
    parts += _where(advice) + _when(advice) + _how(advice)
    parts += [f"[yellow]{_esc(note)}[/yellow]" for note in advice.notes]
    return parts
