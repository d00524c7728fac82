"""Time-varying intensity: CSV parsing, step lookup, integration and error messages."""

from __future__ import annotations

import pytest

from frugalml.carbon import IntensityTimeline
from frugalml.errors import InputError

T0 = 1_717_200_000.0  # 2024-06-01T00:00:00Z


def write(tmp_path, text, name="grid.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def timeline(tmp_path):
    path = write(
        tmp_path,
        "timestamp,g_per_kwh\n"
        "2024-06-01T00:00:00Z,100\n"
        "# comment lines and blank lines are skipped\n"
        "\n"
        "2024-06-01T01:00:00+00:00,300\n"
        f"{T0 + 7200:.0f},200.5\n",
    )
    return IntensityTimeline.from_csv(path)


def test_from_csv_reads_iso_and_unix_times(timeline):
    assert timeline.times_s == (T0, T0 + 3600, T0 + 7200)
    assert timeline.g_per_kwh == (100.0, 300.0, 200.5)
    assert len(timeline) == 3


def test_naive_iso_time_is_utc_and_header_is_optional(tmp_path):
    tl = IntensityTimeline.from_csv(
        write(tmp_path, "2024-06-01 00:00:00,50\n2024-06-01 00:30,60\n")
    )
    assert tl.times_s == (T0, T0 + 1800)


def test_intensity_at_is_stepwise_and_clamped(timeline):
    assert timeline.intensity_at(T0 - 1e6) == 100.0  # before the first -> first
    assert timeline.intensity_at(T0) == 100.0
    assert timeline.intensity_at(T0 + 3599.9) == 100.0
    assert timeline.intensity_at(T0 + 3600) == 300.0
    assert timeline.intensity_at(T0 + 1e9) == 200.5  # after the last -> last


def test_mean_intensity_is_time_weighted(timeline):
    assert timeline.mean_intensity(T0, T0 + 3600) == pytest.approx(100.0)
    # Half the window at 100, half at 300.
    assert timeline.mean_intensity(T0 + 1800, T0 + 5400) == pytest.approx(200.0)
    assert timeline.mean_intensity(T0 - 3600, T0 + 3600) == pytest.approx(100.0)
    assert timeline.mean_intensity(T0 + 7200, T0 + 10_800) == pytest.approx(200.5)
    assert timeline.mean_intensity(T0 + 3600, T0 + 3600) == 300.0


def test_co2e_integrates_energy_against_the_timeline(timeline):
    kwh = 3.6e6
    # 1 kWh in each of three hours at 100, 300 and 200.5 g/kWh, PUE 1.2.
    samples = [(T0 + 3600, kwh), (T0 + 7200, kwh), (T0 + 10_800, kwh)]
    assert timeline.co2e_g(samples, pue=1.2, t_start_unix=T0) == pytest.approx(1.2 * 600.5)
    # One interval straddling a step is charged at the time-weighted mean.
    assert timeline.co2e_g([(T0 + 5400, kwh)], 1.0, t_start_unix=T0 + 1800) == pytest.approx(200.0)
    # Without a start time the first interval is charged at its end time.
    assert timeline.co2e_g([(T0 + 3600, kwh)], 1.0) == pytest.approx(300.0)
    assert timeline.co2e_g([], 1.5) == 0.0


def test_co2e_rejects_bad_samples(timeline):
    with pytest.raises(InputError, match="time order"):
        timeline.co2e_g([(T0 + 10, 1.0), (T0 + 5, 1.0)], 1.0)
    with pytest.raises(InputError, match=">= 0 J"):
        timeline.co2e_g([(T0 + 10, -1.0)], 1.0)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "timestamp,g_per_kwh\n2024-06-01T00:00:00Z,100\nyesterday,5\n",
            3,
            "'yesterday' is not a timestamp",
        ),
        (
            "timestamp,g_per_kwh\n2024-06-01T00:00:00Z,-5\n",
            2,
            "intensity '-5' must be a number >= 0",
        ),
        ("2024-06-01T00:00:00Z,100\n2024-06-01T00:00:00Z,90\n", 2, "is not after the previous row"),
        ("2024-06-01T01:00:00Z,100\n2024-06-01T00:00:00Z,90\n", 2, "Sort the rows by time"),
        ("timestamp,g_per_kwh\n2024-06-01T00:00:00Z\n", 2, "expected 2 columns"),
        ("timestamp,g_per_kwh\n1717200000,lots\n", 2, "intensity 'lots'"),
    ],
)
def test_bad_csv_names_file_line_and_fix(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        IntensityTimeline.from_csv(path)
    msg = str(exc.value)
    assert f"{path}, line {line}:" in msg
    assert fragment in msg
    assert "\n" not in msg


def test_empty_or_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"has no data rows.*timestamp,g_per_kwh"):
        IntensityTimeline.from_csv(write(tmp_path, "timestamp,g_per_kwh\n"))
    with pytest.raises(InputError, match="Cannot read intensity file"):
        IntensityTimeline.from_csv(tmp_path / "nope.csv")


def test_constructor_validates():
    with pytest.raises(InputError, match="increase strictly"):
        IntensityTimeline([2.0, 1.0], [1.0, 1.0])
    with pytest.raises(InputError, match="at least one"):
        IntensityTimeline([], [])
    with pytest.raises(InputError, match=">= 0"):
        IntensityTimeline([1.0], [-3.0])
