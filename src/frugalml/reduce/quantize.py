"""Quantisation and reduced precision behind one backend interface.

Techniques: ``int8-dynamic`` (int8 weights, activations quantised on the fly; Linear
and recurrent layers), ``int8-static`` (post-training static int8 with a calibration
pass, for conv nets; Jacob et al. 2018), ``qat`` (fake-quant fine-tuning, then convert;
Jacob et al. 2018), ``bf16`` and ``fp16`` (the model cast to a 16-bit float type).

Every one goes through a :class:`QuantBackend`, chosen by name (``backend="torch-ao"``).
The one backend shipped is eager-mode ``torch.ao.quantization``: PyTorch deprecates it
in favour of torchao, but on the x86 CPUs we measured its fbgemm/x86 int8 kernels are
the fast CPU path in eager mode, and torchao is not a dependency here. A torchao
backend would be one more subclass in ``BACKENDS``. Its deprecation warnings are
silenced only around our own calls.

Int8 models run on the CPU only and cannot be trained further; bf16/fp16 models come
wrapped in :class:`~frugalml.train.models.DtypeWrapper`, so they still take and return
float32 tensors.

Small models are often *slower* quantised: quantising the input and the int8 kernels' setup
cost a fixed time per call that a small layer's arithmetic does not repay, and on CPUs
without 16-bit float arithmetic bf16/fp16 are emulated. So ``int8-dynamic`` keeps a layer
in int8 only where its int8 kernel measures faster (``layers="auto"``), and every technique
here times its model against the float original at ``apply`` (batch 1 and 256, a fraction
of a second) and reports why it is slower or faster: ``speedup_``, ``per_call_us_``,
``float_per_call_us_`` and ``speed_note_`` (e.g. "per-call overhead dominates at this
model size, faster only from batch ~900").
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number, unknown_name
from frugalml.errors import EfficiencyWarning, InputError
from frugalml.reduce.base import Needs, Technique

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = [
    "BACKENDS",
    "BF16",
    "FP16",
    "QAT",
    "Int8Dynamic",
    "Int8Static",
    "QuantBackend",
    "TorchAOEagerBackend",
    "bf16_cpu_support",
    "fp16_cpu_support",
]

# the batch the speed facts are timed at (the bench's latency batch)
SPEED_BATCH = 256

logger = logging.getLogger(__name__)

# eager-mode torch.ao int8 kernels (fbgemm/x86, qnnpack) exist for the CPU only
_EAGER_CPU_ONLY = "eager-mode int8 kernels run on the CPU only"

_JACOB = (
    "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient "
    "Integer-Arithmetic-Only Inference (CVPR)"
)


class QuantBackend(ABC):
    """How models are quantised. Every int8/16-bit technique calls only these methods.

    ``prepare_static`` / ``prepare_qat`` return a model with observers or fake-quant;
    the caller runs calibration batches or training through it, then ``convert``
    produces the int8 model. ``cast`` returns the model in a 16-bit float type behind a
    float32 interface.
    """

    name: ClassVar[str]

    @abstractmethod
    def quantize_dynamic(self, model: nn.Module) -> nn.Module:
        """Int8 weights, dynamically quantised activations, for Linear/LSTM/GRU layers."""

    @abstractmethod
    def prepare_static(self, model: nn.Module) -> nn.Module:
        """``model`` (changed in place) in eval mode with observers, ready for calibration."""

    @abstractmethod
    def prepare_qat(self, model: nn.Module) -> nn.Module:
        """``model`` (changed in place) in train mode with fake-quant, ready for fine-tuning."""

    @abstractmethod
    def convert(self, prepared: nn.Module) -> nn.Module:
        """The int8 model from a calibrated or QAT-trained prepared model."""

    def cast(self, model: nn.Module, dtype: str) -> nn.Module:
        """``model`` in ``"bfloat16"`` or ``"float16"``, wrapped to take/return float32."""
        torch = require("torch", "reduced-precision inference")
        from frugalml.train.models import DtypeWrapper

        torch_dtype = getattr(torch, dtype)
        return DtypeWrapper(model.to(torch_dtype), torch_dtype)


@contextlib.contextmanager
def _quiet_ao() -> Iterator[None]:
    """Silence torch.ao's deprecation notices for our calls only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"(?s)torch\.quantize_per_tensor.*deprecated")
        # the default x86 qconfig still passes reduce_range; its notice is for PyTorch itself
        warnings.filterwarnings("ignore", message=r"(?s)Please use quant_min and quant_max")
        yield


class TorchAOEagerBackend(QuantBackend):
    """Eager-mode ``torch.ao.quantization`` on the fbgemm/x86 (or qnnpack on ARM) engine.

    Static and QAT wrap the model in ``QuantWrapper`` (quantise the input, dequantise
    the output) and fuse Conv-BN-ReLU, Conv-BN, Conv-ReLU, Linear-BN and Linear-ReLU
    runs found inside ``nn.Sequential`` containers. Models that call functional ops
    (``x + y``, ``F.relu``) on quantised tensors fail when the converted model first
    runs; the technique reports that as a TechniqueError.

    Args:
        engine: quantised engine, e.g. ``"x86"``, ``"fbgemm"``, ``"qnnpack"``; None picks
            ``"x86"`` where supported, else ``"qnnpack"``.
    """

    name: ClassVar[str] = "torch-ao"

    def __init__(self, engine: str | None = None) -> None:
        self.engine = engine

    def _engine(self) -> str:
        torch = require("torch", "int8 quantisation")
        supported = list(torch.backends.quantized.supported_engines)
        engine = self.engine or next(
            (e for e in ("x86", "fbgemm", "qnnpack") if e in supported), ""
        )
        check_choice("TorchAOEagerBackend", "engine", engine, supported)
        if torch.backends.quantized.engine != engine:
            logger.info("setting torch.backends.quantized.engine = %r", engine)
            torch.backends.quantized.engine = engine
        return engine

    def quantize_dynamic(self, model: nn.Module) -> nn.Module:
        torch = require("torch", "int8-dynamic")
        self._engine()
        nn_ = torch.nn
        kinds = {nn_.Linear, nn_.LSTM, nn_.GRU, nn_.LSTMCell, nn_.GRUCell, nn_.RNNCell}
        with _quiet_ao():
            return torch.ao.quantization.quantize_dynamic(model, kinds, dtype=torch.qint8)

    def prepare_static(self, model: nn.Module) -> nn.Module:
        ao = require("torch.ao.quantization", "int8-static")
        engine = self._engine()
        model.eval()
        with _quiet_ao():
            for group in _fusion_groups(model):
                ao.fuse_modules(model, group, inplace=True)
            wrapped = ao.QuantWrapper(model)
            wrapped.qconfig = ao.get_default_qconfig(engine)
            return ao.prepare(wrapped)

    def prepare_qat(self, model: nn.Module) -> nn.Module:
        ao = require("torch.ao.quantization", "qat")
        engine = self._engine()
        model.train()
        with _quiet_ao():
            for group in _fusion_groups(model):
                ao.fuse_modules_qat(model, group, inplace=True)
            wrapped = ao.QuantWrapper(model)
            wrapped.qconfig = ao.get_default_qat_qconfig(engine)
            return ao.prepare_qat(wrapped.train())

    def convert(self, prepared: nn.Module) -> nn.Module:
        ao = require("torch.ao.quantization", "int8 conversion")
        prepared.eval()
        with _quiet_ao():
            return ao.convert(prepared)


BACKENDS: dict[str, type[QuantBackend]] = {TorchAOEagerBackend.name: TorchAOEagerBackend}


def _fusion_groups(model: nn.Module) -> list[list[str]]:
    """Names of consecutive fusable modules inside Sequential containers, longest first."""
    torch = require("torch", "int8 fusion")
    nn_ = torch.nn
    conv = (nn_.Conv1d, nn_.Conv2d, nn_.Conv3d)
    bn = (nn_.BatchNorm1d, nn_.BatchNorm2d, nn_.BatchNorm3d)
    patterns: list[tuple[tuple[type, ...], ...]] = [
        (conv, bn, (nn_.ReLU,)),
        (conv, bn),
        (conv, (nn_.ReLU,)),
        ((nn_.Linear,), (nn_.BatchNorm1d,)),
        ((nn_.Linear,), (nn_.ReLU,)),
        ((nn_.BatchNorm2d, nn_.BatchNorm3d), (nn_.ReLU,)),
    ]
    groups: list[list[str]] = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn_.Sequential):
            continue
        children = list(container.named_children())
        i = 0
        while i < len(children):
            for pattern in patterns:
                run = children[i : i + len(pattern)]
                if len(run) == len(pattern) and all(
                    isinstance(mod, kinds) for (_, mod), kinds in zip(run, pattern)
                ):
                    groups.append([f"{prefix}.{n}" if prefix else n for n, _ in run])
                    i += len(pattern)
                    break
            else:
                i += 1
    return groups


def _cpu_flag(candidates: tuple[str, ...]) -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return "unknown"
    if not flags:
        return "unknown"
    return next((f for f in candidates if f in flags), "none")


def bf16_cpu_support() -> str:
    """Native bf16 instructions of this CPU: ``"amx_bf16"``, ``"avx512_bf16"``, ``"none"``
    or ``"unknown"`` (no /proc/cpuinfo). Without them bf16 math is emulated and slow."""
    return _cpu_flag(("amx_bf16", "avx512_bf16"))


def fp16_cpu_support() -> str:
    """Native float16 arithmetic of this CPU: ``"amx_fp16"``, ``"avx512_fp16"``, ``"none"``
    or ``"unknown"``. Without it (``f16c`` only converts) fp16 math is emulated and slow."""
    return _cpu_flag(("amx_fp16", "avx512_fp16"))


class _QuantTechnique(Technique):
    """Shared parts: the backend by name and the post-conversion smoke test."""

    backend: str

    def _check_backend(self) -> None:
        if self.backend not in BACKENDS:
            raise unknown_name("quantisation backend", self.backend, BACKENDS)

    def _backend(self) -> QuantBackend:
        return BACKENDS[self.backend]()

    def _explain_speed(
        self, float_model: nn.Module, model: nn.Module, data: TrainData | None, slow: str
    ) -> None:
        """Time ``model`` against ``float_model`` and set the speed facts (see module doc)."""
        if data is None:
            return
        from frugalml.reduce._timing import speed_facts

        with _quiet_ao():
            facts = speed_facts(
                float_model.eval(), model, data.example_input(SPEED_BATCH), SPEED_BATCH
            )
        self.speedup_ = facts.speedup
        self.per_call_us_ = facts.call_s * 1e6
        self.float_per_call_us_ = facts.float_call_s * 1e6
        self.speed_note_ = facts.note(slow)

    def _smoke_test(self, model: nn.Module, data: TrainData | None, stage: str) -> None:
        """Run one batch, so ops the backend lacks fail here, with the reason (skipped
        without data: nothing to run)."""
        if data is None:
            return
        torch = require("torch", self.name)
        try:
            with torch.inference_mode(), _quiet_ao():
                model(data.example_input(2))
        except Exception as e:
            raise self._fail(
                f"the {stage} model cannot run on backend {self.backend!r}",
                e,
                "The model likely uses an op this backend has no kernel for; "
                "try int8-dynamic, bf16 or a pruning technique instead.",
            ) from e


class Int8Dynamic(_QuantTechnique):
    """Dynamic int8 quantisation of Linear and LSTM/GRU layers (no calibration, no training).

    Weights are stored as int8 with a per-tensor scale; activations are quantised
    per batch at run time. Other layers stay float32. Needs no data (``apply(model)``);
    with data, one batch is run through the result to check the backend runs it.

    Args:
        layers: ``"auto"`` (default): time each Linear layer float and int8 on
            ``speed_batch`` random rows (median of 9 interleaved runs) and keep it int8
            only where that is at least 1.1x faster: on small layers quantising the input
            costs more than the int8 product saves. ``"all"``: every Linear/LSTM/GRU layer
            int8 (PyTorch's ``quantize_dynamic``). LSTM/GRU layers are int8 in both modes.
        speed_batch: batch size the layers are timed at (the batch you will infer at).
        backend: name in :data:`BACKENDS`.

    Learned state:
        int8_layers_: layers int8 in the returned model (0 when no layer measured faster:
            the model is then the float one).
        float_layers_kept_: Linear layers left float32 by ``"auto"``.
        kernels_: per Linear layer, the measured int8-vs-float speed-up and the kernel
            kept, e.g. ``"0: int8 1.52x, int8; 2: int8 0.61x, float (timed at batch 256)"``.
        dtype_: ``"qint8"``.
        speedup_, per_call_us_, float_per_call_us_, speed_note_: the module doc's speed
            facts of the returned model.
    """

    name: ClassVar[str] = "int8-dynamic"
    kind: ClassVar[str] = "compress"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    devices_reason: ClassVar[str] = _EAGER_CPU_ONLY
    needs: ClassVar[Needs] = Needs(data="none", targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = "PyTorch dynamic quantization (torch.ao.quantization.quantize_dynamic)"

    def __init__(
        self, layers: str = "auto", speed_batch: int = 256, backend: str = "torch-ao"
    ) -> None:
        self.layers = layers
        self.speed_batch = speed_batch
        self.backend = backend

    def _check_params(self) -> None:
        check_choice(type(self).__name__, "layers", self.layers, ("auto", "all"))
        check_number(type(self).__name__, "speed_batch", self.speed_batch, low=1, integer=True)
        self._check_backend()

    def _apply(self, model: nn.Module, data: TrainData | None) -> nn.Module:
        model.eval()
        try:
            out = self._backend().quantize_dynamic(model)  # a copy: ``model`` stays float
        except Exception as e:
            raise self._fail("dynamic quantisation raised", e) from e
        if not _count_int8(out):
            raise self._fail(
                "the model has no Linear, LSTM or GRU layer to quantise dynamically",
                hint="For conv nets use int8-static.",
            )
        self._smoke_test(out, data, "int8-dynamic")
        self.float_layers_kept_ = 0
        self.kernels_ = "every layer int8 (layers='all')"
        if self.layers == "auto":
            out = self._keep_faster(model, out)
        self.int8_layers_ = _count_int8(out)
        self.dtype_ = "qint8"
        if self.int8_layers_:
            self._explain_speed(model, out, data, "the int8 kernels are slower than float32 here")
        else:
            self.speedup_ = 1.0
            self.speed_note_ = (
                f"no Linear layer's int8 kernel was >= 1.1x faster at batch {self.speed_batch} "
                "(kernels: the measured speed-ups), so the model stays float32"
            )
        return out

    def _keep_faster(self, float_model: nn.Module, out: nn.Module) -> nn.Module:
        """Put back the float layer wherever the int8 one is not >= 1.1x faster."""
        torch = require("torch", "int8-dynamic")
        from frugalml.reduce._timing import MARGIN, median_times

        parts = []
        for name, layer in list(out.named_modules()):
            if type(layer).__module__ != "torch.ao.nn.quantized.dynamic.modules.linear":
                continue
            original = float_model.get_submodule(name)
            x = torch.randn(self.speed_batch, original.in_features)
            with _quiet_ao():
                float_s, int8_s = median_times([partial(original, x), partial(layer, x)])
            keep = int8_s * MARGIN <= float_s
            parts.append(
                f"{name or 'model'}: int8 {float_s / int8_s:.2f}x, {'int8' if keep else 'float'}"
            )
            if not keep:
                self.float_layers_kept_ += 1
                if not name:  # the model is one Linear layer
                    self.kernels_ = parts[0] + f" (timed at batch {self.speed_batch})"
                    return original
                parent, _, attr = name.rpartition(".")
                setattr(out.get_submodule(parent) if parent else out, attr, original)
        self.kernels_ = "; ".join(parts) + f" (timed at batch {self.speed_batch})"
        return out


class Int8Static(_QuantTechnique):
    """Post-training static int8 quantisation with a calibration pass (weights and activations).

    Fuses Conv/Linear with BatchNorm and ReLU, wraps the model between a quantise and a
    dequantise stub, records activation ranges on ``calibration_batches`` training
    batches and converts to int8 kernels.

    Args:
        calibration_batches: training batches run through the observers.
        backend: name in :data:`BACKENDS`.

    Learned state:
        calibration_samples_: samples seen by the observers.
        int8_layers_: number of quantised compute layers.
        dtype_: ``"qint8"``.
    """

    name: ClassVar[str] = "int8-static"
    kind: ClassVar[str] = "compress"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    devices_reason: ClassVar[str] = _EAGER_CPU_ONLY
    needs: ClassVar[Needs] = Needs(data="inputs", targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = _JACOB

    def __init__(self, calibration_batches: int = 8, backend: str = "torch-ao") -> None:
        self.calibration_batches = calibration_batches
        self.backend = backend

    def _check_params(self) -> None:
        check_number(
            type(self).__name__,
            "calibration_batches",
            self.calibration_batches,
            low=1,
            integer=True,
        )
        self._check_backend()

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "int8-static")
        backend = self._backend()
        float_model = copy.deepcopy(model)  # preparing fuses in place
        try:
            prepared = backend.prepare_static(model)
            seen = 0
            with torch.inference_mode(), _quiet_ao():
                for batch in data.calibration_batches(self.calibration_batches):
                    prepared(batch)
                    seen += len(batch)
            out = backend.convert(prepared)
        except Exception as e:
            raise self._fail("static quantisation raised", e) from e
        self._smoke_test(out, data, "int8-static")
        self.calibration_samples_ = seen
        self.int8_layers_ = _count_int8(out)
        self.dtype_ = "qint8"
        self._explain_speed(float_model, out, data, "the int8 kernels are slower than float32 here")
        return out


class QAT(_QuantTechnique):
    """Quantisation-aware training: fine-tune with fake-quant, then convert to int8.

    The trained model is fused and wrapped as for int8-static, fine-tuned for
    ``fine_tune_epochs`` with simulated int8 rounding in the forward pass (gradients
    pass straight through), then converted.

    Args:
        fine_tune_epochs: epochs of fake-quant fine-tuning.
        lr: fine-tuning learning rate; None takes a tenth of the recipe's (fake-quant
            fine-tuning starts from a converged model; at the full rate it loses 1-5 pt
            on the digits tasks, at a tenth it keeps the baseline's accuracy).
        backend: name in :data:`BACKENDS`.

    Learned state:
        epochs_run_, int8_layers_, dtype_, lr_ (the learning rate used).
    """

    name: ClassVar[str] = "qat"
    kind: ClassVar[str] = "compress"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    devices_reason: ClassVar[str] = _EAGER_CPU_ONLY
    needs: ClassVar[Needs] = Needs(targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = _JACOB

    def __init__(
        self, fine_tune_epochs: int = 3, lr: float | None = None, backend: str = "torch-ao"
    ) -> None:
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr
        self.backend = backend

    def _check_params(self) -> None:
        self._check_epochs("fine_tune_epochs", self.fine_tune_epochs)
        self._check_lr("lr", self.lr)
        self._check_backend()

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        backend = self._backend()
        self.lr_ = self.lr if self.lr is not None else data.lr / 10
        float_model = copy.deepcopy(model)  # preparing fuses in place
        try:
            prepared = backend.prepare_qat(model)
            with _quiet_ao():
                self.epochs_run_ = self._fit(
                    prepared, data, epochs=self.fine_tune_epochs, lr=self.lr_
                ).epochs_run
            out = backend.convert(prepared)
        except Exception as e:
            raise self._fail("quantisation-aware training raised", e) from e
        self._smoke_test(out, data, "qat")
        self.int8_layers_ = _count_int8(out)
        self.dtype_ = "qint8"
        self._explain_speed(float_model, out, data, "the int8 kernels are slower than float32 here")
        return out


class _Cast(_QuantTechnique):
    dtype: ClassVar[str]

    def _cast(self, model: nn.Module, data: TrainData | None, support: str) -> nn.Module:
        float_model = copy.deepcopy(model)  # casting is in place
        try:
            out = self._backend().cast(model, self.dtype)
        except Exception as e:
            raise self._fail(f"casting to {self.dtype} raised", e) from e
        self._smoke_test(out, data, self.dtype)
        self.dtype_ = self.dtype
        native = f"native {self.dtype} arithmetic: {support}"
        slow = (
            f"this CPU has no {self.dtype} arithmetic (emulated; {native})"
            if support == "none"
            else f"the {self.dtype} kernels are slower than float32 here ({native})"
        )
        self._explain_speed(float_model, out, data, slow)
        return out


class BF16(_Cast):
    """Bfloat16 inference; optionally fine-tune under bf16 autocast first.

    The model's parameters and buffers are cast to bfloat16 (half the bytes) and it is
    wrapped to take and return float32. With ``train=True`` it is first fine-tuned for
    ``fine_tune_epochs`` under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (float32
    master weights). CPUs without native bf16 instructions (``avx512_bf16``/``amx_bf16``)
    emulate it, which is usually slower than float32; an EfficiencyWarning says so.

    Args:
        train: fine-tune under bf16 autocast before casting.
        fine_tune_epochs: autocast epochs when ``train``.
        lr: fine-tuning learning rate; None takes the recipe's.
        backend: name in :data:`BACKENDS`.

    Learned state:
        dtype_: ``"bfloat16"``; bf16_cpu_support_: see :func:`bf16_cpu_support`;
        epochs_run_: autocast epochs run.
    """

    name: ClassVar[str] = "bf16"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(data="none", targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training"
    dtype: ClassVar[str] = "bfloat16"

    def __init__(
        self,
        train: bool = False,
        fine_tune_epochs: int = 1,
        lr: float | None = None,
        backend: str = "torch-ao",
    ) -> None:
        self.train = train
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr
        self.backend = backend

    def _check_params(self) -> None:
        if not isinstance(self.train, bool):
            raise InputError(
                f"The 'train' parameter of {type(self).__name__} must be a bool. "
                f"Got {self.train!r} instead."
            )
        self._check_epochs("fine_tune_epochs", self.fine_tune_epochs)
        self._check_lr("lr", self.lr)
        self._check_backend()

    def _apply(self, model: nn.Module, data: TrainData | None) -> nn.Module:
        torch = require("torch", "bf16")
        self.bf16_cpu_support_ = bf16_cpu_support()
        self.epochs_run_ = 0
        if self.train and self.fine_tune_epochs:
            if data is None:
                raise InputError(
                    "bf16 with train=True fine-tunes on the training split: pass data, or "
                    "use BF16(train=False) to only cast."
                )
            if self.bf16_cpu_support_ == "none":
                warnings.warn(
                    "bf16: this CPU has no native bf16 instructions (avx512_bf16/amx_bf16); "
                    "autocast training is emulated and likely slower than float32. "
                    "Use BF16(train=False) to only cast for inference.",
                    EfficiencyWarning,
                    stacklevel=3,
                )
            self.epochs_run_ = self._fit(
                model, data, epochs=self.fine_tune_epochs, lr=self.lr, autocast_dtype=torch.bfloat16
            ).epochs_run
        return self._cast(model, data, self.bf16_cpu_support_)


class FP16(_Cast):
    """Float16 inference: parameters and buffers cast to float16, float32 in and out.

    Float16 has a narrower range than bfloat16 (max ~65504), so large activations can
    overflow to inf; on CPUs without fp16 arithmetic it is emulated and slow.

    Args:
        backend: name in :data:`BACKENDS`.

    Learned state:
        dtype_: ``"float16"``; fp16_cpu_support_: see :func:`fp16_cpu_support`;
        speedup_, per_call_us_, float_per_call_us_, speed_note_: the module doc's speed
        facts.
    """

    name: ClassVar[str] = "fp16"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(data="none", targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("inference-energy", "size")
    paper: ClassVar[str] = "Micikevicius et al. 2018, Mixed Precision Training"
    dtype: ClassVar[str] = "float16"

    def __init__(self, backend: str = "torch-ao") -> None:
        self.backend = backend

    def _check_params(self) -> None:
        self._check_backend()

    def _apply(self, model: nn.Module, data: TrainData | None) -> nn.Module:
        self.fp16_cpu_support_ = fp16_cpu_support()
        return self._cast(model, data, self.fp16_cpu_support_)


def _count_int8(model: Any) -> int:
    """Quantised compute layers (int8 Linear/Conv/LSTM modules, stubs excluded) in ``model``."""
    return sum(
        1
        for m in model.modules()
        if type(m).__module__.startswith(
            ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")
        )
        and type(m).__name__ not in ("Quantize", "DeQuantize")
        and "PackedParams" not in type(m).__name__
    )
