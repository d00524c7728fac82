"""The single-file HTML report: inline CSS and SVG, no scripts, fonts or images to fetch.

Readable on a phone (fluid layout, tables scroll inside their box, SVGs scale by viewBox) and
printable (navigation hidden, figures and tables kept whole). Every user string passes
through :func:`html.escape`, with control characters and bidi overrides shown as escapes
(:func:`frugalml._fmt.safe`); the only links are to the sources of the figures.
"""

from __future__ import annotations

from html import escape

from frugalml import _fmt as fmt
from frugalml.report.model import Report
from frugalml.report.plots import Figure
from frugalml.report.svg import render_svg
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

__all__ = ["CSS", "render_html"]

CSS = """
:root{--fg:#1d1d1f;--muted:#5b6066;--line:#e2e2e2;--accent:#0072B2;--warn:#7a4f00;--warnbg:#fff5dc}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:#fff}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.55em;margin:.2em 0;overflow-wrap:anywhere}
h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1.08em;margin-top:1.4em;overflow-wrap:anywhere}
.meta,figcaption,.caption{color:var(--muted);font-size:.88em}
nav ul{display:flex;flex-wrap:wrap;gap:.3em 1.1em;padding:0;margin:.6em 0;list-style:none}
a{color:var(--accent)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:10px;margin:.8em 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 12px;overflow-wrap:anywhere}
.card .label{color:var(--muted);font-size:.82em;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:1.3em;font-weight:600}
.card .how{color:var(--muted);font-size:.82em}
ul.notes{padding:0;list-style:none}
ul.notes li{color:var(--warn);background:var(--warnbg);border-radius:6px;padding:4px 10px;
margin:4px 0}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.4em 0 1em}
table{border-collapse:collapse;font-size:.86em;min-width:100%}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f6f7f8;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:break-word;max-width:28em}
figure{margin:1em 0}
svg.plot{width:100%;height:auto;display:block;max-width:780px}
pre{background:#f6f8fa;padding:10px 12px;overflow-x:auto;border-radius:6px;font-size:.85em}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
blockquote{margin:.5em 0;padding:8px 14px;border-left:4px solid var(--accent);background:#f5f9fc}
footer{margin-top:2.5em;color:var(--muted);font-size:.85em;border-top:1px solid var(--line);
padding-top:.6em}
@media (max-width:600px){body{font-size:14px}main{padding:10px}
figure{overflow-x:auto;-webkit-overflow-scrolling:touch}svg.plot{min-width:540px}}
@media print{nav{display:none}main{max-width:none;padding:0}body{font-size:11pt}
h2,h3{break-after:avoid}figure,.card,blockquote,pre,tr{break-inside:avoid}
.table-wrap{overflow:visible}a{color:inherit;text-decoration:none}}
"""


def _e(s: object) -> str:
    return escape(fmt.safe(s, multiline=True), quote=True)


def _cell(c: Cell) -> str:
    if isinstance(c, Link):
        return f'<a href="{_e(c.url)}" rel="noopener">{_e(c.text)}</a>'
    return _e(c)


def _table(t: Table) -> str:
    head = "".join(
        f'<th{" class=num" if i in t.numeric else ""} scope="col">{_e(h)}</th>'
        for i, h in enumerate(t.headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in t.numeric else ''}>{_cell(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in t.rows
    )
    caption = f'<p class="caption">{_e(t.caption)}</p>' if t.caption else ""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>{caption}'


def _figure(fig: Figure) -> str:
    caption = f"<figcaption><b>{_e(fig.title)}.</b> {_e(fig.caption)}</figcaption>"
    return f"<figure>{render_svg(fig)}{caption}</figure>"


def _notes(notes: list[str]) -> str:
    return (
        '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        if notes
        else ""
    )


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document."""
    s = report.summary
    sections: list[tuple[str, str, str]] = []
    card_html = "".join(
        f'<div class="card"><div class="label">{_e(c.label)}</div><div class="value">{_e(c.value)}'
        f'</div><div class="how">{_e(c.how)}</div></div>'
        for c in cards(s)
    )
    sections.append(
        (
            "summary",
            "Summary",
            (
                f'<div class="cards">{card_html}</div>'
                f"<p><b>How these figures were obtained.</b> Energy: {_e(s.energy_basis)}; "
                f"{_e(s.method_text)}. {_e(uncertainty_note(s))}</p>"
                + _notes(report.notes + s.notes)
                + (_table(components_table(s)) if s.components else "")
            ),
        )
    )
    if report.overview or report.timelines or report.timeline_note:
        parts = [_figure(report.overview)] if report.overview else []
        if report.timeline_note:
            parts.append(f"<p>{_e(report.timeline_note)}</p>")
        for t in report.timelines:
            parts.append(
                f"<h3>{_e(t.run_name)} <small class=meta>{_e(t.run_id)} · "
                f"{_e(t.status)}</small></h3>"
            )
            parts.append(_notes(t.notes))
            parts += [_figure(f) for f in t.figures]
        sections.append(("timeline", "Timeline", "".join(parts)))
    if report.components_figure:
        sections.append(("components", "Component breakdown", _figure(report.components_figure)))
    if report.carbon:
        c = report.carbon
        sections.append(
            (
                "carbon",
                "Carbon in context",
                (
                    (_figure(c.figure) if c.figure else "")
                    + _table(regions_table(c))
                    + _notes(c.notes)
                    + "<h3>Everyday equivalents</h3>"
                    + _table(equivalents_table(c))
                ),
            )
        )
    if report.bench:
        b = report.bench
        parts = [
            f'<p class="meta">From {_e(b.path)} · suite {_e(b.config.get("suite", "?"))} · repeats '
            f"{_e(b.config.get('repeats', '?'))} · started "
            f"{_e(b.config.get('started_at', '?'))}</p>",
            _notes(b.notes),
        ]
        for task in b.tasks:
            info = " · ".join(
                f"{k} {v}"
                for k, v in task.info.items()
                if k in ("dataset", "model", "n_train", "n_test", "epochs", "tolerance_pt")
            )
            parts.append(
                f"<h3>{_e(task.name)}</h3><p "
                f"class=meta>{_e(info)}</p>{_table(technique_table(task))}"
            )
            final = (
                f"Final model: <b>{_e(task.final)}</b> ({_e(task.final_rule)})."
                if task.final
                else f"No final model: {_e(task.final_rule)}."
            )
            parts.append(f"<p>{final}</p>")
            notes = verdict_notes(task)
            if notes:
                parts.append(
                    "<h4>Verdicts</h4><ul>"
                    + "".join(f"<li>{_e(line)}</li>" for line in notes)
                    + "</ul>"
                )
            parts += [_figure(f) for f in task.figures]
        sections.append(("bench", "Bench: techniques against the baseline", "".join(parts)))
    if report.search:
        from frugalml.report.search import search_table

        parts = [_table(search_table(report.search)), _notes(report.search.notes)]
        parts += [_figure(f) for f in report.search.figures]
        sections.append(("search", "Search: what it found and what it cost", "".join(parts)))
    for i, board in enumerate(report.leaderboards):
        by_eff, by_target = leader_tables(board)
        what = "bench rows, within each task" if board.scope == "bench" else "runs"
        sections.append(
            (
                f"leaderboard{'-' + str(i + 1) if i else ''}",
                "Leaderboard",
                (
                    f"<p>Ranked by efficiency, not by {_e(board.metric)} alone ({_e(what)}).</p>"
                    f"<h3>{_e(board.metric)} per kWh</h3>{_table(by_eff)}"
                    f"<h3>Energy to reach the target</h3>{_table(by_target)}"
                    + _notes(board.notes)
                    + (
                        "<p class=meta>Not ranked (examples): "
                        f"{_e(', '.join(board.unranked_examples))}</p>"
                        if board.unranked_examples
                        else ""
                    )
                ),
            )
        )
    if report.runs_total and not report.bench:
        sections.append(("runs", "Runs", _table(runs_table(report))))
    elif report.runs_total:
        sections.append(("runs", "Runs of this bench in the registry", _table(runs_table(report))))
    if report.model_card:
        sections.append(
            (
                "model-card",
                "Model card (Hugging Face)",
                (
                    "<p>Paste into the YAML header of your model's README.md:</p>"
                    f"<pre><code>{_e(report.model_card.yaml)}</code></pre>"
                ),
            )
        )
    sections.append(
        (
            "statement",
            "Energy statement for papers",
            f"<blockquote><p>{_e(report.statement)}</p></blockquote>",
        )
    )
    nav = "".join(f'<li><a href="#{sid}">{_e(title)}</a></li>' for sid, title, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>{html}</section>' for sid, title, html in sections
    )
    sel = report.selection
    meta = " · ".join(
        x
        for x in (
            f"generated {report.generated_at}",
            f"frugalml {report.frugalml_version}",
            f"registry {sel['registry']}" if sel.get("registry") else "",
            f"bench {sel['bench']}" if sel.get("bench") else "",
        )
        if x
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="frugalml {_e(report.frugalml_version)}">'
        f"<title>{_e(report.title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><h1>{_e(report.title)}</h1><p class="meta">{_e(meta)}</p></header>'
        f"<nav><ul>{nav}</ul></nav>{body}"
        "<footer>Grid intensities: frugalml's offline table "
        f"({_e(s.intensity_source or 'see docs/carbon.md')}). "
        f"Generated by frugalml {_e(report.frugalml_version)} on this machine, from "
        f"{_e(s.n_runs)} run(s) totalling {_e(fmt.energy(s.energy_j))}.</footer>"
        "</main></body></html>\n"
    )
