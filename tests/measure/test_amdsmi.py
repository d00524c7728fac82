"""AmdSmiSensor against FakeAMDSMI."""

from __future__ import annotations

import sys

import pytest

from frugalml.errors import SensorError, SensorPermissionError, SensorUnavailableError
from frugalml.measure.amdsmi import (
    AMDSMI_ENERGY_UNCERTAINTY,
    AMDSMI_POWER_UNCERTAINTY,
    AmdSmiSensor,
)
from frugalml.testing._amdsmi import STATUS_CODES, FakeAmdGpu, FakeAMDSMI

S = FakeAMDSMI().amdsmi_wrapper
MI250 = "AMD Instinct MI250X"


@pytest.fixture(autouse=True)
def _no_visible_env(monkeypatch):
    for name in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)


def sensor_for(fake: FakeAMDSMI, **kwargs) -> AmdSmiSensor:
    sensor = AmdSmiSensor(amdsmi=fake, **kwargs)
    assert sensor.available(), sensor.available().reason
    return sensor


def four_gpus() -> FakeAMDSMI:
    return FakeAMDSMI(
        [
            FakeAmdGpu(uuid=f"{i}{i}{i}{i}74a1-0000", hip_uuid=f"GPU-{i}{i}{i}{i}cafe")
            for i in range(4)
        ]
    )


# ---------------------------------------------------------------------- energy and power paths
def test_energy_path_converts_ticks_times_resolution_to_joules():
    fake = FakeAMDSMI([FakeAmdGpu(counter_resolution_uj=15.3, energy_start_j=0, energy_step_j=3)])
    sensor = sensor_for(fake)
    (channel,) = sensor.channels()
    assert (channel.id, channel.component, channel.method) == ("gpu:0", "gpu:0", "amdsmi-energy")
    assert channel.uncertainty == AMDSMI_ENERGY_UNCERTAINTY
    first = sensor.read()["gpu:0"]
    second = sensor.read()["gpu:0"]
    # Ticks are integers of 15.3 µJ: 3 J is 196078.4 ticks, rounded by the counter.
    assert second.energy_j - first.energy_j == pytest.approx(3.0, abs=15.3e-6)
    assert first.power_w is None and first.wrap_j is None


def test_legacy_power_key_of_old_amdsmi_is_read_as_the_accumulator():
    sensor = sensor_for(FakeAMDSMI([FakeAmdGpu(energy_start_j=0)], legacy_energy_key=True))
    assert sensor.read()["gpu:0"].energy_j == pytest.approx(20.0, abs=1e-4)


def test_narrow_counter_reports_wrap_range():
    sensor = sensor_for(FakeAMDSMI([FakeAmdGpu(counter_resolution_uj=15.3)]), counter_bits=32)
    assert sensor.read()["gpu:0"].wrap_j == pytest.approx(2**32 * 15.3e-6)


@pytest.mark.parametrize("field", ["socket_power", "current_socket_power", "average_socket_power"])
def test_power_path_uses_whichever_field_the_gpu_fills(field):
    gpu = FakeAmdGpu(supports_energy=False, power_field=field, power_w=lambda t: 412.0)
    sensor = sensor_for(FakeAMDSMI([gpu]))
    (channel,) = sensor.channels()
    assert channel.method == "amdsmi-power"
    assert channel.uncertainty == AMDSMI_POWER_UNCERTAINTY > AMDSMI_ENERGY_UNCERTAINTY
    reading = sensor.read()["gpu:0"]
    assert reading.power_w == pytest.approx(412.0) and reading.energy_j is None


def test_gpu_without_counter_or_power_is_unavailable():
    gpu = FakeAmdGpu(supports_energy=False, power_field="none")
    ok = AmdSmiSensor(amdsmi=FakeAMDSMI([gpu])).available()
    assert not ok and "neither an energy counter nor a power reading" in ok.reason


# ---------------------------------------------------------------------- visible devices
def physical(sensor: AmdSmiSensor) -> list[int]:
    return [g["amdsmi_index"] for g in sensor.hardware()["gpus"]]


def test_hip_visible_devices_by_index(monkeypatch):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "3,1")
    sensor = sensor_for(four_gpus())
    assert physical(sensor) == [3, 1]
    assert [c.id for c in sensor.channels()] == ["gpu:0", "gpu:1"]


def test_cuda_visible_devices_is_honoured_when_hip_is_unset(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    assert physical(sensor_for(four_gpus())) == [2]


def test_rocr_filters_before_hip_indexes(monkeypatch):
    monkeypatch.setenv("ROCR_VISIBLE_DEVICES", "1,2,3")
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "2,0")
    assert physical(sensor_for(four_gpus())) == [3, 1]


def test_uuid_entries_match_amdsmi_or_hip_uuid(monkeypatch):
    monkeypatch.setenv("ROCR_VISIBLE_DEVICES", "GPU-2222cafe,333374a1")
    assert physical(sensor_for(four_gpus())) == [2, 3]


def test_hip_uuid_needs_enumeration_info(monkeypatch):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "GPU-2222cafe")
    fake = FakeAMDSMI([FakeAmdGpu(hip_uuid="GPU-2222cafe")], enumeration_info=False)
    assert not AmdSmiSensor(amdsmi=fake).available()


def test_visible_argument_ignores_environment(monkeypatch):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "0")
    assert physical(sensor_for(four_gpus(), visible="1")) == [1]


@pytest.mark.parametrize("value", ["", "-1", "8", "GPU-ffff"])
def test_no_visible_gpu_makes_sensor_unavailable(monkeypatch, value):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", value)
    fake = four_gpus()
    ok = AmdSmiSensor(amdsmi=fake).available()
    assert not ok and "HIP_VISIBLE_DEVICES" in ok.reason
    assert not fake.initialized


# ---------------------------------------------------------------------- errors
def test_error_mid_run_raises_frugal_sensor_error_not_amdsmi_error():
    fake = FakeAMDSMI()
    sensor = sensor_for(fake)
    sensor.read()
    fake.fail_after(0, S.AMDSMI_STATUS_IO)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert not isinstance(info.value, fake.AmdSmiException)
    assert isinstance(info.value.__cause__, fake.AmdSmiLibraryException)
    assert "code 12" in str(info.value)


def test_power_path_error_mid_run_is_translated():
    fake = FakeAMDSMI([FakeAmdGpu(supports_energy=False)])
    sensor = sensor_for(fake)
    fake.fail_after(0, S.AMDSMI_STATUS_BUSY)
    with pytest.raises(SensorError, match="AMD SMI error while reading GPU 0"):
        sensor.read()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("AMDSMI_STATUS_NO_PERM", SensorPermissionError),
        ("AMDSMI_STATUS_NOT_SUPPORTED", SensorUnavailableError),
        ("AMDSMI_STATUS_TIMEOUT", SensorError),
        ("AMDSMI_STATUS_UNKNOWN_ERROR", SensorError),
        ("AMDSMI_STATUS_NOT_INIT", SensorError),
    ],
)
def test_status_codes_map_to_frugal_errors(status, expected):
    fake = FakeAMDSMI()
    sensor = sensor_for(fake)
    fake.fail(STATUS_CODES[status], functions=["amdsmi_get_energy_count"])
    with pytest.raises(expected) as info:
        sensor.read()
    assert type(info.value) is expected


def test_power_field_turning_na_mid_run_raises_sensor_error():
    gpu = FakeAmdGpu(supports_energy=False, power_field="current_socket_power")
    fake = FakeAMDSMI([gpu])
    sensor = sensor_for(fake)
    gpu.power_field = "none"
    with pytest.raises(SensorError, match="stopped reporting current_socket_power"):
        sensor.read()


def test_energy_permission_denied_falls_back_to_power():
    fake = FakeAMDSMI()
    fake.fail(S.AMDSMI_STATUS_NO_PERM, functions=["amdsmi_get_energy_count"])
    assert [c.method for c in sensor_for(fake).channels()] == ["amdsmi-power"]


def test_non_amdsmi_exception_is_wrapped():
    fake = FakeAMDSMI()
    sensor = sensor_for(fake)

    def broken(handle):
        raise KeyError("energy_accumulator")

    fake.amdsmi_get_energy_count = broken
    with pytest.raises(SensorError, match="KeyError"):
        sensor.read()


# ---------------------------------------------------------------------- availability
@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("AMDSMI_STATUS_DRIVER_NOT_LOADED", "modprobe amdgpu"),
        ("AMDSMI_STATUS_NO_PERM", "render"),
        ("AMDSMI_STATUS_FAIL_LOAD_MODULE", "install ROCm"),
    ],
)
def test_unavailable_when_init_fails(status, words):
    ok = AmdSmiSensor(amdsmi=FakeAMDSMI(init_error=STATUS_CODES[status])).available()
    assert not ok and words in ok.reason


def test_unavailable_without_gpus():
    ok = AmdSmiSensor(amdsmi=FakeAMDSMI([])).available()
    assert not ok and "no AMD GPU" in ok.reason


def test_unavailable_when_amdsmi_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    ok = AmdSmiSensor().available()
    assert not ok and "pip install 'frugalml[amd]'" in ok.reason


def test_unavailable_when_amdsmi_cannot_load_its_library(monkeypatch, capsys):
    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "amdsmi":
                print("libamd_smi.so: cannot open shared object file")
                raise OSError("libamd_smi.so not found")
            return None

    monkeypatch.delitem(sys.modules, "amdsmi", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    ok = AmdSmiSensor().available()
    assert not ok and "ROCM_PATH" in ok.reason
    assert capsys.readouterr().out == ""  # amdsmi's chatter does not reach the user


# ---------------------------------------------------------------------- hardware and close
def test_hardware_reports_gpu_description_in_si_units():
    gpu = FakeAmdGpu(market_name=MI250, uuid="ab-cd", memory_bytes=64 * 2**30, power_cap_w=560)
    sensor = sensor_for(FakeAMDSMI([gpu]))
    assert sensor.hardware() == {
        "gpus": [
            {
                "index": 0,
                "amdsmi_index": 0,
                "name": MI250,
                "uuid": "ab-cd",
                "memory_bytes": 64 * 2**30,
                "power_limit_w": 560.0,
                "method": "amdsmi-energy",
            }
        ]
    }


def test_close_is_idempotent_and_shuts_down_once():
    fake = FakeAMDSMI()
    sensor = sensor_for(fake)
    sensor.close()
    sensor.close()
    assert fake.calls.count("amdsmi_shut_down") == 1 and not fake.initialized


def test_init_only_stores_arguments():
    fake = FakeAMDSMI()
    AmdSmiSensor(amdsmi=fake)
    assert fake.calls == []


# ---------------------------------------------------------------------- the fake itself
def test_fake_raises_not_init_before_init():
    fake = FakeAMDSMI()
    with pytest.raises(fake.AmdSmiLibraryException) as info:
        fake.amdsmi_get_processor_handles()
    assert info.value.get_error_code() == S.AMDSMI_STATUS_NOT_INIT


def test_fake_library_exception_matches_amdsmi_contract():
    err = FakeAMDSMI.AmdSmiLibraryException(-S.AMDSMI_STATUS_NO_PERM)
    assert err.err_code == err.get_error_code() == 10  # amdsmi stores abs(code)
    assert "AMDSMI_STATUS_NO_PERM" in err.get_error_info()
    assert isinstance(FakeAMDSMI.AmdSmiRetryException(), FakeAMDSMI.AmdSmiLibraryException)
    assert FakeAMDSMI.AmdSmiTimeoutException().err_code == S.AMDSMI_STATUS_TIMEOUT


def test_fake_rejects_wrong_handle_type_like_amdsmi():
    fake = FakeAMDSMI()
    fake.amdsmi_init()
    with pytest.raises(fake.AmdSmiParameterException):
        fake.amdsmi_get_energy_count(0)


def test_fake_status_codes_are_amdsmi_h_values():
    # amdsmi.h (ROCm 6.x/7.x); the real package is not installable here to compare against.
    assert (S.AMDSMI_STATUS_INVAL, S.AMDSMI_STATUS_NOT_SUPPORTED, S.AMDSMI_STATUS_NO_PERM) == (
        1,
        2,
        10,
    )
    assert (S.AMDSMI_STATUS_BUSY, S.AMDSMI_STATUS_NOT_FOUND, S.AMDSMI_STATUS_NOT_INIT) == (
        30,
        31,
        32,
    )
    assert S.AMDSMI_STATUS_DRIVER_NOT_LOADED == 34
