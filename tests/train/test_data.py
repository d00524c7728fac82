import numpy as np
import pytest
import torch

from frugalml.errors import InputError
from frugalml.train import TrainData


def _data(**kw):
    X = torch.randn(10, 3)
    y = torch.arange(10) % 3
    return TrainData(X[:8], y[:8], X[8:], y[8:], **kw)


def test_from_arrays_converts_dtypes():
    X = np.random.default_rng(0).random((12, 4))
    y = np.arange(12) % 2
    data = TrainData.from_arrays(X[:9], y[:9], X[9:], y[9:], epochs=3, lr=0.1)
    assert data.X_train.dtype == torch.float32
    assert data.y_val.dtype == torch.int64
    assert (data.epochs, data.lr) == (3, 0.1)
    assert data.input_shape == (4,)
    assert data.n_classes == 2


def test_length_mismatch_is_input_error():
    with pytest.raises(InputError, match="same length"):
        TrainData(
            torch.zeros(5, 2), torch.zeros(4).long(), torch.zeros(1, 2), torch.zeros(1).long()
        )


def test_float_labels_rejected_with_fix():
    with pytest.raises(InputError, match=r"\.long\(\)"):
        TrainData(torch.zeros(2, 2), torch.zeros(2), torch.zeros(1, 2), torch.zeros(1).long())


def test_shape_mismatch_between_splits():
    with pytest.raises(InputError, match="input shape"):
        TrainData(
            torch.zeros(2, 2), torch.zeros(2).long(), torch.zeros(1, 3), torch.zeros(1).long()
        )


@pytest.mark.parametrize(
    ("field", "value"), [("batch_size", 0), ("epochs", -1), ("lr", 0.0), ("optimizer", "lbfgs")]
)
def test_bad_recipe_values(field, value):
    with pytest.raises(InputError, match=field):
        _data(**{field: value})


def test_calibration_batches_stop_at_data_end():
    data = _data(batch_size=3)
    sizes = [len(b) for b in data.calibration_batches(10)]
    assert sizes == [3, 3, 2]
    assert torch.equal(data.example_input(2), data.X_train[:2])


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys, frugalml.train, frugalml.train.data, frugalml.train.loop; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- streamed data (TrainData.from_loader) -------------------------------------------------


class Counting(torch.utils.data.Dataset):
    def __init__(self, X, y):
        self.X, self.y, self.reads = X, y, 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i], self.y[i]


def _loader_data(**kw):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 4, generator=g)
    y = (X[:, 0] > 0).long()
    train = Counting(X[:32], y[:32])
    loader = torch.utils.data.DataLoader(train, batch_size=8, shuffle=True)
    return TrainData.from_loader(loader, val=Counting(X[32:], y[32:]), **kw), train


def test_from_loader_streams_without_copying():
    from frugalml.train import fit, mlp, score

    data, train = _loader_data(epochs=3)
    assert data.X_train is None and not data.in_memory
    assert data.input_shape == (4,) and data.n_classes == 2 and data.batch_size == 8
    before = train.reads
    fit(mlp(4, 8, 2), data)
    assert train.reads - before == 3 * 32  # every epoch read the dataset again
    assert 0.0 <= score(mlp(4, 8, 2), data, "val") <= 1.0


def test_from_loader_takes_datasets_and_wraps_them():
    X, y = torch.randn(20, 3), torch.arange(20) % 2
    ds = torch.utils.data.TensorDataset(X, y)
    data = TrainData.from_loader(ds, test=ds, batch_size=5)
    assert data.loaders["train"].batch_size == 5 and data.has("test") and not data.has("val")
    assert [len(x) for x, _ in data.batches("train")] == [5, 5, 5, 5]


def test_from_loader_bad_input_is_one_line():
    with pytest.raises(InputError, match="DataLoader or Dataset; got list"):
        TrainData.from_loader([1, 2, 3])
    X = torch.randn(6, 2)
    triples = torch.utils.data.TensorDataset(X, X, X)
    with pytest.raises(InputError, match=r"\(inputs, targets\) pairs; got a list of 3"):
        TrainData.from_loader(torch.utils.data.DataLoader(triples, batch_size=2))
    floats = torch.utils.data.TensorDataset(X, torch.randn(6))
    with pytest.raises(InputError, match="pass loss="):
        TrainData.from_loader(floats)


def test_regression_with_a_user_loss_and_metric():
    from frugalml.train import fit, score

    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 3, generator=g)
    y = X.sum(dim=1, keepdim=True)
    ds = torch.utils.data.TensorDataset(X, y)

    def mae(out, target):
        return -float((out - target).abs().mean())

    data = TrainData.from_loader(
        ds, val=ds, loss=torch.nn.functional.mse_loss, metric=mae, epochs=30, lr=5e-2, batch_size=8
    )
    assert data.target_kind == "regression"
    model = torch.nn.Linear(3, 1)
    before = score(model, data, "val")
    fit(model, data)
    assert score(model, data, "val") > before and score(model, data, "val") > -0.1
    arrays = TrainData.from_arrays(X.numpy(), y.numpy(), loss=torch.nn.functional.mse_loss)
    assert arrays.y_train.dtype == torch.float32 and arrays.metric_fn()(y, y) == 0.0


def test_subset_and_map_inputs_keep_streaming():
    data, _ = _loader_data()
    sub = data.subset(torch.tensor([0, 5, 9]))
    assert sub.n_samples("train") == 3 and sorted(len(x) for x, _ in sub.batches()) == [3]
    doubled = data.map_inputs(lambda x: 2 * x)
    x0, _ = next(doubled.batches("val"))
    x1, _ = next(data.batches("val"))
    assert torch.equal(x0, 2 * x1) and doubled.X_train is None
    plain = _data()
    assert torch.equal(plain.map_inputs(lambda x: x + 1).X_train, plain.X_train + 1)


def test_a_subset_needs_an_indexable_dataset():
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([(torch.zeros(2), torch.tensor(0))] * 4)

    data = TrainData.from_loader(torch.utils.data.DataLoader(Stream(), batch_size=2))
    with pytest.raises(InputError, match="map-style Dataset"):
        data.subset(torch.tensor([0]))
