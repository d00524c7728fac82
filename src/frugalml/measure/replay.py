"""Play back a recorded energy timeline as a sensor (method ``replay``).

Accepts the ``samples.csv`` that ``frugal run --out`` writes (columns ``t_s``, ``component``,
``energy_j``...) or a power log with a ``t_s`` column and one ``<component>_w`` column per
component (e.g. ``t_s,system_w`` from a wall meter). The recording is replayed against the
time elapsed since the sensor was created (``speed`` x faster if asked), so a test or a user
can re-run the tracker on known energy. As Zeus's replay monitor, it doubles as a fake.
"""

from __future__ import annotations

import bisect
import csv
import time
from collections.abc import Callable
from pathlib import Path

from frugalml.errors import InputError, SensorUnavailableError
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["ReplaySensor"]


class ReplaySensor(Sensor):
    """Replay cumulative energy per component from a CSV recording.

    Args:
        path: the CSV file.
        speed: playback speed (2.0 replays a 10 s recording in 5 s).
        uncertainty: relative uncertainty attached to replayed energy (that of the recording).
        clock: seconds clock, injectable for tests.
    """

    name = "replay"

    def __init__(
        self,
        path: str | Path,
        *,
        speed: float = 1.0,
        uncertainty: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.speed = speed
        self.uncertainty = uncertainty
        self._clock = clock
        self._series = _load(self.path)
        self._t0 = clock()

    def available(self) -> Availability:
        return (
            Availability(True)
            if self._series
            else Availability(False, f"{self.path} holds no samples")
        )

    def channels(self) -> list[Channel]:
        return [Channel(c, c, "replay", self.uncertainty) for c in self._series]

    def read(self) -> dict[str, Reading]:
        if not self._series:
            raise SensorUnavailableError(f"{self.path} holds no samples to replay")
        t = (self._clock() - self._t0) * self.speed
        return {
            c: Reading(energy_j=_interp(times, energies, t))
            for c, (times, energies) in self._series.items()
        }

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return max((times[-1] for times, _ in self._series.values()), default=0.0)


def _interp(times: list[float], values: list[float], t: float) -> float:
    if t <= times[0]:
        return values[0] if t >= times[0] else 0.0
    if t >= times[-1]:
        return values[-1]
    i = bisect.bisect_right(times, t)
    t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def _load(path: Path) -> dict[str, tuple[list[float], list[float]]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(
            f"Cannot read replay file {path}: {e.strerror}. Pass an existing CSV."
        ) from e
    if not rows:
        return {}
    header = set(rows[0])
    if "t_s" not in header:
        raise InputError(
            f"Replay file {path} has no 't_s' column. Use a samples.csv from `frugal run --out`."
        )
    series: dict[str, tuple[list[float], list[float]]] = {}
    try:
        if "component" in header and "energy_j" in header:
            for row in rows:
                ts, es = series.setdefault(row["component"], ([0.0], [0.0]))
                ts.append(float(row["t_s"]))
                es.append(es[-1] + float(row["energy_j"]))
        else:
            power_cols = [c for c in rows[0] if c.endswith("_w")]
            if not power_cols:
                raise InputError(
                    f"Replay file {path} has neither 'component,energy_j' nor '<component>_w' columns."
                )
            for col in power_cols:
                times: list[float] = []
                energies: list[float] = []
                last_p = 0.0
                for row in rows:
                    t, p = float(row["t_s"]), float(row[col])
                    if times:
                        energies.append(energies[-1] + (p + last_p) / 2 * (t - times[-1]))
                    else:
                        energies.append(0.0)
                    times.append(t)
                    last_p = p
                series[col[:-2]] = (times, energies)
    except (ValueError, KeyError) as e:
        raise InputError(
            f"Replay file {path} has a malformed row ({e}). Numbers expected in t_s/energy_j."
        ) from e
    return series
