"""Latency and energy per inference (measured part), JSON and Rich output."""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import frugalml  # noqa: E402
from frugalml.profiler.latency import measure_energy, measure_latency  # noqa: E402
from frugalml.profiler.render import human_bytes, human_count, render  # noqa: E402


def test_latency_statistics_from_known_durations(monkeypatch):
    ticks = iter(range(100))
    monkeypatch.setattr("frugalml.profiler.latency.time.perf_counter", lambda: next(ticks) ** 2)
    calls = []
    lat = measure_latency(lambda: calls.append(1), runs=5, warmup_runs=2, batch_size=4)
    # perf_counter pairs (0,1), (4,9), (16,25), ... give durations 1, 5, 9, 13, 17
    assert len(calls) == 7
    assert lat.median_s == 9
    assert lat.p10_s == pytest.approx(1 + 0.4 * 4)
    assert lat.p90_s == pytest.approx(13 + 0.6 * 4)
    assert lat.iqr_s == pytest.approx(13 - 5)
    assert (lat.runs, lat.warmup_runs, lat.batch_size) == (5, 2, 4)


class FakeTrack:
    """Stands in for frugalml.track: reports 3 J, whatever ran."""

    def __init__(self):
        self.calls = []

    @contextlib.contextmanager
    def __call__(self, name, **kwargs):
        self.calls.append((name, kwargs))
        yield SimpleNamespace(
            energy_j={"total": 3.0},
            duration_s=0.6,
            energy_method="fake-sensor",
            uncertainty={"total": 0.25},
        )


def test_energy_divides_by_batches_and_samples():
    track = FakeTrack()
    runs = []
    e = measure_energy(
        lambda: runs.append(1),
        batch_size=4,
        seconds_per_batch=0.1,
        min_duration_s=0.5,
        track=track,
    )
    assert len(runs) == e.batches == 5
    assert e.energy_j_per_batch == pytest.approx(3.0 / 5)
    assert e.energy_j_per_inference == pytest.approx(3.0 / 20)
    assert e.energy_j_per_1k == pytest.approx(3.0 / 20 * 1000)
    assert (e.method, e.uncertainty, e.duration_s) == ("fake-sensor", 0.25, 0.6)
    assert track.calls[0][1] == {"db": False}


def test_profile_measures_on_request_and_restores_mode():
    model = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.2)).train()
    track = FakeTrack()
    p = frugalml.profile(
        model, torch.randn(8, 16), latency_runs=4, warmup_runs=1, measure_energy=True, track=track
    )
    assert model.training and model[1].training
    assert p.latency is not None and p.latency.runs == 4 and p.latency.batch_size == 8
    assert 0 < p.latency.p10_s <= p.latency.median_s <= p.latency.p90_s
    assert p.energy is not None and p.energy.batch_size == 8
    assert p.energy.method == "fake-sensor"
    counted = frugalml.profile(model, torch.randn(8, 16))
    assert counted.latency is None and counted.energy is None


def test_profile_with_the_real_tracker():
    p = frugalml.profile(
        nn.Linear(64, 64), torch.randn(32, 64), measure_energy=True, energy_min_duration_s=0.05
    )
    assert p.energy is not None
    assert p.energy.energy_j_per_inference >= 0
    assert p.energy.method


def test_to_dict_is_json_with_the_required_keys():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    p = frugalml.profile(model, torch.randn(3, 4), train=True)
    data = json.loads(json.dumps(p.to_dict()))
    required = {
        "macs",
        "flops",
        "params",
        "params_trainable",
        "params_nonzero",
        "size_bytes",
        "bytes_moved",
        "by_module",
        "by_operator",
        "unknown_operators",
        "train_step_flops",
        "convention",
    }
    assert required <= data.keys()
    assert data["by_module"]["Sequential.0.0"] == 3 * 4 * 4
    assert data["by_operator"]["aten.addmm"] == 2 * 3 * (16 + 8) + 3 * (4 + 2)
    shallow = p.to_dict(depth=1)
    assert set(shallow["by_module"]) == {"Sequential", "Sequential.0", "Sequential.1"}
    assert "train_step_flops" not in frugalml.profile(model, torch.randn(3, 4)).to_dict()


def test_render_states_the_convention_and_tables():
    from rich.console import Console

    p = frugalml.profile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(3, 4))
    console = Console(width=200, record=True)
    console.print(render(p, depth=1))
    text = console.export_text()
    assert "1 MAC (multiply-accumulate) = 2 FLOPs" in text
    assert "By module" in text and "By operator" in text and "aten.addmm" in text
    console = Console(width=200, record=True)
    console.print(render(p, by="operator"))
    assert "By module" not in console.export_text()
    console.print(p)  # __rich__
    assert human_count(1_234_567) == "1.23 M"
    assert human_bytes(1536) == "1.50 KiB"
