"""The shape every vendor GPU sensor shares (NVML, AMD SMI).

A vendor sensor starts its library, lists the GPUs the job can see, picks per GPU an energy
counter or power sampling, reads them, describes them for ``run.json`` and shuts the library
down. :class:`GpuSensor` owns that sequence and the bookkeeping around it (a probe that never
raises, close that is safe twice, GPUs that cannot be read recorded instead of hiding the
others, vendor errors translated into frugalml's). Each vendor module keeps its own calls,
error-code table, units, messages and docs.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from frugalml.errors import FrugalError, SensorError, SensorUnavailableError
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["Gpu", "GpuSensor"]


@dataclass
class Gpu:
    """One GPU a vendor sensor measures."""

    index: int  # as the job sees it (cuda:i / hip:i)
    physical: int  # the vendor library's index
    handle: Any
    method: str = ""

    @property
    def channel(self) -> str:
        return f"gpu:{self.index}"


G = TypeVar("G", bound=Gpu)


class GpuSensor(Sensor, Generic[G]):
    """Energy of one vendor's GPUs, one channel ``gpu:<i>`` each.

    Subclasses set the class attributes below and implement the abstract methods; they call
    the library only inside :meth:`_translated` (or pass what it raised to :meth:`_translate`)
    so that no vendor exception leaves the sensor.
    """

    _label: ClassVar[str]  # the library as messages name it ("NVML")
    _uncertainties: ClassVar[dict[str, float]]  # method -> relative uncertainty (1 sigma)
    _log: ClassVar[logging.Logger]  # the vendor module's logger, so users filter by vendor
    _init_function: ClassVar[str]  # the library's init and shutdown functions, no arguments
    _shutdown_function: ClassVar[str]
    _library_error: ClassVar[str]  # name of the library's error class in its module
    _code_attribute: ClassVar[str]  # where that error carries its status code
    _default_fix: ClassVar[str]  # what to do about an error the vendor's table lacks

    def __init__(self, visible: Any) -> None:
        self.visible = visible
        self._lib: Any = None
        self._gpus: list[G] | None = None
        self._why_not = ""
        self._initialised = False
        self._errors: dict[int, tuple[type[SensorError], str]] = {}
        self._unreadable: dict[int, str] = {}

    # ------------------------------------------------------------------ vendor part
    @abstractmethod
    def _load(self) -> Any:
        """The vendor module (import it, or the object passed in)."""

    @abstractmethod
    def _error_table(self, lib: Any) -> dict[int, tuple[type[SensorError], str]]:
        """Status code -> (frugalml exception, what to do), with the codes ``lib`` uses."""

    @abstractmethod
    def _visible_gpus(self) -> list[tuple[G, str]]:
        """The GPUs the job sees, in its order, each with why it cannot be opened ('')."""

    @abstractmethod
    def _choose_method(self, gpu: G) -> str:
        """Set ``gpu.method``; return why the GPU cannot be read at all ('' if it can)."""

    @abstractmethod
    def _read_gpu(self, gpu: G) -> Reading:
        """One reading of ``gpu`` by its method, in J or W."""

    @abstractmethod
    def _describe(self, gpu: G) -> dict[str, object]:
        """``gpu`` for ``run.json``: name, UUID, memory, power limit, method."""

    def _measured(self, gpu: G) -> None:
        """Called for each GPU the probe keeps, to log caveats about its readings."""

    # ------------------------------------------------------------------ Sensor API
    def available(self) -> Availability:
        if self._gpus is None:
            try:
                self._gpus = self._probe()
            except FrugalError as e:
                self._fail(str(e))
            except Exception as e:  # available() must never raise
                self._fail(f"{self._label} probe failed unexpectedly: {type(e).__name__}: {e}")
        return Availability(bool(self._gpus), self._why_not)

    def channels(self) -> list[Channel]:
        return [
            Channel(g.channel, g.channel, g.method, self._uncertainties[g.method])
            for g in self._ready()
        ]

    def read(self) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        for g in self._ready():
            with self._translated(f"reading GPU {g.index}"):
                out[g.channel] = self._read_gpu(g)
        return out

    def coverage(self) -> str:
        return "devices"

    def boards(self) -> dict[str, str]:
        return {g.channel: self._board_id(g) for g in self._gpus or []}

    def _board_id(self, gpu: G) -> str:
        """The board's identity on this host: the vendor index unless a subclass has a UUID
        (under a cgroup that hides the other GPUs, every process's index 0 is its own)."""
        return f"{self.name}:{gpu.physical}"

    def hardware(self) -> dict[str, object]:
        out: dict[str, object] = {"gpus": [self._describe(g) for g in self._gpus or []]}
        if self._unreadable:
            out["unreadable_gpus"] = {f"gpu:{i}": why for i, why in self._unreadable.items()}
        return out

    def close(self) -> None:
        if self._initialised:
            try:
                getattr(self._lib, self._shutdown_function)()
            except Exception as e:  # closing must not fail the run
                self._log.debug("%s failed: %s", self._shutdown_function, e)
        self._initialised = False
        self._gpus = None
        self._why_not = ""

    # ------------------------------------------------------------------ probing
    def _probe(self) -> list[G]:
        lib = self._load()
        self._lib = lib
        self._errors = self._error_table(lib)
        with self._translated(f"starting {self._label}"):
            getattr(lib, self._init_function)()
        self._initialised = True
        visible = self._visible_gpus()
        # A GPU we cannot read is recorded and skipped: it must not hide the others.
        gpus: list[G] = []
        self._unreadable = {}
        for gpu, closed in visible:
            why = closed or self._choose_method(gpu)
            if why:
                self._unreadable[gpu.index] = why
                self._log.warning("GPU %d is not measured: %s", gpu.index, why)
                continue
            self._measured(gpu)
            gpus.append(gpu)
        if not gpus:
            raise SensorUnavailableError("; ".join(self._unreadable.values()))
        return gpus

    def _ready(self) -> list[G]:
        if self._gpus is None:
            self.available()
        if not self._gpus:
            raise SensorUnavailableError(f"{self._label} sensor unavailable: {self._why_not}")
        return self._gpus

    def _fail(self, why: str) -> None:
        self.close()
        self._why_not = why
        self._gpus = []

    # ------------------------------------------------------------------ errors
    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn whatever the vendor layer raises into a frugalml SensorError."""
        try:
            yield
        except FrugalError:
            raise
        except Exception as e:
            raise self._translate(e, doing) from e

    def _translate(self, error: BaseException, doing: str) -> SensorError:
        library_error = getattr(self._lib, self._library_error, None)
        if library_error is not None and isinstance(error, library_error):
            code = getattr(error, self._code_attribute, None)
            entry = self._errors.get(code) if isinstance(code, int) else None
            cls, fix = entry or (SensorError, self._default_fix)
            return cls(f"{self._label} error while {doing}: {error} (code {code}). {fix}")
        return SensorError(
            f"{self._label} failed while {doing}: {type(error).__name__}: {error}. "
            f"{self._default_fix}"
        )
