"""The tracker: start, sample in a background thread, stop.

``track()`` works as a context manager, as a decorator and through ``start()``/``stop()``.
Nothing heavy runs in the caller's thread: starting reads /proc and sysfs directly (no slow
hardware-probing library, no SQLAlchemy), the sampler thread reads the sensors, and the
registry is written by a background writer (:mod:`frugalml.measure.writer`) in batches.

The tracker never hurts the user's job: a failing sensor or sink is logged once and recorded
in the run; ``log_metric`` and the signal handlers never do I/O or wait on a lock held during
I/O; signal handlers are chained to the application's own, never replace them.

Threads: the sampler (reads sensors every ``interval_s``, appends to the ``--out`` files and
the spool journal, hands rows to the writer) and, with a registry, the writer. ``sample()``
takes a reading at once from the calling thread (the hook for per-epoch readings);
``epoch_end()`` adds the forecast and the budget (:mod:`frugalml.measure.epochs`).
``tracker_cpu_s`` adds the CPU time of every thread, from the constructor to ``stop()``.
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from frugalml._params import check_choice, check_number
from frugalml.measure import epochs
from frugalml.measure.base import Sensor
from frugalml.measure.budget import Budget
from frugalml.measure.run import Run
from frugalml.measure.sampler import Sampler
from frugalml.measure.sinks import FLUSH_TIMEOUT_S, Batch, FileSink, Sink, StoreSink

if TYPE_CHECKING:
    from frugalml.measure.channel import ChannelClient
    from frugalml.measure.forecast import Forecast

__all__ = ["Tracker", "track"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_LIVE: weakref.WeakSet[Tracker] = weakref.WeakSet()


class Tracker:
    """Measure the energy and CO2e of a block of code, a function or a process tree.

    Args:
        name: run name (default: ``run``).
        sensors: sensors to read; default probes the registry (RAPL, NVML, AMD SMI, models).
        region: grid region code (``FR``, ``US-CAMX``, ``aws:eu-west-1``); default
            ``FRUGAL_REGION``, the config file, else the world average (said in the output).
        pue: power usage effectiveness (number >= 1, or ``"datacenter"``); default by region.
        intensity_csv: optional CSV of (timestamp, g/kWh) for time-varying grid intensity.
        interval_s: sampling interval in seconds (default 1).
        scope: ``"process"`` (the tracked process tree) or ``"machine"``.
        pid: root of the tracked tree (default: this process).
        db: registry URL or path; ``None`` uses ``FRUGAL_DB``/config/``~/.frugal/frugal.db``;
            ``False`` records nothing in a registry. Written by a background thread; if the
            registry is unavailable the run waits in the spool (``~/.frugal/spool``) and is
            imported at the next access.
        out_dir: also write ``run.json``, ``samples.csv`` and ``metrics.csv`` there.
        tags: free-form labels recorded with the run.
        handle_signals: on SIGTERM/SIGINT, record the signal and let the application's own
            handler run at once; with no handler, finish the run as ``interrupted`` first.
        total_epochs: epochs the training is configured for: each ``epoch_end()`` then
            forecasts the run's totals (``run.forecast``); may also be given to ``epoch_end``.
        epoch_work: relative work of every epoch (``total_epochs`` positive numbers), when
            the epochs are known to differ (progressive stages): the forecast foresees them.
        budget_j: energy budget in joules (IT energy, as ``run.energy_j["total"]``).
        budget_co2e_g: CO2e budget in grams.
        on_budget: ``"stop"`` (default): ``epoch_end`` raises :class:`frugalml.BudgetExceeded`
            once a budget is spent, after recording the run as ``budget-stopped``;
            ``"warn"``: a :class:`~frugalml.errors.BudgetWarning` and training goes on. Both
            warn as soon as the forecast exceeds a budget.
        budget: a :class:`~frugalml.measure.budget.Budget` instead of ``budget_j``,
            ``budget_co2e_g`` and ``on_budget``, to word its lines for where it is used
            (``frugal run``, the training callbacks).
        echo: where forecast lines go: True (the ``frugalml.measure.epochs`` logger when
            logging is configured, else stderr), False (nowhere), or a callable taking each
            line (budget lines too, instead of warnings).
        active: whether ``frugalml.epoch_end()`` finds this run (the innermost active one)
            and, under ``frugal run``, forwards its ``log_metric``/``epoch_end`` to the outer
            run. False for meters a library runs inside your training.
        job: in a distributed job (torchrun, SLURM, MPI) the run is this rank's part of one
            logical run (:mod:`frugalml.measure.distributed`); under ``frugal run`` it joins
            the outer run. ``None`` reads the environment; a
            :class:`~frugalml.measure.distributed.JobContext` says it (integrations pass the
            framework's ranks); ``False`` makes a lone run whatever the environment.
        mlflow: log the finished run into MLflow (:func:`frugalml.integrations.mlflow.log_run`:
            energy per component, CO2e, method, uncertainty and region as metrics, params and
            tags, ``run.json`` and the report as artifacts). ``None``: when an MLflow run is
            active in this process (the default of :func:`track`); ``True``: into the active
            MLflow run, or a new one named after the run (needs
            ``pip install 'frugalml[mlflow]'``); ``False`` (the default here, for the trackers
            libraries run inside your job): never.
            In a distributed job rank 0 logs (its part; the job's total is in the registry);
            under ``frugal run`` the outer run logs (``frugal run --mlflow``). A failure is a
            warning and an entry in ``run.errors``, never an exception.

    Example:
        >>> with Tracker("demo", db=False, region="FR") as run:  # doctest: +SKIP
        ...     sum(i * i for i in range(10**6))
        >>> run.energy_j["total"] > 0  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        sensors: Iterable[Sensor] | None = None,
        region: str | None = None,
        pue: float | str | None = None,
        intensity_csv: str | os.PathLike[str] | None = None,
        interval_s: float | None = None,
        scope: str | None = None,
        pid: int | None = None,
        db: str | os.PathLike[str] | bool | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        tags: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
        handle_signals: bool = True,
        total_epochs: int | None = None,
        epoch_work: Sequence[float] | None = None,
        budget_j: float | None = None,
        budget_co2e_g: float | None = None,
        on_budget: str = "stop",
        budget: Budget | None = None,
        echo: epochs.Echo = True,
        active: bool = True,
        job: Any = None,
        mlflow: bool | None = False,
    ) -> None:
        cpu0 = time.thread_time()
        epochs.check_epochs("Tracker", None, total_epochs)
        if budget is not None and (budget_j is not None or budget_co2e_g is not None):
            from frugalml.errors import InputError

            raise InputError("Tracker: give either budget= or budget_j/budget_co2e_g, not both.")
        spend = budget
        if spend is None and (budget_j is not None or budget_co2e_g is not None):
            spend = Budget(budget_j, budget_co2e_g, on_budget, owner="Tracker")
        elif spend is None:
            Budget(on_budget=on_budget, owner="Tracker")  # the choice is checked all the same
        if epoch_work is not None:
            epoch_work = _checked_work(epoch_work, total_epochs)
        from frugalml.carbon.regions import resolve_pue, resolve_region
        from frugalml.config import load_config, spool_dir

        file_config = load_config()
        interval_s = float(file_config.get("interval_s", 1.0)) if interval_s is None else interval_s
        check_number("Tracker", "interval_s", interval_s, low=0, low_open=True)
        scope = str(file_config.get("scope", "process")) if scope is None else scope
        check_choice("Tracker", "scope", scope, ("process", "machine"))
        self.name = name or "run"
        self.interval_s = float(interval_s)
        self.scope = scope
        self.pid = pid
        self._region, self._region_how = resolve_region(region, config=file_config)
        pue_value: float | str | None = pue
        if pue_value is None:
            pue_value = os.environ.get("FRUGAL_PUE") or file_config.get("pue")
        self._pue, self._pue_source = resolve_pue(pue_value, self._region)
        self._timeline = None
        if intensity_csv is not None:
            from frugalml.carbon.intensity import IntensityTimeline

            self._timeline = IntensityTimeline.from_csv(os.fspath(intensity_csv))
        self._sensors_arg = None if sensors is None else list(sensors)
        self._db: str | None = None
        if db is not False:
            from frugalml.store.url import resolve_db_url  # no SQLAlchemy: validated now

            self._db = resolve_db_url(None if db is True else db, config=file_config)
        self._spool = spool_dir(config=file_config)
        self._connect_timeout_s = float(file_config.get("db_connect_timeout_s", 5.0))
        self._statement_timeout_s = float(file_config.get("db_statement_timeout_s", 30.0))
        self._out_dir = out_dir
        self._tags = dict(tags or {})
        self._config = dict(config or {})
        if spend is not None:
            self._config.update(spend.limits(), on_budget=spend.on_budget)
        if total_epochs is not None:
            self._config["total_epochs"] = int(total_epochs)
        self._handle_signals = handle_signals
        self._active = bool(active)
        self._epochs = epochs.EpochState(
            total_epochs=total_epochs, work=epoch_work, budget=spend, echo=echo
        )
        #: Called (from the sampler thread) when the budget is found spent with
        #: ``on_budget="stop"``; ``frugal run`` stops its command there. Set before start().
        self.on_budget_stop: Callable[[], None] | None = None
        #: The run's id, known before it starts (``frugal run`` gives it to its command).
        self.run_id = os.urandom(8).hex()
        self._outer: ChannelClient | None = None
        self._job = job
        self._joining: Any = None
        self._mlflow = _check_mlflow(mlflow)
        self._init_args: dict[str, Any] = dict(
            name=name,
            sensors=sensors,
            region=region,
            pue=pue,
            intensity_csv=intensity_csv,
            interval_s=interval_s,
            scope=scope,
            pid=pid,
            db=db,
            out_dir=out_dir,
            tags=tags,
            config=config,
            handle_signals=handle_signals,
            total_epochs=total_epochs,
            epoch_work=epoch_work,
            budget_j=budget_j,
            budget_co2e_g=budget_co2e_g,
            on_budget=on_budget,
            budget=budget,
            echo=echo,
            active=active,
            job=job,
            mlflow=mlflow,
        )
        self.run: Run | None = None
        self.process_tree: Any = None
        self._lock = threading.RLock()  # readings and the sampler's state; never the Run's
        # Held until stop(): the sampler sleeps by trying to take it, one C call per sample
        # (an Event's wait builds a Condition and a new lock every time).
        self._running = threading.Lock()
        self._running.acquire()
        self._thread: threading.Thread | None = None
        self._sampler: Sampler | None = None
        self._sinks: list[Sink] = []
        self._metrics: deque[dict[str, Any]] = deque()  # from log_metric, any thread
        self._forecasts: deque[dict[str, Any]] = deque()  # from epoch_end, any thread
        self._pending_rows: list[dict[str, Any]] = []  # from sample() between ticks
        self._seq = 0
        self._last_t = 0.0
        self._t0 = 0.0
        self._prev_handlers: dict[int, Any] = {}
        self._signals_released = False
        self._stopped = False
        self._cpu_caller_s = time.thread_time() - cpu0  # constructor, start, sample, stop
        self._cpu_sampler_s = 0.0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Run:
        """Take the first reading and start the sampler thread. Returns the live run."""
        if self.run is not None:
            raise RuntimeError("This tracker was already started; create a new one for a new run.")
        cpu0 = time.thread_time()
        from frugalml.measure._proc import MachineCpu, ProcessTree
        from frugalml.measure.hardware import machine_hardware
        from frugalml.measure.registry import default_sensors

        skipped: dict[str, str] = {}
        # a library's own meter (active=False) is no rank's part of a job, unless told
        job = self._job if self._active or self._job is not None else False
        joining = None
        if job is not False and (job is not None or any(v in os.environ for v in JOB_HINTS)):
            from frugalml.measure._joining import join  # only then: ~25 ms of imports

            joining = join(job, self.name)
        self._joining = joining
        prune = None if joining is None else joining.prune()
        self.process_tree = ProcessTree(self.pid, prune) if self.scope == "process" else None
        if self._sensors_arg is None:
            sensors, skipped = default_sensors(self.scope, self.pid, tree=self.process_tree)
        else:
            sensors = []
            for s in self._sensors_arg:
                ok = _safe_available(s)
                if ok.ok:
                    sensors.append(s)
                else:
                    skipped[s.name] = ok.reason
        if joining is not None:  # this rank's part only: nothing counted twice
            sensors = joining.share(sensors, self.scope, skipped)
        run = Run(
            id=self.run_id,
            name=self.name,
            scope=self.scope,
            interval_s=self.interval_s,
            region=self._region.code,
            region_name=self._region.name,
            region_source=self._region_how,
            intensity_g_per_kwh=self._region.intensity_g_per_kwh,
            pue=self._pue,
            pue_source=self._pue_source,
            tags=self._tags,
            config={**self._config, "pid": self.pid or os.getpid()},
            sensors_skipped=skipped,
        )
        run._timeline = self._timeline
        run._on_metric = self._metrics.append  # a deque append: no lock, no I/O
        run._on_forecast = self._forecasts.append
        run._epoch_end = self.epoch_end
        run._cpu_source = self._cpu_s
        if self._active:
            self._forward_to_outer(run)
        hardware = machine_hardware()
        for s in sensors:
            try:
                extra = s.hardware()
            except Exception:
                extra = {}
            for key in ("gpus", "unreadable_gpus"):  # lists: several GPU sensors add to them
                if key in extra:
                    hardware[key] = [*hardware.get(key, []), *extra.pop(key)]  # type: ignore[misc]
            hardware.update(extra)
        run.hardware = hardware
        if joining is not None:
            joining.attach(run)
        share = None
        machine_wide = False
        for s in sensors:
            try:
                machine_wide = machine_wide or any(ch.machine_wide for ch in s.channels())
            except Exception:
                continue
        if self.process_tree is not None and machine_wide:
            tree, machine = self.process_tree, MachineCpu()

            def share() -> tuple[float, float]:
                return (tree.cpu_s(), machine.busy_s())

        self._sampler = Sampler(run, sensors, scope=self.scope, share=share, model=self._model)
        if self._out_dir is not None:
            self._sinks.append(FileSink(self._out_dir))
        if self._db is not None and (joining is None or joining.stores_run):
            self._sinks.append(
                StoreSink(
                    self._db,
                    spool=self._spool,
                    out_dir=self._out_dir,
                    connect_timeout_s=self._connect_timeout_s,
                    statement_timeout_s=self._statement_timeout_s,
                )
            )
        if not self._region_how.startswith("argument") and self._region.code == "world":
            log.info("no region configured: using the world average grid intensity")
        self.run = run
        self._t0 = time.monotonic()
        with self._lock:
            self._sampler.first(self._t0)
        self._last_t = self._t0
        self._thread = threading.Thread(
            target=self._loop, name=f"frugalml-sampler-{run.id}", daemon=True
        )
        self._thread.start()
        if self._handle_signals:
            self._install_signals()
        _LIVE.add(self)
        if self._active:
            epochs.register(self)
        self._cpu_caller_s += time.thread_time() - cpu0
        return run

    def stop(
        self, *, status: str | None = None, exit_code: int | None = None, error: str | None = None
    ) -> Run:
        """Take the last reading, persist everything and return the finished run.

        Waits for the registry at most a couple of seconds: a run it cannot take by then
        stays in the spool and is imported at the next registry access (recorded in
        ``errors``).
        """
        if self.run is None:
            raise RuntimeError("This tracker was never started: call start() first.")
        run = self.run
        if self._stopped:
            return run
        cpu0 = time.thread_time()
        self._stopped = True
        epochs.unregister(self)
        run._epoch_end = None
        run.set_status(status or "finished", exit_code=exit_code, error=error)
        self._restore_signals()
        self._running.release()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # Bounded: the final reading, local files and the registry's flush timeout.
            thread.join(timeout=FLUSH_TIMEOUT_S + max(10.0, 2 * self.interval_s))
            if thread.is_alive():
                run.add_error(
                    "tracker",
                    "the sampler thread did not finish in time; the last interval "
                    "may be missing from the files and the registry",
                )
        else:  # never started its thread, or stopped from within it
            self._finish()
        _LIVE.discard(self)
        if self._joining is not None:
            self._joining.release()
        self._cpu_caller_s += time.thread_time() - cpu0
        run._cpu_source = None
        run.set_tracker_cpu(self._cpu_s())
        if self._mlflow is not False and self._active:
            self._to_mlflow(run)
        return run

    def _to_mlflow(self, run: Run) -> None:
        """Log the finished run into MLflow (see ``mlflow`` in the class docstring)."""
        if self._mlflow is None and "mlflow" not in sys.modules:
            return  # no MLflow run can be active in a process that never imported mlflow
        joining = self._joining
        if joining is not None and (
            joining.outer is not None or (joining.ctx is not None and joining.ctx.rank != 0)
        ):
            return  # the outer run, or rank 0, logs for the job
        try:
            from frugalml.integrations.mlflow import log_run

            log_run(run, db=False if self._db is None else self._db, create=bool(self._mlflow))
        except Exception as e:  # never into the user's job: the run has its figures
            message = f"could not log to MLflow ({type(e).__name__}: {e})"
            run.add_error("mlflow", message)
            import warnings

            from frugalml.errors import FrugalWarning

            warnings.warn(f"frugalml {message}; the run is recorded.", FrugalWarning, stacklevel=3)

    def root_exited(self, rusage_cpu_s: float) -> None:
        """Tell the tracker the tracked root process was reaped with this CPU time
        (``ru_utime + ru_stime`` from ``os.wait4``), so its last moments are counted."""
        if self.process_tree is not None:
            with self._lock:
                self.process_tree.root_exited(rusage_cpu_s)

    def sample(self, *, persist: bool = True) -> Run:
        """Read every sensor now, from the calling thread; the run's energy is then up to date.

        The reading's rows reach the files and the registry with the sampler's next regular
        sample (never written from the calling thread), so this costs the sensor reads only —
        what a per-epoch reading in a fast training loop needs.

        Args:
            persist: kept for compatibility; rows are always persisted by the sampler thread.
        """
        if self.run is not None and not self._stopped:
            cpu0 = time.thread_time()
            with self._lock:
                self._pending_rows.extend(self._read())
            self._cpu_caller_s += time.thread_time() - cpu0
        assert self.run is not None
        return self.run

    def epoch_end(
        self,
        epoch: int | None = None,
        total_epochs: int | None = None,
        *,
        early_stopping: Any = None,
    ) -> Forecast | None:
        """An epoch ended: a reading now, the forecast, the printed line, the budget.

        See :func:`frugalml.epoch_end` for the arguments.

        Raises:
            frugalml.BudgetExceeded: a budget is spent with ``on_budget="stop"``: the run is
                stopped and recorded as ``budget-stopped`` first.
        """
        outcome = self.record_epoch(epoch, total_epochs, early_stopping=early_stopping)
        if outcome.stop:
            self._budget_stop()
        return outcome.forecast

    def record_epoch(
        self,
        epoch: int | None = None,
        total_epochs: int | None = None,
        *,
        early_stopping: Any = None,
    ) -> epochs.EpochOutcome:
        """:meth:`epoch_end` without raising: the forecast and whether the budget says stop
        (for training callbacks, which stop their own way, and for ``frugal run``)."""
        epochs.check_epochs("epoch_end", epoch, total_epochs)
        state = epochs.as_early_stopping(early_stopping)
        run = self.run
        if run is None:
            raise RuntimeError("This tracker was never started: call start() first.")
        if self._stopped:
            if run.status == "budget-stopped":
                self._budget_stop()
            return epochs.EpochOutcome(run.forecast, False)
        if self._outer is not None:
            self._outer.send("epoch_end", self._epoch_message(epoch, total_epochs, state))
        cpu0 = time.thread_time()
        with self._lock:  # the reading and the figures of the same instant
            self._pending_rows.extend(self._read())
            t_s, energy_j, co2e_g = run.duration_s, run.energy_j["total"], run.co2e_g
        try:
            return self._epochs.update(
                run,
                epoch=epoch,
                total_epochs=total_epochs,
                early_stopping=state,
                t_s=t_s,
                energy_j=energy_j,
                co2e_g=co2e_g,
            )
        finally:
            self._cpu_caller_s += time.thread_time() - cpu0

    def _budget_stop(self) -> None:
        from frugalml.errors import BudgetExceeded

        run = self.run
        assert run is not None and self._epochs.budget is not None
        spent = self._epochs.budget.spent_what or "budget spent"
        self.stop(status="budget-stopped", error=spent)
        raise BudgetExceeded(
            f"frugalml stopped run {run.id} ({run.name!r}) between epochs: {spent} "
            "(on_budget='stop'); the run is recorded with status budget-stopped. Give a larger "
            "budget, or on_budget='warn' to be told without stopping.",
            run=run,
        )

    @staticmethod
    def _epoch_message(epoch: int | None, total_epochs: int | None, state: Any) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "total_epochs": total_epochs,
            "early_stopping": None if state is None else epochs.early_stopping_to_dict(state),
        }

    def _forward_to_outer(self, run: Run) -> None:
        """Under ``frugal run``: this run's metrics and epoch ends go to the outer run too."""
        if epochs.ENV_VAR not in os.environ:  # no import of the channel otherwise
            return
        from frugalml.measure import channel

        outer = channel.client()
        if outer is None or outer.outer.run_id == run.id:
            return
        self._outer = outer
        self._epochs.forward = True
        local = self._metrics.append

        def on_metric(row: dict[str, Any]) -> None:
            local(row)
            outer.send(
                "log_metric", {"name": row["name"], "value": row["value"], "step": row["step"]}
            )

        run._on_metric = on_metric

    # -- sampler thread ------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.run is not None
        cpu0 = time.thread_time()
        for sink in self._sinks:
            sink.open(self.run)
        while not self._running.acquire(timeout=self.interval_s):
            self._tick()
            self._cpu_sampler_s = time.thread_time() - cpu0
        self._finish(cpu0)

    def _finish(self, cpu0: float | None = None) -> None:
        assert self.run is not None and self._sampler is not None
        cpu0 = time.thread_time() if cpu0 is None else cpu0
        if self.process_tree is not None:  # the last reading sees every descendant
            with self._lock:
                self.process_tree.sample(rescan=True)
        self._tick()
        self._cpu_sampler_s = time.thread_time() - cpu0
        for sink in self._sinks:
            sink.close(self.run)
        self._sampler.close()
        if self.process_tree is not None:
            self.process_tree.close()
        self._cpu_sampler_s = time.thread_time() - cpu0

    def _tick(self) -> None:
        assert self.run is not None
        with self._lock:
            rows = self._pending_rows + self._read()
            self._pending_rows = []
            self._seq += 1
            seq = self._seq
        metrics = []
        while self._metrics:
            metrics.append(self._metrics.popleft())
        forecasts = []
        while self._forecasts:
            forecasts.append(self._forecasts.popleft())
        batch = Batch(seq, rows, metrics, forecasts=forecasts)
        for sink in self._sinks:
            sink.write(self.run, batch)
        if self._epochs.budget is not None:
            self._budget_tick()

    def _budget_tick(self) -> None:
        run = self.run
        assert run is not None
        try:
            event = self._epochs.spent_check(
                run, run.energy_j["total"], run.co2e_g, ended=self._stopped
            )
            if event is not None and event.stop and self.on_budget_stop is not None:
                self.on_budget_stop()
        except Exception as e:  # never into the job, never kills the sampler
            log.debug("budget check failed", exc_info=True)
            run.add_error("budget", f"budget check failed: {e}")

    def _read(self) -> list[dict[str, Any]]:
        """One reading of every sensor (call under ``self._lock``): updates the run and
        returns its sample rows, one per component."""
        run, sampler = self.run, self._sampler
        assert run is not None and sampler is not None
        now = time.monotonic()
        wall = time.time()
        parts = sampler.read(now)
        dt = now - self._last_t
        self._last_t = now
        total_d = sum(parts.values())
        if self._timeline is not None:  # each interval at its time-weighted mean intensity
            intensity = self._timeline.mean_intensity(wall - dt, wall)
        else:
            intensity = run.intensity_g_per_kwh
        duration = now - self._t0
        per: dict[str, tuple[float, list[str]]] = {}
        for (component, method), d in parts.items():
            joules, methods = per.get(component, (0.0, []))
            per[component] = (joules + d, [*methods, method])
        co2e_g = total_d / 3.6e6 * run.pue * intensity
        run.add_energy(parts, co2e_g=co2e_g, duration_s=duration, rows=len(per))
        t_s = round(duration, 6)
        return [
            {
                "t_s": t_s,
                "timestamp": wall,
                "component": component,
                "energy_j": d,
                "power_w": d / dt if dt > 0 else 0.0,
                "method": "+".join(methods),
            }
            for component, (d, methods) in per.items()
        ]

    def _model(self, component: str) -> Sensor | None:
        """The model that takes over ``component`` when its counter fails."""
        from frugalml.measure.cpu_model import CpuModelSensor
        from frugalml.measure.ram_model import RamModelSensor

        if component == "cpu":
            return CpuModelSensor(self.scope, self.pid, tree=self.process_tree)
        if component == "dram":
            return RamModelSensor(self.scope, self.pid, tree=self.process_tree)
        return None

    def _cpu_s(self) -> float:
        writers = sum(s.writer.cpu_s for s in self._sinks if isinstance(s, StoreSink) and s.writer)
        return self._cpu_caller_s + self._cpu_sampler_s + writers

    # -- signals -------------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python only lets the main thread set handlers
        self._prev_handlers.clear()
        self._signals_released = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                prev = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):
                continue
            self._prev_handlers[signum] = prev

    def _restore_signals(self) -> None:
        """Put back the handler found at start, if ours is still the installed one. Trackers
        stopped out of start order leave their handler in another's chain: it then only passes
        signals on (``_signals_released``), and is skipped here when it is the one to restore."""
        for signum, prev in self._prev_handlers.items():
            prev = _live_handler(signum, prev)
            try:
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, prev)
            except (ValueError, OSError):
                pass
        self._signals_released = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # No I/O and no lock held during I/O here: the application's handler runs at once.
        prev = self._prev_handlers.get(signum, signal.SIG_DFL)
        if self._signals_released:  # a stopped tracker's handler left in a chain: pass it on
            prev = _live_handler(signum, prev)
            if callable(prev):
                prev(signum, frame)
            elif prev != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        if self.run is not None:
            self.run.add_error("signal", f"received {name}")
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_IGN:
            return
        else:  # default action terminates: finish the run (bounded), then die the default way
            self.stop(status="interrupted", error=f"terminated by {name}")
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    # -- context manager and decorator ----------------------------------------------------
    def __enter__(self) -> Run:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.stop(status="interrupted", error="KeyboardInterrupt")
        elif issubclass(exc_type, SystemExit) and getattr(exc, "code", None) in (None, 0):
            self.stop()
        else:
            self.stop(status="failed", error=f"{exc_type.__name__}: {exc}")

    def __call__(self, fn: F) -> F:
        """Use as a decorator: every call of ``fn`` is a new tracked run."""
        args = self._init_args

        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with Tracker(**{**args, "name": args["name"] or fn.__qualname__}):
                return fn(*a, **kw)

        return wrapper  # type: ignore[return-value]


def _checked_work(work: Sequence[float], total_epochs: int | None) -> list[float]:
    """``epoch_work``: one finite number > 0 per epoch."""
    from frugalml.errors import InputError

    try:
        values = [float(w) for w in work]
    except (TypeError, ValueError):
        values = []
    ok = bool(values) and all(math.isfinite(v) and v > 0 for v in values)
    if not ok or (total_epochs is not None and len(values) != total_epochs):
        raise InputError(
            "The 'epoch_work' parameter of Tracker must give one finite number > 0 per epoch "
            f"(total_epochs={total_epochs} values: the relative work of each epoch). "
            f"Got {list(work)!r} instead."
        )
    return values


def _safe_available(sensor: Sensor) -> Any:
    from frugalml.measure.base import Availability

    try:
        return sensor.available()
    except Exception as e:
        return Availability(False, f"probe failed: {e}")


#: Variables without which no process is part of a job or under ``frugal run``
#: (``frugalml.measure.distributed``: the world sizes, FRUGAL_JOB_ID, FRUGAL_OUTER_RUN).
JOB_HINTS = (
    "FRUGAL_OUTER_RUN",
    "FRUGAL_JOB_ID",
    "WORLD_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "SLURM_NTASKS",
)


def _check_mlflow(mlflow: Any) -> bool | None:
    if mlflow is not None and not isinstance(mlflow, bool):
        from frugalml.errors import InputError

        raise InputError(
            "The 'mlflow' parameter of Tracker must be True, False or None (log when an MLflow "
            f"run is active). Got {mlflow!r} instead."
        )
    if mlflow:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            from frugalml._lazy import require

            require("mlflow", "Tracker(mlflow=True)")  # raises, naming the extra to install
    return mlflow


def track(name: str | None = None, **kwargs: Any) -> Tracker:
    """Track energy and CO2e: ``with track("train") as run:`` or ``@track("train")``.

    Takes the arguments of :class:`Tracker`; ``mlflow`` defaults to None: the finished run is
    logged into MLflow when an MLflow run is active (``mlflow=True`` starts one if none is).

    Example:
        >>> import frugalml
        >>> with frugalml.track("warm-up", db=False, region="SE") as run:  # doctest: +SKIP
        ...     model.fit(X, y)
        >>> print(run.energy_j["total"], run.co2e_g)  # doctest: +SKIP
    """
    kwargs.setdefault("mlflow", None)
    return Tracker(name, **kwargs)


@atexit.register
def _stop_live_trackers() -> None:
    for tracker in list(_LIVE):
        try:
            tracker.stop(status="interrupted", error="interpreter exited while the run was tracked")
        except Exception:
            log.debug("stopping %s at exit failed", tracker, exc_info=True)


def _live_handler(signum: int, handler: Any) -> Any:
    """``handler``, or, when it belongs to a tracker already stopped, the handler that tracker
    found at its start (followed down the chain)."""
    owner = getattr(handler, "__self__", None)
    while isinstance(owner, Tracker) and owner._signals_released:
        handler = owner._prev_handlers.get(signum, signal.SIG_DFL)
        owner = getattr(handler, "__self__", None)
    return handler
