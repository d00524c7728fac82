"""The spool: an append-only journal per tracked run, so that no run is lost to its registry.

While a run is tracked with a registry, every sample and metric is appended to
``<spool>/<run id>.jsonl`` (``~/.frugal/spool`` by default, ``FRUGAL_SPOOL`` or the config file's
``spool``) at the moment it is taken: one ``write`` of a short line, never waiting on the
registry. The registry itself is written in batches by a background thread. When the run ends
and the registry has everything, the journal is deleted. Otherwise (the registry was locked,
unreachable or replaced, the process was killed) the journal stays, and the next access to that
registry imports it — the run, all its samples and metrics, with status ``interrupted`` if it
never stopped — and says so in one line.

A live journal is locked (``flock``) by its writer; the lock dies with the process, which is
how an importer tells a dead run's journal from a live one (``kill -9`` included).

Lines: a header ``{"journal": 1, "url", "host", "pid", "out_dir", "run": {...}}``, then
``{"n": seq, "s": [[t_s, timestamp, component, energy_j, power_w, method], ...], "m": [[name,
value, step, t_s, timestamp, energy_j], ...], "f": [[...FORECAST_COLUMNS], ...]}`` per sample
(``f``: forecasts made at epoch ends since the previous sample), and ``{"u": {...}}`` for
updates of the run's row (its summary every few seconds, its status at the end). A line cut short by a kill
is ignored.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frugalml.store.backend import HOST, RunWriter, safe_url
from frugalml.store.columns import FORECAST_COLUMNS, METRIC_COLUMNS, SAMPLE_COLUMNS
from frugalml.store.url import sqlite_path

__all__ = ["Journal", "JournalContent", "import_spooled", "pending_journals", "same_registry"]

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW


class Journal:
    """The spool file of one live run, locked for as long as it is open.

    Example:
        >>> import tempfile
        >>> spool = Path(tempfile.mkdtemp())
        >>> j = Journal.create(spool, "r1", url="sqlite:////tmp/x.db", run={"id": "r1"})
        >>> j.append_sample([{"t_s": 1.0, "timestamp": 1.0, "component": "cpu",
        ...                   "energy_j": 2.0, "power_w": 2.0, "method": "rapl"}], [])
        >>> len(j.read().samples)
        1
        >>> j.close(delete=True)
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def create(
        cls,
        spool: Path,
        run_id: str,
        *,
        url: str,
        run: Mapping[str, Any],
        out_dir: str | None = None,
        ancestors: Iterable[Mapping[str, Any]] = (),
    ) -> Journal:
        """Create and lock ``spool/<run_id>.jsonl`` (never through a symlink). ``ancestors``:
        the rows the run belongs to (a distributed job's), created on import if missing."""
        spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = spool / f"{run_id}.jsonl"
        fd = os.open(path, _OPEN_FLAGS, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            journal = cls(path, fd)
            journal._append(
                {
                    "journal": JOURNAL_VERSION,
                    "url": url,
                    "host": HOST,
                    "pid": os.getpid(),
                    "out_dir": out_dir,
                    "run": dict(run),
                    "ancestors": [dict(a) for a in ancestors],
                }
            )
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return journal

    def append_sample(
        self,
        samples: Iterable[Mapping[str, Any]],
        metrics: Iterable[Mapping[str, Any]],
        seq: int = 0,
        *,
        forecasts: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Record one sample's rows (and the metrics logged and forecasts made since the
        previous one); ``seq`` numbers the samples so a writer knows which of its queued ones a
        rewrite covered."""
        parts = [f'{{"n":{int(seq)}']
        rows = [_sample_json(r) for r in samples]
        if rows:
            parts.append(f',"s":[{",".join(rows)}]')
        m = [[r.get(c) for c in METRIC_COLUMNS] for r in metrics]
        if m:
            parts.append(',"m":' + json.dumps(m, separators=(",", ":"), default=str))
        f = [[r.get(c) for c in FORECAST_COLUMNS] for r in forecasts]
        if f:
            parts.append(',"f":' + json.dumps(f, separators=(",", ":"), default=str))
        if len(parts) > 1:
            self._write_line("".join(parts) + "}")

    def append_update(self, values: Mapping[str, Any]) -> None:
        """Record new values of the run's row (summary, status at the end)."""
        self._append({"u": dict(values)})

    def _append(self, record: Mapping[str, Any]) -> None:
        self._write_line(json.dumps(record, separators=(",", ":"), default=str))

    def _write_line(self, line: str) -> None:
        if self._fd is None:
            raise OSError(errno.EBADF, f"journal {self.path} is closed")
        data = (line + "\n").encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def read(self) -> JournalContent:
        """Everything recorded so far."""
        with open(self.path, "rb") as f:
            content = _parse(f.read())
        if content is None:
            raise OSError(errno.EINVAL, f"journal {self.path} has no header")
        return content

    def close(self, *, delete: bool) -> None:
        """Release the lock; ``delete`` when the registry holds the whole run (removed before
        unlocking, so that no importer picks it up in between)."""
        if self._fd is None:
            return
        if delete:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


@dataclass
class JournalContent:
    """What a journal holds, as registry rows."""

    header: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    forecasts: list[dict[str, Any]] = field(default_factory=list)
    update: dict[str, Any] = field(default_factory=dict)
    last_seq: int = -1

    @property
    def run_id(self) -> str:
        return str(self.header["run"]["id"])

    def run_row(self) -> dict[str, Any]:
        """The run's row as it should be stored now. A run that never reached a final status
        (its process died) becomes ``interrupted``, its energy the sum of its samples."""
        row = {**self.header["run"], **self.update}
        summary = dict(row.get("summary") or {})
        status = row.get("status", "running")
        if self.samples:
            last = self.samples[-1]
            row["heartbeat_at"] = max(float(row.get("heartbeat_at") or 0.0), last["timestamp"])
            row["duration_s"] = max(float(row.get("duration_s") or 0.0), last["t_s"])
        if status == "running":
            row["status"] = summary["status"] = "interrupted"
            row["error"] = summary["error"] = (
                "the tracking process ended without stopping the run (killed or crashed); "
                "figures cover it up to its last sample"
            )
            per: dict[str, float] = {}
            for s in self.samples:
                per[s["component"]] = per.get(s["component"], 0.0) + float(s["energy_j"])
            total = sum(per.values())
            old_total = float(row.get("energy_j") or 0.0)
            old_co2 = float(row.get("co2e_g") or 0.0)
            if old_total > 0:
                row["co2e_g"] = old_co2 * total / old_total
            else:
                row["co2e_g"] = (
                    total
                    / 3.6e6
                    * float(row.get("pue") or 1.0)
                    * float(row.get("intensity_g_per_kwh") or 0.0)
                )
            row["energy_j"] = total
            if summary:
                summary["energy_j"] = {**per, "total": total}
                summary["energy_kwh"] = total / 3.6e6
                summary["facility_energy_j"] = total * float(row.get("pue") or 1.0)
                summary["co2e_g"] = row["co2e_g"]
                summary["duration_s"] = row.get("duration_s", 0.0)
        if summary:
            summary["errors"] = [
                *summary.get("errors", []),
                {"source": "spool", "message": "imported from the spool into the registry"},
            ]
            row["summary"] = summary
        return row


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:+-_./ ")


def _text(value: object) -> str:
    if value is None:
        return "null"
    text = str(value)
    return f'"{text}"' if _PLAIN.issuperset(text) else json.dumps(text)


def _sample_json(r: Mapping[str, Any]) -> str:
    """One sample row as a JSON array, written by hand: this runs at every sample and the
    json module's general encoder costs several times more for these few numbers."""
    return (
        f"[{float(r['t_s'])!r},{float(r['timestamp'])!r},{_text(r['component'])},"
        f"{float(r['energy_j'])!r},{float(r['power_w'])!r},{_text(r.get('method'))}]"
    )


def _parse(data: bytes) -> JournalContent | None:
    content: JournalContent | None = None
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a line cut short by a kill: the sample after it never happened
            break
        if content is None:
            if not isinstance(record, dict) or record.get("journal") != JOURNAL_VERSION:
                return None
            content = JournalContent(header=record)
            continue
        content.last_seq = max(content.last_seq, int(record.get("n", -1)))
        for values in record.get("s", ()):
            content.samples.append(dict(zip(SAMPLE_COLUMNS, values)))
        for values in record.get("m", ()):
            content.metrics.append(dict(zip(METRIC_COLUMNS, values)))
        for values in record.get("f", ()):
            content.forecasts.append(dict(zip(FORECAST_COLUMNS, values)))
        if "u" in record:
            content.update.update(record["u"])
    return content


def same_registry(a: str | None, b: str | None) -> bool:
    """Whether two registry URLs name the same database (SQLite files by real path)."""
    if a is None or b is None:
        return False
    pa, pb = sqlite_path(a), sqlite_path(b)
    if pa is not None and pb is not None:
        return os.path.realpath(pa) == os.path.realpath(pb)
    return a == b


def pending_journals(url: str, spool: Path) -> list[Path]:
    """Journals in ``spool`` meant for ``url`` (live or not), without locking them."""
    try:
        paths = sorted(spool.glob("*.jsonl")) if spool.is_dir() else []
    except OSError:  # a spool this user may not read holds nothing for them
        return []
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline() or b"{}")
        except (OSError, ValueError):
            continue
        if isinstance(header, dict) and same_registry(header.get("url"), url):
            out.append(path)
    return out


def import_spooled(writer: RunWriter, spool: Path) -> list[str]:
    """Import every journal in ``spool`` meant for ``writer``'s registry whose run is no longer
    being written (its lock is free); returns the imported run ids. A journal that cannot be
    imported stays for the next time."""
    imported: list[str] = []
    for path in pending_journals(writer.url, spool):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is alive (or another importer has it)
            if os.fstat(fd).st_nlink == 0:
                continue  # imported and removed meanwhile
            with os.fdopen(os.dup(fd), "rb") as f:
                content = _parse(f.read())
            if content is None:
                continue
            row = content.run_row()
            writer.ensure_runs(content.header.get("ancestors") or [])
            writer.replace_run(row, content.samples, content.metrics, content.forecasts)
            _reconcile_out_dir(content.header.get("out_dir"), row)
            path.unlink(missing_ok=True)
            imported.append(content.run_id)
        except Exception as e:  # the registry failing: try again at the next access
            log.warning("frugalml could not import the spooled run %s yet: %s", path.name, e)
            break
        finally:
            os.close(fd)
    if imported:
        log.warning(
            "frugalml imported %d spooled run(s) into %s: %s",
            len(imported),
            safe_url(writer.url),
            ", ".join(imported),
        )
    return imported


def _reconcile_out_dir(out_dir: str | None, row: Mapping[str, Any]) -> None:
    """A run.json left saying ``running`` by a dead process gets the status now known."""
    if not out_dir:
        return
    path = Path(out_dir) / "run.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if data.get("id") != row["id"] or data.get("status") != "running":
        return
    from frugalml._fs import write_text_atomic

    data["status"] = row["status"]
    data["error"] = row.get("error")
    try:
        write_text_atomic(path, json.dumps(data, indent=2, default=str))
    except OSError:
        log.debug("could not update %s", path, exc_info=True)
