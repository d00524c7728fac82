"""How: data-free techniques measured on a tiny model; bench figures for the rest."""

from __future__ import annotations

import json
from importlib import resources

import pytest

torch = pytest.importorskip("torch")

from frugalml.advise import how  # noqa: E402
from frugalml.advise.how import NEEDS_DATA, bench_options, measure_model, model_structure  # noqa: E402
from frugalml.train import mlp, small_cnn  # noqa: E402


def test_structure() -> None:
    assert model_structure(mlp(8, 16, 3)) == "mlp"
    assert model_structure(small_cnn(1, 10, (4, 8))) == "cnn"
    assert (
        model_structure(torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2)))
        == "other"
    )


def test_measured_on_the_model_itself() -> None:
    model = mlp(32, 64, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps: list[str] = []
    base, options = measure_model(
        model, torch.randn(64, 32), seconds=0.02, repeats=1, sparsity=0.5, on_step=steps.append
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    assert base.params == sum(p.numel() for p in model.parameters()) and base.batch == 64
    assert base.infer_energy_j_per_1k > 0 and base.latency_ms > 0
    by_name = {o.technique: o for o in options}
    assert set(by_name) == set(how.MEASURED)
    for name in ("int8-dynamic", "magnitude-prune"):
        o = by_name[name]
        assert o.measured and o.infer_energy_j_per_1k is not None and o.infer_energy_j_per_1k > 0
        assert o.ratio == pytest.approx(o.infer_energy_j_per_1k / base.infer_energy_j_per_1k)
        assert o.accuracy == NEEDS_DATA and name in o.verify
    assert "50% of the weights zeroed without fine-tuning" in by_name["magnitude-prune"].basis
    measured = [o.ratio for o in options if o.measured]
    assert measured == sorted(measured)
    for name in ("bf16", "fp16"):  # measured where the CPU has the instructions, else said why
        o = by_name[name]
        assert o.measured == (how._unsupported(name) is None)
        assert o.measured or "not measured" in (o.note or "")
    assert any("round 1/1" in s for s in steps)


def test_bench_options_fit_the_structure_and_name_their_source() -> None:
    table = json.loads(
        resources.files("frugalml.advise").joinpath("data/bench_savings.json").read_text()
    )
    rows = {(r["technique"], r["task"]): r for r in table["rows"]}
    mlp_opts = {o.technique: o for o in bench_options(mlp(64, 512, 10, 2))}
    assert {"progressive", "early-stop-energy", "distill", "int8-static"} <= set(mlp_opts)
    assert not {"depthwise", "early-exit", "adaptive-softmax"} & set(mlp_opts)
    assert not set(how.MEASURED) & set(mlp_opts)
    p = mlp_opts["progressive"]
    assert p.ratio == rows[("progressive", "digits-mlp")]["ratio"] and not p.measured
    assert "benchmarks/results/training.json" in p.basis and "digits-mlp" in p.basis
    assert p.verify_bench == "frugal bench --task digits-mlp --techniques progressive"
    assert p.accuracy.startswith(NEEDS_DATA)
    cnn_opts = {o.technique for o in bench_options(small_cnn(1, 10, (32, 64, 128)))}
    assert {"depthwise", "early-exit", "int8-static"} <= cnn_opts and "progressive" not in cnn_opts
    many = {o.technique for o in bench_options(mlp(32, 32, 5000, 1))}
    assert {"adaptive-softmax", "hierarchical-softmax"} <= many
    other = bench_options(torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2)))
    assert other == []
