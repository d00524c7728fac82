"""Counting rules of the operators FLOP counters usually drop.

Elementwise arithmetic, activations, normalisation, softmax, pooling, reductions, losses
and their backward operators. None of them has MACs; each counts FLOPs per element by
the operator's defining formula: every +, −, ×, ÷, comparison, and every elementary
function (exp, log, tanh, erf, sqrt) is 1 FLOP. Work per row or per channel (a final
divide, a square root of the variance) is left out, as it is negligible next to the
per-element work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import ceil, floor, prod

from frugalml.profiler.rules import Call, Cost, Rule, numel

__all__ = ["RULES"]


def _per_out(k: int) -> Callable[[Call], Cost]:
    def cost(call: Call) -> Cost:
        return Cost(flops=k * call.out_numel())

    return cost


def _per_in(k: int) -> Callable[[Call], Cost]:
    def cost(call: Call) -> Cost:
        return Cost(flops=k * numel(call.pos[0]))

    return cost


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _elementwise(ops: str, k: int, category: str, formula: str) -> Rule:
    return Rule(tuple(f"aten.{op}" for op in _words(ops)), category, formula, _per_out(k))


def _add(call: Call) -> Cost:
    extra = 0 if call.args.get("alpha", 1) == 1 else 1
    return Cost(flops=(1 + extra) * call.out_numel())


def _clamp(call: Call) -> Cost:
    bounds = sum(call.args.get(b) is not None for b in ("min", "max"))
    return Cost(flops=bounds * call.out_numel())


def _addc(call: Call) -> Cost:
    extra = 0 if call.args.get("value", 1) == 1 else 1
    return Cost(flops=(2 + extra) * call.out_numel())


def _gelu(call: Call) -> Cost:
    return Cost(flops=(9 if call.args.get("approximate") == "tanh" else 5) * call.out_numel())


def _gelu_backward(call: Call) -> Cost:
    return Cost(flops=(18 if call.args.get("approximate") == "tanh" else 11) * call.out_numel())


def _elu(call: Call) -> Cost:
    extra = sum(call.args.get(s, 1) != 1 for s in ("scale", "input_scale"))
    return Cost(flops=(4 + extra) * call.out_numel())


def _norm(stats: int, normalise: int, grad: Sequence[int] = ()) -> Callable[[Call], Cost]:
    """FLOPs per element: statistics + normalisation (+ 1 per affine weight and bias)."""

    def cost(call: Call) -> Cost:
        x = call.pos[1] if grad else call.pos[0]
        n = numel(x)
        training = True
        for flag in ("training", "train", "update"):
            if flag in call.args:
                training = bool(call.args[flag])
        if call.name in _RUNNING_STATS_OPS:
            training = False
        if grad:
            mask = call.args.get("output_mask") or [True, True, True]
            per_elem = normalise + (grad[0] if training else 2) * bool(mask[0])
            per_elem += grad[1] * bool(mask[1]) + grad[2] * bool(mask[2])
            return Cost(flops=per_elem * n)
        per_elem = (stats if training else 0) + normalise
        per_elem += sum(call.args.get(a) is not None for a in ("weight", "bias"))
        return Cost(flops=per_elem * n)

    return cost


_RUNNING_STATS_OPS = {"aten._native_batch_norm_legit_no_training", "aten._batch_norm_no_update"}


def _window_sum(inp: int, out: int) -> int:
    """Total window length of adaptive pooling from ``inp`` to ``out`` positions (exact)."""
    return sum(ceil((i + 1) * inp / out) - floor(i * inp / out) for i in range(out))


def _adaptive_pool(call: Call) -> Cost:
    x = call.pos[1] if call.name.endswith("_backward") else call.pos[0]
    out = call.pos[0] if call.name.endswith("_backward") else call.out[0]
    dims = 3 if "3d" in call.name else 2
    windows = prod(_window_sum(i, o) for i, o in zip(x.shape[-dims:], out.shape[-dims:]))
    return Cost(flops=int(prod(x.shape[:-dims])) * windows)


def _pool(call: Call) -> Cost:
    kernel = list(call.args["kernel_size"])
    dims = 3 if "3d" in call.name else 2 if "2d" in call.name else 1
    window = prod(kernel * dims if len(kernel) == 1 else kernel)
    grad = call.pos[0] if call.name.endswith("_backward") else call.out[0]
    return Cost(flops=window * numel(grad))


def _dropout(call: Call) -> Cost:
    return Cost(flops=2 * call.out_numel() if call.args.get("train") is not False else 0)


def _nll(call: Call) -> Cost:
    return Cost(flops=numel(call.args["target"]))


def _mse(call: Call) -> Cost:
    reduced = call.args.get("reduction", 1) != 0
    return Cost(flops=(3 if reduced else 2) * numel(call.pos[0]))


def _per_grad_out(call: Call) -> Cost:
    return Cost(flops=numel(call.pos[0]))


_ARITH = (
    "add sub rsub mul div true_divide floor_divide remainder fmod pow float_power maximum "
    "minimum fmax fmin atan2 hypot copysign eq ne lt le gt ge logical_and logical_or logical_xor "
    "logical_not bitwise_and bitwise_or bitwise_xor bitwise_not neg abs sign sgn reciprocal exp "
    "exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan asin acos atan sinh cosh asinh acosh "
    "atanh erf erfc erfinv floor ceil round trunc frac isnan isinf isfinite clamp_min clamp_max"
)

RULES: list[Rule] = [
    Rule(
        ("aten.add", "aten.sub"),
        "elementwise",
        "1 per output element; +1 when alpha ≠ 1",
        _add,
    ),
    _elementwise(
        " ".join(op for op in _words(_ARITH) if op not in ("add", "sub")),
        1,
        "elementwise",
        "1 per output element (arithmetic, comparison, or one elementary function)",
    ),
    Rule(("aten.clamp",), "elementwise", "1 per output element per bound given", _clamp),
    Rule(
        ("aten.addcmul", "aten.addcdiv"),
        "elementwise",
        "2 per output element; +1 when value ≠ 1",
        _addc,
    ),
    _elementwise("lerp", 3, "elementwise", "3 per output element: a + w·(b − a)"),
    _elementwise("relu threshold", 1, "activation", "1 per output element: max(x, 0)"),
    _elementwise("hardtanh", 2, "activation", "2 per output element: min(max(x, a), b)"),
    _elementwise(
        "leaky_relu _prelu_kernel", 2, "activation", "2 per output element: compare, multiply"
    ),
    Rule(
        ("aten.elu",),
        "activation",
        "4 per output element: compare, exp, subtract, multiply; +1 per non-unit scale",
        _elu,
    ),
    Rule(
        ("aten.gelu",),
        "activation",
        "5 per output element: x/√2, erf, +1, ×x, ×½; tanh approximation 9 "
        "(x³, ×0.044715, +x, ×√(2/π), tanh, +1, ×x, ×½)",
        _gelu,
    ),
    _elementwise(
        "sigmoid", 4, "activation", "4 per output element: 1/(1 + exp(−x)) (neg, exp, add, div)"
    ),
    _elementwise("silu", 5, "activation", "5 per output element: x·sigmoid(x)"),
    _elementwise("tanh", 1, "activation", "1 per output element (elementary function)"),
    _elementwise(
        "softplus",
        5,
        "activation",
        "5 per output element: log(1 + exp(βx))/β (mul, exp, add, log, div)",
    ),
    _elementwise("mish", 5, "activation", "5 per output element: x·tanh(log(1 + exp(x)))"),
    _elementwise("hardsigmoid", 4, "activation", "4 per output element: min(max(x + 3, 0), 6)/6"),
    _elementwise("hardswish", 5, "activation", "5 per output element: x·hardsigmoid(x)"),
    _elementwise("log_sigmoid_forward", 4, "activation", "4 per output element: −log(1 + exp(−x))"),
    _elementwise("glu", 5, "activation", "5 per output element: a·sigmoid(b)"),
    _elementwise(
        "_softmax _safe_softmax",
        5,
        "softmax",
        "5 per element: max, subtract, exp, sum, divide",
    ),
    _elementwise(
        "_log_softmax",
        5,
        "softmax",
        "5 per element: max, subtract, exp, sum, subtract (log per row)",
    ),
    Rule(
        (
            "aten.native_layer_norm",
            "aten.native_group_norm",
            "aten.native_batch_norm",
            "aten._native_batch_norm_legit",
            "aten._native_batch_norm_legit_functional",
            "aten._native_batch_norm_legit_no_training",
            "aten._batch_norm_with_update",
            "aten._batch_norm_no_update",
        ),
        "normalisation",
        "per element: 4 for the statistics when computed (mean 1; variance: subtract, square, "
        "add), 2 to normalise (subtract mean, × 1/std), +1 each for weight and bias; batch norm "
        "with running statistics (eval) skips the 4",
        _norm(stats=4, normalise=2),
    ),
    Rule(
        ("aten._fused_rms_norm",),
        "normalisation",
        "per element: 2 for the mean square (square, add), 1 to normalise, +1 for the weight",
        _norm(stats=2, normalise=1),
    ),
    Rule(
        (
            "aten.native_layer_norm_backward",
            "aten.native_group_norm_backward",
            "aten.native_batch_norm_backward",
            "aten.batch_norm_backward",
        ),
        "backward",
        "per element: 2 to recompute x̂; input gradient 8 (g·w, Σ, g·w·x̂, Σ, ×x̂, 2 subtract, "
        "× 1/std; 2 for batch norm in eval), weight gradient 2, bias gradient 1, each when "
        "requested",
        _norm(stats=0, normalise=2, grad=(8, 2, 1)),
    ),
    Rule(
        (
            "aten.max_pool1d",
            "aten.max_pool2d",
            "aten.max_pool3d",
            "aten.max_pool2d_with_indices",
            "aten.max_pool3d_with_indices",
            "aten.mkldnn_max_pool2d",
            "aten.avg_pool1d",
            "aten.avg_pool2d",
            "aten.avg_pool3d",
        ),
        "pooling",
        "kernel elements per output element (one comparison or addition per window element; "
        "the divide of average pooling replaces the first addition), windows over padding count",
        _pool,
    ),
    Rule(
        (
            "aten._adaptive_avg_pool2d",
            "aten._adaptive_avg_pool3d",
            "aten.adaptive_max_pool2d",
            "aten.adaptive_max_pool3d",
        ),
        "pooling",
        "sum of the exact adaptive window sizes (= input elements when sizes divide)",
        _adaptive_pool,
    ),
    Rule(
        (
            "aten.avg_pool2d_backward",
            "aten.avg_pool3d_backward",
        ),
        "backward",
        "kernel elements per grad_output element",
        _pool,
    ),
    Rule(
        ("aten._adaptive_avg_pool2d_backward", "aten._adaptive_avg_pool3d_backward"),
        "backward",
        "sum of the adaptive window sizes (as forward)",
        _adaptive_pool,
    ),
    _elementwise(
        "max_pool2d_with_indices_backward max_pool3d_with_indices_backward "
        "adaptive_max_pool2d_backward adaptive_max_pool3d_backward",
        1,
        "backward",
        "1 per grad_input element (scatter-add of the gradient)",
    ),
    Rule(
        tuple(
            f"aten.{op}"
            for op in _words(
                "sum mean nansum prod amax amin max min argmax argmin any all cumsum cumprod "
                "count_nonzero"
            )
        ),
        "reduction",
        "1 per input element",
        _per_in(1),
    ),
    Rule(
        ("aten.var", "aten.std", "aten.var_mean", "aten.std_mean"),
        "reduction",
        "4 per input element: mean 1; subtract, square, add 3",
        _per_in(4),
    ),
    Rule(
        ("aten.linalg_vector_norm", "aten.norm"),
        "reduction",
        "2 per input element: power of the magnitude, add",
        _per_in(2),
    ),
    Rule(
        ("aten.mse_loss",),
        "loss",
        "3 per input element: subtract, square, add (2 with reduction='none')",
        _mse,
    ),
    _elementwise("mse_loss_backward", 2, "backward", "2 per element: subtract, scale"),
    Rule(
        (
            "aten.nll_loss_forward",
            "aten.nll_loss2d_forward",
            "aten.nll_loss_backward",
            "aten.nll_loss2d_backward",
        ),
        "loss",
        "1 per target element (gather and add the selected log-probabilities)",
        _nll,
    ),
    Rule(
        ("aten.native_dropout",),
        "activation",
        "2 per element in training (compare with the random draw, scaled multiply); 0 in eval",
        _dropout,
    ),
    _elementwise("native_dropout_backward", 2, "backward", "2 per element: mask, scale"),
    _elementwise("upsample_linear1d", 3, "interpolation", "3 per output element (2 taps)"),
    _elementwise("upsample_bilinear2d", 7, "interpolation", "7 per output element (4 taps)"),
    _elementwise("upsample_trilinear3d", 15, "interpolation", "15 per output element (8 taps)"),
    _elementwise("upsample_bicubic2d", 31, "interpolation", "31 per output element (16 taps)"),
    Rule(
        tuple(
            f"aten.{op}_backward"
            for op in _words(
                "upsample_nearest1d upsample_nearest2d upsample_nearest3d "
                "_upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d"
            )
        ),
        "backward",
        "1 per grad_output element (sum of the gradients of each copied element)",
        _per_grad_out,
    ),
    _elementwise("threshold_backward", 1, "backward", "1 per element: select by x > 0"),
    _elementwise(
        "hardtanh_backward leaky_relu_backward hardsigmoid_backward",
        2,
        "backward",
        "2 per element: compare, multiply",
    ),
    _elementwise("elu_backward", 3, "backward", "3 per element"),
    Rule(
        ("aten.gelu_backward",),
        "backward",
        "11 per element: g·(Φ(x) + x·φ(x)); tanh approximation 18",
        _gelu_backward,
    ),
    _elementwise(
        "sigmoid_backward tanh_backward",
        3,
        "backward",
        "3 per element: g·y·(1 − y), g·(1 − y²)",
    ),
    _elementwise(
        "silu_backward", 9, "backward", "9 per element: sigmoid (4) + g·s·(1 + x·(1 − s)) (5)"
    ),
    _elementwise("hardswish_backward", 4, "backward", "4 per element"),
    _elementwise("softplus_backward", 5, "backward", "5 per element: g·sigmoid(βx)"),
    _elementwise("_softmax_backward_data", 4, "backward", "4 per element: y·(g − Σ g·y)"),
    _elementwise("_log_softmax_backward_data", 4, "backward", "4 per element: g − exp(y)·Σ g"),
    _elementwise("_prelu_kernel_backward", 4, "backward", "4 per element"),
    Rule(
        ("aten.embedding_dense_backward",),
        "backward",
        "1 per grad_output element (scatter-add into the weight gradient)",
        _per_grad_out,
    ),
]
