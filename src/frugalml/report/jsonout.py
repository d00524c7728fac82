"""The report as JSON for machines (schema ``frugalml.report/1``): the whole model, base units.

Energies in J, CO2e in g, times in s, uncertainties relative; figures carry their data points.
Non-finite numbers become ``null`` so the output is strict JSON; the text is ASCII (other
characters as ``\\u`` escapes), so no control or bidi character reaches a terminal that shows
the file, and every value parses back exactly as stored.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from frugalml.report.model import SCHEMA, Report

__all__ = ["render_json", "report_dict"]


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def report_dict(report: Report) -> dict[str, Any]:
    """A plain dict of the report, with paging information spelled out."""
    data = dataclasses.asdict(report)
    data["summary"]["facility_energy_j"] = report.summary.facility_energy_j
    data["runs_paging"] = {
        "page": report.page,
        "page_size": report.page_size,
        "total": report.runs_total,
        "pages": max(1, -(-report.runs_total // report.page_size)),
        "on_this_page": len(report.runs),
    }
    for board, out in zip(report.leaderboards, data["leaderboards"]):
        out["pages"] = board.pages
    return {"schema": SCHEMA, **_clean(data)}


def render_json(report: Report, indent: int | None = 2) -> str:
    """The report as a JSON string."""
    return json.dumps(report_dict(report), indent=indent, allow_nan=False) + "\n"
