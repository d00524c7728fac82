"""What the fake GPU libraries share: the fake GPUs' clock, the call log, fault injection.

:class:`~frugalml.testing.FakeNVML` and :class:`~frugalml.testing.FakeAMDSMI` imitate two
different libraries (their functions, handles, errors and units stay in their own modules);
the machinery a test drives them with is the same and lives here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

__all__ = ["FakeGpuLibrary", "PowerSchedule"]

PowerSchedule = float | Callable[[float], float]
"""Board power in W: a constant, or a function of the fake's clock time (s)."""


class _FakeGpu(Protocol):
    power_w: PowerSchedule
    energy_step_j: float


G = TypeVar("G", bound=_FakeGpu)


@dataclass
class _Fault:
    code: int
    device: int | None
    functions: frozenset[str] | None
    after: int
    times: int | None
    seen: int = 0
    fired: int = 0


class FakeGpuLibrary(ABC, Generic[G]):
    """Base of the fake GPU libraries.

    Subclasses set ``_imitates`` (the module they stand in for) and ``_readings`` (the
    functions that read energy or power), and implement ``_error`` and ``_enter``.

    Args:
        gpus: the fake GPUs.
        clock: seconds since some origin; when given, energy is integrated from power.
        init_error: a status code that the library's init function raises.
    """

    _imitates: ClassVar[str]
    _readings: ClassVar[frozenset[str]]

    def __init__(
        self, gpus: list[G], clock: Callable[[], float] | None, init_error: int | None
    ) -> None:
        self.gpus = gpus
        self.clock = clock
        self.init_error = init_error
        self.calls: list[str] = []
        self._faults: list[_Fault] = []
        self._last_t = [clock() if clock else 0.0 for _ in gpus]

    @abstractmethod
    def _error(self, code: int) -> Exception:
        """The library's exception for status ``code``."""

    @abstractmethod
    def _enter(self, function: str, handle: Any) -> None:
        """Log the call to ``function``; raise as the library would (not initialised, bad
        handle, injected fault)."""

    # ----------------------------------------------------------------- fault injection
    def fail(
        self,
        code: int,
        *,
        device: int | None = None,
        functions: Iterable[str] | None = None,
        after: int = 0,
        times: int | None = None,
    ) -> None:
        """Make calls raise the library's error for ``code``.

        Args:
            code: a status code of the library (``NVML_ERROR_*``, ``AMDSMI_STATUS_*``).
            device: only calls on this GPU index (``None``: any call, device or not).
            functions: only these function names (``None``: all).
            after: let this many matching calls succeed first.
            times: fail this many times, then succeed again (``None``: for ever).
        """
        funcs = frozenset(functions) if functions is not None else None
        self._faults.append(_Fault(code, device, funcs, after, times))

    def fail_after(self, n_calls: int, code: int, device: int = 0) -> None:
        """After ``n_calls`` successful readings (energy or power) on ``device``, raise ``code``."""
        self.fail(code, device=device, functions=self._readings, after=n_calls)

    # ----------------------------------------------------------------- internals
    def _power_w(self, index: int) -> float:
        power = self.gpus[index].power_w
        if callable(power):
            return float(power(self.clock() if self.clock else 0.0))
        return float(power)

    def _energy_added_j(self, index: int) -> float:
        """Energy since the last read of GPU ``index``: its step, or power x clock time."""
        if self.clock is None:
            return self.gpus[index].energy_step_j
        now = self.clock()
        added_j = self._power_w(index) * (now - self._last_t[index])
        self._last_t[index] = now
        return added_j

    def _gpu(self, function: str, handle: Any) -> G:
        self._enter(function, handle)
        return self.gpus[handle.index]

    def _check_faults(self, function: str, device: int | None) -> None:
        for fault in self._faults:
            if fault.device is not None and fault.device != device:
                continue
            if fault.functions is not None and function not in fault.functions:
                continue
            fault.seen += 1
            if fault.seen <= fault.after:
                continue
            if fault.times is not None and fault.fired >= fault.times:
                continue
            fault.fired += 1
            raise self._error(fault.code)

    def __getattr__(self, name: str) -> Any:
        cls = type(self)
        raise AttributeError(
            f"{cls.__name__} does not implement {self._imitates}.{name}; add it to "
            f"{cls.__module__.replace('.', '/')}.py if frugalml starts using it"
        )
