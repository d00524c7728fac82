"""Tables of the registry, at the current schema version.

To change the schema: edit the tables here, bump ``SCHEMA_VERSION`` (in ``columns.py``, with the column names), add the step from the
previous version to ``frugalml.store.migrations.MIGRATIONS`` (usually one ``add_columns`` or
``create_tables`` line), and freeze a database of the previous version for the upgrade test
(``python tests/store/freeze_registry.py`` run on the code *before* the change).

History: 1 = wave 1 (runs, samples, metrics, frugal_meta); 2 = ``samples.method`` (a
component's method can change mid-run, e.g. a RAPL zone falling back to the CPU model);
3 = ``forecasts`` (the forecast made at each epoch end, ``epoch_end``); 4 = ``runs.parent_id``
and ``runs.kind`` (a distributed job is a ``job`` row with ``host`` rows under it and ``rank``
rows under those; a lone run has neither).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

from frugalml.store.columns import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "forecasts", "meta", "metadata", "metrics", "runs", "samples"]

metadata = MetaData()

meta = Table(
    "frugal_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", String(16), nullable=False),  # frugalml.measure.run.STATUSES
    Column("started_at", Float, nullable=False),  # unix seconds
    Column("ended_at", Float),
    Column("heartbeat_at", Float, nullable=False),  # last time a sample was written
    Column("duration_s", Float, nullable=False, default=0.0),
    Column("energy_j", Float, nullable=False, default=0.0),
    Column("co2e_g", Float, nullable=False, default=0.0),
    Column("methods", Text, nullable=False, default="{}"),  # JSON component -> method
    Column("uncertainty", Float),
    Column("region", String(64)),
    Column("intensity_g_per_kwh", Float),
    Column("pue", Float),
    Column("scope", String(16)),
    Column("interval_s", Float),
    Column("exit_code", Integer),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("error", Text),
    Column("summary", Text),  # JSON: the run.json content as of the last write
    Column("parent_id", String(32)),  # v3: the job or host row this row belongs to
    Column("kind", String(8)),  # v3: job / host / rank; NULL for a lone run
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_name", "name"),
    Index("ix_runs_parent", "parent_id"),
)

samples = Table(
    "samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("t_s", Float, nullable=False),  # seconds since the run started, end of interval
    Column("timestamp", Float, nullable=False),  # unix seconds, end of interval
    Column("component", String(64), nullable=False),
    Column("energy_j", Float, nullable=False),  # energy in the interval
    Column("power_w", Float, nullable=False),  # mean power over the interval
    Column("method", String(64)),  # how the component was measured in this interval (v2)
    Index("ix_samples_run", "run_id", "t_s"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("step", Integer),
    Column("t_s", Float, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("energy_j", Float),  # cumulative energy of the run when the metric was logged
    Index("ix_metrics_run", "run_id", "name"),
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("t_s", Float, nullable=False),  # seconds since the run started, at the epoch end
    Column("timestamp", Float, nullable=False),  # unix seconds, when the forecast was made
    Column("epochs_seen", Integer, nullable=False),
    Column("total_epochs", Integer, nullable=False),
    Column("epochs_expected", Float),  # fewer than total_epochs under early stopping
    Column("energy_j", Float, nullable=False),  # forecast total energy of the run
    Column("energy_j_low", Float),  # 90 % interval
    Column("energy_j_high", Float),
    Column("co2e_g", Float),  # forecast total CO2e
    Column("duration_s", Float),  # forecast total duration
    Column("finish_at", Float),  # unix seconds
    Column("method", String(64)),  # level, trend+warm-up, ... (frugalml.measure.forecast)
    Column("energy_j_so_far", Float),  # measured energy at the epoch end
    Index("ix_forecasts_run", "run_id", "t_s"),
)
