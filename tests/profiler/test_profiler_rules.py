"""The rules table: coverage, unknown operators, single elementwise rules, docs in sync."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import frugalml  # noqa: E402
from frugalml.profiler import rules as rules_module  # noqa: E402
from frugalml.profiler.rules import lookup, rules, rules_markdown  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs" / "profile.md"


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _flops(fn, *inputs):
    return frugalml.profile(Fn(fn), tuple(inputs))


def test_every_rule_names_a_real_operator():
    for name in rules():
        namespace, op = name.split(".", 1)
        assert getattr(getattr(torch.ops, namespace), op) is not None, name


def test_every_rule_states_its_formula():
    for name, rule in rules().items():
        assert rule.formula and rule.category, name


def test_in_place_variant_shares_the_rule():
    assert lookup("aten.add_") is lookup("aten.add")
    assert lookup("aten.relu_") is lookup("aten.relu")
    assert lookup("aten.no_such_op") is None


def test_docs_table_matches_the_rules():
    assert rules_markdown() in DOCS.read_text(encoding="utf-8"), (
        "docs/profile.md is out of date: paste frugalml.profiler.rules.rules_markdown()"
    )


def test_unknown_operator_is_listed_never_counted_as_zero():
    def fn(x):
        return torch.sort(x).values * 2

    p = _flops(fn, torch.randn(4, 5))
    assert p.unknown_operators == {"aten.sort": 1}
    assert p.flops == 20  # the multiply still counts


def test_failing_rule_lists_the_operator(monkeypatch, caplog):
    def broken(call):
        raise ValueError("unexpected arguments")

    rule = lookup("aten.relu")
    monkeypatch.setitem(rules(), "aten.relu", rules_module.Rule(rule.ops, "x", "x", broken))
    with caplog.at_level(logging.WARNING):
        p = _flops(torch.relu, torch.randn(3))
    assert p.unknown_operators == {"aten.relu": 1}
    assert "aten.relu" in caplog.text


def test_zero_flop_operators_are_known():
    p = _flops(lambda x: x.view(2, 6).t().contiguous().clone(), torch.randn(3, 4))
    assert p.unknown_operators == {}
    assert p.flops == 0
    assert p.by_operator_calls["aten.clone"] >= 1


@pytest.mark.parametrize(
    ("fn", "per_element"),
    [
        (F.relu, 1),
        (torch.sigmoid, 4),
        (F.silu, 5),
        (F.gelu, 5),
        (lambda x: F.gelu(x, approximate="tanh"), 9),
        (lambda x: F.softmax(x, dim=-1), 5),
        (lambda x: F.log_softmax(x, dim=-1), 5),
        (torch.exp, 1),
        (lambda x: x.clamp(-1, 1), 2),
        (lambda x: x.clamp(min=0), 1),
        (F.hardswish, 5),
        (F.relu6, 2),
    ],
    ids=[
        "relu",
        "sigmoid",
        "silu",
        "gelu",
        "gelu-tanh",
        "softmax",
        "log_softmax",
        "exp",
        "clamp",
        "clamp-min",
        "hardswish",
        "relu6",
    ],
)
def test_elementwise_rules(fn, per_element):
    assert _flops(fn, torch.randn(3, 7)).flops == per_element * 21


def test_broadcast_counts_output_elements_and_alpha():
    assert _flops(torch.add, torch.randn(4, 1), torch.randn(1, 5)).flops == 20
    assert _flops(lambda a, b: torch.add(a, b, alpha=2), torch.randn(3), torch.randn(3)).flops == 6


def test_reductions_count_input_elements():
    assert _flops(lambda x: x.sum(dim=1), torch.randn(4, 6)).flops == 24
    assert _flops(lambda x: x.var(dim=1), torch.randn(4, 6)).flops == 4 * 24


def test_pooling_rules():
    x = torch.randn(1, 2, 6, 6)
    assert _flops(lambda t: F.max_pool2d(t, 3), x).flops == 2 * 2 * 2 * 9
    assert _flops(lambda t: F.avg_pool2d(t, 2, stride=1), x).flops == 2 * 5 * 5 * 4
    # adaptive 5 -> 2 windows are [0, 3) and [2, 5): 3 + 3 per dimension
    p = _flops(lambda t: F.adaptive_avg_pool2d(t, 2), torch.randn(1, 2, 5, 5))
    assert p.flops == 2 * 6 * 6


def test_normalisations():
    x = torch.randn(2, 4, 3, 3)
    n = x.numel()
    assert frugalml.profile(nn.GroupNorm(2, 4), x).flops == (4 + 2 + 2) * n
    assert frugalml.profile(nn.LayerNorm(9, elementwise_affine=False), x.view(2, 4, 9)).flops == (
        6 * n
    )
    assert frugalml.profile(nn.BatchNorm2d(4), x).flops == 4 * n  # eval: running stats


def test_losses():
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    p = _flops(F.cross_entropy, logits, target)
    assert p.flops == 5 * 20 + 4  # log_softmax + nll (one per target)
    assert _flops(F.mse_loss, torch.randn(6), torch.randn(6)).flops == 18


def test_interpolation():
    x = torch.randn(1, 1, 3, 3)
    assert _flops(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"), x).flops == 7 * 36
    assert _flops(lambda t: F.interpolate(t, scale_factor=2), x).flops == 0
