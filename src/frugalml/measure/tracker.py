"""The tracker: start, sample in a background thread, stop.

``track()`` works as a context manager, as a decorator and through ``start()``/``stop()``.
Starting reads /proc and sysfs directly (no slow hardware-probing library) and opens the
registry from the sampler thread, so start and stop take milliseconds.

The tracker never hurts the user's job: a failing sensor or sink is logged once and recorded
in the run; signal handlers are chained to the application's own, never replace them.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, TypeVar

from frugalml._params import check_choice, check_number
from frugalml.measure.base import Channel, Reading, Sensor
from frugalml.measure.run import Run
from frugalml.measure.sinks import FileSink, Sink, StoreSink

__all__ = ["Tracker", "track"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_LIVE: weakref.WeakSet[Tracker] = weakref.WeakSet()


class _ChannelState:
    __slots__ = ("channel", "energy_j", "power_w", "t")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.energy_j: float | None = None
        self.power_w: float | None = None
        self.t: float | None = None

    def delta_j(self, reading: Reading, t: float) -> float:
        """Energy since the previous reading: counter difference (with wraparound) or
        trapezoidal integral of power."""
        d = 0.0
        if reading.energy_j is not None:
            if self.energy_j is not None:
                d = reading.energy_j - self.energy_j
                if d < 0:
                    d = d + reading.wrap_j if reading.wrap_j else 0.0
            self.energy_j = reading.energy_j
        elif reading.power_w is not None:
            if self.power_w is not None and self.t is not None:
                d = (reading.power_w + self.power_w) / 2 * (t - self.t)
            self.power_w = reading.power_w
        self.t = t
        return max(0.0, d)


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
            ``False`` records nothing in a registry.
        out_dir: also write ``run.json``, ``samples.csv`` and ``metrics.csv`` there.
        tags: free-form labels recorded with the run.
        handle_signals: flush on SIGTERM/SIGINT (chained to existing handlers).

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
    ) -> None:
        from frugalml.carbon.regions import resolve_pue, resolve_region
        from frugalml.measure.config import load_config

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
            pue_value = os.environ.get("FRUGAL_PUE") or file_config.get("pue")  # type: ignore[assignment]
        self._pue, self._pue_source = resolve_pue(pue_value, self._region)
        self._timeline = None
        if intensity_csv is not None:
            from frugalml.carbon.intensity import IntensityTimeline

            self._timeline = IntensityTimeline.from_csv(os.fspath(intensity_csv))
        self._sensors_arg = None if sensors is None else list(sensors)
        self._db: Any = db if db is not None else file_config.get("db")
        if db is not False and not isinstance(db, bool):
            from frugalml.store.url import resolve_db_url

            self._db = resolve_db_url(
                None if db is None else db, config=file_config
            )  # validate now
        self._out_dir = out_dir
        self._tags = dict(tags or {})
        self._config = dict(config or {})
        self._handle_signals = handle_signals
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
        )
        self.run: Run | None = None
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._states: dict[Sensor, dict[str, _ChannelState]] = {}
        self._failed_sensors: set[str] = set()
        self._sinks: list[Sink] = []
        self._pending_metrics: list[dict[str, Any]] = []
        self._pending_rows: list[dict[str, Any]] = []
        self._last_t = 0.0
        self._t0 = 0.0
        self._share: Any = None
        self._prev_handlers: dict[int, Any] = {}
        self._stopped = False
        self._thread_cpu0 = 0.0
        self.process_tree: Any = None

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
        self.process_tree = ProcessTree(self.pid) if self.scope == "process" else None
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
        run = Run(
            id=uuid.uuid4().hex[:16],
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
        run._on_metric = self._queue_metric
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
        for s in sensors:
            try:
                channels = s.channels()
            except Exception as e:
                run.add_error(s.name, f"channels failed: {e}")
                continue
            self._states[s] = {ch.id: _ChannelState(ch) for ch in channels}
            for ch in channels:
                run.methods[ch.component] = ch.method
                run._unc[ch.component] = ch.uncertainty
                run._energy.setdefault(ch.component, 0.0)
        if self.process_tree is not None and any(
            st.channel.machine_wide for states in self._states.values() for st in states.values()
        ):
            self._share = (self.process_tree, MachineCpu())
        if self._out_dir is not None:
            self._sinks.append(FileSink(self._out_dir))
        if self._db is not False:
            self._sinks.append(StoreSink(self._db))
        if not self._region_how.startswith("argument") and self._region.code == "world":
            log.info("no region configured: using the world average grid intensity")
        self.run = run
        self._t0 = time.monotonic()
        with self._lock:
            self._read_all(self._t0, first=True)
        self._last_t = self._t0
        self._share_prev = self._share_sample()
        self._thread = threading.Thread(
            target=self._loop, name=f"frugalml-sampler-{run.id}", daemon=True
        )
        self._thread.start()
        if self._handle_signals:
            self._install_signals()
        _LIVE.add(self)
        run.tracker_cpu_s += time.thread_time() - cpu0
        return run

    def stop(
        self, *, status: str | None = None, exit_code: int | None = None, error: str | None = None
    ) -> Run:
        """Take the last reading, persist everything and return the finished run."""
        if self.run is None:
            raise RuntimeError("This tracker was never started: call start() first.")
        run = self.run
        with self._lock:
            if self._stopped:
                return run
            self._stopped = True
            run.status = status or "finished"
            run.exit_code = exit_code
            run.error = error
        self._restore_signals()
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # Bounded: a signal handler may have interrupted a sample holding the lock.
            self._thread.join(timeout=max(10.0, 2 * self.interval_s))
        else:  # stopped from the sampler thread itself (signal re-entry): finish inline
            self._thread_cpu0 = time.thread_time()
            self._finish()
        _LIVE.discard(self)
        return run

    def root_exited(self, rusage_cpu_s: float) -> None:
        """Tell the tracker the tracked root process was reaped with this CPU time
        (``ru_utime + ru_stime`` from ``os.wait4``), so its last moments are counted."""
        if self.process_tree is not None:
            with self._lock:
                self.process_tree.root_exited(rusage_cpu_s)

    def sample(self, *, persist: bool = True) -> Run:
        """Read every sensor now (from any thread); the run's energy is then up to date.

        Args:
            persist: write the sample now. ``False`` keeps it for the next regular sample:
                a reading costs well under a millisecond, a registry write several, which
                matters when sampling at every epoch of a fast training loop.
        """
        if self.run is not None and not self._stopped:
            cpu0 = time.thread_time()
            self._tick(persist=persist)
            self.run.tracker_cpu_s += time.thread_time() - cpu0
        assert self.run is not None
        return self.run

    # -- sampler thread ------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.run is not None
        self._thread_cpu0 = time.thread_time()
        for sink in self._sinks:
            sink.open(self.run)
        while not self._stop_event.wait(self.interval_s):
            self._tick()
        self._finish()

    def _finish(self) -> None:
        if self.process_tree is not None:  # the last reading sees every descendant
            with self._lock:
                self.process_tree.sample(rescan=True)
        self._tick(persist=False)
        assert self.run is not None
        # what measuring cost: this thread's CPU time (the registry's first import included)
        self.run.tracker_cpu_s += time.thread_time() - self._thread_cpu0
        self._flush()
        assert self.run is not None
        for sink in self._sinks:
            sink.close(self.run)
        for s in self._states:
            try:
                s.close()
            except Exception:
                log.debug("closing %s failed", s, exc_info=True)

    def _tick(self, persist: bool = True) -> None:
        with self._lock:
            run = self.run
            assert run is not None
            now = time.monotonic()
            wall = time.time()
            deltas = self._read_all(now)
            dt = now - self._last_t
            self._last_t = now
            run.duration_s = now - self._t0
            rows = []
            for component, d in deltas.items():
                run._energy[component] = run._energy.get(component, 0.0) + d
                rows.append(
                    {
                        "t_s": round(run.duration_s, 6),
                        "timestamp": wall,
                        "component": component,
                        "energy_j": d,
                        "power_w": d / dt if dt > 0 else 0.0,
                        "method": run.methods.get(component, ""),
                    }
                )
            total_d = sum(deltas.values())
            if self._timeline is not None:  # each interval at its time-weighted mean intensity
                intensity = self._timeline.mean_intensity(wall - dt, wall)
            else:
                intensity = run.intensity_g_per_kwh
            run._co2e_g += total_d / 3.6e6 * run.pue * intensity
            self._pending_rows.extend(rows)
            if persist:
                self._flush()

    def _flush(self) -> None:
        """Hand the samples and metrics not yet written to every sink."""
        with self._lock:
            assert self.run is not None
            rows, self._pending_rows = self._pending_rows, []
            metrics, self._pending_metrics = self._pending_metrics, []
            for sink in self._sinks:
                sink.write(self.run, rows, metrics)

    def _read_all(self, now: float, first: bool = False) -> dict[str, float]:
        assert self.run is not None
        share = 1.0
        if self._share is not None and not first:
            cur = self._share_sample()
            d_proc, d_machine = cur[0] - self._share_prev[0], cur[1] - self._share_prev[1]
            share = min(1.0, max(0.0, d_proc / d_machine)) if d_machine > 0 else 0.0
            self._share_prev = cur
        deltas: dict[str, float] = {}
        for sensor, states in self._states.items():
            try:
                readings = sensor.read()
            except Exception as e:  # never into the user's job
                if sensor.name not in self._failed_sensors:
                    self._failed_sensors.add(sensor.name)
                    log.warning(
                        "frugalml sensor %s failed: %s (the run goes on without it)", sensor.name, e
                    )
                    self.run.add_error(sensor.name, f"{type(e).__name__}: {e}")
                continue
            for channel_id, state in states.items():
                reading = readings.get(channel_id)
                if reading is None:
                    continue
                d = state.delta_j(reading, now)
                if state.channel.machine_wide and self.scope == "process":
                    d *= share
                comp = state.channel.component
                deltas[comp] = deltas.get(comp, 0.0) + d
        return deltas

    def _share_sample(self) -> tuple[float, float]:
        if self._share is None:
            return (0.0, 0.0)
        tree, machine = self._share
        return (tree.cpu_s(), machine.busy_s())

    def _queue_metric(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._pending_metrics.append(row)

    # -- signals -------------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python only lets the main thread set handlers
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                prev = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):
                continue
            self._prev_handlers[signum] = prev

    def _restore_signals(self) -> None:
        for signum, prev in self._prev_handlers.items():
            try:
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, prev)
            except (ValueError, OSError):
                pass
        self._prev_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        prev = self._prev_handlers.get(signum, signal.SIG_DFL)
        name = signal.Signals(signum).name
        if self.run is not None:
            self.run.add_error("signal", f"received {name}")
        if callable(prev):
            self.sample()  # flush what was measured, then let the application decide
            prev(signum, frame)
        elif prev == signal.SIG_IGN:
            return
        else:  # default action terminates: finish the run, then die the default way
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


def _safe_available(sensor: Sensor) -> Any:
    from frugalml.measure.base import Availability

    try:
        return sensor.available()
    except Exception as e:
        return Availability(False, f"probe failed: {e}")


def track(name: str | None = None, **kwargs: Any) -> Tracker:
    """Track energy and CO2e: ``with track("train") as run:`` or ``@track("train")``.

    Takes the arguments of :class:`Tracker`.

    Example:
        >>> import frugalml
        >>> with frugalml.track("warm-up", db=False, region="SE") as run:  # doctest: +SKIP
        ...     model.fit(X, y)
        >>> print(run.energy_j["total"], run.co2e_g)  # doctest: +SKIP
    """
    return Tracker(name, **kwargs)


@atexit.register
def _stop_live_trackers() -> None:
    for tracker in list(_LIVE):
        try:
            tracker.stop(status="interrupted", error="interpreter exited while the run was tracked")
        except Exception:
            log.debug("stopping %s at exit failed", tracker, exc_info=True)
