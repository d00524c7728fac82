"""Rich tables for a :class:`Profile`: summary, per-module tree, per-operator table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from frugalml._fmt import safe

if TYPE_CHECKING:
    from frugalml.profiler.result import Profile

__all__ = ["human_bytes", "human_count", "render"]


def human_count(n: float) -> str:
    """``1234567`` -> ``"1.23 M"`` (SI prefixes)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.50 KiB"`` (binary prefixes)."""
    for factor, prefix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}"
    return f"{int(n)} B"


def _by_dtype(values: dict[str, int], fmt: type | None = None) -> str:
    show = human_bytes if fmt is bytes else human_count
    return ", ".join(f"{k} {show(v)}" for k, v in values.items()) or "-"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _summary(p: Profile) -> Table:
    table = Table(title="Profile", show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value")
    shapes = ", ".join("x".join(map(str, s)) for s in p.input_shapes)
    table.add_row("input", f"{shapes} (batch size {p.batch_size})")
    table.add_row("convention", p.convention)
    table.add_row("MACs (forward)", f"{human_count(p.macs)} ({_by_dtype(p.macs_by_dtype)})")
    table.add_row("FLOPs (forward)", human_count(p.flops))
    if p.flops_effective is not None:
        table.add_row(
            "effective FLOPs",
            f"{human_count(p.flops_effective)} ({_percent(p.flops_effective, p.flops)} of "
            "dense; MACs on non-zero weights only)",
        )
    if p.train_step_flops is not None:
        table.add_row(
            "FLOPs (training step)",
            f"{human_count(p.train_step_flops)} (forward + backward as dispatched, "
            f"{p.train_step_flops / p.flops:.2f}x forward)"
            if p.flops
            else "-",
        )
    table.add_row(
        "parameters",
        f"{human_count(p.params)} total, {human_count(p.params_trainable)} trainable, "
        + (
            f"{human_count(p.params_nonzero)} non-zero ({_percent(p.params_nonzero, p.params)})"
            if p.params_nonzero is not None
            else "non-zero not counted"
        ),
    )
    table.add_row(
        "model size",
        f"{human_bytes(p.size_bytes)} ({_by_dtype(p.size_bytes_by_dtype, bytes)})"
        + (
            f"; state_dict {human_bytes(p.state_dict_bytes)}"
            if p.state_dict_bytes is not None
            else ""
        ),
    )
    table.add_row(
        "bytes moved (estimate)",
        f"{human_bytes(p.bytes_moved)} (weights read {human_bytes(p.bytes_moved_weights)}; "
        f"{_by_dtype(p.bytes_moved_by_dtype, bytes)})",
    )
    table.add_row("arithmetic intensity", f"{p.arithmetic_intensity:.2f} FLOPs/byte")
    if p.latency is not None:
        lat = p.latency
        table.add_row(
            "latency",
            f"median {lat.median_s * 1e3:.3f} ms, p10 {lat.p10_s * 1e3:.3f} ms, "
            f"p90 {lat.p90_s * 1e3:.3f} ms, IQR {lat.iqr_s * 1e3:.3f} ms "
            f"(batch size {lat.batch_size}; {lat.method})",
        )
    if p.energy is not None:
        e = p.energy
        unc = f" ±{100 * e.uncertainty:.0f} %" if e.uncertainty is not None else ""
        table.add_row(
            "energy",
            f"{e.energy_j_per_inference:.4g} J per inference, {e.energy_j_per_1k:.4g} J per "
            f"1,000 samples{unc} ({e.batches} batches of {e.batch_size} over "
            f"{e.duration_s:.2f} s; method {e.method})",
        )
    return table


def _modules(p: Profile, depth: int) -> Table:
    table = Table(title=f"By module (depth {depth})", title_justify="left")
    table.add_column("module")
    table.add_column("type", style="dim")
    table.add_column("MACs", justify="right")
    table.add_column("FLOPs", justify="right")
    table.add_column("% FLOPs", justify="right")
    for name in p.modules(depth):
        level = name.count(".")
        label = name.rsplit(".", 1)[-1] if level else name
        table.add_row(  # user module and class names: literal text, never Rich markup
            Text(safe("  " * level + label)),
            Text(safe(p.module_types.get(name, ""))),
            human_count(p.by_module[name]),
            human_count(p.by_module_flops[name]),
            _percent(p.by_module_flops[name], p.flops),
        )
    return table


def _operators(p: Profile) -> Table:
    table = Table(title="By operator", title_justify="left")
    for col in ("operator", "calls", "MACs", "FLOPs", "% FLOPs"):
        table.add_column(col, justify="left" if col == "operator" else "right")
    zero: list[str] = []
    for name, flops in p.by_operator.items():
        if name in p.unknown_operators:
            continue
        if not flops:
            zero.append(name.removeprefix("aten."))
            continue
        table.add_row(
            Text(safe(name)),
            str(p.by_operator_calls[name]),
            human_count(p.by_operator_macs[name]),
            human_count(flops),
            _percent(flops, p.flops),
        )
    if zero:
        table.caption = "0 FLOPs (views, copies, allocation): " + ", ".join(zero)
    return table


def _unknown(p: Profile) -> Text:
    unknown = dict(p.unknown_operators)
    for name, calls in (p.train_step_unknown_operators or {}).items():
        unknown[f"{name} (training step)"] = calls
    listed = ", ".join(f"{name} x{calls}" for name, calls in unknown.items())
    return Text(f"Not counted, no rule (calls): {listed}. Totals leave these out.", style="yellow")


def render(p: Profile, *, depth: int = 2, by: str | None = None) -> RenderableType:
    """The profile as Rich tables: summary, then modules and/or operators (``by``).

    Args:
        p: the profile.
        depth: deepest module level shown (0 = the model only).
        by: ``"module"``, ``"operator"`` or ``None`` for both.
    """
    parts: list[RenderableType] = [_summary(p)]
    if by in (None, "module"):
        parts.append(_modules(p, depth))
    if by in (None, "operator"):
        parts.append(_operators(p))
    if p.unknown_operators or p.train_step_unknown_operators:
        parts.append(_unknown(p))
    return Group(*parts)
