"""``frugal run``'s budget options and how it stops a command whose budget is spent.

Stopping is what ``timeout`` does, on the command's whole process tree: SIGTERM to the command
and every process it started (a shell's child does not get its parent's SIGTERM), then
SIGKILL to whatever is still alive after ``--grace`` seconds. Processes are addressed through
a pidfd (the command) and psutil's identity check (its descendants), so a pid reused after a
process exited is never signalled.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from typing import Any

import click

from frugalml.measure.budget import Budget

__all__ = ["BudgetKill", "budget_from_options", "positive_number"]

#: ``frugal run``'s exit code when it stopped the command at its budget (as ``timeout``).
BUDGET_EXIT_CODE = 124


def positive_number(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """A finite number > 0 (budgets)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite number > 0 (e.g. 0.5). Got {value:g}.")
    return value


def non_negative_seconds(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"must be a number of seconds >= 0 (e.g. 10). Got {value:g}.")
    return value


def budget_from_options(
    budget_kwh: float | None,
    budget_j: float | None,
    budget_co2e_g: float | None,
    on_budget: str | None,
    grace_s: float | None,
) -> Budget | None:
    """The budget the options describe, or None; a usage error (exit 2) for a bad combination."""
    if budget_kwh is not None and budget_j is not None:
        raise click.UsageError(
            "--budget-kwh and --budget-j both set an energy budget: give one of them."
        )
    energy_j = budget_kwh * 3.6e6 if budget_kwh is not None else budget_j
    if energy_j is None and budget_co2e_g is None:
        for flag, value in (("--on-budget", on_budget), ("--grace", grace_s)):
            if value is not None:
                raise click.UsageError(
                    f"{flag} needs a budget: add --budget-kwh, --budget-j or --budget-co2e-g."
                )
        return None
    mode = on_budget or "warn"
    grace = 10.0 if grace_s is None else grace_s
    return Budget(
        energy_j,
        budget_co2e_g,
        mode,
        owner="frugal run",
        subject="the command",
        stopping=f"sending SIGTERM to the command (SIGKILL after {grace:g} s)",
        setting=f"--on-budget {mode}",
    )


class BudgetKill:
    """Stop the command and its process tree: SIGTERM now, SIGKILL after ``grace_s``.

    Call it (any thread, any number of times: it acts once) when the budget is spent; call
    :meth:`finish` once the command has been reaped, to give the rest of its tree the same
    grace period and then kill what is left.
    """

    def __init__(self, child: subprocess.Popen[bytes], grace_s: float) -> None:
        self.child = child
        self.grace_s = grace_s
        self.fired = False
        self._at = 0.0
        self._lock = threading.Lock()
        self._tree: list[Any] = []  # psutil.Process of the descendants, identity-checked
        self._timer: threading.Timer | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(child.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: plain pids
            self._pidfd = None

    def __call__(self) -> None:
        with self._lock:
            if self.fired:
                return
            self.fired = True
            self._at = time.monotonic()
            self._tree = _descendants(self.child.pid)
        self._signal_command(signal.SIGTERM)
        for proc in self._tree:
            with contextlib.suppress(Exception):
                proc.send_signal(signal.SIGTERM)  # psutil checks the identity first
        self._timer = threading.Timer(self.grace_s, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def finish(self) -> None:
        """The command was reaped: wait what is left of the grace period for its tree, then
        kill the survivors (nothing to do when it was never stopped)."""
        if not self.fired:
            self._close()
            return
        if self._timer is not None:
            self._timer.cancel()
        deadline = self._at + self.grace_s
        while any(_alive(p) for p in self._tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._kill()
        self._close()

    def _kill(self) -> None:
        self._signal_command(signal.SIGKILL)
        survivors = [*self._tree, *_descendants(self.child.pid)]
        for proc in survivors:
            with contextlib.suppress(Exception):
                proc.kill()

    def _signal_command(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, sig)
            elif self.child.returncode is None:
                os.kill(self.child.pid, sig)

    def _close(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None


def _descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _alive(proc: Any) -> bool:
    import psutil

    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
