"""Where a run is persisted as it is measured: ``--out`` files and the registry.

A sink failure (full disk, locked or broken database) never reaches the user's job: it is
logged once, recorded in the run's ``errors``, and the rows wait to be retried at the next
sample (up to a bound).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from frugalml._fs import write_text_atomic
from frugalml.measure.run import Run

__all__ = ["SAMPLE_COLUMNS", "FileSink", "Sink", "StoreSink"]

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("t_s", "timestamp", "component", "energy_j", "power_w", "method")
MAX_PENDING_ROWS = 200_000


class Sink(ABC):
    """Persists a run: ``open`` once, ``write`` at every sample, ``close`` at the end."""

    label = "sink"

    def __init__(self) -> None:
        self._samples: list[dict[str, Any]] = []
        self._metrics: list[dict[str, Any]] = []
        self._failing = False
        self._opened = False

    def open(self, run: Run) -> None:
        self._guard(run, self._open, run)

    def write(self, run: Run, samples: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
        self._samples.extend(samples)
        self._metrics.extend(metrics)
        if len(self._samples) > MAX_PENDING_ROWS:
            dropped = len(self._samples) - MAX_PENDING_ROWS
            del self._samples[:dropped]
            run.add_error(
                self.label, f"dropped {dropped} unsaved samples: {self.label} failing too long"
            )
        if not self._opened:
            self.open(run)
            if not self._opened:
                return
        if self._guard(run, self._write, run, self._samples, self._metrics):
            self._samples, self._metrics = [], []

    def close(self, run: Run) -> None:
        self.write(run, [], [])
        if self._opened:
            self._guard(run, self._close, run)

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

    def _open(self, run: Run) -> None:
        self._opened = True

    @abstractmethod
    def _write(
        self, run: Run, samples: list[dict[str, Any]], metrics: list[dict[str, Any]]
    ) -> None:
        """Persist these rows (raise on failure: ``write`` records it and retries later)."""

    def _close(self, run: Run) -> None:  # noqa: B027 - nothing to release by default
        """Release what ``_open`` took."""


class FileSink(Sink):
    """``DIR/run.json`` (rewritten atomically at every sample), ``DIR/samples.csv`` and
    ``DIR/metrics.csv`` (appended and flushed at every sample)."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.label = str(self.out_dir)
        self._files: dict[str, Any] = {}

    def _open(self, run: Run) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, columns in (
            ("samples.csv", SAMPLE_COLUMNS),
            ("metrics.csv", ("t_s", "timestamp", "name", "value", "step", "energy_j")),
        ):
            f = open(self.out_dir / name, "w", newline="")  # noqa: SIM115 - open for the run
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            self._files[name] = (f, writer)
        write_json_atomic(self.out_dir / "run.json", run.to_dict())
        self._opened = True

    def _write(
        self, run: Run, samples: list[dict[str, Any]], metrics: list[dict[str, Any]]
    ) -> None:
        for name, rows in (("samples.csv", samples), ("metrics.csv", metrics)):
            if rows:
                f, writer = self._files[name]
                writer.writerows(rows)
                f.flush()
        write_json_atomic(self.out_dir / "run.json", run.to_dict())

    def _close(self, run: Run) -> None:
        for f, _ in self._files.values():
            f.close()
        self._files.clear()


class StoreSink(Sink):
    """The run registry (opened lazily from the sampler thread: SQLAlchemy takes ~0.2 s to import)."""

    def __init__(self, url: str | None) -> None:
        super().__init__()
        self.url = url
        self.label = f"registry {url}"
        self._store: Any = None

    def _open(self, run: Run) -> None:
        from frugalml.store import Store

        self._store = Store(self.url)
        self.label = f"registry {self._store.url}"
        self._store.create_run(
            {
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
            }
        )
        self._opened = True

    def _write(
        self, run: Run, samples: list[dict[str, Any]], metrics: list[dict[str, Any]]
    ) -> None:
        import time

        update = _run_columns(run)
        update["heartbeat_at"] = time.time()
        self._store.write(
            run.id,
            samples=[
                {k: s[k] for k in ("t_s", "timestamp", "component", "energy_j", "power_w")}
                for s in samples
            ],
            metrics=metrics,
            update=update,
        )

    def _close(self, run: Run) -> None:
        import time

        update = _run_columns(run)
        update.update(
            status=run.status,
            ended_at=time.time(),
            heartbeat_at=time.time(),
            exit_code=run.exit_code,
            error=run.error,
        )
        self._store.write(run.id, update=update)
        self._store.close()


def _run_columns(run: Run) -> dict[str, Any]:
    energy = run.energy_j
    return {
        "duration_s": run.duration_s,
        "energy_j": energy["total"],
        "co2e_g": run.co2e_g,
        "methods": run.methods,
        "uncertainty": run.uncertainty["total"],
        "summary": run.to_dict(),
    }


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to ``path`` atomically (see :func:`frugalml._fs.write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str))
