"""Time-varying grid intensity: a CSV of (timestamp, gCO2e/kWh) integrated over a run.

The intensity is a step function: each value holds from its timestamp until the next
one; before the first timestamp the first value applies, after the last the last one.
Energy measured over an interval is charged at the time-weighted mean intensity of that
interval (exact when power is constant within the interval).

CSV format (header optional, comma-separated)::

    timestamp,g_per_kwh
    2024-06-01T00:00:00Z,312
    2024-06-01T01:00:00Z,298.5
    1717203600,290

Timestamps are ISO 8601 (a missing offset means UTC) or Unix seconds.

Example:
    >>> tl = IntensityTimeline([0.0, 3600.0], [100.0, 300.0])
    >>> tl.intensity_at(1800.0)
    100.0
    >>> tl.co2e_g([(3600.0, 3.6e6), (7200.0, 3.6e6)], pue=1.0, t_start_unix=0.0)  # 1 kWh/h
    400.0
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from frugalml.errors import InputError

__all__ = ["IntensityTimeline"]

_J_PER_KWH = 3.6e6
_FORMAT_HINT = (
    "Expected two columns 'timestamp,g_per_kwh': an ISO 8601 time (or Unix seconds) and a "
    "non-negative intensity in gCO2e/kWh, one row per time, oldest first."
)


class IntensityTimeline:
    """Grid carbon intensity over time, as a step function.

    Args:
        times_s: Unix timestamps (seconds), strictly increasing.
        g_per_kwh: Intensity (gCO2e/kWh) from each timestamp on; finite, >= 0.
        path: the file it was read from, if any (outputs name it).

    Raises:
        InputError: empty, unsorted, negative or non-finite input.
    """

    def __init__(
        self, times_s: Sequence[float], g_per_kwh: Sequence[float], path: str | None = None
    ) -> None:
        times = tuple(float(t) for t in times_s)
        values = tuple(float(v) for v in g_per_kwh)
        if not times or len(times) != len(values):
            raise InputError(
                "An intensity timeline needs at least one (time, g_per_kwh) pair and as "
                f"many values as times; got {len(times)} times and {len(values)} values."
            )
        for i, (t, v) in enumerate(zip(times, values)):
            if not math.isfinite(t) or not math.isfinite(v) or v < 0:
                raise InputError(
                    f"Intensity timeline entry {i} is ({t}, {v}); times must be finite and "
                    "intensities finite and >= 0 gCO2e/kWh."
                )
            if i and t <= times[i - 1]:
                raise InputError(
                    f"Intensity timeline times must increase strictly; entry {i} ({t}) is not "
                    f"after entry {i - 1} ({times[i - 1]}). "
                    "Sort the rows by time and drop duplicates."
                )
        self._times = times
        self._values = values
        self.path = path

    @property
    def times_s(self) -> tuple[float, ...]:
        """Unix timestamps (seconds) of the steps."""
        return self._times

    @property
    def g_per_kwh(self) -> tuple[float, ...]:
        """Intensity of each step, gCO2e/kWh."""
        return self._values

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return f"IntensityTimeline({len(self)} steps, {self._times[0]} .. {self._times[-1]})"

    @classmethod
    def from_csv(cls, path: str | Path) -> IntensityTimeline:
        """Read a ``timestamp,g_per_kwh`` CSV (see module docstring for the format).

        Raises:
            InputError: the file is missing or a line is malformed; the message names the
                file, the line and the expected format.

        Example:
            >>> IntensityTimeline.from_csv("grid.csv")  # doctest: +SKIP
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise InputError(
                f"Cannot read intensity file {str(p)!r}: {e.strerror or e}. {_FORMAT_HINT}"
            ) from None
        times: list[float] = []
        values: list[float] = []
        for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) < 2:
                raise InputError(
                    f"{p}, line {line_no}: expected 2 columns, got {len(cells)}. {_FORMAT_HINT}"
                )
            if not times and _is_header(cells):
                continue
            where = f"{p}, line {line_no}"
            t = _parse_time(cells[0], where)
            v = _parse_value(cells[1], where)
            if times and t <= times[-1]:
                raise InputError(
                    f"{where}: timestamp {cells[0]!r} is not after the previous row. "
                    "Sort the rows by time, oldest first, without duplicates."
                )
            times.append(t)
            values.append(v)
        if not times:
            raise InputError(f"{p} has no data rows. {_FORMAT_HINT}")
        return cls(times, values, path=str(p))

    def intensity_at(self, t_unix: float) -> float:
        """Intensity (gCO2e/kWh) in force at Unix time ``t_unix``."""
        i = bisect.bisect_right(self._times, t_unix) - 1
        return self._values[max(i, 0)]

    def mean_intensity(self, t0_unix: float, t1_unix: float) -> float:
        """Time-weighted mean intensity over ``[t0, t1]``; the value at t0 if t1 <= t0."""
        if t1_unix <= t0_unix:
            return self.intensity_at(t0_unix)
        total = 0.0
        start = t0_unix
        i = max(bisect.bisect_right(self._times, t0_unix) - 1, 0)
        while start < t1_unix:
            end = self._times[i + 1] if i + 1 < len(self._times) else math.inf
            stop = min(end, t1_unix)
            if stop > start:
                total += self._values[i] * (stop - start)
                start = stop
            i += 1
        return total / (t1_unix - t0_unix)

    def co2e_g(
        self,
        samples: Iterable[tuple[float, float]],
        pue: float,
        *,
        t_start_unix: float | None = None,
    ) -> float:
        """Grams CO2e of an energy timeline.

        Each interval is charged at the time-weighted mean intensity between the previous
        sample's end (or ``t_start_unix`` for the first) and its own end. Without
        ``t_start_unix`` the first interval is charged at the intensity at its end.

        Args:
            samples: ``(t_end_unix, energy_j)`` per interval, in time order.
            pue: Power usage effectiveness multiplier (>= 1.0).
            t_start_unix: When the first interval began (Unix seconds), if known.

        Raises:
            InputError: a negative energy or a time that goes backwards.
        """
        total_g = 0.0
        prev = t_start_unix
        for t_end, energy_j in samples:
            if energy_j < 0 or not math.isfinite(energy_j):
                raise InputError(
                    f"Energy samples must be finite and >= 0 J; got {energy_j} at t={t_end}."
                )
            if prev is not None and t_end < prev:
                raise InputError(
                    f"Energy samples must be in time order; t={t_end} comes after t={prev}."
                )
            g = self.intensity_at(t_end) if prev is None else self.mean_intensity(prev, t_end)
            total_g += energy_j / _J_PER_KWH * g
            prev = t_end
        return total_g * pue


def _is_header(cells: list[str]) -> bool:
    """A header row has neither a time in column 1 nor a number in column 2."""
    try:
        float(cells[1])
        return False
    except ValueError:
        pass
    try:
        _parse_time(cells[0], "")
        return False
    except InputError:
        return True


def _parse_time(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(cell)
    except ValueError:
        raise InputError(
            f"{where}: {cell!r} is not a timestamp. Use ISO 8601 such as "
            "'2024-06-01T13:00:00Z' or Unix seconds."
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _parse_value(cell: str, where: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 0:
        raise InputError(
            f"{where}: intensity {cell!r} must be a number >= 0 (gCO2e/kWh). {_FORMAT_HINT}"
        )
    return v
