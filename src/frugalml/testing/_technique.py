"""The contract every technique follows, as a test suite plugin authors subclass.

In the shape of Optuna's storage test case and scikit-learn's ``parametrize_with_checks``::

    from frugalml.testing import TechniqueContract

    class TestMyPrune(TechniqueContract):
        def make_technique(self):
            return MyPrune(fine_tune_epochs=1)   # fast, and not deciding on measured energy

pytest then runs every ``test_*`` method below on it. The model and data are tiny and
chosen from the technique's declarations (``needs``): a small CNN for techniques that work
on convolutions, a small MLP otherwise, many classes for ``task="many-class"``, a source
task for ``task="transfer-target"``. Both models are plain ``nn.Module`` classes with their
own ``forward`` (not ``nn.Sequential``), so a technique that needs the model's structure is
tested on a model as users write them. Override ``make_model`` / ``make_data`` to use
others.

This module imports torch; ``frugalml.testing`` loads it on first use.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from frugalml.errors import InputError
from frugalml.reduce.base import KINDS, Technique
from frugalml.reduce.needs import PURPOSES, TARGETS, Needs
from frugalml.train.data import TrainData
from frugalml.train.loop import fit

__all__ = ["ContractCNN", "ContractMLP", "CountingDataset", "TechniqueContract", "contract_data"]

N_TRAIN, N_VAL, MANY_CLASSES = 48, 24, 40


class ContractMLP(nn.Module):
    """A two-hidden-layer MLP written as users write them (named layers, own ``forward``).

    Example:
        >>> ContractMLP(4, 3)(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, in_features: int = 8, n_out: int = 3, width: float = 1.0) -> None:
        super().__init__()
        h = max(1, round(16 * width))
        self.fc1, self.act1 = nn.Linear(in_features, h), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(h, h), nn.ReLU()
        self.out = nn.Linear(h, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))


class ContractCNN(nn.Module):
    """A three-convolution CNN on 1x8x8 images written as users write them.

    Example:
        >>> ContractCNN(3)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 3])
    """

    def __init__(self, n_out: int = 3, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (8, 16, 16))
        self.stem = nn.Conv2d(1, c1, 3, padding=1)
        self.stem_norm, self.stem_act = nn.BatchNorm2d(c1), nn.ReLU()
        self.block = nn.Sequential(
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.last, self.last_act = nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c3, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_act(self.stem_norm(self.stem(x)))
        x = self.last_act(self.last(self.block(x)))
        return self.head(torch.flatten(self.pool(x), 1))


class CountingDataset(Dataset):
    """A map-style dataset over tensors that counts the samples read (proves streaming)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y, self.reads = X, y, 0

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        return self.X[i], self.y[i]


def contract_data(
    needs: Needs, *, loader: bool = False, regression: bool = False, seed: int = 0
) -> TrainData:
    """Tiny separable data (and a model factory) fitting ``needs``.

    Args:
        needs: the technique's declarations (image data for conv techniques, many classes
            for many-class ones, a source task for transfer targets).
        loader: stream it from ``DataLoader``\\ s over :class:`CountingDataset`\\ s.
        regression: float targets of shape ``(n, 1)`` with an MSE loss.
        seed: data generator seed.
    """
    image = "conv" in needs.model or needs.stage_layer == "Conv2d"
    n_classes = MANY_CLASSES if needs.task == "many-class" else 3
    shape = (1, 8, 8) if image else (8,)
    factory = (
        functools.partial(ContractCNN, n_classes if not regression else 1)
        if image
        else functools.partial(ContractMLP, 8, n_classes if not regression else 1)
    )
    X, y = _blobs(N_TRAIN + N_VAL, shape, n_classes, seed, regression)
    recipe: dict[str, Any] = dict(make_model=factory, epochs=2, lr=1e-2, batch_size=16, seed=0)
    if regression:
        recipe["loss"] = nn.functional.mse_loss
    if needs.task == "transfer-target":
        Xs, ys = _blobs(N_TRAIN + N_VAL, shape, 2, seed + 1, False)
        recipe["source"] = _build(Xs, ys, loader, {**recipe, "seed": 1})
        from frugalml.reduce.transfer import TransferData

        return _build(X, y, loader, recipe, TransferData)
    return _build(X, y, loader, recipe)


def _blobs(
    n: int, shape: tuple[int, ...], n_classes: int, seed: int, regression: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(n_classes, *shape, generator=g)
    y = torch.arange(n) % n_classes
    X = centres[y] + 0.5 * torch.randn(n, *shape, generator=g)
    if regression:
        return X, X.flatten(1).mean(dim=1, keepdim=True)
    return X, y


def _build(
    X: torch.Tensor, y: torch.Tensor, loader: bool, recipe: dict[str, Any], cls: Any = TrainData
) -> Any:
    t, v = slice(0, N_TRAIN), slice(N_TRAIN, None)
    if not loader:
        return cls(X[t], y[t], X[v], y[v], **recipe)
    train = DataLoader(CountingDataset(X[t], y[t]), batch_size=recipe["batch_size"], shuffle=True)
    return cls.from_loader(train, val=TensorDataset(X[v], y[v]), **recipe)


class _Nonsense:
    """A parameter value no technique accepts."""

    def __repr__(self) -> str:
        return "<nonsense>"


class TechniqueContract:
    """The technique contract: subclass it and implement :meth:`make_technique`.

    Checks: the declarations (name, kind, needs, purpose) are valid; ``get_params`` /
    ``set_params`` round-trip; ``apply`` leaves its input model untouched and returns a
    model in eval mode with the input's output shape; learned attributes end in ``_`` and
    parameters are not changed by ``apply``; the same seed gives the same result; every bad
    parameter value fails with one line naming the parameter, before any work; data that
    lacks what ``needs`` declares fails in one line; it works from a ``DataLoader``
    (streamed); and on regression targets when it declares them.

    The checks that only read the result of an ``apply`` share one (made once per
    technique configuration and kept for the session).
    """

    _applied: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def make_technique(self) -> Technique:
        """The technique under test, with fast settings whose result does not depend on
        measured energy or time (e.g. fixed epochs)."""
        raise NotImplementedError("subclasses of TechniqueContract implement make_technique()")

    def make_data(self, technique: Technique, **kwargs: Any) -> TrainData:
        """The data for ``technique`` (see :func:`contract_data` for ``kwargs``)."""
        return contract_data(technique.needs, **kwargs)

    def make_model(self, technique: Technique, data: TrainData) -> nn.Module:
        """A model ``technique.apply`` takes: fresh for ``kind == "train"``, trained for
        ``"compress"``."""
        torch.manual_seed(0)
        assert data.make_model is not None
        model = data.make_model()
        if technique.kind == "compress":
            fit(model, data)
        return model

    def _first_apply(self) -> tuple[Technique, TrainData, nn.Module, Any, nn.Module]:
        """The technique after one apply, its data, its input model, a snapshot of that model
        taken before, and the result."""
        t = self.make_technique()
        key = f"{type(self).__module__}.{type(self).__qualname__}:{t!r}"
        if key not in TechniqueContract._applied:
            data = self.make_data(t)
            model = self.make_model(t, data)
            before = _snapshot(model)
            TechniqueContract._applied[key] = (t, data, model, before, t.apply(model, data))
        return TechniqueContract._applied[key]  # type: ignore[return-value]

    # --- the checks ---------------------------------------------------------------------------

    def test_declarations(self) -> None:
        t = self.make_technique()
        cls = type(t)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.name), cls.name
        assert cls.kind in KINDS, cls.kind
        assert isinstance(cls.needs, Needs)
        assert cls.purpose and set(cls.purpose) <= set(PURPOSES), cls.purpose
        assert set(cls.needs.targets) <= set(TARGETS)

    def test_get_set_params_round_trip(self) -> None:
        t = self.make_technique()
        params = t.get_params()
        assert set(vars(t)) == set(params), "__init__ must only store its parameters"
        again = type(t)(**params)
        assert again.get_params() == params and repr(again) == repr(t)
        assert type(t)().set_params(**params).get_params() == params

    def test_apply_leaves_the_input_untouched(self) -> None:
        _, data, model, before, reduced = self._first_apply()
        assert _unchanged(before, _snapshot(model)), "apply changed its input model"
        assert reduced is not model and not reduced.training
        X = data.example_input(4)
        with torch.no_grad():
            out, expected = reduced(X), copy.deepcopy(model).eval()(X)
        assert out.shape == expected.shape and out.dtype == torch.float32

    def test_learned_attributes_end_in_underscore(self) -> None:
        params = self.make_technique().get_params()
        t = self._first_apply()[0]
        public = [k for k in set(vars(t)) - set(params) if not k.startswith("_")]
        assert public and all(k.endswith("_") for k in public), sorted(public)
        assert t.get_params() == params, "apply changed a parameter"
        report = t.report()
        assert report and not any(k.endswith("_") for k in report)
        assert all(isinstance(v, int | float | str | list) for v in report.values())

    def test_same_seed_same_result(self) -> None:
        _, data, model, _, first = self._first_apply()
        second = self.make_technique().apply(copy.deepcopy(model), data)
        X = data.example_input(8)
        with torch.no_grad():
            assert torch.equal(first(X), second(X)), "two applies with the same seed differ"

    def test_bad_parameters_fail_in_one_line(self) -> None:
        _, data, model, _, _ = self._first_apply()
        for name in self.make_technique().get_params():
            t = self.make_technique().set_params(**{name: _Nonsense()})
            try:
                t.apply(model, data)
            except InputError as e:
                message = str(e)
                assert "\n" not in message and name in message, (name, message)
            else:
                raise AssertionError(f"{type(t).__name__}({name}=<nonsense>) was accepted")

    def test_data_it_lacks_fails_in_one_line(self) -> None:
        _, _, model, _, _ = self._first_apply()
        t = self.make_technique()
        if t.needs.data == "none":
            assert not t.apply(model, None).training
        else:
            _fails_in_one_line(lambda: t.apply(model, None), t.name)
        if "regression" not in t.needs.targets:
            regression = self.make_data(t, regression=True)
            _fails_in_one_line(lambda: t.apply(model, regression), "targets")

    def test_works_from_a_dataloader(self) -> None:
        t = self.make_technique()
        data = self.make_data(t, loader=True)
        assert data.X_train is None
        model = self._first_apply()[2]
        reduced = t.apply(model, data)
        assert data.loaders["train"].dataset.reads > 0
        X = data.example_input(4)
        with torch.no_grad():
            assert reduced(X).shape == copy.deepcopy(model).eval()(X).shape

    def test_regression_when_declared(self) -> None:
        t = self.make_technique()
        if "regression" not in t.needs.targets:
            return
        data = self.make_data(t, regression=True)
        assert data.target_kind == "regression"
        reduced = t.apply(self.make_model(t, data), data)
        with torch.no_grad():
            out = reduced(data.example_input(4))
        assert out.shape == (4, 1) and bool(torch.isfinite(out).all())


def _snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[Any]]:
    """The model's state (tensors) and its structure, modes and trainable flags."""
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [(n, type(m).__name__, m.training) for n, m in model.named_modules()]
        + [p.requires_grad for p in model.parameters()],
    )


def _unchanged(before: Any, after: Any) -> bool:
    (state_a, rest_a), (state_b, rest_b) = before, after
    return (
        rest_a == rest_b
        and state_a.keys() == state_b.keys()
        and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    )


def _fails_in_one_line(call: Any, needle: str) -> None:
    try:
        call()
    except InputError as e:
        assert "\n" not in str(e) and needle in str(e), str(e)
    else:
        raise AssertionError(f"expected an InputError mentioning {needle!r}")
