"""The background writer of one run's registry rows.

The sampler hands each sample's rows to :meth:`RegistryWriter.put` (an append to a bounded
in-memory queue: microseconds, no lock held during I/O) after appending them to the run's spool
journal. This thread commits the queue to the registry in one transaction every few seconds
(``commit_every_s``, at least the sampling interval), so a tracked run costs one commit per
batch, not per sample. When the registry is locked, unreachable or broken, rows wait in the
queue and the attempts back off; past the queue's bound (an hour of samples at the default
interval) the oldest are dropped from memory only — they are in the journal, from which the
run is rewritten once the registry is back. A registry file deleted or replaced during the run
is noticed (inode) before each commit, and the run is re-created in the new file from the
journal. Every fault is recorded in the run's ``errors``; at stop the run says how many sample
rows were delayed, and whether it had to be left in the spool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from frugalml.measure.run import Run
from frugalml.store.backend import safe_url

__all__ = ["COMMIT_EVERY_S", "MAX_QUEUED_SAMPLES", "Batch", "RegistryWriter"]

log = logging.getLogger(__name__)

#: Registry commits are batched over this many seconds (or one sampling interval if longer).
COMMIT_EVERY_S = 30.0
#: Samples (ticks) held in memory while the registry is unavailable: one hour at 1 s.
MAX_QUEUED_SAMPLES = 3600
#: After stop, a writer that could not finish keeps trying in the background this long.
FINAL_RETRY_S = 30.0
_MAX_BACKOFF_S = 30.0


@dataclass
class Batch:
    """The rows of one sample: ``seq`` numbers samples in the order they were taken;
    ``forecasts`` are the forecasts made at epoch ends since the previous sample."""

    seq: int
    samples: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    taken_at: float = field(default_factory=time.monotonic)
    forecasts: list[dict[str, Any]] = field(default_factory=list)


class RegistryWriter:
    """Writes one run's rows to its registry from a background thread.

    Args:
        run: the live run (its summary is read under its own lock).
        open_writer: returns a :class:`frugalml.store.backend.RunWriter` for the registry
            (called in this thread: it may import SQLAlchemy or wait for a server).
        journal: the run's spool journal, or None when the spool could not be written.
        create_row: the run's row for ``create_run``.
        ancestors: rows the run belongs to (a distributed job's job and host rows), created
            first if no other process did.
        label: how messages name the registry.
        commit_every_s: seconds between commits.
    """

    def __init__(
        self,
        run: Run,
        *,
        open_writer: Callable[[], Any],
        journal: Any,
        create_row: dict[str, Any],
        label: str,
        commit_every_s: float,
        import_spool: Callable[[Any], None] | None = None,
        max_queued: int | None = None,
        ancestors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.run = run
        self.journal = journal
        self.label = label
        self.commit_every_s = commit_every_s
        self.max_queued = MAX_QUEUED_SAMPLES if max_queued is None else max_queued
        self.cpu_s = 0.0
        self._open_writer = open_writer
        self._import_spool = import_spool
        self._create_row = create_row
        self._ancestors = list(ancestors or [])
        self._queue: deque[Batch] = deque()
        self._wake = threading.Event()
        self._written = threading.Event()  # the final state is in the registry (or given up)
        self._final: dict[str, Any] | None = None
        self._final_at = 0.0
        self._writer: Any = None
        self._created = False
        self._replay = False  # rows were dropped from memory: rewrite the run from the journal
        self._rewritten_seq = -1  # samples up to this one came from the journal already
        self._failing: str | None = None
        self._failures = 0
        self.last_error: str | None = None
        self.complete = False
        self.delayed_rows = 0
        self.max_delay_s = 0.0
        self.lost_rows = 0
        self._thread = threading.Thread(
            target=self._loop, name=f"frugalml-writer-{run.id}", daemon=True
        )

    # -- called from the sampler thread ----------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def put(self, batch: Batch) -> None:
        """Queue one sample's rows (never blocks)."""
        self._queue.append(batch)  # deque appends and pops are atomic: no lock
        dropped_batches = []
        while len(self._queue) > self.max_queued:
            try:
                dropped_batches.append(self._queue.popleft())
            except IndexError:  # the writer took them meanwhile
                break
        for dropped in dropped_batches:
            rows = len(dropped.samples) + len(dropped.metrics) + len(dropped.forecasts)
            if self.journal is not None:
                if not self._replay:
                    self.run.add_error(
                        self.label,
                        f"registry unavailable for over {self.max_queued} samples: the oldest "
                        "leave memory and are kept in the spool journal, to be rewritten from "
                        "there when the registry is back",
                    )
                self._replay = True
            else:
                if not self.lost_rows:
                    self.run.add_error(
                        self.label,
                        "registry unavailable and the spool unwritable: the oldest samples are "
                        "being dropped (counted in registry.lost_rows)",
                    )
                self.lost_rows += rows

    def finish(self, final_update: dict[str, Any], timeout_s: float) -> bool:
        """Write the final state; wait at most ``timeout_s``. False when it is not written
        yet (the thread keeps trying for :data:`FINAL_RETRY_S`, then leaves the journal)."""
        self._final_at = time.monotonic()
        self._final = final_update
        self._wake.set()
        return self._written.wait(timeout_s)

    # -- this thread --------------------------------------------------------------------
    def _loop(self) -> None:
        cpu0 = time.thread_time()
        backoff = 0.5
        commits = 0
        try:
            while True:
                final = self._final
                ok = self._attempt(final)
                self.cpu_s = time.thread_time() - cpu0
                if final is not None:
                    if ok:
                        self.complete = True
                        self._close_journal()
                        self._written.set()  # stop() may go on: upkeep below is not its wait
                        self._maintain()
                        break
                    if time.monotonic() - self._final_at > FINAL_RETRY_S:
                        break
                if ok:
                    commits += 1
                    if commits > 1:  # not right after creating the run: stop() may be near
                        self._maintain()
                    backoff = 0.5
                    wait = self.commit_every_s
                else:
                    wait = backoff
                    backoff = min(_MAX_BACKOFF_S, backoff * 2)
                if final is None:
                    self._wake.wait(wait)
                    self._wake.clear()
                else:
                    time.sleep(min(wait, 1.0))
        finally:
            self._shutdown()
            self.cpu_s = time.thread_time() - cpu0
            self._written.set()

    def _attempt(self, final: dict[str, Any] | None) -> bool:
        from frugalml.errors import FrugalError

        batches = []
        while True:
            try:
                batches.append(self._queue.popleft())
            except IndexError:
                break
        try:
            self._ensure_open()
            self._check_file()
            if self._replay:
                self._rewrite_from_journal()
            # a sample journaled before the rewrite may reach the queue only after it
            batches = [b for b in batches if b.seq > self._rewritten_seq]
            samples = [row for b in batches for row in b.samples]
            metrics = [row for b in batches for row in b.metrics]
            forecasts = [row for b in batches for row in b.forecasts]
            update = self.row_update(final)
            if self.journal is not None and final is None:
                self._journal_update(update)
            self._writer.write(
                self.run.id, samples=samples, metrics=metrics, forecasts=forecasts, update=update
            )
        except Exception as e:  # a driver's own exception too: never into the user's job
            self._queue.extendleft(reversed(batches))
            self._fault(
                str(e) if isinstance(e, FrugalError | OSError) else f"{type(e).__name__}: {e}"
            )
            return False
        self._recovered(batches)
        return True

    def _ensure_open(self) -> None:
        if self._writer is None:
            self._writer = self._open_writer()
            self.label = f"registry {safe_url(self._writer.url)}"
            if self._import_spool is not None:
                self._import_spool(self._writer)
        if not self._created:
            if self._replay:
                return  # the rewrite creates it
            self._writer.ensure_runs(self._ancestors)
            self._writer.create_run(self._create_row)
            self._created = True

    def _check_file(self) -> None:
        why = self._writer.file_changed()
        if why is not None:
            self._on_changed(why)

    def _on_changed(self, why: str) -> None:
        message = (
            f"the registry file was {why} during the run (another file is at its path now); "
            "the run is re-created in the file now at that path"
        )
        if self.journal is None:
            message += ", without the samples written before (the spool was unavailable)"
        log.warning("frugalml: %s", message)
        self.run.add_error(self.label, message)
        self._writer.reopen()
        self._created = False
        self._replay = self.journal is not None
        if not self._replay:
            self._writer.ensure_runs(self._ancestors)
            self._writer.create_run(self._create_row)
            self._created = True

    def _rewrite_from_journal(self) -> None:
        content = self.journal.read()
        row = {**self._create_row, **content.update, **self.row_update(None)}
        self._writer.ensure_runs(self._ancestors)
        self._writer.replace_run(row, content.samples, content.metrics, content.forecasts)
        self._created = True
        self._replay = False
        self._rewritten_seq = content.last_seq

    def row_update(self, final: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run's row as of now (summary, energy, heartbeat), plus ``final`` values."""
        run = self.run
        summary = run.to_dict()
        energy = summary["energy_j"]
        update = {
            "duration_s": run.duration_s,
            "energy_j": energy["total"],
            "co2e_g": summary["co2e_g"],
            "methods": summary["methods"],
            "uncertainty": summary["uncertainty"]["total"],
            "heartbeat_at": time.time(),
            "summary": summary,
        }
        if final is not None:
            update.update(final)
        return update

    def _journal_update(self, update: dict[str, Any]) -> None:
        try:
            self.journal.append_update(update)
        except OSError:
            log.debug("journal update failed", exc_info=True)

    def _fault(self, message: str) -> None:
        self._failures += 1
        self.last_error = message
        if self._failing is None:
            self._failing = message
            log.warning(
                "frugalml could not write to %s: %s (samples wait in memory and in the spool; "
                "measuring goes on)",
                self.label,
                message,
            )
            self.run.add_error(self.label, message)
        if self._writer is not None and self._failures % 3 == 0:
            self._close_writer()  # reconnect from scratch now and then (a restarted server)

    def _recovered(self, batches: list[Batch]) -> None:
        now = time.monotonic()
        late = self.commit_every_s + 1.0
        for b in batches:
            delay = now - b.taken_at
            if delay > late:
                self.delayed_rows += len(b.samples)
                self.max_delay_s = max(self.max_delay_s, delay)
        if self._failing is not None:
            log.warning("frugalml writes to %s again", self.label)
            self._failing = None

    def _maintain(self) -> None:
        try:
            self._writer.maintain()
        except Exception:
            log.debug("registry upkeep failed", exc_info=True)

    def _close_writer(self) -> None:
        try:
            self._writer.close()
        except Exception:
            log.debug("closing the registry writer failed", exc_info=True)
        self._writer = None

    def _shutdown(self) -> None:
        if self._writer is not None:
            self._close_writer()
        self._close_journal()

    def _close_journal(self) -> None:
        if self.journal is not None:
            try:
                self.journal.close(delete=self.complete)
            except OSError:
                log.debug("closing the journal failed", exc_info=True)
            self.journal = None
