"""AMD GPU energy through AMD SMI (the ``amdsmi`` Python package that ships with ROCm).

One channel per GPU the job can see, named ``gpu:<i>`` with ``i`` the job's own HIP index.
Visibility follows ROCm: ``ROCR_VISIBLE_DEVICES`` filters the GPUs first, then
``HIP_VISIBLE_DEVICES`` (or ``CUDA_VISIBLE_DEVICES``, which HIP also honours) indexes into
what is left. amdsmi's processor order is taken as ROCm's enumeration order; UUID entries
are matched against amdsmi's UUID and, where amdsmi has ``amdsmi_get_gpu_enumeration_info``,
against the ``GPU-...`` UUID that ROCr and HIP use.

* ``amdsmi-energy`` — the firmware's energy accumulator (``amdsmi_get_energy_count``):
  ticks x ``counter_resolution`` (µJ per tick, typically 15.3) since the driver
  loaded. amdsmi returns it as a 64-bit integer and frugalml treats it as one, so
  ``wrap_j`` stays ``None`` and a drop is a reset, not a wrap. Pass ``counter_bits=32``
  for firmware whose accumulator is narrower; ``wrap_j`` is then ``2**32`` ticks.
* ``amdsmi-power`` — socket power in W from ``amdsmi_get_power_info`` (``socket_power`` on
  ROCm 7, else ``current_socket_power`` on MI300, else ``average_socket_power``) for GPUs
  whose counter is missing; the tracker integrates the samples.

Relative uncertainties (1 sigma) and why: AMD publishes no accuracy figure for its power
telemetry, so these are judgements, wider than NVIDIA's. ``amdsmi-energy`` 0.10: a firmware
counter, continuous but unvalidated (ROCm/amdsmi issue #38 reports wrong values, e.g. MI100
counters that stop updating until a reboot). ``amdsmi-power`` 0.15: adds the sampling error
of integrating 1-s readings, as for ``nvml-power``.

Known caveat: on a dual-die MI250/MI250X the even GCD reports the power of both dies and the
odd GCD reports zero (documented by Zeus), so a job on the odd GCD reads ~0 J.
"""

from __future__ import annotations

import contextlib
import io
import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from frugalml._lazy import require
from frugalml.errors import (
    FrugalError,
    SensorError,
    SensorPermissionError,
    SensorUnavailableError,
)
from frugalml.measure._gpu import Gpu, GpuSensor
from frugalml.measure._visible import hip_visible, parse_visible, resolve_visible, uuid_prefix_match
from frugalml.measure.base import Reading

__all__ = ["AMDSMI_ENERGY_UNCERTAINTY", "AMDSMI_POWER_UNCERTAINTY", "AmdSmiSensor"]

log = logging.getLogger(__name__)

AMDSMI_ENERGY_UNCERTAINTY = 0.10
AMDSMI_POWER_UNCERTAINTY = 0.15
ENERGY, POWER = "amdsmi-energy", "amdsmi-power"

_UJ_PER_J = 1e6  # amdsmi counter_resolution is in microjoules per tick
_UW_PER_W = 1e6  # amdsmi power caps are in microwatts
_POWER_FIELDS = ("socket_power", "current_socket_power", "average_socket_power")

_SMI = "Check the GPU with `amd-smi list` / `amd-smi metric`."
# Status name -> (value in amdsmi.h, frugalml exception, what to do). The value is read from
# the module's amdsmi_wrapper when it has one.
_ERRORS: dict[str, tuple[int, type[SensorError], str]] = {
    "AMDSMI_STATUS_NO_PERM": (
        10,
        SensorPermissionError,
        "Add your user to the 'render' and 'video' groups (`sudo usermod -aG render,video "
        "$USER`, then log in again); in a container pass --device /dev/kfd --device /dev/dri.",
    ),
    "AMDSMI_STATUS_NOT_SUPPORTED": (
        2,
        SensorUnavailableError,
        "This GPU does not report it; frugalml falls back to power sampling or its models.",
    ),
    "AMDSMI_STATUS_NOT_YET_IMPLEMENTED": (3, SensorUnavailableError, "Update ROCm."),
    "AMDSMI_STATUS_FAIL_LOAD_MODULE": (
        4,
        SensorUnavailableError,
        "libamd_smi.so could not be loaded: install ROCm (or set ROCM_PATH).",
    ),
    "AMDSMI_STATUS_FAIL_LOAD_SYMBOL": (
        5,
        SensorUnavailableError,
        "The amdsmi Python package does not match the installed ROCm: install the amdsmi "
        "version shipped with it (/opt/rocm/share/amd_smi).",
    ),
    "AMDSMI_STATUS_DRIVER_NOT_LOADED": (
        34,
        SensorUnavailableError,
        "The amdgpu kernel driver is not loaded: install it or `sudo modprobe amdgpu`.",
    ),
    "AMDSMI_STATUS_INIT_ERROR": (18, SensorUnavailableError, _SMI),
    "AMDSMI_STATUS_DRM_ERROR": (6, SensorUnavailableError, _SMI),
    "AMDSMI_STATUS_NOT_FOUND": (
        31,
        SensorUnavailableError,
        "Check HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES. " + _SMI,
    ),
    "AMDSMI_STATUS_NOT_INIT": (
        32,
        SensorError,
        "AMD SMI was shut down under frugalml: does other code call amdsmi_shut_down()?",
    ),
}
_DEFAULT_FIX = "It may be transient (busy, timeout, retry). " + _SMI


@dataclass
class _Gpu(Gpu):
    power_field: str = ""


class AmdSmiSensor(GpuSensor[_Gpu]):
    """Energy of the AMD GPUs this job can see, one channel ``gpu:<i>`` each.

    Args:
        amdsmi: the ``amdsmi`` module, or an object behaving like it (tests pass
            :class:`frugalml.testing.FakeAMDSMI`); default: ``import amdsmi`` when first used.
        visible: which GPUs, in ``HIP_VISIBLE_DEVICES`` syntax, applied to every GPU amdsmi
            lists; default: ``ROCR_VISIBLE_DEVICES`` then ``HIP_VISIBLE_DEVICES`` /
            ``CUDA_VISIBLE_DEVICES`` from the environment when first used (unset: all).
        counter_bits: width of the energy accumulator; below 64 the readings carry
            ``wrap_j`` so the tracker can add back a wrapped range.

    Example:
        >>> from frugalml.testing._amdsmi import FakeAMDSMI
        >>> sensor = AmdSmiSensor(amdsmi=FakeAMDSMI())
        >>> sensor.available().ok, [c.method for c in sensor.channels()]
        (True, ['amdsmi-energy'])
        >>> round(sensor.read()["gpu:0"].energy_j, 3)
        1020.0
        >>> sensor.close()
    """

    name = "amdsmi"
    _label = "AMD SMI"
    _uncertainties = {ENERGY: AMDSMI_ENERGY_UNCERTAINTY, POWER: AMDSMI_POWER_UNCERTAINTY}
    _log = log
    _init_function, _shutdown_function = "amdsmi_init", "amdsmi_shut_down"
    _library_error, _code_attribute = "AmdSmiLibraryException", "err_code"
    _default_fix = _DEFAULT_FIX

    def __init__(
        self,
        amdsmi: Any = None,
        visible: str | Sequence[int | str] | None = None,
        counter_bits: int = 64,
    ) -> None:
        self.amdsmi = amdsmi
        super().__init__(visible)
        self.counter_bits = counter_bits

    # ------------------------------------------------------------------ probing
    def _load(self) -> Any:
        return self.amdsmi if self.amdsmi is not None else _import_amdsmi()

    def _error_table(self, lib: Any) -> dict[int, tuple[type[SensorError], str]]:
        wrapper = getattr(lib, "amdsmi_wrapper", None)
        return {
            getattr(wrapper, name, code): (cls, fix) for name, (code, cls, fix) in _ERRORS.items()
        }

    def _visible_gpus(self) -> list[tuple[_Gpu, str]]:
        lib = self._lib
        with self._translated("listing GPUs"):
            handles = list(lib.amdsmi_get_processor_handles())
        if not handles:
            raise SensorUnavailableError(f"AMD SMI found no AMD GPU. {_SMI}")

        uuids = [self._uuids(h) for h in handles]
        rocr: str | None
        hip: str | Sequence[int | str] | None
        if self.visible is not None:
            rocr, hip, where = None, self.visible, "the 'visible' argument"
        else:
            rocr, hip = hip_visible()
            where = "ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES"
        rocr_kept = resolve_visible(parse_visible(rocr), len(handles), lambda t: _match(t, uuids))
        kept_uuids = [uuids[i] for i in rocr_kept]
        positions = resolve_visible(
            parse_visible(hip), len(rocr_kept), lambda t: _match(t, kept_uuids)
        )
        physical = [rocr_kept[p] for p in positions]
        if not physical:
            raise SensorUnavailableError(
                f"{where} (ROCR={rocr!r}, HIP={hip!r}) leave no GPU visible to this job out of "
                f"the {len(handles)} AMD SMI sees (use indices 0..{len(handles) - 1} or UUIDs "
                "from `amd-smi list`)."
            )
        return [
            (_Gpu(job_index, phys, handles[phys]), "") for job_index, phys in enumerate(physical)
        ]

    def _choose_method(self, gpu: _Gpu) -> str:
        try:
            self._energy(gpu)
            gpu.method = ENERGY
            return ""
        except SensorError as e:
            log.info("GPU %d: no usable energy counter (%s); sampling power.", gpu.index, e)
        try:
            info = self._lib.amdsmi_get_power_info(gpu.handle)
        except Exception as e:
            return str(self._translate(e, f"reading GPU {gpu.index} power"))
        field = next((f for f in _POWER_FIELDS if _number(info.get(f)) is not None), "")
        if not field:
            return f"GPU {gpu.index} reports neither an energy counter nor a power reading."
        gpu.method, gpu.power_field = POWER, field
        return ""

    def _uuids(self, handle: Any) -> list[str]:
        lib = self._lib
        found = [self._query(lambda h: lib.amdsmi_get_gpu_device_uuid(h), handle)]
        enumeration = getattr(lib, "amdsmi_get_gpu_enumeration_info", None)
        if callable(enumeration):
            info = self._query(enumeration, handle)
            found.append(info.get("hip_uuid") if isinstance(info, dict) else None)
        return [str(u) for u in found if u]

    # ------------------------------------------------------------------ reading
    def _read_gpu(self, gpu: _Gpu) -> Reading:
        if gpu.method == ENERGY:
            return self._energy(gpu)
        return Reading(power_w=self._power_w(gpu))

    def _board_id(self, gpu: _Gpu) -> str:
        uuid = self._query(lambda h: self._lib.amdsmi_get_gpu_device_uuid(h), gpu.handle)
        return str(uuid) if uuid else super()._board_id(gpu)

    def _describe(self, gpu: _Gpu) -> dict[str, object]:
        lib = self._lib
        asic = self._query(lambda h: lib.amdsmi_get_gpu_asic_info(h), gpu.handle)
        memory = self._query(
            lambda h: lib.amdsmi_get_gpu_memory_total(h, lib.AmdSmiMemoryType.VRAM), gpu.handle
        )
        cap = self._query(lambda h: lib.amdsmi_get_power_cap_info(h), gpu.handle)
        cap_uw = _number(cap.get("power_cap")) if isinstance(cap, dict) else None
        return {
            "index": gpu.index,
            "amdsmi_index": gpu.physical,
            "name": asic.get("market_name") if isinstance(asic, dict) else None,
            "uuid": self._query(lambda h: lib.amdsmi_get_gpu_device_uuid(h), gpu.handle),
            "memory_bytes": int(memory) if _number(memory) is not None else None,
            "power_limit_w": cap_uw / _UW_PER_W if cap_uw is not None else None,
            "method": gpu.method,
        }

    def _energy(self, gpu: _Gpu) -> Reading:
        with self._translated(f"reading GPU {gpu.index} energy"):
            count = self._lib.amdsmi_get_energy_count(gpu.handle)
        if not isinstance(count, dict):
            raise SensorUnavailableError(f"amdsmi_get_energy_count returned {count!r}")
        ticks = _number(count.get("energy_accumulator", count.get("power")))  # "power": < 6.2.1
        resolution_uj = _number(count.get("counter_resolution"))
        if ticks is None or resolution_uj is None or resolution_uj <= 0:
            raise SensorUnavailableError(
                f"amdsmi_get_energy_count gave no usable counter for GPU {gpu.index}: {count}"
            )
        wrap_j = None
        if self.counter_bits < 64:
            wrap_j = 2**self.counter_bits * resolution_uj / _UJ_PER_J
        return Reading(energy_j=ticks * resolution_uj / _UJ_PER_J, wrap_j=wrap_j)

    def _power_w(self, gpu: _Gpu) -> float:
        info = self._lib.amdsmi_get_power_info(gpu.handle)
        value = info.get(gpu.power_field)
        power_w = _number(value)
        if power_w is None:
            raise SensorError(
                f"AMD SMI stopped reporting {gpu.power_field} for GPU {gpu.index} ({value!r}). "
                + _DEFAULT_FIX
            )
        return power_w

    def _query(self, call: Any, handle: Any) -> Any:
        try:
            return call(handle)
        except Exception as e:
            log.debug("AMD SMI query failed: %s", e)
            return None


def _import_amdsmi() -> Any:
    # amdsmi prints to stdout when it cannot find libamd_smi.so, and fails with OSError,
    # AttributeError or KeyError (not ImportError) when the package and ROCm disagree.
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return require("amdsmi", "AMD GPU measurement")
    except FrugalError:
        raise
    except Exception as e:
        raise SensorUnavailableError(
            f"the amdsmi package is installed but does not load ({type(e).__name__}: {e}). "
            "Install ROCm (libamd_smi.so), set ROCM_PATH, and use the amdsmi version that "
            "ships with it (/opt/rocm/share/amd_smi)."
        ) from e


def _match(token: str, uuids_per_gpu: list[list[str]]) -> int | None:
    """The one GPU with a UUID that ``token`` is a prefix of (any of its UUID forms)."""
    hits = {
        gpu
        for gpu, uuids in enumerate(uuids_per_gpu)
        if any(uuid_prefix_match(token, [u]) is not None for u in uuids)
    }
    return hits.pop() if len(hits) == 1 else None


def _number(value: object) -> float | None:
    """``value`` as a float if it is a real number (amdsmi writes "N/A" for missing ones)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None
