"""Column names of the registry's tables, without SQLAlchemy.

The tracker's writer thread and the spool use these to build rows (and, for SQLite files, plain
``sqlite3`` statements) without importing SQLAlchemy. ``tests/store`` checks they match
``frugalml.store.schema`` at the current version.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "FORECAST_COLUMNS",
    "METRIC_COLUMNS",
    "RUN_COLUMNS",
    "SAMPLE_COLUMNS",
    "SCHEMA_VERSION",
    "encode_run",
]

#: Version of the tables in ``frugalml.store.schema`` (history there).
SCHEMA_VERSION = 4

RUN_COLUMNS = (
    "id",
    "name",
    "status",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "duration_s",
    "energy_j",
    "co2e_g",
    "methods",
    "uncertainty",
    "region",
    "intensity_g_per_kwh",
    "pue",
    "scope",
    "interval_s",
    "exit_code",
    "host",
    "pid",
    "error",
    "summary",
    "parent_id",
    "kind",
)
SAMPLE_COLUMNS = ("t_s", "timestamp", "component", "energy_j", "power_w", "method")
METRIC_COLUMNS = ("name", "value", "step", "t_s", "timestamp", "energy_j")
#: A forecast made at an epoch end (v3), as ``frugalml.measure.epochs.FORECAST_COLUMNS``.
FORECAST_COLUMNS = (
    "t_s",
    "timestamp",
    "epochs_seen",
    "total_epochs",
    "epochs_expected",
    "energy_j",
    "energy_j_low",
    "energy_j_high",
    "co2e_g",
    "duration_s",
    "finish_at",
    "method",
    "energy_j_so_far",
)
_JSON_COLUMNS = ("methods", "summary")


def encode_run(values: dict[str, Any]) -> dict[str, Any]:
    """``runs`` values as stored: JSON text for ``methods`` and ``summary``; unknown keys refused.

    Example:
        >>> encode_run({"methods": {"cpu": "rapl"}})
        {'methods': '{"cpu": "rapl"}'}
    """
    unknown = set(values) - set(RUN_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of runs: {sorted(unknown)}")
    out = dict(values)
    for key in _JSON_COLUMNS:
        if key in out and not isinstance(out[key], str | None):
            out[key] = json.dumps(out[key], default=str)
    return out
