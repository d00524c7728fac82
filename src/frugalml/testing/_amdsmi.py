"""FakeAMDSMI: an object that behaves like the ``amdsmi`` package (ROCm's AMD SMI) for tests.

Pass it where the real package would go: ``AmdSmiSensor(amdsmi=FakeAMDSMI(...))``. It
mimics the parts of the amdsmi Python interface (ROCm 6.x/7.x) that frugalml uses:

* ``AmdSmiException`` > ``AmdSmiLibraryException(err_code)`` with ``err_code``/``err_info``,
  ``get_error_code()``/``get_error_info()``, and the ``AmdSmiRetryException`` /
  ``AmdSmiTimeoutException`` subclasses; status codes live in ``fake.amdsmi_wrapper`` under
  the C header's names and values (``AMDSMI_STATUS_NO_PERM = 10`` ...);
* every call before ``amdsmi_init()`` raises ``AMDSMI_STATUS_NOT_INIT``;
* ``amdsmi_get_energy_count`` returns ``{"energy_accumulator", "counter_resolution",
  "timestamp"}`` (ticks, µJ per tick, ns) — or, with ``legacy_energy_key=True``, the key
  ``"power"`` that amdsmi before 6.2.1 used for the same accumulator;
* ``amdsmi_get_power_info`` returns watts, with ``"N/A"`` for fields the GPU lacks;
* ``amdsmi_get_power_cap_info`` is in µW, ``amdsmi_get_gpu_memory_total`` in bytes.

Deterministic: energy advances by ``energy_step_j`` per read, or by power x elapsed time of
an injected ``clock``.

Example:
    >>> fake = FakeAMDSMI([FakeAmdGpu(energy_start_j=1.0, energy_step_j=0.5)])
    >>> fake.amdsmi_init()
    >>> (h,) = fake.amdsmi_get_processor_handles()
    >>> e = fake.amdsmi_get_energy_count(h)
    >>> round(e["energy_accumulator"] * e["counter_resolution"] / 1e6, 3)
    1.5
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from types import SimpleNamespace
from typing import Any

from frugalml.testing._gpu_fake import FakeGpuLibrary, PowerSchedule

__all__ = [
    "STATUS_CODES",
    "AmdSmiException",
    "AmdSmiLibraryException",
    "AmdSmiParameterException",
    "AmdSmiRetryException",
    "AmdSmiTimeoutException",
    "FakeAMDSMI",
    "FakeAmdGpu",
]

# amdsmi_status_t from amdsmi.h (ROCm 6.x/7.x).
STATUS_CODES: dict[str, int] = {
    "AMDSMI_STATUS_SUCCESS": 0,
    "AMDSMI_STATUS_INVAL": 1,
    "AMDSMI_STATUS_NOT_SUPPORTED": 2,
    "AMDSMI_STATUS_NOT_YET_IMPLEMENTED": 3,
    "AMDSMI_STATUS_FAIL_LOAD_MODULE": 4,
    "AMDSMI_STATUS_FAIL_LOAD_SYMBOL": 5,
    "AMDSMI_STATUS_DRM_ERROR": 6,
    "AMDSMI_STATUS_API_FAILED": 7,
    "AMDSMI_STATUS_TIMEOUT": 8,
    "AMDSMI_STATUS_RETRY": 9,
    "AMDSMI_STATUS_NO_PERM": 10,
    "AMDSMI_STATUS_INTERRUPT": 11,
    "AMDSMI_STATUS_IO": 12,
    "AMDSMI_STATUS_ADDRESS_FAULT": 13,
    "AMDSMI_STATUS_FILE_ERROR": 14,
    "AMDSMI_STATUS_OUT_OF_RESOURCES": 15,
    "AMDSMI_STATUS_INTERNAL_EXCEPTION": 16,
    "AMDSMI_STATUS_INPUT_OUT_OF_BOUNDS": 17,
    "AMDSMI_STATUS_INIT_ERROR": 18,
    "AMDSMI_STATUS_REFCOUNT_OVERFLOW": 19,
    "AMDSMI_STATUS_DIRECTORY_NOT_FOUND": 20,
    "AMDSMI_STATUS_BUSY": 30,
    "AMDSMI_STATUS_NOT_FOUND": 31,
    "AMDSMI_STATUS_NOT_INIT": 32,
    "AMDSMI_STATUS_NO_SLOT": 33,
    "AMDSMI_STATUS_DRIVER_NOT_LOADED": 34,
    "AMDSMI_STATUS_NO_DATA": 40,
    "AMDSMI_STATUS_INSUFFICIENT_SIZE": 41,
    "AMDSMI_STATUS_UNEXPECTED_SIZE": 42,
    "AMDSMI_STATUS_UNEXPECTED_DATA": 43,
    "AMDSMI_STATUS_UNKNOWN_ERROR": 0xFFFFFFFF,
}
_S = SimpleNamespace(**STATUS_CODES)
_INFO = {
    code: f"{name} - {name[14:].replace('_', ' ').lower()}" for name, code in STATUS_CODES.items()
}
_NA = "N/A"


class AmdSmiException(Exception):
    """Base amdsmi exception class."""


class AmdSmiLibraryException(AmdSmiException):
    """An error status from the library; ``err_code`` is its (positive) code."""

    def __init__(self, err_code: int) -> None:
        err_code = abs(err_code)
        super().__init__(err_code)
        self.err_code = err_code
        self.err_info = _INFO.get(err_code, "AMDSMI_STATUS_UNKNOWN_ERROR - unknown error")

    def __str__(self) -> str:
        return f"An error occured with code: {self.err_code}({self.err_info})"

    def get_error_code(self) -> int:
        return self.err_code

    def get_error_info(self) -> str:
        return self.err_info


class AmdSmiRetryException(AmdSmiLibraryException):
    def __init__(self) -> None:
        super().__init__(_S.AMDSMI_STATUS_RETRY)


class AmdSmiTimeoutException(AmdSmiLibraryException):
    def __init__(self) -> None:
        super().__init__(_S.AMDSMI_STATUS_TIMEOUT)


class AmdSmiParameterException(AmdSmiException):
    """A Python-side argument of the wrong type (a bad handle...)."""

    def __init__(self, received: object, expected: object, msg: str | None = None) -> None:
        super().__init__(msg)
        self.err_msg = msg or f"Invalid parameter: {type(received)} instead of {expected}"

    def __str__(self) -> str:
        return self.err_msg


class AmdSmiMemoryType(IntEnum):
    VRAM = 0
    VIS_VRAM = 1
    GTT = 2


class AmdSmiInitFlags(IntEnum):
    INIT_ALL_PROCESSORS = 0xFFFFFFFF
    INIT_AMD_CPUS = 1 << 0
    INIT_AMD_GPUS = 1 << 1


@dataclass
class FakeAmdGpu:
    """One fake AMD GPU, in frugalml's units (W, J, bytes).

    Attributes:
        market_name: as ``amdsmi_get_gpu_asic_info(...)["market_name"]``.
        uuid: amdsmi's UUID (filled in when empty); ``hip_uuid`` the ``GPU-...`` form HIP and
            ROCr use (``amdsmi_get_gpu_enumeration_info``).
        power_w: socket power, constant or a function of clock time.
        power_field: which ``amdsmi_get_power_info`` field carries it (``socket_power`` on
            ROCm 7, ``current_socket_power`` on MI300, ``average_socket_power`` before).
        supports_energy: False to make ``amdsmi_get_energy_count`` NOT_SUPPORTED.
        counter_resolution_uj: µJ per accumulator tick (15.3 on MI200/MI300).
    """

    market_name: str = "AMD Instinct MI300X"
    uuid: str = ""
    hip_uuid: str = ""
    memory_bytes: int = 192 * 1024**3
    power_cap_w: float = 750.0
    power_w: PowerSchedule = 300.0
    power_field: str = "socket_power"
    supports_energy: bool = True
    counter_resolution_uj: float = 15.3
    energy_start_j: float = 1000.0
    energy_step_j: float = 10.0


class _Handle:
    """Stands for ``amdsmi_wrapper.amdsmi_processor_handle``; opaque to callers."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<amdsmi_processor_handle {self.index}>"


_READINGS = frozenset({"amdsmi_get_energy_count", "amdsmi_get_power_info"})


class FakeAMDSMI(FakeGpuLibrary[FakeAmdGpu]):
    """Stands in for the ``amdsmi`` package. See the module docstring.

    Args:
        gpus: the fake GPUs (default: one MI300X with an energy counter).
        clock: seconds since some origin; when given, energy is integrated from power.
        init_error: an ``AMDSMI_STATUS_*`` code that ``amdsmi_init`` raises.
        legacy_energy_key: return the accumulator under ``"power"`` (amdsmi < 6.2.1).
        enumeration_info: provide ``amdsmi_get_gpu_enumeration_info`` (newer amdsmi only).
    """

    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiRetryException = AmdSmiRetryException
    AmdSmiTimeoutException = AmdSmiTimeoutException
    AmdSmiParameterException = AmdSmiParameterException
    AmdSmiMemoryType = AmdSmiMemoryType
    AmdSmiInitFlags = AmdSmiInitFlags
    _imitates = "amdsmi"
    _readings = _READINGS

    def __init__(
        self,
        gpus: Iterable[FakeAmdGpu] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        init_error: int | None = None,
        legacy_energy_key: bool = False,
        enumeration_info: bool = True,
    ) -> None:
        super().__init__(list(gpus) if gpus is not None else [FakeAmdGpu()], clock, init_error)
        self.amdsmi_wrapper = SimpleNamespace(**STATUS_CODES)
        for i, gpu in enumerate(self.gpus):
            gpu.uuid = gpu.uuid or f"{i:02x}ff74a1-0000-1000-80ad-{i:012x}"
            gpu.hip_uuid = gpu.hip_uuid or f"GPU-{i:04x}4f0c7a1b7c8e"
        self.legacy_energy_key = legacy_energy_key
        self.initialized = False
        self._handles = [_Handle(i) for i in range(len(self.gpus))]
        self._ticks = [g.energy_start_j * 1e6 / g.counter_resolution_uj for g in self.gpus]
        if not enumeration_info:  # older amdsmi releases lack it
            self.amdsmi_get_gpu_enumeration_info = None  # type: ignore[method-assign,assignment]

    # ----------------------------------------------------------------- library
    def amdsmi_init(self, flag: int = AmdSmiInitFlags.INIT_AMD_GPUS) -> None:
        self.calls.append("amdsmi_init")
        if self.init_error is not None:
            raise AmdSmiLibraryException(self.init_error)
        self._check_faults("amdsmi_init", None)
        self.initialized = True

    def amdsmi_shut_down(self) -> None:
        self._enter("amdsmi_shut_down", None)
        self.initialized = False

    def amdsmi_get_processor_handles(self) -> list[_Handle]:
        self._enter("amdsmi_get_processor_handles", None)
        return list(self._handles)

    def amdsmi_get_gpu_device_uuid(self, processor_handle: _Handle) -> str:
        return self._gpu("amdsmi_get_gpu_device_uuid", processor_handle).uuid

    def amdsmi_get_gpu_enumeration_info(self, processor_handle: _Handle) -> dict[str, Any]:
        gpu = self._gpu("amdsmi_get_gpu_enumeration_info", processor_handle)
        i = processor_handle.index
        return {
            "drm_render": 128 + i,
            "drm_card": i,
            "hsa_id": 2 + i,
            "hip_id": i,
            "hip_uuid": gpu.hip_uuid,
        }

    def amdsmi_get_gpu_asic_info(self, processor_handle: _Handle) -> dict[str, Any]:
        gpu = self._gpu("amdsmi_get_gpu_asic_info", processor_handle)
        return {
            "market_name": gpu.market_name,
            "vendor_id": "0x1002",
            "vendor_name": "Advanced Micro Devices Inc. [AMD/ATI]",
            "subvendor_id": "0x1002",
            "device_id": "0x74a1",
            "rev_id": "0x00",
            "asic_serial": "0x0000000000000000",
            "oam_id": processor_handle.index,
            "num_compute_units": 304,
            "target_graphics_version": "gfx942",
        }

    def amdsmi_get_gpu_memory_total(self, processor_handle: _Handle, mem_type: int) -> int:
        gpu = self._gpu("amdsmi_get_gpu_memory_total", processor_handle)
        if not isinstance(mem_type, AmdSmiMemoryType):
            raise AmdSmiParameterException(mem_type, AmdSmiMemoryType)
        return gpu.memory_bytes if mem_type == AmdSmiMemoryType.VRAM else 0

    def amdsmi_get_power_cap_info(self, processor_handle: _Handle) -> dict[str, int]:
        """Power caps in µW."""
        cap_uw = round(self._gpu("amdsmi_get_power_cap_info", processor_handle).power_cap_w * 1e6)
        return {
            "power_cap": cap_uw,
            "default_power_cap": cap_uw,
            "dpm_cap": 0,
            "min_power_cap": 0,
            "max_power_cap": cap_uw,
        }

    def amdsmi_get_power_info(self, processor_handle: _Handle) -> dict[str, Any]:
        """Power in W; fields the GPU does not fill are ``"N/A"``."""
        gpu = self._gpu("amdsmi_get_power_info", processor_handle)
        info: dict[str, Any] = {
            "socket_power": _NA,
            "current_socket_power": _NA,
            "average_socket_power": _NA,
            "gfx_voltage": _NA,
            "soc_voltage": _NA,
            "mem_voltage": _NA,
            "power_limit": round(gpu.power_cap_w),
        }
        if gpu.power_field in info:
            info[gpu.power_field] = round(self._power_w(processor_handle.index))
        return info

    def amdsmi_get_energy_count(self, processor_handle: _Handle) -> dict[str, Any]:
        """Accumulator ticks, µJ per tick, timestamp in ns."""
        gpu = self._gpu("amdsmi_get_energy_count", processor_handle)
        if not gpu.supports_energy:
            raise AmdSmiLibraryException(_S.AMDSMI_STATUS_NOT_SUPPORTED)
        i = processor_handle.index
        self._ticks[i] += self._energy_added_j(i) * 1e6 / gpu.counter_resolution_uj
        key = "power" if self.legacy_energy_key else "energy_accumulator"
        return {
            key: round(self._ticks[i]),
            "counter_resolution": gpu.counter_resolution_uj,
            "timestamp": int(self._last_t[i] * 1e9),  # the clock at this read; 0 without one
        }

    # ----------------------------------------------------------------- internals
    def _error(self, code: int) -> Exception:
        return AmdSmiLibraryException(code)

    def _enter(self, function: str, handle: _Handle | None) -> None:
        self.calls.append(function)
        if handle is not None and not isinstance(handle, _Handle):
            raise AmdSmiParameterException(handle, "amdsmi_processor_handle")
        if not self.initialized:
            raise AmdSmiLibraryException(_S.AMDSMI_STATUS_NOT_INIT)
        self._check_faults(function, handle.index if handle is not None else None)
