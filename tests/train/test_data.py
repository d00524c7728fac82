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
