"""NvmlSensor against FakeNVML, and FakeNVML against the real pynvml interface."""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys

import pytest

from frugalml.errors import (
    SensorError,
    SensorPermissionError,
    SensorUnavailableError,
)
from frugalml.measure.nvml import (
    NVML_ENERGY_UNCERTAINTY,
    NVML_POWER_UNCERTAINTY,
    NvmlSensor,
)
from frugalml.testing import _nvml as fake_module
from frugalml.testing._nvml import FakeGPU, FakeNVML

A100 = "NVIDIA A100-SXM4-40GB"
T4 = "Tesla T4"


def sensor_for(fake: FakeNVML, visible: str | None = None) -> NvmlSensor:
    sensor = NvmlSensor(nvml=fake, visible=visible)
    assert sensor.available(), sensor.available().reason
    return sensor


@pytest.fixture(autouse=True)
def _no_visible_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


# ---------------------------------------------------------------------- energy and power paths
def test_energy_counter_path_converts_mj_to_j():
    fake = FakeNVML([FakeGPU(energy_start_j=2.5, energy_step_j=0.75)])
    sensor = sensor_for(fake)
    (channel,) = sensor.channels()
    assert channel.id == "gpu:0" and channel.component == "gpu:0"
    assert channel.method == "nvml-energy"
    assert channel.uncertainty == NVML_ENERGY_UNCERTAINTY
    assert not channel.machine_wide
    # The probe read the counter once (3.25 J); this read adds another step.
    reading = sensor.read()["gpu:0"]
    assert reading.energy_j == pytest.approx(4.0)
    assert reading.power_w is None
    assert reading.wrap_j is None  # 64-bit mJ counter: a drop means a driver reload, not a wrap


def test_power_path_for_gpus_without_energy_counter():
    fake = FakeNVML([FakeGPU(name=T4, supports_energy=False, power_w=lambda t: 70.25)])
    sensor = sensor_for(fake)
    (channel,) = sensor.channels()
    assert channel.method == "nvml-power"
    assert channel.uncertainty == NVML_POWER_UNCERTAINTY
    reading = sensor.read()["gpu:0"]
    assert reading.power_w == pytest.approx(70.25)
    assert reading.energy_j is None


def test_power_sampling_is_less_certain_than_counter():
    assert NVML_POWER_UNCERTAINTY > NVML_ENERGY_UNCERTAINTY


def test_one_reading_per_device_with_mixed_methods():
    fake = FakeNVML([FakeGPU(), FakeGPU(name=T4, supports_energy=False, power_w=60.0)])
    sensor = sensor_for(fake)
    assert {c.id: c.method for c in sensor.channels()} == {
        "gpu:0": "nvml-energy",
        "gpu:1": "nvml-power",
    }
    readings = sensor.read()
    assert set(readings) == {"gpu:0", "gpu:1"}
    assert readings["gpu:1"].power_w == pytest.approx(60.0)


def test_energy_counter_permission_denied_falls_back_to_power():
    fake = FakeNVML()
    fake.fail(
        fake.NVML_ERROR_NO_PERMISSION, functions=["nvmlDeviceGetTotalEnergyConsumption"], times=1
    )
    sensor = sensor_for(fake)
    assert [c.method for c in sensor.channels()] == ["nvml-power"]


# ---------------------------------------------------------------------- visible devices
def four_gpus() -> FakeNVML:
    return FakeNVML([FakeGPU(uuid=f"GPU-{i}{i}{i}{i}aaaa-0000") for i in range(4)])


def test_visible_by_index_renumbers_channels_as_the_job_sees_them(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    sensor = sensor_for(four_gpus())
    assert [c.id for c in sensor.channels()] == ["gpu:0", "gpu:1"]
    gpus = sensor.hardware()["gpus"]
    assert [(g["index"], g["nvml_index"]) for g in gpus] == [(0, 2), (1, 0)]


def test_visible_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    sensor = sensor_for(four_gpus(), visible="3")
    assert [g["nvml_index"] for g in sensor.hardware()["gpus"]] == [3]


def test_visible_by_uuid_and_prefix(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-3333aaaa-0000,GPU-11")
    sensor = sensor_for(four_gpus())
    assert [g["uuid"] for g in sensor.hardware()["gpus"]] == [
        "GPU-3333aaaa-0000",
        "GPU-1111aaaa-0000",
    ]


def test_visible_list_stops_at_first_invalid_entry(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,0")
    sensor = sensor_for(four_gpus())
    assert [g["nvml_index"] for g in sensor.hardware()["gpus"]] == [1]


@pytest.mark.parametrize("value", ["", "-1", "9", "GPU-ffff"])
def test_no_visible_gpu_makes_sensor_unavailable(monkeypatch, value):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    fake = four_gpus()
    ok = NvmlSensor(nvml=fake).available()
    assert not ok
    assert "CUDA_VISIBLE_DEVICES" in ok.reason
    assert not fake.initialized  # the failed probe shut NVML down again


def test_mig_uuid_maps_to_parent_gpu(monkeypatch, caplog):
    gpus = [FakeGPU(uuid="GPU-aaaa"), FakeGPU(uuid="GPU-bbbb", mig_uuids=["MIG-1234-5678"])]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1234-5678")
    with caplog.at_level(logging.WARNING, logger="frugalml.measure.nvml"):
        sensor = sensor_for(FakeNVML(gpus))
    (gpu,) = sensor.hardware()["gpus"]
    assert gpu["nvml_index"] == 1
    assert gpu["mig_uuids"] == ["MIG-1234-5678"]
    assert [c.method for c in sensor.channels()] == ["nvml-energy"]
    assert "MIG" in caplog.text


def test_legacy_mig_form_maps_to_parent_gpu(monkeypatch):
    gpus = [FakeGPU(uuid="GPU-aaaa"), FakeGPU(uuid="GPU-bbbb")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-GPU-bbbb/1/0")
    sensor = sensor_for(FakeNVML(gpus))
    assert [g["nvml_index"] for g in sensor.hardware()["gpus"]] == [1]


def test_unknown_mig_uuid_hides_the_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-ffff")
    assert not NvmlSensor(nvml=FakeNVML()).available()


def test_index_list_on_mixed_models_warns_about_device_order(monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    fake = FakeNVML([FakeGPU(name=A100), FakeGPU(name=T4)])
    with caplog.at_level(logging.WARNING, logger="frugalml.measure.nvml"):
        sensor_for(fake)
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in caplog.text
    caplog.clear()
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    with caplog.at_level(logging.WARNING, logger="frugalml.measure.nvml"):
        sensor_for(FakeNVML([FakeGPU(name=A100), FakeGPU(name=T4)]))
    assert "CUDA_DEVICE_ORDER" not in caplog.text


# ---------------------------------------------------------------------- errors
def test_error_mid_run_raises_frugal_sensor_error_not_nvml_error():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    sensor.read()
    fake.fail_after(0, fake.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert not isinstance(info.value, fake.NVMLError)
    assert isinstance(info.value.__cause__, fake.NVMLError_GpuIsLost)
    assert "reset or reboot" in str(info.value)


def test_transient_error_then_readings_resume():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    fake.fail(fake.NVML_ERROR_TIMEOUT, functions=["nvmlDeviceGetTotalEnergyConsumption"], times=1)
    with pytest.raises(SensorError):
        sensor.read()
    assert sensor.read()["gpu:0"].energy_j is not None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NVML_ERROR_NO_PERMISSION", SensorPermissionError),
        ("NVML_ERROR_NOT_SUPPORTED", SensorUnavailableError),
        ("NVML_ERROR_GPU_IS_LOST", SensorError),
        ("NVML_ERROR_UNKNOWN", SensorError),
        ("NVML_ERROR_TIMEOUT", SensorError),
        ("NVML_ERROR_UNINITIALIZED", SensorError),
    ],
)
def test_error_codes_map_to_frugal_errors(code, expected):
    fake = FakeNVML()
    sensor = sensor_for(fake)
    fake.fail(getattr(fake, code), functions=["nvmlDeviceGetTotalEnergyConsumption"])
    with pytest.raises(expected) as info:
        sensor.read()
    assert type(info.value) is expected
    assert "NVML error while reading GPU 0" in str(info.value)


def test_permission_error_is_also_a_builtin_permission_error():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    fake.fail(fake.NVML_ERROR_NO_PERMISSION, device=0)
    with pytest.raises(PermissionError):
        sensor.read()


def test_non_nvml_exception_in_binding_is_wrapped():
    fake = FakeNVML()
    sensor = sensor_for(fake)

    def broken(handle):
        raise OSError("ctypes exploded")

    fake.nvmlDeviceGetTotalEnergyConsumption = broken
    with pytest.raises(SensorError, match="OSError: ctypes exploded"):
        sensor.read()


def test_nvml_shut_down_by_other_code_raises_sensor_error():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    fake.nvmlShutdown()  # someone else's pynvml.nvmlShutdown()
    with pytest.raises(SensorError, match="nvmlShutdown"):
        sensor.read()


# ---------------------------------------------------------------------- availability
@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("NVML_ERROR_DRIVER_NOT_LOADED", "modprobe nvidia"),
        ("NVML_ERROR_LIBRARY_NOT_FOUND", "install the NVIDIA driver"),
        ("NVML_ERROR_NO_PERMISSION", "administrator"),
        ("NVML_ERROR_LIB_RM_VERSION_MISMATCH", "reboot"),
    ],
)
def test_unavailable_when_nvml_init_fails(code, words):
    fake = FakeNVML(init_error=getattr(fake_module, code))
    ok = NvmlSensor(nvml=fake).available()
    assert not ok
    assert words in ok.reason


def test_unavailable_without_gpus():
    ok = NvmlSensor(nvml=FakeNVML([])).available()
    assert not ok and "no NVIDIA GPU" in ok.reason


def test_unavailable_when_no_gpu_can_be_read():
    fake = FakeNVML()
    fake.fail(
        fake.NVML_ERROR_NO_PERMISSION,
        functions=["nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"],
    )
    ok = NvmlSensor(nvml=fake).available()
    assert not ok and "Insufficient Permissions" in ok.reason


def test_unreadable_gpu_is_skipped_and_recorded():
    fake = FakeNVML([FakeGPU(), FakeGPU()])
    fake.fail(
        fake.NVML_ERROR_NO_PERMISSION,
        device=1,
        functions=["nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"],
    )
    sensor = sensor_for(fake)
    assert [c.id for c in sensor.channels()] == ["gpu:0"]
    assert "gpu:1" in sensor.hardware()["unreadable_gpus"]


def test_unavailable_when_pynvml_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    ok = NvmlSensor().available()
    assert not ok
    assert "pip install 'frugalml[nvidia]'" in ok.reason


def test_available_never_raises_on_unexpected_errors():
    fake = FakeNVML()

    def broken():
        raise RuntimeError("weird binding")

    fake.nvmlDeviceGetCount = broken
    ok = NvmlSensor(nvml=fake).available()
    assert not ok and "weird binding" in ok.reason


# ---------------------------------------------------------------------- hardware and close
def test_hardware_reports_gpu_description_in_si_units():
    fake = FakeNVML([FakeGPU(name=A100, uuid="GPU-abc", memory_bytes=123, power_limit_w=275.5)])
    sensor = sensor_for(fake)
    assert sensor.hardware() == {
        "gpus": [
            {
                "index": 0,
                "nvml_index": 0,
                "name": A100,
                "uuid": "GPU-abc",
                "memory_bytes": 123,
                "power_limit_w": 275.5,
                "method": "nvml-energy",
            }
        ]
    }


def test_close_shuts_nvml_down_once_and_is_idempotent():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    assert fake.initialized
    sensor.close()
    sensor.close()
    assert fake.calls.count("nvmlShutdown") == 1
    assert not fake.initialized


def test_sensor_can_be_probed_again_after_close():
    fake = FakeNVML()
    sensor = sensor_for(fake)
    sensor.close()
    assert sensor.available()
    assert "gpu:0" in sensor.read()
    sensor.close()
    assert fake.init_count == 0


def test_init_only_stores_arguments():
    fake = FakeNVML()
    NvmlSensor(nvml=fake, visible="0")
    assert fake.calls == []


# ---------------------------------------------------------------------- the fake itself
def test_fake_is_uninitialised_until_nvml_init():
    fake = FakeNVML()
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlShutdown()


def test_fake_bad_index_and_uuid_raise_like_nvml():
    fake = FakeNVML()
    fake.nvmlInit()
    with pytest.raises(fake.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(5)
    with pytest.raises(fake.NVMLError_NotFound):
        fake.nvmlDeviceGetHandleByUUID("GPU-nope")


def test_fake_error_construction_maps_codes_to_subclasses():
    err = FakeNVML.NVMLError(FakeNVML.NVML_ERROR_NO_PERMISSION)
    assert type(err).__name__ == "NVMLError_NoPermission"
    assert err.value == 4 and str(err) == "Insufficient Permissions"
    assert FakeNVML.NVMLError_GpuIsLost().value == 15
    assert str(FakeNVML.NVMLError(12345)) == "NVML Error with code 12345"


def test_fake_rejects_functions_it_does_not_implement():
    with pytest.raises(AttributeError, match="does not implement"):
        FakeNVML().nvmlDeviceGetClockInfo  # noqa: B018


pynvml_missing = importlib.util.find_spec("pynvml") is None


@pytest.mark.skipif(pynvml_missing, reason="nvidia-ml-py not installed: cannot compare the fake")
def test_fake_error_codes_match_real_pynvml():
    import pynvml

    real = {n: getattr(pynvml, n) for n in dir(pynvml) if n.startswith("NVML_ERROR_")}
    fake = {n: getattr(FakeNVML, n) for n in real if hasattr(FakeNVML, n)}
    assert fake == real
    assert FakeNVML.NVML_SUCCESS == pynvml.NVML_SUCCESS


@pytest.mark.skipif(pynvml_missing, reason="nvidia-ml-py not installed: cannot compare the fake")
def test_fake_error_classes_match_real_pynvml():
    import pynvml

    for code, real_cls in pynvml.NVMLError._valClassMapping.items():
        fake_err = FakeNVML.NVMLError(code)
        real_err = pynvml.NVMLError(code)
        assert type(fake_err).__name__ == real_cls.__name__ == type(real_err).__name__
        assert fake_err.value == real_err.value == code
        assert isinstance(getattr(FakeNVML, real_cls.__name__)(), FakeNVML.NVMLError)


@pytest.mark.skipif(pynvml_missing, reason="nvidia-ml-py not installed: cannot compare the fake")
def test_fake_functions_exist_in_pynvml_with_compatible_signatures():
    import pynvml

    used = [
        name
        for name, member in inspect.getmembers(FakeNVML, inspect.isfunction)
        if name.startswith("nvml")
    ]
    assert "nvmlDeviceGetTotalEnergyConsumption" in used
    for name in used:
        real = inspect.signature(getattr(pynvml, name))
        mine = inspect.signature(getattr(FakeNVML(), name))
        assert list(real.parameters) == list(mine.parameters), name


def test_gpu_that_cannot_be_opened_does_not_hide_the_others(monkeypatch):
    # A cgroup that gives this job GPU 1 only: NVML counts both but may not open GPU 0.
    fake = FakeNVML([FakeGPU(uuid="GPU-aaaa"), FakeGPU(uuid="GPU-bbbb")])
    real_open = fake.nvmlDeviceGetHandleByIndex

    def guarded_open(index):
        if index == 0:
            raise fake.NVMLError(fake.NVML_ERROR_NO_PERMISSION)
        return real_open(index)

    fake.nvmlDeviceGetHandleByIndex = guarded_open
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb")
    sensor = sensor_for(fake)
    assert [g["uuid"] for g in sensor.hardware()["gpus"]] == ["GPU-bbbb"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    ok = NvmlSensor(nvml=fake).available()
    assert not ok and "Insufficient Permissions" in ok.reason


# ---------------------------------------------------------------------- with the tracker
def test_tracker_run_completes_when_nvml_fails_mid_run():
    from frugalml.measure.tracker import Tracker

    fake = FakeNVML([FakeGPU(energy_step_j=10.0), FakeGPU(name=T4, supports_energy=False)])
    tracker = Tracker(
        "gpu",
        sensors=[NvmlSensor(nvml=fake)],
        db=False,
        interval_s=60,
        region="FR",
        handle_signals=False,
    )
    with tracker as run:
        tracker.sample()  # a normal sample: the counter advanced 10 J
        fake.fail_after(0, fake.NVML_ERROR_GPU_IS_LOST)
        tracker.sample()  # fails inside the tracker, not in this block
    assert run.status == "finished"
    assert run.methods["gpu:0"] == "nvml-energy" and run.methods["gpu:1"] == "nvml-power"
    assert run.energy_j["gpu:0"] == pytest.approx(10.0)
    (error,) = run.errors
    assert error["source"] == "nvml"
    assert "SensorError" in error["message"] and "GPU is lost" in error["message"]
    assert not fake.initialized  # the tracker closed the sensor
