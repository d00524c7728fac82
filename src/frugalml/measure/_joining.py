"""What a tracker does differently when its process is one of many: the glue between
:class:`~frugalml.measure.tracker.Tracker` and :mod:`frugalml.measure.distributed`.

* Under ``frugal run`` (``FRUGAL_OUTER_RUN``), the outer run already measures this process's
  tree: the tracker *joins* it. It measures locally (``run.energy_j`` works as usual) but
  stores no run of its own; its metrics go to the outer run.
* In a distributed job, the run is one rank's: a ``rank`` row under its host's row, under
  the job's row; the rank reads only what is its own (:mod:`frugalml.measure._sharing`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from frugalml.measure._sharing import Claims, OtherRanks, share_sensors
from frugalml.measure.base import Sensor
from frugalml.measure.distributed import ORDINALS, JobContext, detect_job, outer_run_id
from frugalml.measure.run import Run

__all__ = ["Joining", "join"]


class Joining:
    """A tracker's place in a job (``ctx``) or under an outer run (``outer``)."""

    def __init__(
        self,
        name: str,
        *,
        ctx: JobContext | None = None,
        outer: str | None = None,
        claims_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.name = name
        self.ctx = ctx
        self.outer = outer
        self.job_id = self.host_id = ""
        self.ordinal = 0
        self.claims: Claims | None = None
        self.host_wide: list[str] = []
        if ctx is not None:
            self.ordinal = ctx.ordinal or ORDINALS.next(ctx.key, name)
            self.job_id, self.host_id = ctx.run_ids(name, self.ordinal)
            self.claims = Claims(self.host_id, claims_root)

    @property
    def stores_run(self) -> bool:
        """False under an outer run: the outer run is the one stored."""
        return self.outer is None

    def prune(self) -> Callable[[int], bool] | None:
        """For the rank's process tree: leave out other ranks' subtrees."""
        return OtherRanks() if self.ctx is not None else None

    def share(self, sensors: list[Sensor], scope: str, skipped: dict[str, str]) -> list[Sensor]:
        """The sensors (or their parts) this rank reads; records the others in ``skipped``."""
        if self.ctx is None or self.claims is None:
            return sensors
        kept, left, self.host_wide = share_sensors(self.ctx, sensors, scope, self.claims)
        skipped.update(left)
        return kept

    def attach(self, run: Run) -> None:
        """Make ``run`` this process's part of the job (or of the outer run)."""
        if self.outer is not None:
            run.parent_id, run.kind = self.outer, "joined"
            run.job = {"outer_run": self.outer}
            return
        ctx = self.ctx
        assert ctx is not None
        run.parent_id, run.kind = self.host_id, "rank"
        run.tags.update(ctx.tags())
        run.job = {
            **ctx.describe(),
            "job_id": self.job_id,
            "host_id": self.host_id,
            "ordinal": self.ordinal,
            "host_wide": list(self.host_wide),
        }
        if not ctx.hosts_joined:
            run.add_error(
                "job",
                "no job identity shared by every host (torchrun's run id is 'none', or the "
                "launcher sets none): this host's ranks form their own run. Give every "
                "process the same FRUGAL_JOB_ID, or torchrun --rdzv-id, to join them.",
            )
        run.ancestors = [self._row(run, "job"), self._row(run, "host")]

    def _row(self, run: Run, kind: str) -> dict[str, Any]:
        ctx = self.ctx
        assert ctx is not None
        job = {
            "key": ctx.key,
            "launcher": ctx.launcher,
            "world_size": ctx.world_size,
            "hosts_joined": ctx.hosts_joined,
            "sources": list(ctx.sources),
        }
        row_id = self.job_id if kind == "job" else self.host_id
        name = self.name if kind == "job" else f"{self.name} @ {ctx.host}"
        summary: dict[str, Any] = {"id": row_id, "name": name, "kind": kind, "job": job}
        if kind == "host":
            summary.update(host=ctx.host, hardware=run.hardware)
        return {
            "id": row_id,
            "name": name,
            "started_at": run.started_at,
            "heartbeat_at": time.time(),
            "region": run.region,
            "intensity_g_per_kwh": run.intensity_g_per_kwh,
            "pue": run.pue,
            "scope": run.scope,
            "interval_s": run.interval_s,
            "pid": None,
            "summary": summary,
            "parent_id": None if kind == "job" else self.job_id,
            "kind": kind,
        }

    def release(self) -> None:
        if self.claims is not None:
            self.claims.release()


def join(job: JobContext | bool | None, name: str) -> Joining | None:
    """How a tracker named ``name`` takes part in a job: ``job`` is a context an integration
    built, ``False`` (a lone run whatever the environment) or ``None`` (read the environment).
    None when the process is on its own."""
    if job is False:
        return None
    outer = outer_run_id()
    if outer is not None:
        return Joining(name, outer=outer)
    ctx = detect_job() if job is None or job is True else job
    return None if ctx is None else Joining(name, ctx=ctx)
