import dataclasses
import functools
import math

import numpy as np
import pytest

from frugalml.bench import ROW_KEYS, BenchConfig, run_bench
from frugalml.bench.tasks import Task, all_tasks, get_task
from frugalml.bench.tasks_extra import EXTRA_TASKS, zipf_data
from frugalml.reduce import REGISTRY
from frugalml.reduce.transfer import TransferData


def test_zipf_task_has_10k_classes_with_zipf_frequencies():
    task = get_task("zipf-10k")
    assert task.describe()["n_classes"] == 10_000
    _, y = zipf_data()
    counts = np.sort(np.bincount(y, minlength=10_000))[::-1]
    harmonic = sum(1 / r for r in range(1, 10_001))
    # the most frequent class holds 1 / H(10000) of the mass (about 10 %)
    assert counts[0] / len(y) == pytest.approx(1 / harmonic, rel=0.15)
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.35)
    data, X_test, _ = task.train_data(0)
    assert data.make_model()(X_test[:2]).shape == (2, 10_000)
    assert abs(float(data.X_train.mean())) < 1e-3  # standardised on its training split


def test_digits_pair_shares_the_source_normalisation():
    source, target = get_task("digits-0to4-mlp"), get_task("digits-5to9-mlp")
    s, t = source.split(), target.split()
    assert set(s.y_train) == set(t.y_train) == {0, 1, 2, 3, 4}
    assert abs(float(s.X_train.mean())) < 1e-4  # the source is centred on itself...
    assert abs(float(t.X_train.mean())) > 1e-3  # ...the target with the source's statistics
    data, _, _ = target.train_data(3)
    assert isinstance(data, TransferData) and data.source.seed == 3
    assert len(data.source.y_train) == len(s.y_train)
    assert target.describe()["source"] == "digits-0to4-mlp"


def test_default_applicability_is_derived_from_the_declarations():
    """Where each technique runs by default, from its needs and purpose and the task's role,
    purposes and model: the map the hand-written applies_to methods used to give."""
    tasks = all_tasks()
    runs_on = {
        name: sorted(t for t, task in tasks.items() if cls.applies_to(task))
        for name, cls in REGISTRY.items()
    }
    plain = ["breast-cancer-mlp", "digits-cnn", "digits-mlp", "iris-mlp"]
    plain_mlp = ["breast-cancer-mlp", "digits-mlp", "iris-mlp"]
    for name in ("magnitude-prune", "channel-prune", "int8-dynamic", "int8-static", "qat"):
        assert runs_on[name] == plain
    for name in ("bf16", "fp16", "weight-cluster", "binary-connect", "distill"):
        assert runs_on[name] == plain
    assert runs_on["early-stop-energy"] == runs_on["progressive"] == plain_mlp
    assert runs_on["active-learning"] == plain_mlp
    assert runs_on["transfer"] == ["digits-5to9-mlp"]
    for name in ("early-exit", "depthwise", "fire", "weight-sharing"):
        assert runs_on[name] == ["digits-cnn"]
    assert runs_on["adaptive-softmax"] == runs_on["hierarchical-softmax"] == ["zipf-10k"]


def _blobs(n, n_features, n_classes):
    def load():
        rng = np.random.default_rng(0)
        centres = 3 * rng.standard_normal((n_classes, n_features))
        y = np.arange(n) % n_classes
        return (centres[y] + rng.standard_normal((n, n_features))).astype("float32"), y

    return load


def _tiny_mlp(width=1.0):
    from frugalml.train import mlp

    return mlp(16, 16, 3, 2, width=width)


def _tiny_cnn(width=1.0):
    from frugalml.train import small_cnn

    return small_cnn(1, 3, (8, 8, 8), width=width)


@pytest.fixture
def tiny_tasks(monkeypatch):
    tasks = {
        "tiny-mlp": Task(
            "tiny-mlp", "blobs", "mlp", _blobs(200, 16, 3), _tiny_mlp, (16,), epochs=12, lr=1e-2
        ),
        "tiny-cnn": Task(
            "tiny-cnn",
            "blobs",
            "cnn",
            _blobs(200, 64, 3),
            _tiny_cnn,
            (1, 8, 8),
            epochs=6,
            lr=1e-2,
            kind="cnn",
        ),
        "tiny-many": dataclasses.replace(
            EXTRA_TASKS["zipf-10k"],
            name="tiny-many",
            epochs=2,
            load=functools.partial(zipf_data, n_classes=128, n_samples=600),
            make_model=functools.partial(_zipf_model, 128),
            extra={"role": "many-class", "n_classes": 128},
        ),
        "tiny-transfer": dataclasses.replace(
            EXTRA_TASKS["digits-5to9-mlp"], epochs=2, name="tiny-transfer"
        ),
    }
    for name, task in tasks.items():
        monkeypatch.setitem(EXTRA_TASKS, name, task)


def _zipf_model(n_classes, width=1.0):
    from frugalml.train import mlp

    return mlp(32, 32, n_classes, 1, width=width)


@pytest.mark.slow
def test_every_training_technique_gives_a_complete_row(tiny_tasks, tmp_path):
    plan = {
        "tiny-mlp": ["early-stop-energy", "progressive", "active-learning"],
        "tiny-cnn": ["early-exit", "depthwise", "fire", "weight-sharing"],
        "tiny-many": ["adaptive-softmax", "hierarchical-softmax"],
        "tiny-transfer": ["transfer"],
    }
    rows = {}
    for task, techniques in plan.items():
        results = run_bench(
            BenchConfig(
                tasks=[task],
                techniques=techniques,
                db=False,
                out_dir=tmp_path / task,
                technique_params={"transfer": {"base_epochs": 2}},
            )
        )
        entry = results["tasks"][task]
        for name, row in entry["techniques"].items():
            assert set(ROW_KEYS) <= set(row), (name, set(ROW_KEYS) - set(row))
            assert row["status"] == "ok", (name, row["reason"])
            assert row["kind"] == "train" and row["train_energy_j"] > 0
            assert 0 <= row["accuracy"] <= 1 and row["macs"] > 0
            rows[name] = (row, entry["baseline"])
    exit_row, cnn_base = rows["early-exit"]
    assert exit_row["macs"] == pytest.approx(exit_row["extra"]["mean_macs"])
    assert math.isclose(sum(exit_row["extra"]["exit_rates_test"]), 1.0, rel_tol=1e-6)
    assert isinstance(exit_row["extra"]["threshold_curve_test"], list)
    assert rows["depthwise"][0]["macs"] < cnn_base["macs"]
    assert rows["weight-sharing"][0]["params"] < cnn_base["params"]
    stop_row = rows["early-stop-energy"][0]
    assert stop_row["curve"] and stop_row["extra"]["epochs_run"] == len(stop_row["curve"])
    active_row = rows["active-learning"][0]
    assert active_row["extra"]["labels_used"] <= 0.5 * 120
    assert [c[2] for c in active_row["curve"]] == sorted(c[2] for c in active_row["curve"])
    assert rows["progressive"][0]["extra"]["depth"] == 2
    assert rows["hierarchical-softmax"][0]["extra"]["tree_depth"] == 7
    transfer = rows["transfer"][0]["extra"]
    assert transfer["base_trained_in_apply"] == 1 and transfer["base_energy_j"] > 0
