import copy
import math

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.profiler import profile
from frugalml.reduce.early_exit import EarlyExit, _exit_outputs, exit_assignment
from frugalml.train import mlp


@pytest.fixture(scope="module")
def trained(img_data):
    torch.manual_seed(0)
    t = EarlyExit(epochs=2)
    net = t.apply(img_data.make_model(), img_data)
    return t, net


def test_threshold_zero_equals_the_final_exit(trained, img_data):
    _, net = trained
    X = img_data.X_val
    pred, where = net.infer(X, 0.0)
    with torch.inference_mode():
        assert torch.equal(pred, net.exit_logits(X)[-1].argmax(dim=1))
    assert bool((where == len(net.exits)).all())


def test_threshold_infinity_leaves_at_the_first_exit(trained, img_data):
    _, net = trained
    X = img_data.X_val
    pred, where = net.infer(X, math.inf)
    with torch.inference_mode():
        first = net.exit_logits(X)[0].argmax(dim=1)
    assert bool((where == 0).all()) and torch.equal(pred, first)


def test_staged_inference_agrees_with_the_full_pass_sweep(trained, img_data):
    t, net = trained
    X, y = img_data.X_val, img_data.y_val
    threshold = t.threshold_curve_val_[len(t.threshold_curve_val_) // 2][0]
    pred, where = net.infer(X, threshold)
    row = t._sweep(_exit_outputs(net, [(X, y)]), [threshold])[0]
    assert row[1] == pytest.approx(float((pred == y).float().mean()))
    rates = torch.bincount(where, minlength=3).float() / len(y)
    assert row[3:] == pytest.approx(rates.tolist())


def test_exit_costs_come_from_the_profiler(trained, img_data):
    t, net = trained
    assert t.n_exits_ == 3
    assert t.exit_macs_ == sorted(t.exit_macs_) and t.exit_macs_[0] < t.macs_full_
    plain = copy.deepcopy(net)
    plain.threshold = None  # the plain network: every sample to the final exit
    assert t.macs_full_ == profile(plain, (img_data.X_val[:1],)).macs
    # leaving at the last exit also paid for the side exits
    assert t.exit_macs_[-1] > t.macs_full_


def test_threshold_rule_on_validation(trained):
    t, _ = trained
    floor = t.val_accuracy_final_exit_ - t.max_val_drop_pt / 100
    assert t.val_accuracy_ >= floor - 1e-9
    ok = [r for r in t.threshold_curve_val_ if r[1] >= floor - 1e-9]
    assert t.val_mean_macs_ == min(r[2] for r in ok)
    assert "fewest mean MACs" in t.threshold_rule_


def test_calling_the_net_is_early_exit_inference(trained, img_data):
    t, net = trained
    X = img_data.X_val
    assert net.threshold == t.threshold_ and not net.training
    with torch.inference_mode():
        assert torch.equal(net(X).argmax(dim=1), net.infer(X, t.threshold_)[0])
    net.train()
    assert net(X).shape == (len(X), 3)  # training mode: the plain network
    net.eval()


def test_bench_evaluate_gives_mean_macs_and_exit_rates(trained, img_data):
    t, net = trained
    out = t.bench_evaluate(net, img_data.X_val, img_data.y_val)
    assert set(out) == {"macs", "flops_effective"}
    assert sum(t.exit_rates_test_) == pytest.approx(1.0)
    expected = sum(r * m for r, m in zip(t.exit_rates_test_, t.exit_macs_))
    assert out["macs"] == pytest.approx(expected)
    report = t.report()
    assert report["exit_rates_test"] == t.exit_rates_test_
    assert len(report["threshold_curve_test"]) == len(report["threshold_curve_val"])


def test_infinite_threshold_takes_every_sample_at_the_first_exit(img_data):
    t = EarlyExit(threshold=math.inf, epochs=1)
    net = t.apply(img_data.make_model(), img_data)
    out = t.bench_evaluate(net, img_data.X_val, img_data.y_val)
    assert t.exit_rates_test_[0] == 1.0 and out["macs"] == t.exit_macs_[0]
    assert t.threshold_rule_ == "given"


def test_exit_assignment_takes_the_first_confident_exit():
    ent = torch.tensor([[0.9, 0.1, 0.9], [0.1, 0.1, 0.9]])
    assert exit_assignment(ent, 0.5).tolist() == [1, 0, 2]
    assert exit_assignment(ent, 0.0).tolist() == [2, 2, 2]


def test_bad_inputs(img_data, vec_data):
    with pytest.raises(InputError, match="exits_after"):
        EarlyExit(exits_after=[2]).apply(img_data.make_model(), img_data)
    with pytest.raises(InputError, match="loss_weights"):
        EarlyExit(loss_weights=[1.0]).apply(img_data.make_model(), img_data)
    with pytest.raises(InputError, match="threshold"):
        EarlyExit(threshold=-1).apply(img_data.make_model(), img_data)
    with pytest.raises(TechniqueError, match="early-exit needs at least 2 stages"):
        EarlyExit().apply(mlp(16, 8, 3), vec_data)
