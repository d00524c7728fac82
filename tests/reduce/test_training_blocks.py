import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.profiler import profile
from frugalml.reduce import count_params
from frugalml.reduce.blocks import Depthwise, Fire, depthwise_separable, fire_modules
from frugalml.reduce.layers import FireModule
from frugalml.reduce.sharing import WeightSharing, share_weights
from frugalml.train import evaluate, mlp, small_cnn

X = torch.randn(2, 1, 8, 8)


def macs(model):
    return profile(model, (X[:1],)).macs


def test_depthwise_separable_replaces_all_but_the_first_conv():
    model = small_cnn(1, 10, (32, 64, 128))
    before = macs(model)
    assert depthwise_separable(model) == 2
    assert isinstance(model[0], torch.nn.Conv2d) and model[0].in_channels == 1
    dw = model[3][0]
    assert dw.groups == dw.in_channels == 32 and model[3][3].kernel_size == (1, 1)
    assert model(X).shape == (2, 10)
    assert before / macs(model) >= 3


def test_fire_modules_keep_the_width():
    model = small_cnn(1, 10, (32, 64, 128))
    assert fire_modules(model, squeeze_ratio=0.25, pct_3x3=0.5) == 2
    fire = model[3]
    assert isinstance(fire, FireModule)
    assert fire.squeeze.out_channels == 16 and fire.expand3.out_channels == 32
    assert fire(torch.randn(2, 32, 8, 8)).shape == (2, 64, 8, 8)
    assert model(X).shape == (2, 10)


def test_weight_sharing_reuses_one_conv_across_depth():
    model = small_cnn(1, 10, (32, 64, 128))
    shared = share_weights(model, X[:1], channels=32)
    convs = [m for m in shared if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and convs[1] is convs[2]
    norms = [m for m in shared if isinstance(m, torch.nn.BatchNorm2d)]
    assert len({id(n) for n in norms}) == 3  # one BatchNorm per depth
    expected = 9 * 32 + 9 * 32 * 32 + 3 * 2 * 32 + 32 * 10 + 10
    assert count_params(shared) == expected
    assert shared(X).shape == (2, 10)


def test_weight_sharing_can_add_depth():
    shared = share_weights(small_cnn(1, 10, (8, 16, 32)), X[:1], channels=8, repeats=4)
    convs = {id(m) for m in shared.modules() if isinstance(m, torch.nn.Conv2d)}
    assert len(convs) == 2  # the stem and the one shared convolution
    calls = []
    shared_conv = shared[3]
    shared_conv.register_forward_hook(lambda *_: calls.append(1))
    assert shared(X).shape == (2, 10) and len(calls) == 4
    with pytest.raises(InputError, match="repeats"):
        share_weights(small_cnn(1, 10, (8, 16, 32)), X[:1], repeats=1)
    with pytest.raises(InputError, match="at least 2 Conv2d"):
        share_weights(mlp(4, 8, 2), torch.zeros(1, 4))


def test_weight_sharing_refuses_a_model_it_would_grow(img_data):
    two_convs = small_cnn(1, 3, (16, 32))  # sharing one 32-channel conv would double it
    grown = count_params(share_weights(two_convs, X[:1]))
    with pytest.raises(TechniqueError) as err:
        WeightSharing(epochs=0).apply(two_convs, img_data)
    assert f"({count_params(two_convs):,} -> {grown:,})" in str(err.value)
    assert "would not reduce the stored parameters" in str(err.value)
    assert grown > 1.9 * count_params(two_convs)


@pytest.mark.parametrize(
    "technique", [Depthwise(epochs=8), Fire(epochs=8), WeightSharing(channels=8, epochs=8)]
)
def test_techniques_train_the_variant(technique, img_data):
    torch.manual_seed(0)
    model = img_data.make_model()
    variant = technique.apply(model, img_data)
    assert technique.epochs_run_ == 8 and technique.replaced_convs_ >= 1
    assert technique.macs_before_ == macs(model)
    assert technique.macs_after_ == macs(variant)
    assert technique.params_after_ == count_params(variant)
    assert evaluate(variant, img_data.X_val, img_data.y_val) > 0.5
    assert {"macs_reduction", "param_reduction"} <= set(technique.report())


def test_depthwise_cuts_macs_and_sharing_cuts_params(img_data):
    d = Depthwise(epochs=0)
    d.apply(img_data.make_model(), img_data)
    assert d.macs_reduction_ > 1.5
    w = WeightSharing(epochs=0)
    w.apply(img_data.make_model(), img_data)
    assert w.param_reduction_ > 1 and w.channels_ == 16


def test_models_without_convs_fail_clearly(vec_data):
    with pytest.raises(TechniqueError, match="depthwise needs k x k Conv2d layers"):
        Depthwise().apply(mlp(16, 8, 3), vec_data)
    with pytest.raises(TechniqueError, match="weight-sharing needs k x k Conv2d layers"):
        WeightSharing().apply(mlp(16, 8, 3), vec_data)


def test_bad_parameters(img_data):
    with pytest.raises(InputError, match="squeeze_ratio"):
        Fire(squeeze_ratio=0).apply(img_data.make_model(), img_data)
    with pytest.raises(InputError, match="channels"):
        WeightSharing(channels=0).apply(img_data.make_model(), img_data)
