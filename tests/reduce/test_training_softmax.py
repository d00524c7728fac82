import functools
import math

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.reduce.softmax import (
    AdaptiveSoftmax,
    HeadModel,
    HierarchicalSoftmax,
    HierarchicalSoftmaxLayer,
    balanced_tree,
)
from frugalml.train import TrainData, evaluate, mlp


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 64, 100, 10_000])
def test_balanced_tree_depth_is_log2_n(n):
    tree = balanced_tree(n)
    lengths = [len(p) for p in tree["paths"]]
    assert max(lengths) == math.ceil(math.log2(n))
    assert min(lengths) >= math.floor(math.log2(n))
    assert len(tree["parent"]) == n - 1  # internal nodes
    assert len({tuple(p) for p in tree["paths"]}) == n  # one distinct path per class


@pytest.mark.parametrize("n", range(2, 18))
def test_probabilities_over_all_classes_sum_to_one(n):
    torch.manual_seed(n)
    layer = HierarchicalSoftmaxLayer(6, n)
    with torch.no_grad():
        layer.weight.normal_(0, 2)
        layer.bias.normal_(0, 2)
    h = torch.randn(9, 6)
    logp = layer(h)
    assert logp.shape == (9, n)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(9), atol=1e-5)
    # each class's path score is the same number as its entry in the full distribution
    for c in range(n):
        assert torch.allclose(layer.log_prob_of(h, torch.full((9,), c)), logp[:, c], atol=1e-5)


def test_path_scoring_touches_only_log_n_nodes():
    layer = HierarchicalSoftmaxLayer(4, 1000)
    h = torch.randn(3, 4)
    y = torch.tensor([0, 500, 999])
    layer.log_prob_of(h, y).sum().backward()
    touched = int((layer.weight.grad.abs().sum(dim=1) > 0).sum())
    assert touched <= 3 * 10  # ceil(log2 1000) nodes per sample


@pytest.fixture(scope="module")
def many_class_data():
    """64 classes, Zipf-like frequencies, well separated: learnable in a few epochs."""
    g = torch.Generator().manual_seed(0)
    n_classes, n = 64, 1500
    centres = 3 * torch.randn(n_classes, 8, generator=g)
    p = 1 / torch.arange(1, n_classes + 1).float()
    y = torch.multinomial(p / p.sum(), n, replacement=True, generator=g)
    y = torch.randperm(n_classes, generator=g)[y]  # frequent classes are not the low labels
    X = centres[y] + 0.3 * torch.randn(n, 8, generator=g)
    return TrainData(
        X[:1200],
        y[:1200],
        X[1200:],
        y[1200:],
        make_model=functools.partial(mlp, 8, 32, n_classes, 1),
        epochs=15,
        lr=1e-2,
        batch_size=64,
    )


def test_hierarchical_softmax_trains_and_reports(many_class_data):
    data = many_class_data
    torch.manual_seed(0)
    t = HierarchicalSoftmax()
    model = t.apply(data.make_model(), data)
    assert isinstance(model, HeadModel) and not model.features_only
    assert t.tree_depth_ == 6 and t.n_classes_ == 64 and t.in_features_ == 32
    assert 5 <= t.mean_path_length_ <= 6
    assert t.target_path_macs_ == pytest.approx(t.mean_path_length_ * 32)
    assert t.full_softmax_macs_ == 64 * 32
    logp = model(data.X_val)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(len(logp)), atol=1e-4)
    assert evaluate(model, data.X_val, data.y_val) > 0.5


def test_adaptive_softmax_ranks_classes_by_frequency(many_class_data):
    data = many_class_data
    torch.manual_seed(0)
    t = AdaptiveSoftmax()
    model = t.apply(data.make_model(), data)
    assert t.cutoffs_ == "6" and t.n_clusters_ == 1
    counts = torch.bincount(data.y_train, minlength=64)
    head = set(counts.argsort(descending=True, stable=True)[:6].tolist())
    assert {int(c) for c in model.rank_of_class.argsort()[:6]} == head
    assert 0.3 < t.head_coverage_ < 1
    assert t.target_macs_ < t.full_softmax_macs_
    logp = model(data.X_val)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(len(logp)), atol=1e-4)
    assert evaluate(model, data.X_val, data.y_val) > 0.5


def test_default_cutoffs_for_10k_classes():
    assert AdaptiveSoftmax()._cutoffs(10_000) == [100, 1000]
    assert AdaptiveSoftmax()._cutoffs(5) == [2]
    with pytest.raises(InputError, match="cutoffs"):
        AdaptiveSoftmax(cutoffs=[50, 20])._cutoffs(100)


def test_needs_a_linear_output(vec_data):
    with pytest.raises(TechniqueError, match="hierarchical-softmax needs a last Linear layer"):
        HierarchicalSoftmax().apply(torch.nn.Sequential(torch.nn.Flatten()), vec_data)


def test_adaptive_projection_must_keep_a_unit(many_class_data):
    with pytest.raises(TechniqueError, match="div_value"):
        AdaptiveSoftmax(cutoffs=[4, 16, 32], div_value=8.0).apply(
            many_class_data.make_model(), many_class_data
        )


def test_sparse_gradients_touch_only_the_path_rows():
    layer = HierarchicalSoftmaxLayer(4, 1000, sparse_grad=True)
    layer.log_prob_of(torch.randn(2, 4), torch.tensor([3, 700])).sum().backward()
    grad = layer.weight.grad
    assert grad.is_sparse
    assert len(set(grad.coalesce().indices()[0].tolist())) <= 2 * 10
