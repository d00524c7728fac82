"""The sensor registry: sensor factories by name, probed in a documented order.

Default probe order: ``rapl`` (CPU packages and DRAM from counters), ``nvml`` (NVIDIA GPUs),
``amdsmi`` (AMD GPUs), then the models for what no counter covered: ``cpu-model`` when RAPL gave
no CPU package, ``ram-model`` when RAPL gave no DRAM zone. Objects are created fresh for each
tracker; nothing is cached at module level.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from frugalml._params import unknown_name
from frugalml.measure._proc import ProcessTree
from frugalml.measure.base import Sensor

__all__ = ["PROBE_ORDER", "SENSOR_NAMES", "create_sensor", "default_sensors"]

log = logging.getLogger(__name__)

PROBE_ORDER = ("rapl", "nvml", "amdsmi", "cpu-model", "ram-model")
SENSOR_NAMES = (*PROBE_ORDER, "constant", "replay")


def _factories() -> dict[str, Callable[..., Sensor]]:
    from frugalml.measure.amdsmi import AmdSmiSensor
    from frugalml.measure.constant import ConstantPowerSensor
    from frugalml.measure.cpu_model import CpuModelSensor
    from frugalml.measure.nvml import NvmlSensor
    from frugalml.measure.ram_model import RamModelSensor
    from frugalml.measure.rapl import RaplSensor
    from frugalml.measure.replay import ReplaySensor

    return {
        "rapl": RaplSensor,
        "nvml": NvmlSensor,
        "amdsmi": AmdSmiSensor,
        "cpu-model": CpuModelSensor,
        "ram-model": RamModelSensor,
        "constant": ConstantPowerSensor,
        "replay": ReplaySensor,
    }


def create_sensor(name: str, **kwargs: object) -> Sensor:
    """Create the sensor registered as ``name`` with its constructor arguments."""
    if name not in SENSOR_NAMES:
        raise unknown_name("sensor", name, SENSOR_NAMES)
    return _factories()[name](**kwargs)


def _gpu_driver_present(kind: str) -> bool:
    # A cheap look before importing a vendor library (tens of ms) on machines without GPUs.
    if kind == "nvml":
        return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg"))
    return os.path.exists("/dev/kfd")


def default_sensors(
    scope: str, pid: int | None = None, *, tree: ProcessTree | None = None
) -> tuple[list[Sensor], dict[str, str]]:
    """Probe the registry in order; return usable sensors and why the others were skipped.

    ``tree`` is the tracked process tree shared by the model sensors (process scope).
    """
    from frugalml.measure.cpu_model import CpuModelSensor
    from frugalml.measure.ram_model import RamModelSensor
    from frugalml.measure.rapl import RaplSensor

    sensors: list[Sensor] = []
    skipped: dict[str, str] = {}
    covered: set[str] = set()
    rapl = RaplSensor()
    ok = rapl.available()
    if ok:
        sensors.append(rapl)
        covered.update(ch.component for ch in rapl.channels())
    else:
        skipped["rapl"] = ok.reason
    for kind in ("nvml", "amdsmi"):
        if not _gpu_driver_present(kind):
            skipped[kind] = (
                "no driver found" if kind == "nvml" else "no /dev/kfd (no AMD GPU driver)"
            )
            continue
        try:
            sensor = create_sensor(kind)
            ok = sensor.available()
        except Exception as e:  # a broken vendor library must not stop the user's job
            skipped[kind] = f"probe failed: {e}"
            continue
        if ok:
            sensors.append(sensor)
        else:
            skipped[kind] = ok.reason
            sensor.close()
    if tree is None and scope == "process":
        tree = ProcessTree(pid)
    if "cpu" not in covered:
        sensors.append(CpuModelSensor(scope, pid, tree=tree))
    if "dram" not in covered:
        sensors.append(RamModelSensor(scope, pid, tree=tree))
    return sensors, skipped
