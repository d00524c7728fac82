"""How: what would make the user's model cheaper, measured on it where no data is needed.

Two kinds of advice, never mixed up:

- **measured here** (``measured: true``): the inference-side techniques that need no data are
  applied to the user's model and its energy and latency per 1,000 inferences measured on
  this machine, against the unchanged model, in interleaved rounds (median of ``repeats``):
  ``int8-dynamic``, ``bf16`` / ``fp16`` where the CPU has native instructions for them, and
  ``magnitude-prune`` at a stated sparsity without fine-tuning (an upper bound: fine-tuning,
  which needs data, is what keeps the accuracy). Accuracy is not measured: it needs the
  user's data.
- **from the bench** (``measured: false``): the techniques that need data (training-side
  techniques, calibration, fine-tuning) and fit the model's structure, as the technique
  registry declares it for the bench's tasks, with what the committed benchmarks measured on
  the closest bench task (``frugalml/advise/data/bench_savings.json``, generated from
  ``benchmarks/results/`` by ``benchmarks/advise_table.py``), and the call that verifies it on
  the user's data.

Measured items come first, ranked by ``ratio`` (technique / baseline); then bench items, ranked
within each kind of figure (inference energy, training energy, then latency where the benchmark
measured no energy); items without a figure last.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from frugalml import _fmt
from frugalml._params import check_number
from frugalml.errors import TechniqueError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "MEASURED",
    "NEEDS_DATA",
    "HowOption",
    "ModelMeasurement",
    "bench_options",
    "measure_model",
    "model_structure",
]

#: The inference-side techniques applied to the user's model (no data needed).
MEASURED = ("int8-dynamic", "bf16", "fp16", "magnitude-prune")
NEEDS_DATA = "not measured: needs your data"
_CPU_FLAGS = {"bf16": ("amx_bf16", "avx512_bf16"), "fp16": ("amx_fp16", "avx512_fp16")}
#: Bench items are ranked within each kind of figure, energy before latency.
_RATIO_ORDER = ("inference energy", "training energy", "latency (batch 256)")


@dataclass(frozen=True)
class HowOption:
    """One way to make the model cheaper.

    Attributes:
        technique: registry name (``int8-dynamic``, ``progressive`` ...).
        infer_energy_j_per_1k: joules per 1,000 inferences measured here (None for bench items).
        ratio: technique / baseline of ``ratio_of`` (0.5 = half); None when not measured.
        measured: True when measured on the user's model on this machine.
        verify: the call that checks it on the user's data.
        basis: how the figure was obtained (and where it comes from).
        ratio_of: what ``ratio`` compares: ``inference energy``, ``training energy`` or
            ``latency (batch 256)``.
        latency_ms: median latency of one forward pass at the measured batch (measured items).
        accuracy: ``"not measured: needs your data"``, with the bench's figure for bench items.
        verify_bench: the ``frugal bench`` command that reproduces a bench figure.
        note: why an item could not be measured, if so.
    """

    technique: str
    infer_energy_j_per_1k: float | None
    ratio: float | None
    measured: bool
    verify: str
    basis: str
    ratio_of: str = "inference energy"
    latency_ms: float | None = None
    accuracy: str = NEEDS_DATA
    verify_bench: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelMeasurement:
    """The unchanged model as measured here (the baseline of every measured ratio)."""

    params: int
    macs: int
    batch: int
    infer_energy_j_per_1k: float
    latency_ms: float
    energy_method: str
    structure: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_structure(model: nn.Module) -> str:
    """``"cnn"`` (has a convolution), ``"mlp"`` (only Linear, activation, normalisation,
    dropout and reshaping leaves) or ``"other"``: which bench tasks it resembles."""
    import torch

    nn_ = torch.nn
    leaves = [m for m in model.modules() if not list(m.children())]
    if any(isinstance(m, nn_.modules.conv._ConvNd) for m in leaves):
        return "cnn"
    plain = (
        nn_.Linear,
        nn_.Dropout,
        nn_.Flatten,
        nn_.Identity,
        nn_.modules.batchnorm._BatchNorm,
        nn_.LayerNorm,
    )
    if any(isinstance(m, nn_.Linear) for m in leaves) and all(
        isinstance(m, plain) or type(m).__module__ == nn_.modules.activation.__name__
        for m in leaves
    ):
        return "mlp"
    return "other"


def _output_features(model: nn.Module) -> int | None:
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return int(linears[-1].out_features) if linears else None


def _unsupported(name: str) -> str | None:
    """Why ``name`` is not measured on this CPU (None: it is)."""
    flags = _CPU_FLAGS.get(name)
    if flags is None:
        return None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        line = ""
    if any(flag in line.split() for flag in flags):
        return None
    return (
        f"this CPU has no native {name} arithmetic ({' or '.join(flags)} absent): PyTorch "
        f"would emulate it, slower than float32; not measured"
    )


def _reduced(name: str, model: nn.Module, example: torch.Tensor, sparsity: float) -> nn.Module:
    """``model`` with technique ``name`` applied, using no data but ``example``."""
    import torch

    from frugalml.reduce import get_technique
    from frugalml.train.data import TrainData

    params: dict[str, Any] = {}
    if name == "magnitude-prune":
        params = {"target_sparsity": sparsity, "steps": 1, "fine_tune_epochs": 0}
    # Only the example input is needed: with no fine-tuning or calibration run, the labels
    # (zeros) are never read as targets; the techniques take them to check the model runs.
    labels = torch.zeros(len(example), dtype=torch.int64)
    data = TrainData(example, labels, example[:1], labels[:1])
    return get_technique(name, **params).apply(model, data)


def measure_model(
    model: nn.Module,
    example: torch.Tensor,
    *,
    sparsity: float = 0.9,
    seconds: float = 1.0,
    repeats: int = 3,
    techniques: tuple[str, ...] = MEASURED,
    threads: int | None = 1,
    on_step: Callable[[str], None] | None = None,
) -> tuple[ModelMeasurement, list[HowOption]]:
    """Apply each data-free technique to ``model`` and measure it against the original.

    Args:
        model: the user's model (left unchanged).
        example: one input batch; its first dimension is the batch size measured.
        sparsity: magnitude-prune's target sparsity (fraction of weights zeroed).
        seconds: minimum length of each energy window (s).
        repeats: interleaved rounds; each figure is the median.
        techniques: which of :data:`MEASURED` to try.
        threads: torch intra-op threads while measuring (restored after), 1 as in
            ``frugal bench`` so that its figures verify these; None keeps torch's setting.
        on_step: called with a description before each measurement (progress bars).

    Returns:
        The baseline's measurement and one option per technique, best ratio first.
    """
    import torch

    check_number("frugal advise", "sparsity", sparsity, low=0, high=1, high_open=True)
    check_number("frugal advise", "seconds", seconds, low=0, low_open=True)
    check_number("frugal advise", "repeats", repeats, low=1, integer=True)
    if threads is None:
        return _measure(model, example, sparsity, seconds, repeats, techniques, on_step)
    check_number("frugal advise", "threads", threads, low=1, integer=True)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(model, example, sparsity, seconds, repeats, techniques, on_step)
    finally:
        torch.set_num_threads(previous)


def _measure(
    model: nn.Module,
    example: torch.Tensor,
    sparsity: float,
    seconds: float,
    repeats: int,
    techniques: tuple[str, ...],
    on_step: Callable[[str], None] | None,
) -> tuple[ModelMeasurement, list[HowOption]]:
    import torch

    from frugalml.bench.measure_model import inference_energy, latency_ms
    from frugalml.profiler import profile

    model.eval()
    batch = len(example)
    facts = profile(model, (example,))
    variants: dict[str, nn.Module] = {"baseline": model}
    skipped: dict[str, str] = {}
    for name in techniques:
        reason = _unsupported(name)
        if reason is not None:
            skipped[name] = reason
            continue
        try:
            variants[name] = _reduced(name, model, example, sparsity)
        except TechniqueError as e:
            skipped[name] = str(e)
    energy: dict[str, list[float]] = {name: [] for name in variants}
    latency: dict[str, list[float]] = {name: [] for name in variants}
    method = "none"
    names = list(variants)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if on_step is not None:
                on_step(f"{name} (round {r + 1}/{repeats})")
            j_per_1k, method, _ = inference_energy(
                variants[name],
                example,
                batch,
                min_seconds=seconds,
                tracker_args={"name": f"advise:{name}", "db": False, "handle_signals": False},
            )
            energy[name].append(j_per_1k)
            latency[name].append(latency_ms(variants[name], example, batch))
    base_j = statistics.median(energy["baseline"])
    base = ModelMeasurement(
        params=int(facts.params),
        macs=int(facts.macs),
        batch=batch,
        infer_energy_j_per_1k=base_j,
        latency_ms=statistics.median(latency["baseline"]),
        energy_method=method,
        structure=model_structure(model),
    )
    how = (
        f"median of {repeats} interleaved windows of >= {_fmt.g(seconds)} s at batch {batch} "
        f"on this machine, {torch.get_num_threads()} torch thread(s) ({method}); unchanged "
        f"model {_fmt.num(base_j)} J per 1,000"
    )
    options = []
    for name in variants:
        if name == "baseline":
            continue
        j = statistics.median(energy[name])
        extra = (
            f"; {sparsity:.0%} of the weights zeroed without fine-tuning: an upper bound"
            if name == "magnitude-prune"
            else ""
        )
        options.append(
            HowOption(
                technique=name,
                infer_energy_j_per_1k=j,
                ratio=j / base_j if base_j > 0 else None,
                measured=True,
                verify=_verify(name, sparsity),
                basis=how + extra,
                latency_ms=statistics.median(latency[name]),
                verify_bench=f"frugal bench --techniques {name}",
            )
        )
    options.sort(key=lambda o: math.inf if o.ratio is None else o.ratio)
    options += [
        HowOption(
            technique=name,
            infer_energy_j_per_1k=None,
            ratio=None,
            measured=False,
            verify=_verify(name, sparsity),
            basis="not measured",
            note=reason,
        )
        for name, reason in skipped.items()
    ]
    return base, options


def _verify(name: str, sparsity: float | None = None) -> str:
    args = f"target_sparsity={sparsity}" if name == "magnitude-prune" and sparsity else ""
    return (
        f'frugalml.reduce.get_technique("{name}"{", " + args if args else ""})'
        ".apply(model, data)  # data = frugalml.train.TrainData.from_arrays(your splits)"
    )


@lru_cache(maxsize=1)
def _bench_table() -> dict[str, Any]:
    text = resources.files("frugalml.advise").joinpath("data/bench_savings.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def bench_options(model: nn.Module, *, exclude: tuple[str, ...] = MEASURED) -> list[HowOption]:
    """The techniques that need data and fit ``model``'s structure, with the bench's figures.

    A technique fits when the registry declares that it runs on a bench task of the same
    structure (MLP, CNN; a many-class task only for a model with >= 1,000 outputs). Its figure
    is the one measured on the fitting task closest in parameter count that has a committed
    result.

    Example:
        >>> from frugalml.train import mlp
        >>> [o.technique for o in bench_options(mlp(64, 256, 10, 2))][:2]
        ['transfer', 'early-stop-energy']
    """
    from frugalml.bench.tasks import all_tasks
    from frugalml.reduce import available_techniques, count_params

    structure = model_structure(model)
    outputs = _output_features(model) or 0
    params = max(count_params(model), 1)
    table = _bench_table()
    rows: dict[tuple[str, str], dict[str, Any]] = {
        (r["technique"], r["task"]): r for r in table["rows"]
    }
    tasks = all_tasks()
    task_params = {name: count_params(t.make_model()) for name, t in tasks.items()}
    options = []
    for name, cls in available_techniques().items():
        if name in exclude:
            continue
        fitting = [
            t
            for t in tasks.values()
            if cls.applies_to(t)
            and t.kind == structure
            and (t.extra.get("role") != "many-class" or outputs >= 1000)
        ]
        fitting.sort(key=lambda t: abs(math.log(task_params[t.name] / params)))
        found = next(((t, rows[(name, t.name)]) for t in fitting if (name, t.name) in rows), None)
        if not fitting:
            continue
        closest = fitting[0]
        if found is None:
            options.append(
                HowOption(
                    technique=name,
                    infer_energy_j_per_1k=None,
                    ratio=None,
                    measured=False,
                    verify=_verify(name),
                    basis=f"no committed bench result for {closest.name}",
                    ratio_of="training energy",
                    verify_bench=f"frugal bench --task {closest.name} --techniques {name}",
                )
            )
            continue
        task, row = found
        delta = row["accuracy_delta_pt"]
        source = table["sources"][row["source"]]["benchmark"]
        note = (
            ""
            if task is closest
            else f"; the closest fitting task, {closest.name}, has no result for it"
        )
        options.append(
            HowOption(
                technique=name,
                infer_energy_j_per_1k=None,
                ratio=row["ratio"],
                measured=False,
                verify=_verify(name),
                basis=(
                    f"bench: {task.name} ({task.model_desc}, {task_params[task.name]:,} "
                    f"parameters; your model {params:,}), mean of {row['seeds']} seeds, "
                    f"{row['source']} ({source})"
                    + (f"; {row['detail']}" if row["detail"] else "")
                    + note
                ),
                ratio_of=row["ratio_of"],
                accuracy=(
                    NEEDS_DATA
                    if delta is None
                    else f"{NEEDS_DATA} (bench: {delta:+.2f} pt on {task.name})"
                ),
                verify_bench=f"frugal bench --task {task.name} --techniques {name}",
            )
        )
    return sorted(
        options,
        key=lambda o: (
            o.ratio is None,
            _RATIO_ORDER.index(o.ratio_of),
            o.ratio or 0.0,
            o.technique,
        ),
    )
