"""``frugal run -- CMD``: run a command as a child process and measure its process tree.

The command reports to this run through the channel (``FRUGAL_OUTER_RUN``,
:mod:`frugalml.measure.outer`): its ``frugalml.epoch_end()`` calls give the forecast, its
``log_metric`` calls land here. With a budget (``--budget-kwh/-j/-co2e-g``) the forecast warns
early and, with ``--on-budget stop``, the command is stopped when the budget is spent
(:mod:`frugalml.cli._budget`): status ``budget-stopped``, exit code 124.

Signals: the forwarding handlers are installed before anything else (before the command is
started), so a signal at any moment is either forwarded to the command or, when it arrives
before the command exists, ends ``frugal run`` with the run recorded as ``interrupted`` and
the command never started. (Blocking signals around ``Popen`` would close the same window but
the blocked mask is inherited through ``exec``: the command would start deaf to them.)
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from frugalml.cli._budget import (
    BUDGET_EXIT_CODE,
    BudgetKill,
    budget_from_options,
    non_negative_seconds,
    positive_number,
)
from frugalml.cli._common import db_option, writable_folder

if TYPE_CHECKING:
    from frugalml.measure.budget import Budget

FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _positive_interval(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be finite: a number of seconds > 0 (e.g. 1). Got {value}.")
    if value is not None and not value > 0:
        raise click.BadParameter(f"must be a number of seconds > 0 (e.g. 1 or 0.5). Got {value:g}.")
    return value


@click.command(context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False})
@click.option("--name", "-n", default=None, help="Run name (default: the command).")
@click.option(
    "--region",
    "-r",
    default=None,
    help="Grid region, e.g. FR, US-CAMX, aws:eu-west-1 (see `frugal regions`).",
)
@click.option(
    "--pue", default=None, help="Power usage effectiveness (>= 1) or 'datacenter' (1.59)."
)
@click.option(
    "--interval",
    "interval_s",
    type=float,
    default=None,
    callback=_positive_interval,
    help="Sampling interval in seconds (default 1).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    callback=writable_folder,
    metavar="DIR",
    help="Also write DIR/run.json, DIR/samples.csv and DIR/metrics.csv.",
)
@click.option(
    "--scope",
    type=click.Choice(["process", "machine"]),
    default=None,
    help="Energy of the command's process tree (default) or of the whole machine.",
)
@click.option(
    "--intensity-csv",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CSV of (timestamp, g_per_kwh) for time-varying grid intensity.",
)
@click.option(
    "--budget-kwh",
    type=float,
    default=None,
    callback=positive_number,
    help="Energy budget in kWh (IT energy, before PUE).",
)
@click.option(
    "--budget-j", type=float, default=None, callback=positive_number, help="Energy budget in J."
)
@click.option(
    "--budget-co2e-g",
    type=float,
    default=None,
    callback=positive_number,
    help="CO2e budget in grams.",
)
@click.option(
    "--on-budget",
    type=click.Choice(["warn", "stop"]),
    default=None,
    help="When the budget is spent: warn and go on (default), or stop the command "
    "(SIGTERM, then SIGKILL after --grace; exit code 124).",
)
@click.option(
    "--grace",
    "grace_s",
    type=float,
    default=None,
    callback=non_negative_seconds,
    help="Seconds between SIGTERM and SIGKILL when stopping at the budget (default 10).",
)
@click.option(
    "--mlflow",
    is_flag=True,
    help="Also log the run into MLflow (the run named by MLFLOW_RUN_ID, else a new one in "
    "MLFLOW_TRACKING_URI's experiment): energy, CO2e, method, uncertainty, region, report. "
    "Needs pip install 'frugalml[mlflow]'.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the summary and forecast lines.")
@db_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    name: str | None,
    region: str | None,
    pue: str | None,
    interval_s: float | None,
    out_dir: str | None,
    scope: str | None,
    intensity_csv: str | None,
    budget_kwh: float | None,
    budget_j: float | None,
    budget_co2e_g: float | None,
    on_budget: str | None,
    grace_s: float | None,
    mlflow: bool,
    quiet: bool,
    db: str | None,
    command: tuple[str, ...],
) -> int:
    """Run COMMAND, measure its energy and CO2e, and exit with its exit code.

    The command's frugalml.epoch_end() calls forecast the run's total here; with a budget
    the forecast warns early, and --on-budget stop ends the command when it is spent.

    \b
    Examples:
      frugal run --region FR --out out/ -- python train.py --epochs 3
      frugal run --budget-kwh 0.5 --on-budget stop --grace 30 -- python train.py
      frugal run --mlflow -- torchrun --nproc_per_node 2 train.py
    """
    budget = budget_from_options(budget_kwh, budget_j, budget_co2e_g, on_budget, grace_s)
    forwarder = _Forwarder()  # first: from now on no signal is lost or leaves an orphan
    try:
        return _run(
            forwarder,
            name,
            region,
            pue,
            interval_s,
            out_dir,
            scope,
            intensity_csv,
            quiet,
            db,
            command,
            budget,
            10.0 if grace_s is None else grace_s,
            mlflow,
        )
    finally:
        forwarder.restore()


def _run(
    forwarder: _Forwarder,
    name: str | None,
    region: str | None,
    pue: str | None,
    interval_s: float | None,
    out_dir: str | None,
    scope: str | None,
    intensity_csv: str | None,
    quiet: bool,
    db: str | None,
    command: tuple[str, ...],
    budget: Budget | None,
    grace_s: float,
    mlflow: bool = False,
) -> int:
    from frugalml.cli.summary import print_summary
    from frugalml.errors import InputError
    from frugalml.measure.outer import OuterService
    from frugalml.measure.tracker import Tracker

    pue_value: float | str | None = pue
    if pue is not None:
        try:
            pue_value = float(pue)
        except ValueError:
            pue_value = pue
    # Validate everything before starting the user's command.
    tracker = Tracker(
        name or " ".join(command)[:200],
        region=region,
        pue=pue_value,
        interval_s=interval_s,
        scope=scope,
        db=db,
        out_dir=out_dir,
        intensity_csv=intensity_csv,
        handle_signals=False,
        config={"command": list(command)},
        budget=budget,
        echo=_echo(quiet),
        mlflow=mlflow,
    )
    if forwarder.pending:  # a signal before the command existed: it is never started
        signum = forwarder.pending[0]
        tracker.start()
        sig_name = signal.Signals(signum).name
        result = tracker.stop(
            status="interrupted",
            exit_code=128 + signum,
            error=f"{sig_name} arrived before the command was started; it was not run",
        )
        if not quiet:
            print_summary(result.to_dict(), stderr=True)
        return 128 + signum
    service = OuterService(tracker)
    env = service.start()
    try:
        child = subprocess.Popen(list(command), env={**os.environ, **env} if env else None)
    except FileNotFoundError:
        service.close()
        raise InputError(
            f"Command not found: {command[0]!r}. Check the name or give its full path."
        ) from None
    except PermissionError:
        service.close()
        raise InputError(
            f"Command {command[0]!r} is not executable. Check its permissions."
        ) from None
    forwarder.attach(child)  # forwards what arrived while it was being started
    stopper = BudgetKill(child, grace_s)
    if budget is not None and budget.stops:
        tracker.on_budget_stop = stopper
    tracker.pid = child.pid
    tracker.start()
    service.tracking()
    code, cpu_s = _wait(child)
    stopper.finish()
    exit_code = code if code >= 0 else 128 - code  # killed by signal N -> 128+N, as shells do
    status = "finished" if code == 0 else ("interrupted" if code < 0 else "failed")
    error = None
    if stopper.fired:
        status, error = "budget-stopped", budget.spent_what if budget else None
        error = f"stopped by frugal run: {error} (--on-budget stop); the command exited {exit_code}"
        exit_code = BUDGET_EXIT_CODE
    service.close()  # the command's last messages count
    tracker.root_exited(cpu_s)
    result = tracker.stop(status=status, exit_code=exit_code, error=error)
    if not quiet:
        print_summary(result.to_dict(), stderr=True)
    sys.stdout.flush()
    return exit_code


def _echo(quiet: bool) -> Callable[[str], None]:
    """Forecast and budget lines, one each on stderr (``-q`` keeps the budget lines only)."""
    from frugalml import _fmt

    def say(line: str) -> None:
        if quiet and not line.startswith("budget:"):
            return
        click.echo(f"frugal: {_fmt.safe(line)}", err=True)

    return say


def _wait(child: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Wait for the child; return its exit status and CPU seconds (itself + reaped children)."""
    while True:
        try:
            _, status, usage = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:  # already reaped elsewhere
            return child.wait(), 0.0
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    return code, usage.ru_utime + usage.ru_stime


class _Forwarder:
    """Handlers for :data:`FORWARDED` that send each signal to the command, or keep it
    (``pending``) while the command does not exist yet."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []
        self._previous: dict[int, Any] = {}
        for name in FORWARDED:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):
                continue

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        child = self.child
        if child is None:
            self.pending.append(signum)
            return
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:
            pass

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        for signum in self.pending:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
