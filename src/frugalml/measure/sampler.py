"""Turning sensor readings into energy per interval: differencing, wraparound, integration,
process attribution, and what to do when a sensor or one of its channels fails.

A reading that cannot be used never reaches the run: a non-finite value (NaN, inf) is a sensor
error, recorded once and skipped. A channel that fails for a component the models can cover
(a RAPL package or DRAM zone) falls back, for the rest of the run, to the CPU or RAM model for
its share of the component, so the zones that still read keep counting and the run says
``rapl+cpu-model`` with the uncertainty widened; a channel the models cannot cover (a GPU) is
retried at every sample.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

from frugalml.measure.base import Availability, Channel, Reading, Sensor
from frugalml.measure.run import Run

__all__ = ["ChannelState", "Sampler", "ScaledSensor"]

log = logging.getLogger(__name__)

#: component -> the registry sensor that models it when its counter fails.
MODEL_FOR = {"cpu": "cpu-model", "dram": "ram-model"}


class ChannelState:
    """The previous reading of one channel, to turn the next one into joules."""

    __slots__ = ("channel", "energy_j", "failed", "power_w", "t")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.energy_j: float | None = None
        self.power_w: float | None = None
        self.t: float | None = None
        self.failed = False

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


class ScaledSensor(Sensor):
    """``share`` of another sensor's readings, on channels renamed ``<prefix>/<id>``: the
    model standing in for one failed zone of several."""

    def __init__(self, inner: Sensor, share: float, prefix: str) -> None:
        self.inner = inner
        self.share = share
        self.prefix = prefix
        self.name = inner.name

    def available(self) -> Availability:
        return self.inner.available()

    def channels(self) -> list[Channel]:
        return [
            Channel(f"{self.prefix}/{c.id}", c.component, c.method, c.uncertainty, c.machine_wide)
            for c in self.inner.channels()
        ]

    def read(self) -> dict[str, Reading]:
        out = {}
        for cid, r in self.inner.read().items():
            out[f"{self.prefix}/{cid}"] = Reading(
                energy_j=None if r.energy_j is None else r.energy_j * self.share,
                power_w=None if r.power_w is None else r.power_w * self.share,
                wrap_j=None if r.wrap_j is None else r.wrap_j * self.share,
                error=r.error,
            )
        return out

    def close(self) -> None:
        self.inner.close()


class Sampler:
    """Reads every sensor and returns the energy of the interval per (component, method).

    Not thread-safe: the tracker calls it under its own lock.

    Args:
        run: where channels and errors are recorded.
        sensors: the sensors in use (available ones).
        scope: ``process`` scales machine-wide channels by the tracked tree's CPU share.
        share: returns (tree CPU-s, machine busy CPU-s), or None when nothing is machine-wide.
        model: creates the model sensor for a component (``cpu``/``dram``) when a counter
            fails, or None when there is none.
    """

    def __init__(
        self,
        run: Run,
        sensors: Iterable[Sensor],
        *,
        scope: str,
        share: Callable[[], tuple[float, float]] | None,
        model: Callable[[str], Sensor | None],
    ) -> None:
        self.run = run
        self.scope = scope
        self._share = share
        self._model = model
        self.states: dict[Sensor, dict[str, ChannelState]] = {}
        self._reported: set[str] = set()
        self._share_prev = (0.0, 0.0)
        for s in sensors:
            self._add_sensor(s)

    def _add_sensor(self, sensor: Sensor) -> None:
        try:
            channels = sensor.channels()
        except Exception as e:
            self.run.add_error(sensor.name, f"channels failed: {e}")
            return
        self.states[sensor] = {ch.id: ChannelState(ch) for ch in channels}
        for ch in channels:
            self.run.add_channel(ch.component, ch.method, ch.uncertainty)

    @property
    def sensors(self) -> list[Sensor]:
        return list(self.states)

    def first(self, now: float) -> None:
        """The baseline reading (no energy yet)."""
        if self._share is not None:
            self._share_prev = self._share()
        self.read(now, first=True)

    def read(self, now: float, *, first: bool = False) -> dict[tuple[str, str], float]:
        """Joules since the previous reading per (component, method)."""
        share = 1.0
        if self._share is not None and not first:
            cur = self._share()
            d_proc, d_machine = cur[0] - self._share_prev[0], cur[1] - self._share_prev[1]
            share = min(1.0, max(0.0, d_proc / d_machine)) if d_machine > 0 else 0.0
            self._share_prev = cur
        deltas: dict[tuple[str, str], float] = {}
        failed: list[tuple[Sensor, ChannelState, str]] = []
        for sensor, states in list(self.states.items()):
            try:
                readings = sensor.read()
            except Exception as e:  # never into the user's job
                why = f"{type(e).__name__}: {e}"
                for state in states.values():
                    if not state.failed:
                        failed.append((sensor, state, why))
                continue
            for channel_id, state in states.items():
                reading = readings.get(channel_id)
                if state.failed or reading is None:
                    continue
                if reading.error is not None:
                    failed.append((sensor, state, reading.error))
                    continue
                value = reading.energy_j if reading.energy_j is not None else reading.power_w
                if value is None or not math.isfinite(value):
                    self._report(
                        f"{sensor.name}:{channel_id}:nonfinite",
                        sensor.name,
                        f"SensorError: {channel_id} read a non-finite value ({value}); "
                        "the reading is ignored",
                    )
                    continue
                d = state.delta_j(reading, now)
                if state.channel.machine_wide and self.scope == "process":
                    d *= share
                key = (state.channel.component, state.channel.method)
                deltas[key] = deltas.get(key, 0.0) + d
        for sensor, state, why in failed:
            self._fail(sensor, state, why)
        return deltas

    def _fail(self, sensor: Sensor, state: ChannelState, why: str) -> None:
        ch = state.channel
        model_name = MODEL_FOR.get(ch.component)
        if model_name is None or ch.method.endswith("-model"):
            # Nothing can stand in: retry at the next sample (a transient GPU error recovers).
            self._report(
                sensor.name,
                sensor.name,
                f"{why} (the run goes on without it until it reads again)",
            )
            return
        state.failed = True
        siblings = [
            s
            for s in self.states[sensor].values()
            if s.channel.component == ch.component and s.channel.method == ch.method
        ]
        fraction = 1.0 / len(siblings)
        model = self._model(ch.component)
        if model is None:
            self._report(f"{sensor.name}:{ch.id}", sensor.name, f"{ch.id} failed: {why}")
            return
        stand_in = ScaledSensor(model, fraction, prefix=f"{sensor.name}:{ch.id}")
        self._add_sensor(stand_in)
        share_text = "" if fraction == 1.0 else f" for its share (1/{len(siblings)})"
        message = (
            f"{ch.method} channel {ch.id} ({ch.component}) failed: {why}. From now on "
            f"{ch.component} is modelled{share_text} ({model_name}); the other channels keep "
            "counting"
        )
        log.warning("frugalml: %s", message)
        self.run.add_error(sensor.name, message)
        try:  # its baseline: the model counts from this sample on
            for cid, r in stand_in.read().items():
                self.states[stand_in][cid].delta_j(r, state.t or 0.0)
        except Exception:
            log.debug("first reading of %s failed", model_name, exc_info=True)

    def _report(self, key: str, source: str, message: str) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning("frugalml sensor %s: %s", source, message)
        self.run.add_error(source, message)

    def close(self) -> None:
        for s in self.states:
            try:
                s.close()
            except Exception:
                log.debug("closing %s failed", s, exc_info=True)
