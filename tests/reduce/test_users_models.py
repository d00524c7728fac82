"""The structure-hungry techniques on models as users write them (own classes, residual
blocks), from DataLoaders: traced with torch.fx, or cut where the user names the stages.

Every technique also runs on the contract's non-Sequential models from a DataLoader
(``test_contract.py``); here the models are this file's own and need ``stages=``.
"""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from frugalml.errors import TechniqueError
from frugalml.reduce import count_params, get_technique
from frugalml.train import TrainData, fit, score


class ResBlock(nn.Module):
    def __init__(self, width: int, conv: bool = False) -> None:
        super().__init__()
        make = (
            (lambda: nn.Conv2d(width, width, 3, padding=1))
            if conv
            else (lambda: nn.Linear(width, width))
        )
        self.a, self.b, self.act = make(), make(), nn.ReLU()

    def forward(self, x):
        return self.act(x + self.b(self.act(self.a(x))))  # the skip spans both layers


class ResMLP(nn.Module):
    def __init__(self, n_in: int = 8, n_out: int = 3, width: float = 1.0) -> None:
        super().__init__()
        h = max(2, round(16 * width))
        self.stem = nn.Linear(n_in, h)
        self.blocks = nn.ModuleList([ResBlock(h), ResBlock(h)])
        self.head = nn.Linear(h, n_out)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        for block in self.blocks:
            h = block(h)
        return self.head(h)


class ResCNN(nn.Module):
    def __init__(self, n_out: int = 3, width: float = 1.0) -> None:
        super().__init__()
        c = max(2, round(8 * width))
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.layer1 = ResBlock(c, conv=True)
        self.layer2 = ResBlock(c, conv=True)
        self.head = nn.Linear(c, n_out)

    def forward(self, x):
        h = self.layer2(self.layer1(self.stem(x)))
        return self.head(h.mean(dim=(2, 3)))


MLP_STAGES = ["stem", "blocks.0", "blocks.1", "head"]
CNN_STAGES = ["stem", "layer1", "layer2"]


def loaders(shape, factory, n_classes=3, seed=0, **recipe):
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(n_classes, *shape, generator=g)
    y = torch.arange(96) % n_classes
    X = centres[y] + 0.5 * torch.randn(96, *shape, generator=g)
    train = DataLoader(TensorDataset(X[:64], y[:64]), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(X[64:], y[64:]), batch_size=16)
    defaults = dict(make_model=factory, epochs=3, lr=1e-2, seed=0)
    return TrainData.from_loader(train, val=val, **{**defaults, **recipe})


@pytest.fixture(scope="module")
def mlp_data():
    return loaders((8,), ResMLP)


@pytest.fixture(scope="module")
def cnn_data():
    return loaders((1, 8, 8), ResCNN, epochs=2)


def test_without_stages_the_error_says_what_to_name(mlp_data):
    with pytest.raises(TechniqueError) as err:
        get_technique("progressive").apply(ResMLP(), mlp_data)
    msg = str(err.value)
    assert msg.startswith("progressive needs at least 2 stages in the model (ResMLP: 2 tensors")
    assert "stages=['stem', 'blocks.0.a', 'blocks.0.b', ...]" in msg and "\n" not in msg


def test_progressive_grows_named_stages(mlp_data):
    t = get_technique("progressive", stages=MLP_STAGES, epochs_per_stage=2)
    model = t.apply(ResMLP(), mlp_data)
    assert t.depth_ == 3 and t.epochs_run_ == 6 and isinstance(model, ResMLP)
    assert score(model, mlp_data, "val") > 0.6


def test_transfer_from_the_users_own_base(mlp_data):
    torch.manual_seed(0)
    base = ResMLP(n_out=2)
    fit(base, loaders((8,), ResMLP, n_classes=2, seed=1))
    t = get_technique("transfer", stages=MLP_STAGES, epochs=3)
    model = t.apply(base, mlp_data)  # plain data: the model is the trained base
    assert not t.base_trained_in_apply_ and t.feature_layer_ in (1, 2, 3)
    assert model(mlp_data.example_input(2)).shape == (2, 3)
    last = get_technique("transfer", feature_layer=-1, epochs=3).apply(base, mlp_data)
    assert isinstance(last, ResMLP) and last.head.out_features == 3


def test_early_exit_on_named_stages(cnn_data):
    with pytest.raises(TechniqueError, match="stages in the model"):
        get_technique("early-exit").apply(ResCNN(), cnn_data)
    t = get_technique("early-exit", stages=CNN_STAGES, epochs=2)
    net = t.apply(ResCNN(), cnn_data)
    assert t.n_exits_ == 3 and len(t.exit_macs_) == 3
    X = cnn_data.example_input(8)
    with torch.inference_mode():
        assert torch.equal(net(X).argmax(dim=1), net.infer(X, t.threshold_)[0])


@pytest.mark.parametrize("name", ["depthwise", "fire", "weight-sharing"])
def test_conv_blocks_replace_the_users_convolutions(name, cnn_data):
    t = get_technique(name, epochs=1)
    model = ResCNN()
    out = t.apply(model, cnn_data)
    assert out(cnn_data.example_input(2)).shape == (2, 3)
    assert count_params(out) < count_params(model)


def test_a_model_torch_fx_cannot_trace_is_explained(mlp_data):
    class Branchy(ResMLP):
        def forward(self, x):
            return self.head(self.stem(x)) if x.sum() > 0 else self.head(-self.stem(x))

    with pytest.raises(TechniqueError, match=r"torch.fx cannot trace Branchy"):
        get_technique("progressive", stages=MLP_STAGES).apply(Branchy(), mlp_data)


def test_compression_says_why_eager_int8_cannot_run_a_residual_model(cnn_data):
    torch.manual_seed(0)
    model = ResCNN()
    fit(model, cnn_data, epochs=1)
    with pytest.raises(TechniqueError, match=r"^int8-static failed: the int8-static model"):
        get_technique("int8-static").apply(model, cnn_data)
    for name in ("magnitude-prune", "int8-dynamic", "weight-cluster"):
        params = {"fine_tune_epochs": 1} if name != "int8-dynamic" else {}
        out = get_technique(name, **params).apply(model, cnn_data)
        assert out(cnn_data.example_input(2)).shape == (2, 3)


def test_distill_into_a_narrower_copy_of_the_users_model(cnn_data):
    torch.manual_seed(0)
    teacher = ResCNN()
    fit(teacher, cnn_data, epochs=1)
    t = get_technique("distill", epochs=1)
    student = t.apply(teacher, cnn_data)  # make_model=ResCNN, called with width=0.25
    assert isinstance(student, ResCNN) and t.param_reduction_ > 4
