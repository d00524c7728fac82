import warnings

import pytest
import torch

from frugalml.errors import EfficiencyWarning, InputError, TechniqueError, UnknownNameError
from frugalml.reduce import BF16, FP16, QAT, Int8Dynamic, Int8Static
from frugalml.reduce import quantize as q
from frugalml.train import DtypeWrapper, fit, predict, small_cnn


def _agreement(a, b, X):
    return float((predict(a, X) == predict(b, X)).float().mean())


def test_int8_dynamic_makes_linear_weights_qint8(vec_data, trained_mlp):
    t = Int8Dynamic(layers="all")
    out = t.apply(trained_mlp, vec_data)
    linears = [m for m in out.modules() if type(m).__name__ == "Linear"]
    assert len(linears) == 3
    assert all(m.weight().dtype == torch.qint8 for m in linears)
    assert t.int8_layers_ == 3 and t.dtype_ == "qint8"
    assert _agreement(out, trained_mlp, vec_data.X_val) >= 0.9


def test_int8_dynamic_needs_no_data(vec_data, trained_mlp):
    out = Int8Dynamic().apply(trained_mlp)  # no data at all (a model already trained)
    assert _agreement(out, trained_mlp, vec_data.X_val) >= 0.9
    with pytest.raises(InputError, match="int8-static needs some training inputs"):
        Int8Static().apply(trained_mlp)


def test_int8_dynamic_auto_keeps_int8_only_where_it_measures_faster(
    vec_data, trained_mlp, monkeypatch
):
    from frugalml.reduce import _timing

    timings = iter([[1.0, 0.5], [1.0, 0.95], [1.0, 3.0]])  # 2x, 1.05x (< 1.1), 0.33x
    monkeypatch.setattr(
        _timing, "median_times", lambda fns, **k: next(timings) if len(fns) == 2 else [1.0] * 4
    )
    t = Int8Dynamic()
    out = t.apply(trained_mlp, vec_data)
    kinds = [type(m).__module__.startswith("torch.ao") for m in out if hasattr(m, "weight")]
    assert kinds == [True, False, False]
    assert t.int8_layers_ == 1 and t.float_layers_kept_ == 2
    assert "speed_note" in t.report()
    assert t.kernels_ == (
        "0: int8 2.00x, int8; 2: int8 1.05x, float; 4: int8 0.33x, float (timed at batch 256)"
    )
    assert _agreement(out, trained_mlp, vec_data.X_val) >= 0.9


def test_int8_dynamic_auto_may_keep_the_model_float(vec_data, trained_mlp, monkeypatch):
    from frugalml.reduce import _timing

    monkeypatch.setattr(_timing, "median_times", lambda fns, **k: [1.0, 2.0])
    t = Int8Dynamic()
    out = t.apply(trained_mlp, vec_data)
    assert t.int8_layers_ == 0 and t.float_layers_kept_ == 3 and t.speedup_ == 1.0
    assert "stays float32" in t.speed_note_
    assert all(type(m) is torch.nn.Linear for m in out if hasattr(m, "weight"))
    assert t.kernels_.startswith("0: int8 0.50x, float; 2: int8 0.50x, float")


def test_speed_note_explains_per_call_overhead_and_emulation():
    from frugalml.reduce._timing import SpeedFacts

    # 40 us more per call, 0.1 us less per sample: faster only from batch ~401
    overhead = SpeedFacts(256, 20e-6, 60e-6, 20e-6 + 255 * 0.3e-6, 60e-6 + 255 * 0.2e-6)
    assert overhead.speedup < 1
    assert "per-call overhead dominates at this model size, faster only from batch ~401" in (
        overhead.note("x")
    )
    emulated = SpeedFacts(256, 20e-6, 30e-6, 1e-3, 20e-3)
    assert "slower per sample, no fp16 here" in emulated.note("no fp16 here")
    # +190 us per call, +0.06 us per sample (15 us at batch 256): the call cost dominates
    small = SpeedFacts(256, 110e-6, 300e-6, 110e-6 + 255 * 0.42e-6, 300e-6 + 255 * 0.48e-6)
    assert "per-call overhead dominates at this model size, and it is not faster per sample" in (
        small.note("x")
    )
    assert SpeedFacts(256, 1e-5, 1e-5, 2e-3, 1e-3).note("x").startswith("2.00x")


def test_quantised_models_report_their_measured_speed(vec_data, trained_mlp):
    for t in (Int8Dynamic(layers="all"), FP16()):
        t.apply(trained_mlp, vec_data)
        report = t.report()
        assert report["speedup"] > 0 and report["per_call_us"] > 0
        assert "the float model's speed at batch 256" in report["speed_note"]
    assert t.report()["fp16_cpu_support"] in ("amx_fp16", "avx512_fp16", "none", "unknown")


class _Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.lstm(x.unsqueeze(1))
        return self.head(out[:, -1])


def test_int8_dynamic_quantises_lstm(vec_data):
    out = Int8Dynamic().apply(_Recurrent(), vec_data)
    assert "quantized" in type(out.lstm).__module__
    assert out(vec_data.X_val).shape == (len(vec_data.X_val), 3)


def test_int8_dynamic_without_linear_fails_with_reason(img_data):
    conv_only = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    with pytest.raises(TechniqueError, match=r"int8-dynamic failed: .*no Linear.*int8-static"):
        Int8Dynamic().apply(conv_only, img_data)


def test_int8_static_quantises_and_fuses_a_cnn(img_data, trained_cnn):
    t = Int8Static(calibration_batches=2)
    out = t.apply(trained_cnn, img_data)
    quantised = [m for m in out.modules() if "quantized" in type(m).__module__]
    names = {type(m).__name__ for m in quantised}
    assert "ConvReLU2d" in names  # Conv-BN-ReLU folded into one int8 kernel
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in out.modules())
    conv = next(m for m in quantised if type(m).__name__ == "ConvReLU2d")
    assert conv.weight().dtype == torch.qint8
    assert t.calibration_samples_ == 64
    assert t.int8_layers_ == 4  # three convs and the classifier
    assert out(img_data.X_val).dtype == torch.float32
    assert _agreement(out, trained_cnn, img_data.X_val) >= 0.9


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.head(x + self.a(x))  # a float add on quantised tensors: no eager kernel


def test_int8_static_reports_missing_kernel(vec_data):
    with pytest.raises(TechniqueError) as err:
        Int8Static().apply(_Residual(), vec_data)
    msg = str(err.value)
    assert msg.startswith("int8-static failed: ")
    assert "QuantizedCPU" in msg
    assert "try int8-dynamic" in msg
    assert "\n" not in msg


def test_qat_trains_then_converts(vec_data, trained_mlp):
    t = QAT(fine_tune_epochs=2)
    out = t.apply(trained_mlp, vec_data)
    assert t.epochs_run_ == 2 and t.int8_layers_ == 3
    assert any(type(m).__name__ == "LinearReLU" for m in out.modules())
    assert _agreement(out, trained_mlp, vec_data.X_val) >= 0.85


def test_qat_on_cnn_folds_batchnorm(img_data, trained_cnn):
    out = QAT(fine_tune_epochs=1).apply(trained_cnn, img_data)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in out.modules())
    assert out(img_data.X_val).shape == (len(img_data.X_val), 3)


@pytest.mark.parametrize(("cls", "dtype"), [(BF16, torch.bfloat16), (FP16, torch.float16)])
def test_half_precision_casts_and_wraps(cls, dtype, vec_data, trained_mlp):
    t = cls()
    out = t.apply(trained_mlp, vec_data)
    assert isinstance(out, DtypeWrapper)
    assert {p.dtype for p in out.parameters()} == {dtype}
    assert t.dtype_ == str(dtype).removeprefix("torch.")
    assert out(vec_data.X_val).dtype == torch.float32
    assert _agreement(out, trained_mlp, vec_data.X_val) >= 0.95


def test_bf16_cnn_casts_batchnorm_buffers(img_data, trained_cnn):
    out = BF16().apply(trained_cnn, img_data)
    bn = next(m for m in out.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn.running_mean.dtype == torch.bfloat16


def test_bf16_autocast_training_warns_without_native_support(vec_data, trained_mlp, monkeypatch):
    monkeypatch.setattr(q, "bf16_cpu_support", lambda: "none")
    t = BF16(train=True, fine_tune_epochs=1)
    with pytest.warns(EfficiencyWarning, match="no native bf16"):
        t.apply(trained_mlp, vec_data)
    assert t.epochs_run_ == 1 and t.bf16_cpu_support_ == "none"


def test_bf16_autocast_training_silent_with_native_support(vec_data, trained_mlp, monkeypatch):
    monkeypatch.setattr(q, "bf16_cpu_support", lambda: "amx_bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EfficiencyWarning)
        BF16(train=True, fine_tune_epochs=1).apply(trained_mlp, vec_data)


def test_bf16_cpu_support_values():
    assert q.bf16_cpu_support() in {"amx_bf16", "avx512_bf16", "none", "unknown"}


def test_unknown_backend_lists_known(vec_data, trained_mlp):
    with pytest.raises(UnknownNameError, match="torch-ao"):
        Int8Dynamic(backend="torchao").apply(trained_mlp, vec_data)


def test_fusion_groups_of_small_cnn():
    model = small_cnn(1, 3, (4, 8, 8))
    assert q._fusion_groups(model) == [["0", "1", "2"], ["3", "4", "5"], ["7", "8", "9"]]


def test_no_deprecation_noise_from_our_calls(vec_data, trained_mlp, img_data, trained_cnn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Int8Dynamic().apply(trained_mlp, vec_data)
        Int8Static(calibration_batches=1).apply(trained_cnn, img_data)
    assert not [w for w in caught if "deprecated" in str(w.message)]


def test_int8_model_cannot_be_trained_but_evaluates(vec_data, trained_mlp):
    out = Int8Dynamic(layers="all").apply(trained_mlp, vec_data)
    # no float parameters left to train: fit is a no-op rather than an error
    assert fit(out, vec_data, epochs=1).epochs_run == 0
