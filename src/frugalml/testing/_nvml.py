"""FakeNVML: an object that behaves like the ``pynvml`` module (nvidia-ml-py) for tests.

Pass it where the real module would go: ``NvmlSensor(nvml=FakeNVML(...))``. It mimics the
parts of nvidia-ml-py 12/13 that frugalml uses, down to the details code can depend on:

* the ``NVML_ERROR_*`` constants keep pynvml's numeric values;
* ``NVMLError(code)`` returns the matching subclass (``NVMLError_NoPermission`` ...), whose
  ``.value`` is the code, exactly as pynvml's ``NVMLError.__new__`` does;
* ``nvmlInit`` is reference counted; any call before it (or after the last
  ``nvmlShutdown``) raises ``NVMLError_Uninitialized``;
* units are NVML's: power in mW, energy in mJ, memory in bytes; names and UUIDs are ``str``;
* ``nvmlDeviceGetHandleByIndex`` with a bad index raises ``NVML_ERROR_INVALID_ARGUMENT``, an
  unknown UUID raises ``NVML_ERROR_NOT_FOUND``, a GPU without an energy counter (before
  Volta) raises ``NVML_ERROR_NOT_SUPPORTED`` from ``nvmlDeviceGetTotalEnergyConsumption``.

Everything is deterministic: energy advances by ``energy_step_j`` per read, or, when a
``clock`` (a function returning seconds) is given, by power x elapsed clock time.

Example:
    >>> fake = FakeNVML([FakeGPU(power_w=250.0, energy_step_j=5.0)])
    >>> fake.nvmlInit()
    >>> h = fake.nvmlDeviceGetHandleByIndex(0)
    >>> fake.nvmlDeviceGetPowerUsage(h), fake.nvmlDeviceGetTotalEnergyConsumption(h)
    (250000, 1005000)
    >>> fake.fail_after(0, fake.NVML_ERROR_GPU_IS_LOST)
    >>> try:
    ...     fake.nvmlDeviceGetPowerUsage(h)
    ... except fake.NVMLError as e:
    ...     print(type(e).__name__, e.value)
    NVMLError_GpuIsLost 15
"""

from __future__ import annotations

import ctypes
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from frugalml.testing._gpu_fake import FakeGpuLibrary, PowerSchedule

__all__ = ["FakeGPU", "FakeNVML", "NVMLError"]

# Numeric values copied from pynvml (nvidia-ml-py 13.x); a test compares them to the real ones.
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999

ERROR_CODES: dict[str, int] = {
    name: value for name, value in dict(globals()).items() if name.startswith("NVML_ERROR_")
}

_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_INSUFFICIENT_SIZE: "Insufficient Size",
    NVML_ERROR_INSUFFICIENT_POWER: "Insufficient External Power",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_IRQ_ISSUE: "Interrupt Request Issue",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_CORRUPTED_INFOROM: "Corrupted infoROM",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_RESET_REQUIRED: "GPU requires restart",
    NVML_ERROR_OPERATING_SYSTEM: "The operating system has blocked the request.",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_MEMORY: "Insufficient Memory",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Same contract as ``pynvml.NVMLError``: ``NVMLError(code)`` is an instance of the
    code's subclass and carries the code in ``.value``."""

    _valClassMapping: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return _STRINGS.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    __hash__ = Exception.__hash__


def _error_classes() -> dict[str, type[NVMLError]]:
    """One subclass per code, named as pynvml does (NVML_ERROR_GPU_IS_LOST: NVMLError_GpuIsLost)."""
    classes = {}
    for name, code in ERROR_CODES.items():
        words = string.capwords(name.replace("NVML_ERROR_", ""), "_").replace("_", "")

        def new(cls: type[NVMLError], *args: object, _code: int = code) -> NVMLError:
            return NVMLError.__new__(cls, _code)

        cls = type(f"NVMLError_{words}", (NVMLError,), {"__new__": new, "__module__": __name__})
        NVMLError._valClassMapping[code] = cls
        classes[cls.__name__] = cls
    return classes


_ERROR_CLASSES = _error_classes()
globals().update(_ERROR_CLASSES)
__all__ += sorted(_ERROR_CLASSES)


@dataclass
class FakeGPU:
    """One fake NVIDIA GPU. Units as frugalml's (W, J, bytes); the fake converts to NVML's.

    Attributes:
        name: product name, as ``nvmlDeviceGetName`` returns it.
        uuid: ``GPU-...`` UUID; filled in from the index when empty.
        memory_bytes: total framebuffer memory.
        power_limit_w: enforced power limit.
        power_w: board power, a constant or a function of clock time.
        supports_energy: False for GPUs before Volta (no total-energy counter).
        energy_start_j: counter value at the start.
        energy_step_j: how much each energy read adds when the fake has no clock.
        mig_uuids: UUIDs of MIG instances on this GPU (``MIG-...``).
    """

    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = ""
    memory_bytes: int = 40 * 1024**3
    power_limit_w: float = 400.0
    power_w: PowerSchedule = 100.0
    supports_energy: bool = True
    energy_start_j: float = 1000.0
    energy_step_j: float = 10.0
    mig_uuids: Sequence[str] = ()


@dataclass
class _Handle:
    """What the fake hands out for ``nvmlDevice_t``; opaque to callers."""

    index: int
    mig_uuid: str | None = None

    def __repr__(self) -> str:
        return f"<nvmlDevice {self.index}{' ' + self.mig_uuid if self.mig_uuid else ''}>"


@dataclass
class _Memory:
    """Like ``pynvml.c_nvmlMemory_t``: fields in bytes."""

    total: int
    free: int
    used: int


_READINGS = frozenset({"nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"})


class FakeNVML(FakeGpuLibrary[FakeGPU]):
    """Stands in for the ``pynvml`` module. See the module docstring.

    Args:
        gpus: the fake GPUs (default: one A100 with an energy counter).
        clock: seconds since some origin; when given, energy is integrated from power.
        init_error: an ``NVML_ERROR_*`` code that ``nvmlInit`` raises (no driver...).
    """

    NVMLError = NVMLError
    NVML_SUCCESS = NVML_SUCCESS
    _imitates = "pynvml"
    _readings = _READINGS

    def __init__(
        self,
        gpus: Iterable[FakeGPU] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        init_error: int | None = None,
    ) -> None:
        super().__init__(list(gpus) if gpus is not None else [FakeGPU()], clock, init_error)
        for i, gpu in enumerate(self.gpus):
            if not gpu.uuid:
                gpu.uuid = f"GPU-{i:08x}-fake-4000-8000-{i:012x}"
        self.init_count = 0
        self._energy_mj = [round(g.energy_start_j * 1000) for g in self.gpus]

    @property
    def initialized(self) -> bool:
        return self.init_count > 0

    # ----------------------------------------------------------------- library
    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self._check_faults("nvmlInit", None)
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown", None)
        self.init_count -= 1

    def nvmlErrorString(self, result: int) -> str:
        return _STRINGS.get(result, "Unknown Error")

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion", None)
        return "550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount", None)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter("nvmlDeviceGetHandleByIndex", None)
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> _Handle:
        self._enter("nvmlDeviceGetHandleByUUID", None)
        text = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, gpu in enumerate(self.gpus):
            if gpu.uuid == text:
                return _Handle(i)
            if text in gpu.mig_uuids:
                return _Handle(i, mig_uuid=text)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceIsMigDeviceHandle(self, device: _Handle) -> ctypes.c_uint:
        self._enter("nvmlDeviceIsMigDeviceHandle", device)
        return ctypes.c_uint(1 if device.mig_uuid else 0)  # pynvml returns the c_uint itself

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: _Handle) -> _Handle:
        self._enter("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", migDevice)
        if migDevice.mig_uuid is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(migDevice.index)

    def nvmlDeviceGetIndex(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetIndex", handle)
        return handle.index

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return self._gpu("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        gpu = self._gpu("nvmlDeviceGetUUID", handle)
        return handle.mig_uuid or gpu.uuid

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> _Memory:
        total = self._gpu("nvmlDeviceGetMemoryInfo", handle).memory_bytes
        return _Memory(total=total, free=total, used=0)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return round(self._gpu("nvmlDeviceGetEnforcedPowerLimit", handle).power_limit_w * 1000)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        """Board power in mW."""
        self._gpu("nvmlDeviceGetPowerUsage", handle)
        return round(self._power_w(handle.index) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        """Energy since driver load in mJ; NOT_SUPPORTED before Volta."""
        gpu = self._gpu("nvmlDeviceGetTotalEnergyConsumption", handle)
        if not gpu.supports_energy or handle.mig_uuid is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        self._energy_mj[handle.index] += round(self._energy_added_j(handle.index) * 1000)
        return self._energy_mj[handle.index]

    # ----------------------------------------------------------------- internals
    def _error(self, code: int) -> Exception:
        return NVMLError(code)

    def _enter(self, function: str, handle: _Handle | None) -> None:
        self.calls.append(function)
        if self.init_count <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        if handle is not None and not isinstance(handle, _Handle):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        self._check_faults(function, handle.index if handle is not None else None)


# The module's constants and error classes, as attributes of every FakeNVML (pynvml.NVML_...).
for _name, _value in {**ERROR_CODES, **_ERROR_CLASSES}.items():
    setattr(FakeNVML, _name, _value)
