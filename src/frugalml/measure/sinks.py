"""Where a run is persisted as it is measured: ``--out`` files and the registry.

The tracker calls a sink from its sampler thread: ``open(run)`` once, ``write(run, batch)`` at
every sample, ``close(run)`` at stop. ``write`` must be quick and local — it never waits on a
network or on a lock held by another process — so that the samples keep coming whatever the
disk or the database do: :class:`FileSink` appends to local files; :class:`StoreSink` appends
to the run's spool journal and hands the rows to its background writer
(:mod:`frugalml.measure.writer`).

A sink failure (full disk, locked or broken database) never reaches the user's job: it is
logged once, recorded in the run's ``errors``, and the rows are retried at the next sample (up
to a bound, past which what is dropped is counted and recorded — never silently).
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from frugalml._fs import write_text_atomic
from frugalml.measure.run import Run
from frugalml.measure.writer import COMMIT_EVERY_S, Batch, RegistryWriter
from frugalml.store.columns import FORECAST_COLUMNS

__all__ = ["METRIC_COLUMNS", "SAMPLE_COLUMNS", "Batch", "FileSink", "Sink", "StoreSink"]

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("t_s", "timestamp", "component", "energy_j", "power_w", "method")
METRIC_COLUMNS = ("t_s", "timestamp", "name", "value", "step", "energy_j")
MAX_PENDING_ROWS = 200_000
#: ``run.json`` is rewritten (with its ``heartbeat_at``) this often, and at stop.
SUMMARY_EVERY_S = COMMIT_EVERY_S
#: How long ``stop()`` waits for the registry before leaving the run in the spool.
FLUSH_TIMEOUT_S = 2.0


class Sink(ABC):
    """Persists a run: ``open`` once, ``write`` at every sample, ``close`` at the end.

    Subclasses implement ``_open``/``_write``/``_close`` and raise on failure; the public
    methods record the failure once in the run and retry the rows at the next ``write``.
    """

    label = "sink"

    def __init__(self) -> None:
        self._samples: list[dict[str, Any]] = []
        self._metrics: list[dict[str, Any]] = []
        self._forecasts: list[dict[str, Any]] = []
        self._seq = -1
        self._failing = False
        self._opened = False
        self._closed = False
        self.dropped_rows = 0

    def open(self, run: Run) -> None:
        if not self._opened and self._guard(run, self._open, run):
            self._opened = True

    def write(self, run: Run, batch: Batch) -> None:
        """Persist one sample's rows (quick and local; failures recorded, rows kept)."""
        pending_before = self._samples or self._metrics or self._forecasts
        if self._opened and not self._failing and not pending_before:
            try:  # the usual case, kept short: it runs at every sample
                self._write(run, batch)
                self._seq = batch.seq
                return
            except Exception:
                pass  # recorded by the slow path below, which retries these rows
        self._samples.extend(batch.samples)
        self._metrics.extend(batch.metrics)
        self._forecasts.extend(batch.forecasts)
        self._seq = batch.seq
        excess = len(self._samples) - MAX_PENDING_ROWS
        if excess > 0:
            del self._samples[:excess]
            if not self.dropped_rows:
                run.add_error(
                    self.label, f"{self.label} failing too long: dropping its oldest unsaved rows"
                )
            self.dropped_rows += excess
        if not self._opened:
            self.open(run)
            if not self._opened:
                return
        pending = Batch(
            self._seq, self._samples, self._metrics, batch.taken_at, forecasts=self._forecasts
        )
        if self._guard(run, self._write, run, pending):
            self._samples, self._metrics, self._forecasts = [], [], []

    def close(self, run: Run) -> None:
        """Persist what is left and the final state (bounded time). Safe to call twice."""
        if self._closed:
            return
        if self._samples or self._metrics or self._forecasts:
            self.write(run, Batch(self._seq, [], []))
        if not self._opened:
            self.open(run)
        if self._opened:
            self._guard(run, self._close, run)
        self._closed = True

    def _guard(self, run: Run, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except Exception as e:  # never into the user's job
            if not self._failing:
                log.warning(
                    "frugalml could not write the run to %s: %s (measuring goes on)", self.label, e
                )
                run.add_error(self.label, str(e))
            self._failing = True
            return False
        if self._failing:
            log.warning("frugalml writes to %s again", self.label)
        self._failing = False
        return True

    @abstractmethod
    def _open(self, run: Run) -> None:
        """Prepare the target (raise on failure: ``open`` is retried at the next write)."""

    @abstractmethod
    def _write(self, run: Run, batch: Batch) -> None:
        """Persist these rows (raise on failure: ``write`` records it and retries later)."""

    def _close(self, run: Run) -> None:  # noqa: B027 - nothing to release by default
        """Write the final state and release what ``_open`` took."""


class FileSink(Sink):
    """``DIR/samples.csv`` and ``DIR/metrics.csv`` (appended and flushed at every sample),
    ``DIR/forecasts.csv`` (from the first forecast on: the forecast at each epoch end) and
    ``DIR/run.json`` (rewritten every few seconds with its ``heartbeat_at``, and at stop).

    Every file is created as a new file in ``DIR`` and renamed over the target name (``run.json``
    at every rewrite), so a symlink planted at that name is replaced, never followed.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.label = str(self.out_dir)
        self._files: dict[str, tuple[IO[str], Any, tuple[str, ...]]] = {}
        self._summary_at = 0.0

    def _open(self, run: Run) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, columns in (("samples.csv", SAMPLE_COLUMNS), ("metrics.csv", METRIC_COLUMNS)):
            if name not in self._files:
                self._open_csv(name, columns)
        self._write_summary(run)

    def _open_csv(self, name: str, columns: tuple[str, ...]) -> None:
        import csv

        f = _create_replacing(self.out_dir / name)
        writer = csv.writer(f)
        writer.writerow(columns)
        f.flush()
        self._files[name] = (f, writer, columns)

    def _write(self, run: Run, batch: Batch) -> None:
        if batch.forecasts and "forecasts.csv" not in self._files:
            self._open_csv("forecasts.csv", FORECAST_COLUMNS)
        for name, rows in (
            ("samples.csv", batch.samples),
            ("metrics.csv", batch.metrics),
            ("forecasts.csv", batch.forecasts),
        ):
            if rows:
                f, writer, columns = self._files[name]
                writer.writerows([[r.get(c) for c in columns] for r in rows])
                f.flush()
        if time.monotonic() - self._summary_at >= SUMMARY_EVERY_S:
            self._write_summary(run)

    def _write_summary(self, run: Run) -> None:
        self._summary_at = time.monotonic()
        write_json_atomic(self.out_dir / "run.json", run.to_dict())

    def _close(self, run: Run) -> None:
        try:
            self._write_summary(run)
        finally:
            for f, _, _ in self._files.values():
                f.close()
            self._files.clear()


def _create_replacing(path: Path) -> IO[str]:
    """A new empty file at ``path``, created beside it and renamed over whatever is there
    (a planted symlink is replaced, its target untouched); opened for appending."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return open(fd, "a", newline="", encoding="utf-8")


class StoreSink(Sink):
    """The run registry, written by a background thread; the spool journal for safety.

    Args:
        url: registry URL (resolved by the tracker).
        spool: the spool folder (see :mod:`frugalml.store.spool`).
        out_dir: the run's ``--out`` folder, recorded in the journal so that an import can
            correct a ``run.json`` left saying ``running``.
        connect_timeout_s, statement_timeout_s: for network databases.
        flush_timeout_s: how long ``close`` waits for the registry before leaving the run in
            the spool (it is imported at the next registry access).
    """

    def __init__(
        self,
        url: str,
        *,
        spool: str | os.PathLike[str] | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 30.0,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
    ) -> None:
        super().__init__()
        from frugalml.store.backend import safe_url

        self.url = url
        self.label = f"registry {safe_url(url)}"
        self.spool = Path(spool) if spool is not None else None
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.flush_timeout_s = flush_timeout_s
        self.journal: Any = None
        self.writer: RegistryWriter | None = None
        self._journal_failed = False

    def _open(self, run: Run) -> None:
        row = _create_row(run)
        if self.spool is not None:
            from frugalml.store.spool import Journal

            try:
                self.journal = Journal.create(
                    self.spool,
                    run.id,
                    url=self.url,
                    run=row,
                    out_dir=self.out_dir,
                    ancestors=run.ancestors,
                )
            except OSError as e:
                self._journal_failed = True
                run.add_error(
                    "spool",
                    f"cannot write the spool journal in {self.spool} ({e.strerror or e}): a "
                    "registry outage longer than the in-memory queue would lose samples",
                )
        self.writer = RegistryWriter(
            run,
            open_writer=self._open_writer,
            journal=self.journal,
            create_row=row,
            label=self.label,
            commit_every_s=max(COMMIT_EVERY_S, run.interval_s),
            import_spool=self._import_spool if self.spool is not None else None,
            ancestors=run.ancestors,
        )
        self.writer.start()

    def _open_writer(self) -> Any:
        from frugalml.store.backend import open_writer

        return open_writer(
            self.url,
            connect_timeout_s=self.connect_timeout_s,
            statement_timeout_s=self.statement_timeout_s,
        )

    def _import_spool(self, writer: Any) -> None:
        from frugalml.store.spool import import_spooled

        assert self.spool is not None
        import_spooled(writer, self.spool)

    def _write(self, run: Run, batch: Batch) -> None:
        if self.journal is not None:
            try:
                self.journal.append_sample(
                    batch.samples, batch.metrics, batch.seq, forecasts=batch.forecasts
                )
            except OSError as e:
                run.add_error(
                    "spool",
                    f"cannot append to the spool journal {self.journal.path} ({e.strerror or e}); "
                    "the registry writer keeps the rows in memory",
                )
                self.journal.close(delete=False)
                self.journal = None
                assert self.writer is not None
                self.writer.journal = None
        assert self.writer is not None
        self.writer.put(batch)

    def _close(self, run: Run) -> None:
        assert self.writer is not None
        now = time.time()
        final = {
            "status": run.status,
            "ended_at": now,
            "exit_code": run.exit_code,
            "error": run.error,
        }
        if self.journal is not None:
            try:
                self.journal.append_update(self.writer.row_update(final))
            except OSError:
                log.debug("journal final update failed", exc_info=True)
        done = self.writer.finish(final, self.flush_timeout_s)
        info = {
            "delayed_rows": self.writer.delayed_rows,
            "max_delay_s": round(self.writer.max_delay_s, 3),
            "lost_rows": self.writer.lost_rows,
            "spooled": None
            if done and self.writer.complete
            else str(getattr(self.journal, "path", None)),
        }
        run.set_registry(info)
        if not (done and self.writer.complete):
            where = (
                f"it is kept in the spool ({self.journal.path}): the background writer goes on "
                "trying, and the next access to the registry imports it otherwise"
                if self.journal is not None
                else "the spool was unavailable: rows not written by the background writer "
                "before this process ends are lost"
            )
            why = self.writer.last_error or "still waiting for it"
            message = (
                f"the registry did not take the run within {self.flush_timeout_s:g} s of stop "
                f"({why}); {where}"
            )
            log.warning("frugalml: %s", message)
            run.add_error(self.label, message)
        elif self.writer.delayed_rows:
            run.add_error(
                self.label,
                f"{self.writer.delayed_rows} sample rows reached the registry late (up to "
                f"{self.writer.max_delay_s:.1f} s) while it was unavailable; none were lost",
            )


def _create_row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "started_at": run.started_at,
        "region": run.region,
        "intensity_g_per_kwh": run.intensity_g_per_kwh,
        "pue": run.pue,
        "scope": run.scope,
        "interval_s": run.interval_s,
        "pid": os.getpid(),  # the writer: if it dies, the run shows as interrupted
        "summary": run.to_dict(),
        "parent_id": run.parent_id,
        "kind": run.kind,
    }


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` atomically (see :func:`frugalml._fs.write_text_atomic`)."""
    import json

    write_text_atomic(path, json.dumps(data, indent=2, default=str))
