"""The outer run of ``frugal run``: what it does with the messages its command sends.

:class:`OuterService` serves the channel (:mod:`frugalml.measure.channel`) for one tracker:
``epoch_end`` from anywhere in the command's process tree becomes an epoch end of the outer
run (a reading at that moment, the forecast, the budget), ``log_metric`` a metric of the outer
run. Other modules register more message kinds on :attr:`OuterService.server`.

Order of use (``frugal run``)::

    service = OuterService(tracker)
    env = service.start()                 # before the command: it connects as it starts
    child = Popen(cmd, env={**os.environ, **env})
    tracker.start(); service.tracking()   # messages wait (bounded) until the run exists
    ...                                   # the command exits
    service.close()                       # handles what was sent, records what was lost
    tracker.stop(...)
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from frugalml.measure.channel import ChannelServer, Message
from frugalml.measure.epochs import early_stopping_from_dict

if TYPE_CHECKING:
    from frugalml.measure.tracker import Tracker

__all__ = ["OuterService"]

log = logging.getLogger(__name__)

#: How long a message that arrives before the run has started waits for it.
_START_WAIT_S = 10.0
#: How long, after the command exited, its last messages may take to be handled.
_CLOSE_WAIT_S = 5.0


class OuterService:
    """Serve the channel of ``tracker``'s run to the command it measures.

    Args:
        tracker: the outer run's tracker (not started yet: its ``run_id`` is known).
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.server = ChannelServer(tracker.run_id)
        self.server.on("epoch_end", self._epoch_end)
        self.server.on("log_metric", self._log_metric)
        self._started = threading.Event()
        self._serving = False
        self._notes: list[str] = []

    def start(self) -> dict[str, str]:
        """Listen; returns the variables for the command's environment (none if the socket
        could not be created: the command then runs without a channel, and the run says so)."""
        try:
            self.server.start()
        except OSError as e:
            self._note(f"no channel for the command ({e}): its epoch_end/log_metric go nowhere")
            return {}
        self._serving = True
        return self.server.environ()

    def tracking(self) -> None:
        """The tracker has started: messages are handled from now on."""
        run = self.tracker.run
        for note in self._notes:
            if run is not None:
                run.add_error("channel", note)
        self._started.set()
        if self._serving:
            # The forecast model loads numpy (about a second cold on a busy machine): load it
            # now, while the command starts, so that the first epoch ends' readings are not
            # taken late, after the channel's thread waited for the import.
            threading.Thread(
                target=importlib.import_module,
                args=("frugalml.measure.forecast",),
                name="frugalml-forecast-import",
                daemon=True,
            ).start()

    def close(self) -> None:
        """Handle what the command sent, stop listening, record what was lost in the run."""
        if not self._serving:
            return
        self._serving = False
        # The command has exited: what it sent is handled (a reading each), within bounds.
        stats = self.server.close(timeout_s=_CLOSE_WAIT_S)
        run = self.tracker.run
        if run is None:
            return
        problems = []
        if stats.lost:
            problems.append(f"{stats.lost} message(s) dropped by the command's processes")
        if stats.refused:
            problems.append(f"{stats.refused} malformed or foreign message(s) refused")
        if stats.failed:
            problems.append(f"{stats.failed} message(s) could not be applied")
        if stats.unhandled:
            problems.append(
                f"{stats.unhandled} message(s) arrived faster than they could be handled and "
                f"were still waiting {_CLOSE_WAIT_S:g} s after the command exited: left out"
            )
        if problems:
            detail = "; ".join(stats.errors[:3])
            run.add_error(
                "channel", "; ".join(problems) + (f" (first: {detail})" if detail else "")
            )
        elif stats.errors:
            run.add_error("channel", "; ".join(stats.errors[:3]))

    # -- handlers (the channel's thread) ------------------------------------------------------
    def _ready(self) -> bool:
        return self._started.wait(_START_WAIT_S) and self.tracker.run is not None

    def _epoch_end(self, message: Message) -> None:
        if not self._ready():
            raise RuntimeError("the run had not started")
        data = message.data
        stopping = data.get("early_stopping")
        outcome = self.tracker.record_epoch(
            _int(data.get("epoch")),
            _int(data.get("total_epochs")),
            early_stopping=early_stopping_from_dict(stopping) if stopping else None,
        )
        if outcome.stop and self.tracker.on_budget_stop is not None:
            self.tracker.on_budget_stop()

    def _log_metric(self, message: Message) -> None:
        if not self._ready():
            raise RuntimeError("the run had not started")
        data = message.data
        run = self.tracker.run
        assert run is not None
        run.log_metric(str(data["name"]), data["value"], step=_int(data.get("step")))

    def _note(self, message: str) -> None:
        log.warning("frugalml: %s", message)
        self._notes.append(message)  # recorded in the run once it exists


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)
