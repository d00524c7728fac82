"""Reading a ``run.json`` written by ``--out`` / ``out_dir=``, with its status reconciled.

A process killed with ``kill -9`` leaves ``run.json`` saying ``running``. Readers reconcile it:
with the registry when it has the run (its status accounts for a dead writer), otherwise with
the file's own ``writer`` (host, pid) and ``heartbeat_at``, which is refreshed every few
seconds while the run is alive. (The next registry access also rewrites such a file when it
imports the dead run from the spool.)
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from frugalml.errors import FrugalError, InputError

__all__ = ["read_run_json"]


def read_run_json(
    path: str | os.PathLike[str], *, db: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """``run.json`` (or ``DIR/run.json``) with a stale ``running`` turned into ``interrupted``.

    Args:
        path: the file or its folder.
        db: the registry to ask first (default: the usual resolver); skipped when it does not
            exist or lacks the run.

    Raises:
        InputError: no such file, or not a run.json.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "run.json"
    try:
        data = json.loads(p.read_text())
    except OSError as e:
        raise InputError(f"Cannot read {p}: {e.strerror}. Give a run.json or its folder.") from e
    except ValueError as e:
        raise InputError(f"{p} is not a run.json ({e}). Give a file written by --out.") from e
    if not isinstance(data, dict) or "id" not in data or "status" not in data:
        raise InputError(f"{p} is not a run.json (no id/status). Give a file written by --out.")
    if data["status"] != "running":
        return data
    status = _registry_status(str(data["id"]), db)
    if status is None:
        status = _file_status(data)
    if status != "running":
        data["status"] = status
        data["error"] = data.get("error") or (
            "the process writing this run ended without stopping it (killed or crashed); "
            "figures cover it up to its last write"
        )
    return data


def _registry_status(run_id: str, db: str | os.PathLike[str] | None) -> str | None:
    try:
        from frugalml.store import open_registry

        return open_registry(db).get_run(run_id).status
    except (FrugalError, OSError):
        return None


def _file_status(data: dict[str, Any]) -> str:
    from frugalml.store.backend import effective_status

    writer = data.get("writer") or {}

    def ts(key: str) -> float:
        try:
            return datetime.fromisoformat(str(data[key])).timestamp()
        except (KeyError, ValueError):
            return 0.0

    row = {
        "status": "running",
        "host": writer.get("host"),
        "pid": writer.get("pid"),
        "started_at": ts("started_at"),
        "heartbeat_at": ts("heartbeat_at") or ts("started_at"),
        "interval_s": data.get("interval_s"),
    }
    return effective_status(row)
