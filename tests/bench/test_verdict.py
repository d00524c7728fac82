"""Verdicts on what each row is for, and the best row per purpose (pure functions on rows)."""

from __future__ import annotations

import pytest

from frugalml.bench.verdict import NOISE_BAND, best_rows, judge, row_verdicts, summary_lines

BASE = {"name": "baseline", "status": "ok", "accuracy": 0.95, "size_bytes": 1000}


def row(delta=0.0, *, size=1.0, extra=None, **ratios):
    return {
        "name": "r",
        "status": "ok",
        "accuracy": 0.95 + delta / 100,
        "kind": "compress",
        "size_bytes": 1000 * size,
        "ratios": {"accuracy_delta_pt": delta, **ratios},
        "extra": extra or {},
    }


@pytest.mark.parametrize(
    ("ratio", "verdict"),
    [
        (0.5, "win"),
        (1 / (1 + NOISE_BAND) - 1e-6, "win"),
        (0.95, "no-gain"),
        (1.05, "no-gain"),
        (1 + NOISE_BAND, "loss"),
        (3.0, "loss"),
    ],
)
def test_cost_ratio_decides_within_the_tolerance(ratio, verdict):
    j = judge("inference-energy", row(-0.5, infer_energy_per_1k=ratio), BASE, 1.0)
    assert j.verdict == verdict
    assert (j.reason is None) == (verdict == "win")


def test_accuracy_beyond_the_tolerance_is_a_loss_whatever_it_saves():
    j = judge("inference-energy", row(-9.3, infer_energy_per_1k=0.05), BASE, 1.0)
    assert j.verdict == "loss"
    assert j.reason == (
        "accuracy -9.30 pt, beyond the 1 pt tolerance (for 20x less inference energy per "
        "1,000 samples)"
    )
    # the same row is a win with a looser tolerance
    assert judge("inference-energy", row(-9.3, infer_energy_per_1k=0.05), BASE, 10).verdict == "win"


def test_reasons_come_from_the_measured_facts():
    r = row(
        0.0,
        infer_energy_per_1k=1.9,
        latency_batch_256=1.9,
        extra={
            "speed_note": "0.53x the float model's speed at batch 256: per-call overhead "
            "dominates at this model size, faster only from batch ~900"
        },
    )
    reason = judge("inference-energy", r, BASE, 1.0).reason
    assert reason.startswith("1.9x more inference energy per 1,000 samples than the baseline")
    assert "per-call overhead dominates" in reason and "1.9x latency at batch 256" in reason
    pruned = row(0.2, infer_energy_per_1k=0.98, params_nonzero=0.1, extra={"sparse_layers": 0})
    reason = judge("inference-energy", pruned, BASE, 1.0).reason
    assert "within the ±10% noise band" in reason and "dense kernels" in reason
    assert "zeros are stored" in judge("size", pruned, BASE, 1.0).reason


def test_size_uses_a_computed_packed_size_when_the_technique_reports_one():
    r = row(0.0, extra={"compressed_size_bytes": 125})  # saved state_dict unchanged
    j = judge("size", r, BASE, 1.0)
    assert j.verdict == "win" and j.ratio == pytest.approx(0.125)
    assert "packed" in j.basis


def test_labels_of_a_recipe_count_every_step_that_trains_on_labels():
    al = {"name": "active-learning", "report": {"label_fraction": 0.3}, "uses_labels": True}
    int8 = {"name": "int8-dynamic", "report": {}, "uses_labels": False}
    distill = {"name": "distill", "report": {}, "uses_labels": True}
    assert judge("labels", {**row(), "steps": [al, int8]}, BASE, 1.0).ratio == 0.3
    j = judge("labels", {**row(), "steps": [al, distill]}, BASE, 1.0)
    assert j.ratio == 1.0 and j.verdict == "no-gain" and "distill" in j.basis


def test_a_failed_row_gains_nothing_and_says_why():
    j = judge("size", {"status": "failed", "reason": "qat failed: no Linear"}, BASE, 1.0)
    assert (j.verdict, j.reason) == ("no-gain", "failed: qat failed: no Linear")


def test_row_verdict_is_on_the_first_purpose_and_every_purpose_is_kept():
    r = row(0.0, infer_energy_per_1k=2.0, size=0.25)
    out = row_verdicts(r, BASE, ("inference-energy", "size"), 1.0, device_note="runs on the CPU")
    assert (out["verdict"], out["verdict_purpose"]) == ("loss", "inference-energy")
    assert out["verdict_reason"].startswith("runs on the CPU; 2x more")
    assert out["verdicts"]["size"]["verdict"] == "win"
    assert row_verdicts(BASE, BASE, (), 1.0)["verdict"] is None  # the baseline is the reference


def test_best_row_is_the_lowest_winning_cost_within_the_tolerance():
    rows = {
        "cheap-but-wrong": row(-3.0, infer_energy_per_1k=0.01),
        "a": row(-0.5, infer_energy_per_1k=0.2),
        "b": row(0.0, infer_energy_per_1k=0.08),
        "noise": row(0.0, infer_energy_per_1k=0.95, train_energy_total=0.95),
        "failed": {"status": "failed", "reason": "x"},
    }
    best = best_rows(rows, BASE, 1.0, ["inference-energy", "training-energy"])
    assert best["inference-energy"]["row"] == "b"
    assert best["inference-energy"]["ratio"] == pytest.approx(0.08)
    assert best["training-energy"] is None  # nothing beats the baseline beyond the noise band
    assert summary_lines(best, 1.0) == [
        "best for inference energy: b (12.5x less, +0.00 pt)",
        "best for training energy: no row wins within 1 pt",
    ]


@pytest.mark.parametrize(
    ("base_ms", "extra", "needle"),
    [
        (
            0.2,
            {},
            "per-call overhead dominates at this model size: the baseline runs a batch of "
            "256 in 0.2 ms",
        ),
        (5.0, {"bf16_cpu_support": "none", "dtype": "bfloat16"}, "no bf16 instructions"),
        (5.0, {"dtype": "float16"}, "no fast fp16 kernels"),
    ],
)
def test_an_inference_loss_says_why_from_the_measurements(base_ms, extra, needle):
    base = {**BASE, "latency_ms": {"batch_256": base_ms}}
    j = judge(
        "inference-energy",
        row(0.0, extra=extra, infer_energy_per_1k=2.5, latency_batch_256=2.3),
        base,
        1.0,
    )
    assert j.verdict == "loss" and needle in j.reason
    # a large model's slowdown is not blamed on per-call overhead
    assert ("per-call overhead" in j.reason) == (base_ms < 1.0)
