"""Tiny data sets and trained models shared by the reduce tests (each builds in < 1 s)."""

import functools

import pytest
import torch

from frugalml.train import TrainData, fit, mlp, small_cnn


def _blobs(n: int, shape: tuple[int, ...], n_classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(n_classes, *shape, generator=g)
    y = torch.arange(n) % n_classes
    X = centres[y] + 0.7 * torch.randn(n, *shape, generator=g)
    return X, y


@pytest.fixture(scope="session")
def vec_data() -> TrainData:
    X, y = _blobs(300, (16,), 3, seed=0)
    return TrainData(
        X[:240],
        y[:240],
        X[240:],
        y[240:],
        make_model=functools.partial(mlp, 16, 32, 3, 2),
        epochs=6,
        lr=1e-2,
        batch_size=32,
    )


@pytest.fixture(scope="session")
def img_data() -> TrainData:
    X, y = _blobs(200, (1, 8, 8), 3, seed=1)
    return TrainData(
        X[:160],
        y[:160],
        X[160:],
        y[160:],
        make_model=functools.partial(small_cnn, 1, 3, (8, 16, 16)),
        epochs=3,
        lr=1e-2,
        batch_size=32,
    )


@pytest.fixture(scope="session")
def _trained_mlp(vec_data) -> torch.nn.Module:
    torch.manual_seed(0)
    model = vec_data.make_model()
    fit(model, vec_data)
    return model


@pytest.fixture(scope="session")
def _trained_cnn(img_data) -> torch.nn.Module:
    torch.manual_seed(0)
    model = img_data.make_model()
    fit(model, img_data)
    return model


@pytest.fixture
def trained_mlp(_trained_mlp) -> torch.nn.Module:
    """A trained 16-32-32-3 MLP (a fresh copy per test)."""
    import copy

    return copy.deepcopy(_trained_mlp)


@pytest.fixture
def trained_cnn(_trained_cnn) -> torch.nn.Module:
    """A trained 3-block CNN on 1x8x8 inputs (a fresh copy per test)."""
    import copy

    return copy.deepcopy(_trained_cnn)


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}
