"""Counting rules of the multiply-accumulate operators: matmul, convolution, attention, quantized.

The MAC formulas reuse ``torch.utils.flop_counter`` (which counts FLOPs = 2 x MACs)
wherever its formula is exact; where it is not (grouped convolution backward), the rule
here says so. Bias additions, scalings and the softmax inside attention are counted as
extra FLOPs, which ``FlopCounterMode`` leaves out.
"""

from __future__ import annotations

from math import prod
from typing import Any

import torch
from torch.utils import flop_counter as fc

from frugalml.profiler.rules import Call, Cost, Rule, numel

__all__ = ["RULES"]


def _scaled_add(call: Call, out_elems: int) -> int:
    """FLOPs of ``beta * self + alpha * (product)``: the add, plus any non-unit scaling."""
    beta, alpha = call.args.get("beta", 1), call.args.get("alpha", 1)
    flops = 0 if beta == 0 else out_elems
    if beta not in (0, 1):
        flops += out_elems
    if alpha != 1:
        flops += out_elems
    return flops


def _nnz(t: torch.Tensor) -> int:
    """Stored elements of a sparse tensor (CSR, CSC, BSR, BSC or COO)."""
    return int(t.values().numel() if t.layout != torch.sparse_coo else t._values().numel())


def _mm_macs(a: torch.Tensor, b: torch.Tensor) -> int:
    """MACs of ``a @ b``; with a sparse operand, its stored elements x the other free dim."""
    if a.layout != torch.strided:
        return _nnz(a) * int(b.shape[-1])
    if b.layout != torch.strided:
        return _nnz(b) * int(a.shape[0])
    return int(fc.mm_flop(a.shape, b.shape) // 2)


def _mm(call: Call) -> Cost:
    return Cost(macs=_mm_macs(call.args["self"], call.args["mat2"]))


def _addmm(call: Call) -> Cost:
    macs = _mm_macs(call.args["mat1"], call.args["mat2"])
    return Cost(macs=macs, flops=_scaled_add(call, call.out_numel()))


def _bmm(call: Call) -> Cost:
    a, b = call.args["self"], call.args["mat2"]
    return Cost(macs=fc.bmm_flop(a.shape, b.shape) // 2)


def _baddbmm(call: Call) -> Cost:
    a, b = call.args["batch1"], call.args["batch2"]
    return Cost(macs=fc.bmm_flop(a.shape, b.shape) // 2, flops=_scaled_add(call, call.out_numel()))


def _mv(call: Call) -> Cost:
    return Cost(macs=numel(call.args["self"]))


def _addmv(call: Call) -> Cost:
    return Cost(macs=numel(call.args["mat"]), flops=_scaled_add(call, call.out_numel()))


def _dot(call: Call) -> Cost:
    return Cost(macs=numel(call.args["self"]))


_TRANSPOSED_OPS = {
    "aten.slow_conv_transpose2d",
    "aten.slow_conv_transpose3d",
    "aten.cudnn_convolution_transpose",
}


def _conv(call: Call) -> Cost:
    x: Any = call.args.get("input", call.args.get("self"))
    w = call.args["weight"]
    transposed = bool(call.args.get("transposed", False)) or call.name in _TRANSPOSED_OPS
    macs = fc.conv_flop_count(list(x.shape), list(w.shape), list(call.out[0].shape), transposed)
    bias = call.args.get("bias")
    return Cost(macs=macs // 2, flops=call.out_numel() if isinstance(bias, torch.Tensor) else 0)


def _conv_backward(call: Call) -> Cost:
    grad_out, x, w = call.args["grad_output"], call.args["input"], call.args["weight"]
    mask = call.args["output_mask"]
    forward_macs = (numel(x) if call.args["transposed"] else numel(grad_out)) * prod(w.shape[1:])
    grad_input_macs = forward_macs if mask[0] else 0
    grad_weight_macs = forward_macs if mask[1] else 0
    return Cost(
        macs=grad_input_macs + grad_weight_macs,
        flops=numel(grad_out) if mask[2] else 0,
        weight_macs=grad_input_macs,
    )


def _attention_shapes(call: Call, offset: int) -> tuple[Any, Any, Any, int]:
    q, k, v = call.pos[offset : offset + 3]
    scores = int(prod(q.shape[:-1])) * k.shape[-2]
    return q, k, v, scores


def _sdpa(call: Call) -> Cost:
    q, k, v, scores = _attention_shapes(call, 0)
    flops = 6 * scores
    if isinstance(call.args.get("attn_mask", call.args.get("attn_bias")), torch.Tensor):
        flops += scores
    if call.args.get("dropout_p", 0.0):
        flops += 2 * scores
    return Cost(macs=fc.sdpa_flop_count(q.shape, k.shape, v.shape) // 2, flops=flops)


def _sdpa_backward(call: Call) -> Cost:
    grad_out = call.pos[0]
    q, k, v, scores = _attention_shapes(call, 1)
    macs = fc.sdpa_backward_flop_count(grad_out.shape, q.shape, k.shape, v.shape) // 2
    return Cost(macs=macs, flops=6 * scores)


def _lstm(call: Call) -> Cost:
    backward = call.name.endswith("_backward")
    x = call.args["input"]
    w_ih = call.args["weight1" if backward else "weight0"]
    hidden = int(call.args["hidden_size"])
    gates = w_ih.shape[0] // hidden
    if gates != 4:
        raise ValueError(f"expected an LSTM (4 gates), got {gates} gates")
    steps = numel(x) // x.shape[-1]  # batch x time
    macs = steps * gates * hidden * (x.shape[-1] + hidden)
    per_unit = 30 if call.args["has_biases"] else 22
    return Cost(macs=2 * macs if backward else macs, flops=steps * hidden * per_unit)


def _unpack(packed: Any) -> tuple[Any, Any]:
    weight, bias = packed.unpack()
    return weight, bias


def _qlinear(call: Call) -> Cost:
    x, packed = call.pos[0], call.pos[1]
    weight, bias = _unpack(packed)
    out = call.out_numel()
    flops = out if bias is not None else 0
    if call.name.startswith("quantized.linear_relu"):
        flops += out
    mac_dtype = "int8"
    if call.name.endswith("_fp16"):
        mac_dtype = "float16"
    elif call.name.endswith("_dynamic"):
        flops += 3 * numel(x) + out
    return Cost(macs=out * weight.shape[1], flops=flops, mac_dtype=mac_dtype, weight=weight)


def _qconv(call: Call) -> Cost:
    x, packed = call.pos[0], call.pos[1]
    weight, bias = _unpack(packed)
    transposed = bool(packed.transpose())
    macs = (numel(x) if transposed else call.out_numel()) * prod(weight.shape[1:])
    out = call.out_numel()
    flops = out if bias is not None else 0
    if call.name.endswith("_relu"):
        flops += out
    return Cost(macs=macs, flops=flops, mac_dtype="int8", weight=weight)


def _qelementwise(call: Call) -> Cost:
    out = call.out_numel()
    return Cost(flops=2 * out if call.name.endswith("_relu") else out)


def _quantize(call: Call) -> Cost:
    x = call.pos[0]
    per_element = 3 if call.name.endswith("_dynamic") else 2
    return Cost(flops=per_element * numel(x))


_QLINEAR = [
    "quantized.linear",
    "quantized.linear_relu",
    "quantized.linear_dynamic",
    "quantized.linear_relu_dynamic",
    "quantized.linear_dynamic_fp16",
    "quantized.linear_relu_dynamic_fp16",
]
_QCONV = [
    f"quantized.{kind}{d}d{suffix}"
    for kind in ("conv", "conv_transpose")
    for d in (1, 2, 3)
    for suffix in (("", "_relu") if kind == "conv" else ("",))
]

_MM_ARGS = ("mat2", "self")
_CONV_OPS = (
    "aten.convolution",
    "aten._convolution",
    "aten.convolution_overrideable",
    "aten._slow_conv2d_forward",
    "aten.slow_conv3d_forward",
    "aten._conv_depthwise2d",
    "aten.mkldnn_convolution",
    "aten.cudnn_convolution",
    "aten.cudnn_convolution_transpose",
    "aten.slow_conv_transpose2d",
    "aten.slow_conv_transpose3d",
)
_SDPA = (
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_fused_attention_overrideable",
)

RULES: list[Rule] = [
    Rule(
        ("aten.mm",),
        "matmul",
        "MACs m·k·n for (m×k)@(k×n); a sparse operand (CSR, CSC, COO): MACs = its stored "
        "elements × the other operand's free dimension",
        _mm,
        _MM_ARGS,
    ),
    Rule(
        ("aten.addmm", "aten._sparse_addmm"),
        "matmul",
        "MACs m·k·n (sparse operand: as mm); + m·n FLOPs to add `self` (the bias of "
        "nn.Linear) unless beta = 0; + m·n per non-unit alpha or beta",
        _addmm,
        ("mat2", "mat1"),
    ),
    Rule(("aten.bmm",), "matmul", "MACs b·m·k·n for (b×m×k)@(b×k×n)", _bmm, _MM_ARGS),
    Rule(
        ("aten.baddbmm",),
        "matmul",
        "MACs b·m·k·n; + b·m·n FLOPs to add `self` unless beta = 0; + b·m·n per non-unit "
        "alpha or beta",
        _baddbmm,
        ("batch2", "batch1"),
    ),
    Rule(("aten.mv",), "matmul", "MACs m·k for (m×k)@(k)", _mv, ("self",)),
    Rule(
        ("aten.addmv",),
        "matmul",
        "MACs m·k; + m FLOPs to add `self` (as addmm)",
        _addmv,
        ("mat",),
    ),
    Rule(("aten.dot", "aten.vdot"), "matmul", "MACs k for two k-vectors", _dot),
    Rule(
        _CONV_OPS,
        "convolution",
        "MACs = output elements × (C_in/groups) × kernel elements (transposed: input "
        "elements × (C_out/groups) × kernel elements), any number of spatial dims; every "
        "kernel position counts, also over padding; + 1 FLOP per output element for the bias",
        _conv,
        ("weight",),
    ),
    Rule(
        ("aten.convolution_backward",),
        "convolution",
        "MACs = forward MACs for the input gradient + forward MACs for the weight gradient "
        "(each only when requested by output_mask); + 1 FLOP per grad_output element for the "
        "bias gradient; exact for groups (FlopCounterMode multiplies the weight gradient by "
        "groups)",
        _conv_backward,
        ("weight",),
    ),
    Rule(
        _SDPA,
        "attention",
        "MACs b·h·s_q·s_k·(d_qk + d_v) (QKᵀ and PV, causal masks not discounted); + per "
        "score element: 1 scale + 5 softmax, + 1 with a mask/bias, + 2 with dropout",
        _sdpa,
    ),
    Rule(
        tuple(f"{op}_backward" for op in _SDPA),
        "attention",
        "MACs b·h·s_q·s_k·(3·d_qk + 2·d_v) (recomputed QKᵀ, dP, dV, dQ, dK as in "
        "FlopCounterMode); + 6 FLOPs per score element (scale, softmax recompute and backward)",
        _sdpa_backward,
    ),
    Rule(
        ("aten.mkldnn_rnn_layer",),
        "recurrent",
        "LSTM layer (CPU kernel): MACs = batch·time·4H·(I + H); + per hidden unit and step: "
        "4 gate sums, 8 bias adds (when biases), 3 sigmoids (12), 2 tanh, 3 for c = f·c + i·g, "
        "1 for h = o·tanh(c): 30 (22 without biases); sparse weights are not discounted",
        _lstm,
    ),
    Rule(
        ("aten.mkldnn_rnn_layer_backward",),
        "recurrent",
        "2 × the forward MACs (data and weight gradients) + 30 (22) FLOPs per hidden unit and "
        "step for the gate derivatives",
        _lstm,
    ),
    Rule(
        tuple(_QLINEAR),
        "quantized",
        "integer MACs (labelled int8; float16 for *_fp16) = output elements × in_features, "
        "weight unpacked from the packed params; + 1 FLOP per output element for the bias and "
        "for a fused ReLU; dynamic: + 3 per input element (range, scale, round) and 1 per "
        "output element (rescale); requantisation inside static kernels is not counted",
        _qlinear,
    ),
    Rule(
        tuple(_QCONV),
        "quantized",
        "integer MACs (int8) by the convolution formula on the unpacked weight; + 1 FLOP per "
        "output element for the bias and for a fused ReLU",
        _qconv,
    ),
    Rule(
        (
            "quantized.add",
            "quantized.add_relu",
            "quantized.mul",
            "quantized.mul_relu",
            "quantized.add_scalar",
            "quantized.mul_scalar",
        ),
        "quantized",
        "1 per output element (+1 for a fused ReLU)",
        _qelementwise,
    ),
    Rule(
        (
            "aten.quantize_per_tensor",
            "aten.quantize_per_channel",
            "aten.quantize_per_tensor_dynamic",
            "aten.dequantize",
        ),
        "quantized",
        "2 per element (scale, round or shift); dynamic: 3 (adds the range scan)",
        _quantize,
    ),
]
