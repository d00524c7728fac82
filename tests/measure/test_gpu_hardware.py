"""Real-hardware checks of the GPU sensors; each skips with the reason when it cannot run."""

from __future__ import annotations

import importlib.util
import time

import pytest

from frugalml.measure.amdsmi import AmdSmiSensor
from frugalml.measure.nvml import NvmlSensor

pytestmark = pytest.mark.hardware


def nvml_gpu_count() -> tuple[int, str]:
    """How many GPUs the real NVML sees, and why none when it cannot start."""
    if importlib.util.find_spec("pynvml") is None:
        return 0, "nvidia-ml-py not installed"
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        return 0, f"no NVIDIA driver/GPU: {e}"
    try:
        return pynvml.nvmlDeviceGetCount(), "NVML sees no GPU"
    finally:
        pynvml.nvmlShutdown()


def amdsmi_gpu_count() -> tuple[int, str]:
    if importlib.util.find_spec("amdsmi") is None:
        return 0, "amdsmi not installed"
    sensor = AmdSmiSensor()
    try:
        ok = sensor.available()
        return (len(sensor.channels()), "") if ok else (0, f"no AMD GPU/driver: {ok.reason}")
    finally:
        sensor.close()


def test_nvml_sensor_on_real_gpus():
    count, why = nvml_gpu_count()
    if count == 0:
        pytest.skip(why)
    sensor = NvmlSensor()
    try:
        ok = sensor.available()
        assert ok, ok.reason
        channels = sensor.channels()
        assert channels and all(c.method in {"nvml-energy", "nvml-power"} for c in channels)
        first = sensor.read()
        # Keep the GPU idle-but-awake: the counters update every few tens of ms.
        time.sleep(0.5)
        second = sensor.read()
        hardware = sensor.hardware()["gpus"]
        limits = {f"gpu:{g['index']}": g["power_limit_w"] for g in hardware}
        for channel in channels:
            a, b = first[channel.id], second[channel.id]
            if channel.method == "nvml-energy":
                assert a.energy_j is not None and b.energy_j is not None
                assert b.energy_j >= a.energy_j
                # Less than 2 x the power limit over 0.5 s (plus the counter's granularity).
                assert b.energy_j - a.energy_j < 2 * (limits[channel.id] or 1000) * 0.5 + 1
            else:
                assert b.power_w is not None and 0 <= b.power_w < 2 * (limits[channel.id] or 1000)
        assert all(g["name"] and str(g["uuid"]).startswith(("GPU-", "MIG-")) for g in hardware)
        assert all(isinstance(g["memory_bytes"], int) and g["memory_bytes"] > 0 for g in hardware)
    finally:
        sensor.close()


def test_nvml_sensor_explains_itself_without_a_gpu():
    count, why = nvml_gpu_count()
    if count > 0:
        pytest.skip("an NVIDIA GPU is present: covered by test_nvml_sensor_on_real_gpus")
    if why == "nvidia-ml-py not installed":
        pytest.skip(why)
    ok = NvmlSensor().available()
    assert not ok
    # The real pynvml's error is translated into a reason with a fix, not raised.
    assert "NVIDIA" in ok.reason or "NVML" in ok.reason


def test_amdsmi_sensor_on_real_gpus():
    count, why = amdsmi_gpu_count()
    if count == 0:
        pytest.skip(why)
    sensor = AmdSmiSensor()
    try:
        assert sensor.available()
        first = sensor.read()
        time.sleep(0.5)
        second = sensor.read()
        for channel in sensor.channels():
            if channel.method == "amdsmi-energy":
                assert second[channel.id].energy_j >= first[channel.id].energy_j
            else:
                assert second[channel.id].power_w >= 0
        assert all(g["name"] for g in sensor.hardware()["gpus"])
    finally:
        sensor.close()
