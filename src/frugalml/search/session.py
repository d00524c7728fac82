"""A search command's own measurement (a *session*) and its record on the study.

Each search command measures its whole process tree — itself and its worker processes — from
start to end. What it used outside its trials (starting workers and importing torch, loading
data, the samplers' own computation, storage I/O, a weight-sharing supernet) is its
``overhead_energy_j = session energy - energy of the trials it ran``, recorded on the study as
the user attribute ``session:<id>``. The study's total is the sum of every trial's energy and
every session's overhead: each joule is counted once, whichever worker or machine spent it,
and a worker that dies takes no energy with it (its trials' energy stays in its session).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

from frugalml.search.config import SearchConfig
from frugalml.search.tracking import SESSION_PREFIX

__all__ = ["Session"]

log = logging.getLogger(__name__)


class Session:
    """This command's own measurement (its process tree) and its record on the study."""

    def __init__(self, config: SearchConfig) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.extra: dict[str, Any] = {}
        self._tracker: Any = None

    def start(self, study_name: str) -> None:
        from frugalml.measure.tracker import Tracker

        self.started = time.time()
        self._tracker = Tracker(
            f"search:{study_name}:session",
            db=False,
            handle_signals=False,
            region=self.config.region,
            pue=self.config.pue,
        )
        self._tracker.start()

    def finish(self, study: Any, workers: int) -> dict[str, Any]:
        """Stop measuring, close trials a dead worker left running, record the session."""
        run = self._tracker.stop()
        mine = [
            t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("session") == self.id
        ]
        for t in mine:
            if t.state.name == "RUNNING":  # its worker is gone: every worker has exited here
                _fail_trial(study, t)
        trial_j = sum(float(t.user_attrs.get("energy_j", 0.0)) for t in mine)
        total_j = float(run.energy_j["total"])
        overhead = max(0.0, total_j - trial_j)
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": self.started,
            "end": time.time(),
            "workers": workers,
            "trials": len(mine),
            "energy_j": total_j,
            "trial_energy_j": trial_j,
            "overhead_energy_j": overhead,
            "overhead_co2e_g": run.co2e_g * overhead / total_j if total_j > 0 else 0.0,
            "energy_method": run.energy_method,
            **self.extra,
        }
        study.set_user_attr(SESSION_PREFIX + self.id, record)
        return record


def _fail_trial(study: Any, trial: Any) -> None:
    from optuna.trial import TrialState

    try:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study._storage.set_trial_user_attr(
            trial._trial_id, "fail_reason", "its worker process ended during the trial"
        )
    except Exception as e:  # already finished elsewhere, or the storage is gone
        log.warning("could not mark trial %s as failed: %s", trial.number, e)
