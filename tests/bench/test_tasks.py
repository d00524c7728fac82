from __future__ import annotations

import numpy as np
import pytest

from frugalml.bench import TASKS, get_task


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "breast-cancer-mlp", "iris-mlp"])
def test_builtin_task_split_is_fixed_and_disjoint(name):
    task = get_task(name)
    a, b = task.split(), task.split()
    assert np.array_equal(a.X_test, b.X_test) and np.array_equal(a.y_train, b.y_train)
    n = len(a.y_train) + len(a.y_val) + len(a.y_test)
    assert len(a.y_test) == pytest.approx(0.25 * n, abs=2)
    assert a.X_train.shape[1:] == task.input_shape
    # standardised on the training part only
    assert np.allclose(a.X_train.reshape(len(a.X_train), -1).mean(0), 0, atol=1e-4)


def test_model_factory_matches_input_and_classes():
    import torch

    for task in TASKS.values():
        data, X_test, y_test = task.train_data(0)
        out = task.make_model()(X_test[:3])
        assert out.shape == (3, data.n_classes)
        small = task.make_model(width=0.25)
        assert sum(p.numel() for p in small.parameters()) < sum(
            p.numel() for p in task.make_model().parameters()
        )
        assert y_test.dtype == torch.int64
