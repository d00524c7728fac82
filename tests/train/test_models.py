import pickle

import pytest
import torch

from frugalml.errors import InputError
from frugalml.train import DtypeWrapper, mlp, small_cnn


def _n(model):
    return sum(p.numel() for p in model.parameters())


def test_mlp_layout_and_params():
    m = mlp(64, 256, 10, depth=2)
    assert _n(m) == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert m(torch.zeros(3, 64)).shape == (3, 10)


def test_mlp_width_scales_hidden_units():
    assert mlp(64, 256, 10, width=0.25)[0].out_features == 64
    assert _n(mlp(64, 256, 10)) / _n(mlp(64, 256, 10, width=0.25)) >= 4


def test_mlp_depth_zero_is_linear_and_batchnorm_option():
    assert len(mlp(4, 8, 2, depth=0)) == 1
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in mlp(4, 8, 2, batchnorm=True))


def test_small_cnn_on_digit_images():
    m = small_cnn(1, 10, (16, 32, 64))
    assert m(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    convs = [x for x in m if isinstance(x, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64]
    half = small_cnn(1, 10, (16, 32, 64), width=0.5)
    assert [c.out_channels for c in half if isinstance(c, torch.nn.Conv2d)] == [8, 16, 32]


@pytest.mark.parametrize("bad", [{"width": 0}, {"channels": ()}])
def test_small_cnn_bad_args(bad):
    with pytest.raises(InputError):
        small_cnn(**bad)


def test_mlp_bad_args():
    with pytest.raises(InputError, match="hidden"):
        mlp(4, 0, 2)


def test_dtype_wrapper_pickles():
    m = DtypeWrapper(mlp(4, 8, 2).to(torch.float16), torch.float16)
    again = pickle.loads(pickle.dumps(m))
    assert again(torch.zeros(1, 4)).dtype == torch.float32
