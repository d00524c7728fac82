"""Energy of a stretch of code as a number you can read at any time, minus what you exclude.

An :class:`EnergyMeter` wraps a nested tracker (or any cumulative-joules function): training
loops read it every epoch to relate accuracy to energy, and wrap evaluation passes in
``exclude()`` so that measuring does not count as training.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from frugalml._params import check_number

__all__ = ["EnergyMeter"]


class EnergyMeter:
    """Cumulative energy (J) of this process since ``start()``.

    Args:
        energy_fn: returns cumulative joules (any origin); None starts a nested
            ``Tracker(db=False, handle_signals=False, active=False)`` and reads its total.
        name: name of the nested tracker's run.
        min_interval_s: read the source at most this often; in between, extrapolate at
            the mean power since ``start()`` (a tracker reading takes a few ms, as long as
            an epoch of a tiny model).

    Example:
        >>> meter = EnergyMeter(energy_fn=iter(range(0, 100, 10)).__next__).start()
        >>> meter.energy_j(), meter.energy_j()
        (10.0, 20.0)
    """

    def __init__(
        self,
        energy_fn: Callable[[], float] | None = None,
        name: str = "reduce",
        min_interval_s: float = 0.0,
    ) -> None:
        check_number("EnergyMeter", "min_interval_s", min_interval_s, low=0)
        self.energy_fn = energy_fn
        self.name = name
        self.min_interval_s = float(min_interval_s)
        self.excluded_j = 0.0
        self._tracker: Any = None
        self._origin = 0.0
        self._t0 = 0.0
        self._last: tuple[float, float] | None = None  # (time, joules) of the last reading
        self._final: float | None = None
        self._reported_j = 0.0  # energy_j() never goes down (see there)

    def start(self) -> EnergyMeter:
        if self.energy_fn is None:
            from frugalml.measure.tracker import Tracker

            # not the run frugalml.epoch_end() reports to: a meter inside the user's training
            self._tracker = Tracker(self.name, db=False, handle_signals=False, active=False)
            self._tracker.start()
        self._t0 = time.perf_counter()
        self._reported_j = 0.0
        self._origin = self._read()
        return self

    def _read(self) -> float:
        if self._tracker is not None:
            value = float(self._tracker.sample().energy_j["total"])
        else:
            assert self.energy_fn is not None
            value = float(self.energy_fn())
        self._last = (time.perf_counter(), value)
        return value

    def _raw(self) -> float:
        if self._final is not None:
            return self._final
        now = time.perf_counter()
        last = self._last
        if (
            last is None
            or now - last[0] >= self.min_interval_s
            or last[1] <= self._origin  # no power known yet (only the origin was read)
        ):
            return self._read()
        # between readings: extrapolate at the mean power since start (a reading costs ~ms,
        # as much as an epoch of a tiny model)
        power_w = (last[1] - self._origin) / (last[0] - self._t0)
        return last[1] + power_w * (now - last[0])

    def energy_j(self) -> float:
        """Joules since ``start()``, less what was spent inside ``exclude()``.

        Never less than a value returned before: an extrapolation between readings may run
        ahead of the next real reading, and a cumulative figure that goes down would break
        every curve drawn from it; it then holds until the readings catch up.
        """
        value = self._raw() - self._origin - self.excluded_j
        self._reported_j = max(self._reported_j, value)
        return self._reported_j

    @contextlib.contextmanager
    def exclude(self) -> Iterator[None]:
        """Energy spent inside this block is not counted by :meth:`energy_j` (read, not
        extrapolated, at both ends)."""
        if self._final is not None:
            yield
            return
        before = self._read()
        try:
            yield
        finally:
            self.excluded_j += max(0.0, self._read() - before)

    def stop(self) -> float:
        """Stop the nested tracker (if any); returns :meth:`energy_j` at this point."""
        if self._final is None:
            self._final = (
                float(self._tracker.stop().energy_j["total"])
                if self._tracker is not None
                else self._read()
            )
        return self.energy_j()
