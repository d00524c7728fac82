"""NVIDIA GPU energy through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package).

One channel per GPU the job can see (``CUDA_VISIBLE_DEVICES``), named ``gpu:<i>`` where
``i`` is the index the job itself uses (``cuda:i``):

* ``nvml-energy`` — the board's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ since the driver was loaded; Volta and later). The driver accumulates it continuously,
  so it does not depend on how often frugalml samples.
* ``nvml-power`` — board power (``nvmlDeviceGetPowerUsage``, mW) for older GPUs; the tracker
  integrates the samples over time.

Relative uncertainties (standard, 1 sigma) and why:

* ``nvml-energy`` 0.05: the NVML reference gives the board power sensor as accurate to
  ±5 % of the current draw (stated for Fermi/Kepler; NVIDIA has published no figure for
  newer boards). The counter integrates that sensor, so its error is the sensor's.
* ``nvml-power`` 0.10: the same sensor error plus the sampling error of integrating
  discrete readings: on Ampere and later (except GA100) a reading is a 1 s average, and
  Yang et al. (SC'24, "Part-time Power Measurements: nvidia-smi's Lack of Attention",
  arXiv:2312.02741) show that on A100/H100 only about 25 % of the run time is sampled,
  so short or bursty phases can be badly under- or over-counted. 0.10 is a judgement for
  steady training loops sampled every second; bursty segments shorter than a few seconds
  can be worse.

The reading is for the whole board: other processes on the same GPU are included, and a MIG
instance (``MIG-...`` UUID) is measured through its parent GPU, so its reading includes
every instance on that GPU (logged as a warning and recorded in :meth:`NvmlSensor.hardware`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from frugalml._lazy import require
from frugalml.errors import SensorError, SensorPermissionError, SensorUnavailableError
from frugalml.measure._gpu import Gpu, GpuSensor
from frugalml.measure._visible import parse_visible, resolve_visible, uuid_prefix_match
from frugalml.measure.base import Reading

__all__ = ["NVML_ENERGY_UNCERTAINTY", "NVML_POWER_UNCERTAINTY", "NvmlSensor"]

log = logging.getLogger(__name__)

NVML_ENERGY_UNCERTAINTY = 0.05
NVML_POWER_UNCERTAINTY = 0.10
ENERGY, POWER = "nvml-energy", "nvml-power"

_MJ_PER_J = 1000.0  # NVML energy unit: millijoule
_MW_PER_W = 1000.0  # NVML power unit: milliwatt

_SMI = "Check the GPU with `nvidia-smi`."
# NVML error name -> (frugalml exception, what to do). Names, not numbers: the numbers are
# read from the module in use, so a fake and the real pynvml resolve the same way.
_ERRORS: dict[str, tuple[type[SensorError], str]] = {
    "NVML_ERROR_NO_PERMISSION": (
        SensorPermissionError,
        "Run as a user allowed to open /dev/nvidia* (in a container: start it with "
        "`--gpus all` through the NVIDIA Container Toolkit), or ask an administrator.",
    ),
    "NVML_ERROR_OPERATING_SYSTEM": (
        SensorPermissionError,
        "The operating system blocked the request (SELinux/AppArmor or a container policy); "
        "ask an administrator to allow NVML queries.",
    ),
    "NVML_ERROR_LIBRARY_NOT_FOUND": (
        SensorUnavailableError,
        "libnvidia-ml.so.1 was not found: install the NVIDIA driver, which ships it (in a "
        "container: use the NVIDIA Container Toolkit, `--gpus all`).",
    ),
    "NVML_ERROR_DRIVER_NOT_LOADED": (
        SensorUnavailableError,
        "The NVIDIA kernel driver is not loaded: install it or load it (`sudo modprobe "
        "nvidia`), then check with `nvidia-smi`.",
    ),
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": (
        SensorUnavailableError,
        "The NVIDIA driver was updated but the old kernel module is still loaded: reboot.",
    ),
    "NVML_ERROR_FUNCTION_NOT_FOUND": (
        SensorUnavailableError,
        "The NVIDIA driver is older than nvidia-ml-py expects: update the driver, or install "
        "an nvidia-ml-py matching it.",
    ),
    "NVML_ERROR_NOT_SUPPORTED": (
        SensorUnavailableError,
        "This GPU does not report it; frugalml falls back to power sampling or its models.",
    ),
    "NVML_ERROR_GPU_NOT_FOUND": (SensorUnavailableError, _SMI),
    "NVML_ERROR_NOT_FOUND": (SensorUnavailableError, "Check CUDA_VISIBLE_DEVICES. " + _SMI),
    "NVML_ERROR_GPU_IS_LOST": (
        SensorError,
        "The GPU fell off the bus: check `nvidia-smi` and `dmesg`; it needs a reset or reboot.",
    ),
    "NVML_ERROR_RESET_REQUIRED": (SensorError, "The GPU needs a reset (`nvidia-smi -r`)."),
    "NVML_ERROR_UNINITIALIZED": (
        SensorError,
        "NVML was shut down under frugalml: does other code call pynvml.nvmlShutdown() more "
        "often than nvmlInit()?",
    ),
    "NVML_ERROR_INSUFFICIENT_POWER": (SensorError, "Check the GPU's power cables. " + _SMI),
    "NVML_ERROR_CORRUPTED_INFOROM": (SensorError, "The GPU's infoROM is corrupted. " + _SMI),
}
_DEFAULT_FIX = "It may be transient (timeout, busy driver). " + _SMI


@dataclass
class _Gpu(Gpu):
    uuid: str = ""  # of the whole GPU, also when the job sees one of its MIG instances
    mig_uuids: list[str] = field(default_factory=list)


class NvmlSensor(GpuSensor[_Gpu]):
    """Energy of the NVIDIA GPUs this job can see, one channel ``gpu:<i>`` each.

    Args:
        nvml: the ``pynvml`` module, or an object behaving like it (tests pass
            :class:`frugalml.testing.FakeNVML`); default: ``import pynvml`` when first used.
        visible: which GPUs, in ``CUDA_VISIBLE_DEVICES`` syntax (``"0,2"``, UUIDs) or as a
            sequence; default: read ``CUDA_VISIBLE_DEVICES`` when first used (unset: all).

    Example:
        >>> from frugalml.testing._nvml import FakeNVML
        >>> sensor = NvmlSensor(nvml=FakeNVML())
        >>> sensor.available().ok, [c.method for c in sensor.channels()]
        (True, ['nvml-energy'])
        >>> sensor.read()["gpu:0"].energy_j
        1020.0
        >>> sensor.close()
    """

    name = "nvml"
    _label = "NVML"
    _uncertainties = {ENERGY: NVML_ENERGY_UNCERTAINTY, POWER: NVML_POWER_UNCERTAINTY}
    _log = log
    _init_function, _shutdown_function = "nvmlInit", "nvmlShutdown"
    _library_error, _code_attribute = "NVMLError", "value"
    _default_fix = _DEFAULT_FIX

    def __init__(self, nvml: Any = None, visible: str | Sequence[int | str] | None = None) -> None:
        self.nvml = nvml
        super().__init__(visible)

    # ------------------------------------------------------------------ probing
    def _load(self) -> Any:
        return self.nvml if self.nvml is not None else require("pynvml", "NVIDIA GPU measurement")

    def _error_table(self, lib: Any) -> dict[int, tuple[type[SensorError], str]]:
        return {getattr(lib, name): entry for name, entry in _ERRORS.items() if hasattr(lib, name)}

    def _visible_gpus(self) -> list[tuple[_Gpu, str]]:
        lib = self._lib
        with self._translated("listing GPUs"):
            count = int(lib.nvmlDeviceGetCount())
        # One GPU we may not open (a cgroup giving this job other GPUs) must not hide the rest.
        handles: list[Any] = []
        uuids: list[str] = []
        closed: dict[int, str] = {}
        for i in range(count):
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
                uuids.append(str(lib.nvmlDeviceGetUUID(handle)))
                handles.append(handle)
            except lib.NVMLError as e:
                handles.append(None)
                uuids.append("")
                closed[i] = str(self._translate(e, f"opening GPU {i} (NVML index)"))
        if count == 0:
            raise SensorUnavailableError(f"NVML found no NVIDIA GPU. {_SMI}")

        env_value = os.environ.get("CUDA_VISIBLE_DEVICES")
        value = self.visible if self.visible is not None else env_value
        tokens = parse_visible(value)
        migs: dict[int, list[str]] = {}

        def resolve(token: str) -> int | None:
            index = self._resolve_uuid(token, uuids)
            if index is not None and token.upper().startswith("MIG-"):
                migs.setdefault(index, []).append(token)
            return index

        physical = resolve_visible(tokens, count, resolve)
        if not physical:
            raise SensorUnavailableError(
                f"CUDA_VISIBLE_DEVICES={value!r} leaves no GPU visible to this job out of the "
                f"{count} NVML sees (use indices 0..{count - 1} or GPU UUIDs from "
                "`nvidia-smi -L`)."
            )
        if tokens is not None and any(isinstance(t, int) for t in tokens):
            self._warn_device_order(handles)
        seen: list[tuple[_Gpu, str]] = []
        for job_index, phys in enumerate(physical):
            gpu = _Gpu(
                job_index, phys, handles[phys], uuid=uuids[phys], mig_uuids=migs.get(phys, [])
            )
            seen.append((gpu, closed.get(phys, "")))
        return seen

    def _choose_method(self, gpu: _Gpu) -> str:
        lib = self._lib
        try:
            lib.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
            gpu.method = ENERGY
            return ""
        except lib.NVMLError as e:
            log.info("GPU %d has no energy counter (%s); sampling power.", gpu.index, e)
        try:
            lib.nvmlDeviceGetPowerUsage(gpu.handle)
            gpu.method = POWER
            return ""
        except lib.NVMLError as e:
            return str(self._translate(e, f"reading GPU {gpu.index} power"))

    def _measured(self, gpu: _Gpu) -> None:
        if gpu.mig_uuids:
            log.warning(
                "GPU %d is a MIG instance; NVML measures its parent GPU %s as a whole, so "
                "the energy includes every instance on it.",
                gpu.index,
                gpu.uuid,
            )

    def _board_id(self, gpu: _Gpu) -> str:
        return gpu.uuid or super()._board_id(gpu)

    def _resolve_uuid(self, token: str, uuids: list[str]) -> int | None:
        if not token.upper().startswith("MIG-"):
            return uuid_prefix_match(token, uuids)
        if token.upper().startswith("MIG-GPU-"):  # CUDA 11.0-11.3 form: MIG-GPU-<uuid>/<gi>/<ci>
            return uuid_prefix_match(token[4:].split("/")[0], uuids)
        lib = self._lib
        try:
            mig = lib.nvmlDeviceGetHandleByUUID(token)
            parent = lib.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            parent_uuid = str(lib.nvmlDeviceGetUUID(parent))
        except lib.NVMLError as e:
            log.warning("CUDA_VISIBLE_DEVICES entry %s: %s", token, e)
            return None
        return uuids.index(parent_uuid) if parent_uuid in uuids else None

    def _warn_device_order(self, handles: list[Any]) -> None:
        """CUDA numbers GPUs fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; NVML numbers
        them by PCI bus. The two agree when all GPUs are the same model."""
        if os.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID":
            return
        names = {self._query("nvmlDeviceGetName", h) for h in handles if h is not None} - {None}
        if len(names) > 1:
            log.warning(
                "CUDA_VISIBLE_DEVICES uses indices on a machine with different GPU models %s; "
                "CUDA may number them differently from NVML. Set CUDA_DEVICE_ORDER=PCI_BUS_ID "
                "or use GPU UUIDs so frugalml measures the GPUs the job uses.",
                sorted(str(n) for n in names),
            )

    # ------------------------------------------------------------------ reading
    def _read_gpu(self, gpu: _Gpu) -> Reading:
        if gpu.method == ENERGY:
            mj = self._lib.nvmlDeviceGetTotalEnergyConsumption(gpu.handle)
            return Reading(energy_j=mj / _MJ_PER_J)
        mw = self._lib.nvmlDeviceGetPowerUsage(gpu.handle)
        return Reading(power_w=mw / _MW_PER_W)

    def _describe(self, gpu: _Gpu) -> dict[str, object]:
        info: dict[str, object] = {"index": gpu.index, "nvml_index": gpu.physical}
        info["name"] = self._query("nvmlDeviceGetName", gpu.handle)
        info["uuid"] = self._query("nvmlDeviceGetUUID", gpu.handle)
        memory = self._query("nvmlDeviceGetMemoryInfo", gpu.handle)
        info["memory_bytes"] = int(memory.total) if memory is not None else None
        limit_mw = self._query("nvmlDeviceGetEnforcedPowerLimit", gpu.handle)
        info["power_limit_w"] = limit_mw / _MW_PER_W if limit_mw is not None else None
        info["method"] = gpu.method
        if gpu.mig_uuids:
            info["mig_uuids"] = list(gpu.mig_uuids)
        return info

    def _query(self, function: str, handle: Any) -> Any:
        try:
            return getattr(self._lib, function)(handle)
        except Exception as e:
            log.debug("%s failed: %s", function, e)
            return None
