"""Verdicts: does each bench row win at what it is for, and if not, why (from what was measured).

A technique declares what it is for (``purpose``, :data:`frugalml.reduce.needs.PURPOSES`,
most important first). Each row is judged on each of its purposes against the baseline of
the same task:

- accuracy first: a row more than the task's tolerance (``Task.tolerance_pt``, e.g. 1 pt)
  below the baseline is a ``loss`` whatever it saves;
- then the cost the purpose is about, as a ratio to the baseline's (:data:`MEASURES`): a
  ``win`` when it is lower by more than the noise band (:data:`NOISE_BAND`: the cost is at
  most ``1 / 1.1`` of the baseline's), a ``loss`` when higher by more than the band, else
  ``no-gain``.

The row's ``verdict`` is the one on its first purpose (a stack's first step's); ``verdicts``
holds every declared purpose. A reason is built whenever the verdict is not a win, from the
row's figures and the techniques' own measured facts (``report()``: a quantised model's
``speed_note``, the kernels a pruned model runs on, a CPU without fp16 arithmetic ...). A
failed row is ``no-gain``, its reason the failure.

The best row per purpose (:func:`best_rows`) is the winning row with the lowest cost; the
bench prints it under each task's table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from frugalml.bench.apply import LATENCY_BATCH
from frugalml.reduce.needs import PURPOSES

__all__ = [
    "MEASURES",
    "NOISE_BAND",
    "VERDICTS",
    "Judgement",
    "best_rows",
    "judge",
    "row_verdicts",
    "summary_lines",
]

#: A cost must move by more than this fraction of the baseline's to count: about the spread
#: of repeated energy and latency measurements on a shared machine.
NOISE_BAND = 0.10

VERDICTS = ("win", "no-gain", "loss")

#: purpose -> (key in ``row["ratios"]`` or None when computed here, what it measures, in words)
MEASURES: dict[str, str] = {
    "inference-energy": "inference energy per 1,000 samples",
    "training-energy": "training energy (whole cost of the model)",
    "size": "model size",
    "labels": "training labels used",
}


@dataclass(frozen=True)
class Judgement:
    """A row judged on one purpose.

    Attributes:
        purpose: one of :data:`~frugalml.reduce.needs.PURPOSES`.
        verdict: ``"win"``, ``"no-gain"`` or ``"loss"``.
        ratio: the row's cost over the baseline's (None when not measured).
        reason: why it is not a win (None for a win).
        basis: what the ratio compares, in words.
    """

    purpose: str
    verdict: str
    ratio: float | None
    reason: str | None
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "ratio": self.ratio,
            "reason": self.reason,
            "basis": self.basis,
        }


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        return None
    return float(x)


def _times(r: float) -> str:
    """0.08 -> '12x less'; 1.9 -> '1.9x more'."""
    if r <= 0:
        return "nothing"
    if r < 1:
        return f"{1 / r:.3g}x less"
    return f"{r:.3g}x more"


def _facts(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The techniques' reports, last step first (the last step made the final model)."""
    steps = row.get("steps") or []
    if steps:
        return [dict(s.get("report") or {}) for s in reversed(steps)]
    return [dict(row.get("extra") or {})]


def _fact(row: Mapping[str, Any], key: str) -> Any:
    return next((f[key] for f in _facts(row) if f.get(key) is not None), None)


def _size(row: Mapping[str, Any]) -> tuple[float | None, str]:
    """Bytes of the row's model: the technique's computed packed size where it reports one
    (clustered, binary weights), else the saved state_dict."""
    packed = _num(_facts(row)[0].get("compressed_size_bytes"))
    saved = _num(row.get("size_bytes"))
    if packed is not None and (saved is None or packed < saved):
        return packed, "computed packed size (the technique's report) vs the saved state_dict"
    return saved, "saved state_dict bytes"


def _label_fraction(row: Mapping[str, Any]) -> tuple[float, str]:
    """Fraction of the training labels the row's model was trained with."""
    steps = row.get("steps") or [{"name": row.get("name"), "report": row.get("extra") or {}}]
    fraction, why = 1.0, "every training label"
    for step in steps:
        f = _num((step.get("report") or {}).get("label_fraction"))
        if f is not None:
            fraction, why = min(fraction, f), f"labels chosen by {step.get('name')}"
        elif step.get("uses_labels", True) and len(steps) > 1:
            return 1.0, f"step {step.get('name')} trains on every training label"
    return fraction, why


def _ratio(
    purpose: str, row: Mapping[str, Any], base: Mapping[str, Any]
) -> tuple[float | None, str]:
    r = row.get("ratios") or {}
    if purpose == "inference-energy":
        return _num(r.get("infer_energy_per_1k")), MEASURES[purpose]
    if purpose == "training-energy":
        return _num(r.get("train_energy_total", r.get("train_energy"))), MEASURES[purpose]
    if purpose == "size":
        mine, basis = _size(row)
        theirs = _num(base.get("size_bytes"))
        return (mine / theirs if mine is not None and theirs else None), basis
    mine_f, basis = _label_fraction(row)
    return mine_f, f"{MEASURES[purpose]} ({basis})"


#: a baseline that runs a batch of 256 faster than this is small enough for per-call costs
#: (dispatch, quantise/dequantise, dtype conversions) to outweigh its arithmetic
SMALL_MODEL_MS = 1.0


def _why_inference(row: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    r = row.get("ratios") or {}
    lat = [
        f"{_num(r.get(k)):.2g}x latency at batch {k.rsplit('_', 1)[-1]}"
        for k in ("latency_batch_256", "latency_batch_1")
        if _num(r.get(k)) is not None
    ]
    note = _fact(row, "speed_note")
    if note:
        out.append(str(note))
    if _fact(row, "int8_layers") == 0:
        out.append("no layer measured faster in int8, so the model stayed float32")
    sparse = _fact(row, "sparse_layers")
    if sparse == 0:
        out.append(
            "no layer measured faster with sparse kernels, so the zeros are still multiplied "
            "(dense kernels)"
        )
    elif sparse:
        speed = _num(_fact(row, "sparse_speedup"))
        out.append(
            f"{sparse} layer(s) on sparse kernels"
            + (f" ({speed:.2f}x faster at apply time)" if speed else "")
        )
    if _fact(row, "binary_weights") is not None:
        out.append("binary weights are still computed in float32 (no XNOR/popcount kernels)")
    if _fact(row, "bf16_cpu_support") == "none":
        out.append("this CPU has no bf16 instructions (avx512_bf16, amx_bf16): bf16 is emulated")
    elif _fact(row, "dtype") == "float16" and row.get("device", "cpu") == "cpu":
        out.append("this CPU has no fast fp16 kernels: PyTorch converts float16 on the CPU")
    base_ms = _num((base.get("latency_ms") or {}).get(f"batch_{LATENCY_BATCH}"))
    slower = _num(r.get(f"latency_batch_{LATENCY_BATCH}"))
    if base_ms is not None and base_ms < SMALL_MODEL_MS and slower is not None and slower > 1:
        out.append(
            f"per-call overhead dominates at this model size: the baseline runs a batch of "
            f"{LATENCY_BATCH} in {base_ms:.2g} ms"
        )
    macs = _num(r.get("macs"))
    if macs is not None and macs < 0.5 and not out:
        out.append(
            f"{_times(macs)} MACs per sample but not less energy: per-call overhead dominates at "
            "this model size"
        )
    if lat:
        out.append(", ".join(lat))
    return out


def _why_training(row: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if row.get("kind") == "compress":
        out.append("includes the baseline's training: compression starts from the trained model")
    run, planned = _num(_fact(row, "epochs_run")), _num(_fact(row, "max_epochs"))
    if run is not None and planned:
        out.append(f"ran {run:.0f} of {planned:.0f} epochs")
    elif run is not None:
        out.append(f"ran {run:.0f} epochs")
    t = _num((row.get("ratios") or {}).get("train_time"))
    if t is not None:
        out.append(f"{t:.2g}x the training time")
    return out


def _why_size(row: Mapping[str, Any]) -> list[str]:
    r = row.get("ratios") or {}
    nz = _num(r.get("params_nonzero"))
    if nz is not None and nz < 0.9:
        return [
            f"{_times(nz)} non-zero parameters, but the zeros are stored: a dense state_dict keeps "
            "every weight"
        ]
    return []


def _why(purpose: str, row: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    if purpose == "inference-energy":
        return _why_inference(row, base)
    if purpose == "training-energy":
        return _why_training(row)
    if purpose == "size":
        return _why_size(row)
    return []


def judge(
    purpose: str,
    row: Mapping[str, Any],
    base: Mapping[str, Any],
    tolerance_pt: float,
    *,
    device_note: str | None = None,
) -> Judgement:
    """Judge one row on one purpose against the baseline (see the module doc).

    Args:
        purpose: one of :data:`~frugalml.reduce.needs.PURPOSES`.
        row: a finished results row (``ratios``, ``extra`` or ``steps``, ``status``...).
        base: the task's baseline row.
        tolerance_pt: accuracy points the row may lose and still win.
        device_note: prefixed to the reason (e.g. a technique that ran on the CPU only).

    Example:
        >>> base = {"size_bytes": 100, "latency_ms": {"batch_256": 0.2}}
        >>> row = {"status": "ok", "ratios": {"accuracy_delta_pt": -0.2,
        ...        "infer_energy_per_1k": 1.9, "latency_batch_256": 1.9}}
        >>> j = judge("inference-energy", row, base, 1.0)
        >>> j.verdict
        'loss'
        >>> print(j.reason)
        1.9x more inference energy per 1,000 samples than the baseline; per-call overhead dominates at this model size: the baseline runs a batch of 256 in 0.2 ms; 1.9x latency at batch 256
    """
    if row.get("status") != "ok":
        return Judgement(purpose, "no-gain", None, f"failed: {row.get('reason')}", "")
    ratio, basis = _ratio(purpose, row, base)
    prefix = [device_note] if device_note else []
    delta = _num((row.get("ratios") or {}).get("accuracy_delta_pt"))
    if delta is not None and delta < -tolerance_pt - 1e-9:
        gain = (
            f" (for {_times(ratio)} {MEASURES[purpose]})" if ratio is not None and ratio > 0 else ""
        )
        reason = f"accuracy {delta:+.2f} pt, beyond the {tolerance_pt:g} pt tolerance{gain}"
        return Judgement(purpose, "loss", ratio, "; ".join([*prefix, reason]), basis)
    if ratio is None:
        reason = f"{MEASURES[purpose]} not measured"
        return Judgement(purpose, "no-gain", None, "; ".join([*prefix, reason]), basis)
    if ratio <= 1 / (1 + NOISE_BAND):
        return Judgement(purpose, "win", ratio, device_note, basis)
    if ratio >= 1 + NOISE_BAND:
        verdict, head = "loss", f"{_times(ratio)} {MEASURES[purpose]} than the baseline"
    else:
        verdict = "no-gain"
        head = (
            f"{MEASURES[purpose]} {ratio:.2f}x the baseline's, within the "
            f"±{NOISE_BAND:.0%} noise band"
        )
    return Judgement(
        purpose, verdict, ratio, "; ".join([*prefix, head, *_why(purpose, row, base)]), basis
    )


def row_verdicts(
    row: Mapping[str, Any],
    base: Mapping[str, Any],
    purposes: Sequence[str],
    tolerance_pt: float,
    *,
    device_note: str | None = None,
) -> dict[str, Any]:
    """The verdict keys of a row: ``verdict``, ``verdict_purpose``, ``verdict_reason`` (on
    the first purpose) and ``verdicts`` (every purpose: verdict, ratio, reason, basis)."""
    judged = [judge(p, row, base, tolerance_pt, device_note=device_note) for p in purposes]
    if not judged:
        return {"verdict": None, "verdict_purpose": None, "verdict_reason": None, "verdicts": {}}
    first = judged[0]
    return {
        "verdict": first.verdict,
        "verdict_purpose": first.purpose,
        "verdict_reason": first.reason,
        "verdicts": {j.purpose: j.as_dict() for j in judged},
    }


def best_rows(
    rows: Mapping[str, Mapping[str, Any]],
    base: Mapping[str, Any],
    tolerance_pt: float,
    purposes: Iterable[str] = PURPOSES,
) -> dict[str, dict[str, Any] | None]:
    """Per purpose, the winning row with the lowest cost (ties: the more accurate), or None.

    Every row is a candidate, whatever it declares: the choice is on measurements.

    Example:
        >>> base = {"accuracy": 0.9}
        >>> rows = {"a": {"status": "ok", "accuracy": 0.9, "ratios": {"accuracy_delta_pt": 0.0,
        ...          "infer_energy_per_1k": 0.5}},
        ...         "b": {"status": "ok", "accuracy": 0.8, "ratios": {"accuracy_delta_pt": -10.0,
        ...          "infer_energy_per_1k": 0.1}}}
        >>> best_rows(rows, base, 1.0, ["inference-energy"])["inference-energy"]["row"]
        'a'
    """
    out: dict[str, dict[str, Any] | None] = {}
    for purpose in purposes:
        wins = []
        for name, row in rows.items():
            j = judge(purpose, row, base, tolerance_pt)
            if j.verdict == "win" and j.ratio is not None:
                wins.append((j.ratio, -(_num(row.get("accuracy")) or 0.0), name, j))
        if not wins:
            out[purpose] = None
            continue
        ratio, _, name, j = min(wins, key=lambda w: (w[0], w[1]))
        out[purpose] = {
            "row": name,
            "ratio": ratio,
            "accuracy_delta_pt": _num((rows[name].get("ratios") or {}).get("accuracy_delta_pt")),
            "basis": j.basis,
        }
    return out


def summary_lines(best: Mapping[str, Mapping[str, Any] | None], tolerance_pt: float) -> list[str]:
    """One line per purpose naming the best win, e.g. ``best for inference energy:
    distill+int8-static (12.5x less, -0.44 pt)``.

    Example:
        >>> summary_lines({"size": {"row": "qat", "ratio": 0.25, "accuracy_delta_pt": -0.2},
        ...                "labels": None}, 1.0)
        ['best for size: qat (4x less, -0.20 pt)', 'best for labels: no row wins within 1 pt']
    """
    lines = []
    for purpose, b in best.items():
        what = purpose.replace("-", " ")
        if b is None:
            lines.append(f"best for {what}: no row wins within {tolerance_pt:g} pt")
            continue
        delta = b.get("accuracy_delta_pt")
        acc = "" if delta is None else f", {delta:+.2f} pt"
        lines.append(f"best for {what}: {b['row']} ({_times(float(b['ratio']))}{acc})")
    return lines
