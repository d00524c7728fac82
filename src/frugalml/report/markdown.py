"""The Markdown report: the same content as the HTML, tables in GitHub-flavoured Markdown and
plots as PNG files in a folder beside the ``.md`` file.

User text is escaped for Markdown *and* inline HTML (a run named ``<script>`` stays text):
``& < >`` become entities, Markdown punctuation is backslash-escaped and control characters
and bidi overrides are shown as escapes. Without matplotlib the
plots are written as SVG files instead (and the report says so).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

from frugalml import _fmt as fmt
from frugalml.errors import MissingDependencyError
from frugalml.report.model import Report
from frugalml.report.plots import Figure
from frugalml.report.tables import (
    Cell,
    Link,
    Table,
    cards,
    components_table,
    equivalents_table,
    leader_tables,
    regions_table,
    runs_table,
    technique_table,
    uncertainty_note,
    verdict_notes,
)

__all__ = ["md_escape", "render_markdown"]

log = logging.getLogger(__name__)
_PUNCT = re.compile(r"([\\`*_\[\]|~$#])")


def md_escape(text: object) -> str:
    """Escape ``text`` so Markdown renders it literally, on one line.

    Example:
        >>> md_escape("<script>alert(1)</script> | *x*")
        '&lt;script&gt;alert(1)&lt;/script&gt; \\\\| \\\\*x\\\\*'
    """
    s = fmt.safe(" ".join(str(text).split()))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _PUNCT.sub(r"\\\1", s)


def _cell(c: Cell) -> str:
    if isinstance(c, Link):
        return f"[{md_escape(c.text)}](<{c.url}>)"
    return md_escape(c) if c else " "


def _table(t: Table) -> str:
    head = "| " + " | ".join(md_escape(h) or " " for h in t.headers) + " |"
    align = "|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.headers))) + "|"
    rows = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    out = "\n".join([head, align, *rows]) + "\n"
    return out + (f"\n{md_escape(t.caption)}\n" if t.caption else "")


def _fence(text: str) -> str:
    text = fmt.safe(text, multiline=True)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}yaml\n{text.rstrip()}\n{fence}\n"


class _Plots:
    """Writes each figure once into ``folder`` and returns the Markdown image line."""

    def __init__(self, folder: Path | None, rel: str) -> None:
        self.folder, self.rel, self.fmt = folder, rel, "png"
        self.note = (
            ""
            if folder is not None
            else "Plots are not included when the report is written to stdout."
        )

    def __call__(self, fig: Figure) -> str:
        caption = f"*{md_escape(fig.title)}.* {md_escape(fig.caption)}".strip()
        if self.folder is None:
            return f"{caption}\n"
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{fig.id}.{self.fmt}"
        if self.fmt == "png":
            try:
                from frugalml.report.png import render_png

                render_png(fig, self.folder / name)
            except MissingDependencyError as e:
                log.warning("%s; writing SVG plots instead", e)
                self.fmt, name = "svg", f"{fig.id}.svg"
                self.note = f"Plots are SVG files: PNG needs matplotlib ({e})."
        if self.fmt == "svg":
            from frugalml.report.svg import render_svg

            (self.folder / name).write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n' + render_svg(fig), "utf-8"
            )
        return f"![{md_escape(fig.title)}](<{quote(self.rel)}/{name}>)\n\n{caption}\n"


def render_markdown(
    report: Report, assets_dir: str | Path | None = None, assets_rel: str | None = None
) -> str:
    """The report as Markdown; plots go to ``assets_dir`` (linked as ``assets_rel/<id>.png``).

    With ``assets_dir=None`` no files are written and plots are left out.
    """
    folder = Path(assets_dir) if assets_dir is not None else None
    plots = _Plots(folder, assets_rel or (folder.name if folder else ""))
    s = report.summary
    out = [
        f"# {md_escape(report.title)}\n",
        f"Generated {md_escape(report.generated_at)} by frugalml "
        f"{md_escape(report.frugalml_version)}"
        + (
            f" · registry {md_escape(report.selection['registry'])}"
            if report.selection.get("registry")
            else ""
        )
        + (
            f" · bench {md_escape(report.selection['bench'])}"
            if report.selection.get("bench")
            else ""
        )
        + "\n",
        "## Summary\n",
    ]
    out.append(
        _table(
            Table(
                ["figure", "value", "how it was obtained"],
                rows=[[c.label, c.value, c.how] for c in cards(s)],
            )
        )
    )
    out.append(
        f"\n**How these figures were obtained.** Energy: {md_escape(s.energy_basis)}; "
        f"{md_escape(s.method_text)}. {md_escape(uncertainty_note(s))}\n"
    )
    out += [f"- **Note:** {md_escape(n)}\n" for n in report.notes + s.notes]
    if s.components:
        out.append("\n" + _table(components_table(s)))
    if report.overview or report.timelines or report.timeline_note:
        out.append("\n## Timeline\n")
        if report.overview:
            out.append(plots(report.overview))
        if report.timeline_note:
            out.append(f"\n{md_escape(report.timeline_note)}\n")
        for t in report.timelines:
            out.append(
                f"\n### {md_escape(t.run_name)} ({md_escape(t.run_id)}, {md_escape(t.status)})\n"
            )
            out += [f"- **Note:** {md_escape(n)}\n" for n in t.notes]
            out += ["\n" + plots(f) for f in t.figures]
    if report.components_figure:
        out += ["\n## Component breakdown\n", plots(report.components_figure)]
    if report.carbon:
        c = report.carbon
        out.append("\n## Carbon in context\n")
        if c.figure:
            out.append(plots(c.figure))
        out += [
            "\n" + _table(regions_table(c)),
            *[f"- **Note:** {md_escape(n)}\n" for n in c.notes],
            "\n### Everyday equivalents\n\n",
            _table(equivalents_table(c)),
        ]
    if report.bench:
        b = report.bench
        out.append("\n## Bench: techniques against the baseline\n")
        out.append(
            f"From {md_escape(b.path)} · suite {md_escape(b.config.get('suite', '?'))} · repeats "
            f"{md_escape(b.config.get('repeats', '?'))}\n"
        )
        out += [f"- **Note:** {md_escape(n)}\n" for n in b.notes]
        for task in b.tasks:
            out += [f"\n### {md_escape(task.name)}\n\n", _table(technique_table(task))]
            out.append(
                f"\nFinal model: **{md_escape(task.final)}** ({md_escape(task.final_rule)}).\n"
                if task.final
                else f"\nNo final model: {md_escape(task.final_rule)}.\n"
            )
            notes = verdict_notes(task)
            if notes:
                out.append("\nVerdicts:\n\n" + "".join(f"- {md_escape(n)}\n" for n in notes))
            out += ["\n" + plots(f) for f in task.figures]
    if report.search:
        from frugalml.report.search import search_table

        out += [
            "\n## Search: what it found and what it cost\n\n",
            _table(search_table(report.search)),
        ]
        out += [f"- **Note:** {md_escape(n)}\n" for n in report.search.notes]
        out += ["\n" + plots(f) for f in report.search.figures]
    for board in report.leaderboards:
        by_eff, by_target = leader_tables(board)
        out += [
            "\n## Leaderboard\n",
            f"\nRanked by efficiency, not by {md_escape(board.metric)} alone.\n",
            f"\n### {md_escape(board.metric)} per kWh\n\n",
            _table(by_eff),
            "\n### Energy to reach the target\n\n",
            _table(by_target),
        ]
        out += [f"- **Note:** {md_escape(n)}\n" for n in board.notes]
    if report.runs_total:
        out += ["\n## Runs\n\n", _table(runs_table(report))]
    if report.model_card:
        out += [
            "\n## Model card (Hugging Face)\n\nPaste into the YAML header of your model's "
            "README.md:\n\n",
            _fence(report.model_card.yaml),
        ]
    out += ["\n## Energy statement for papers\n\n", f"> {md_escape(report.statement)}\n"]
    if plots.note:
        out.append(f"\n*{md_escape(plots.note)}*\n")
    return "".join(out)
