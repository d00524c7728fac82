import copy
import functools
import math

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.reduce.softmax import (
    AdaptiveHead,
    AdaptiveSoftmax,
    HeadModel,
    HierarchicalSoftmax,
    HierarchicalSoftmaxLayer,
    balanced_tree,
)
from frugalml.train import TrainData, evaluate, mlp, predict


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 64, 100, 10_000])
def test_balanced_tree_depth_is_log2_n(n):
    tree = balanced_tree(n)
    lengths = tree["path_length"]
    assert lengths.max() == math.ceil(math.log2(n)) == tree["path_nodes"].shape[1]
    assert lengths.min() >= math.floor(math.log2(n))
    assert len(tree["parent"]) == n - 1  # internal nodes
    paths = {
        tuple(zip(nodes[:k].tolist(), signs[:k].tolist(), strict=True))
        for nodes, signs, k in zip(tree["path_nodes"], tree["path_signs"], lengths, strict=True)
    }
    assert len(paths) == n  # one distinct path per class
    # every internal node has two children, every class is a child exactly once
    children = tree["children"]
    assert sorted(children[children < 0].tolist()) == sorted(-(c + 1) for c in range(n))
    assert sorted(children[children > 0].tolist()) == list(range(1, n - 1))


def test_paths_follow_the_child_table():
    tree = balanced_tree(13)
    for c in range(13):
        nodes = tree["path_nodes"][c][: tree["path_length"][c]].tolist()
        signs = tree["path_signs"][c][: tree["path_length"][c]].tolist()
        targets = [*nodes[1:], -(c + 1)]
        for node, sign, nxt in zip(nodes, signs, targets, strict=True):
            assert tree["children"][node][0 if sign > 0 else 1] == nxt


def _random_layer(d: int, n: int, seed: int, scale: float = 2.0) -> HierarchicalSoftmaxLayer:
    torch.manual_seed(seed)
    layer = HierarchicalSoftmaxLayer(d, n)
    with torch.no_grad():
        layer.weight.normal_(0, scale)
    return layer


@pytest.mark.parametrize("n", range(2, 18))
def test_probabilities_over_all_classes_sum_to_one(n):
    layer = _random_layer(6, n, seed=n)
    h = torch.randn(9, 6)
    logp = layer(h)  # decode="full" by default
    assert logp.shape == (9, n)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(9), atol=1e-5)
    # each class's path score is the same number as its entry in the full distribution
    for c in range(n):
        assert torch.allclose(layer.log_prob_of(h, torch.full((9,), c)), logp[:, c], atol=1e-5)


@pytest.mark.parametrize("n", [2, 3, 7, 16, 100, 1000])
def test_greedy_matches_the_exact_argmax_wherever_it_is_certified(n):
    layer = _random_layer(5, n, seed=n)
    h = torch.randn(400, 5)
    with torch.no_grad():
        full = layer.log_prob(h)
        classes, logp, certified = layer.greedy(h)
    exact = full.argmax(dim=1)
    assert torch.allclose(full.gather(1, classes[:, None]).squeeze(1), logp, atol=1e-5)
    assert certified.any()
    assert torch.equal(classes[certified], exact[certified])  # provably the argmax
    assert certified[logp >= math.log(0.5)].all()  # a leaf with p >= 0.5 is always certified
    assert torch.equal(layer.predict(h, exact=True), exact)  # fallback for the others
    if n == 2:
        assert certified.all()  # one node: greedy is the argmax


def test_greedy_differs_from_the_argmax_when_a_passed_subtree_holds_more():
    # root: p(left) = 0.6; left node 0.5 / 0.5 (leaves 0.3, 0.3); right node 0.9 / 0.1
    # (leaves 0.36, 0.04). Greedy goes left (0.6) and ends at 0.3; the argmax is 0.36.
    layer = HierarchicalSoftmaxLayer(1, 4)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[logit(0.6), 0.0], [0.0, 0.0], [logit(0.9), 0.0]]))
    h = torch.ones(1, 1)
    with torch.no_grad():
        classes, logp, certified = layer.greedy(h)
        assert classes.item() == 0 and logp.item() == pytest.approx(math.log(0.3))
        assert not certified.item()  # 0.3 < the 0.4 mass of the right subtree
        assert layer.log_prob(h).argmax().item() == 2
        assert layer.predict(h, exact=True).item() == 2
        layer.decode = "exact"
        assert layer(h).argmax().item() == 2


def test_greedy_output_is_the_decoded_log_probability_and_minus_inf_elsewhere():
    layer = _random_layer(4, 50, seed=1)
    h = torch.randn(7, 4)
    layer.decode = "greedy"
    with torch.no_grad():
        out = layer(h)
        full = layer.log_prob(h)
    classes = layer.predict(h)
    assert torch.equal(out.argmax(dim=1), classes)
    assert torch.isfinite(out).sum(dim=1).tolist() == [1] * 7
    assert torch.allclose(out.gather(1, classes[:, None]), full.gather(1, classes[:, None]))


def test_path_adam_is_sparse_adam_on_the_path_rows():
    torch.manual_seed(0)
    reference = HierarchicalSoftmaxLayer(4, 100, sparse_grad=True)
    layer = copy.deepcopy(reference)
    from frugalml.reduce._softmax_heads import PathAdam

    sparse_adam = torch.optim.SparseAdam([reference.weight], lr=0.01)
    path_adam = PathAdam(layer, lr=0.01)
    for _ in range(3):
        h, y = torch.randn(8, 4), torch.randint(0, 100, (8,))
        sparse_adam.zero_grad()
        (-reference.log_prob_of(h, y).mean()).backward()
        sparse_adam.step()
        before = layer.weight.detach().clone()
        path_adam.loss(h, y).backward()
        path_adam.step()
        moved = (layer.weight != before).any(dim=1).nonzero().squeeze(1)
        assert set(moved.tolist()) <= set(layer.path_nodes[y].flatten().tolist())
        assert len(moved) <= 8 * 7  # at most ceil(log2 100) nodes per sample
    assert torch.allclose(layer.weight, reference.weight, atol=1e-6)


def test_sparse_gradients_touch_only_the_path_rows():
    layer = HierarchicalSoftmaxLayer(4, 1000, sparse_grad=True)
    layer.log_prob_of(torch.randn(2, 4), torch.tensor([3, 700])).sum().backward()
    grad = layer.weight.grad
    assert grad.is_sparse
    assert len(set(grad.coalesce().indices()[0].tolist())) <= 2 * 10


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
    t = HierarchicalSoftmax()
    model = t.apply(data.make_model(), data)
    assert isinstance(model, HeadModel) and model.decode == "greedy" == t.decode_
    assert t.tree_depth_ == 6 and t.n_classes_ == 64 and t.in_features_ == 32
    assert 5 <= t.mean_path_length_ <= 6
    assert t.target_path_macs_ == pytest.approx(t.mean_path_length_ * 32)
    assert t.greedy_macs_ == 6 * 32 and t.full_softmax_macs_ == 64 * 32
    greedy = evaluate(model, data.X_val, data.y_val)
    assert greedy > 0.5
    assert torch.equal(predict(model, data.X_val), model.predict(data.X_val))
    model.decode = "full"
    logp = model(data.X_val)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(len(logp)), atol=1e-4)
    model.decode = "exact"
    assert torch.equal(predict(model, data.X_val), logp.argmax(dim=1))
    with pytest.raises(ValueError, match="decode"):
        model.decode = "beam"


def test_decode_is_checked():
    with pytest.raises(InputError, match="decode"):
        HierarchicalSoftmax(decode="beam").apply(torch.nn.Linear(2, 2), None)
    with pytest.raises(InputError, match="decode"):
        AdaptiveSoftmax(decode="greedy").apply(torch.nn.Linear(2, 2), None)


def test_adaptive_softmax_ranks_classes_by_frequency(many_class_data):
    data = many_class_data
    t = AdaptiveSoftmax()
    model = t.apply(data.make_model(), data)
    assert isinstance(model.head, AdaptiveHead) and model.decode == "exact"
    assert t.cutoffs_ == "6" and t.n_clusters_ == 1
    counts = torch.bincount(data.y_train, minlength=64)
    head = set(counts.argsort(descending=True, stable=True)[:6].tolist())
    assert {int(c) for c in model.head.rank_of_class.argsort()[:6]} == head
    assert 0.3 < t.head_coverage_ < 1
    assert t.target_macs_ < t.full_softmax_macs_
    assert evaluate(model, data.X_val, data.y_val) > 0.5
    model.decode = "full"
    logp = model(data.X_val)
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(len(logp)), atol=1e-4)
    model.decode = "exact"
    assert torch.equal(predict(model, data.X_val), logp.argmax(dim=1))


def test_adaptive_exact_decoding_is_the_argmax_with_several_clusters():
    torch.manual_seed(3)
    adaptive = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 200, [5, 40, 120], div_value=2.0)
    with torch.no_grad():
        for p in adaptive.parameters():
            p.normal_(0, 1.5)  # tail clusters often beat the head's best class
    head = AdaptiveHead(adaptive, torch.randperm(200))
    h = torch.randn(300, 16)
    with torch.no_grad():
        full = head.log_prob(h)
        out = head(h)
    assert torch.equal(head.predict(h), full.argmax(dim=1))
    assert torch.allclose(out.max(dim=1).values, full.max(dim=1).values, atol=1e-5)
    ranks = head.rank_of_class[full.argmax(dim=1)]
    assert (ranks >= 5).any() and (ranks < 5).any()  # winners in the head and in the tails


def test_default_cutoffs_for_10k_classes():
    assert AdaptiveSoftmax()._cutoffs(10_000) == [100, 1000]
    assert AdaptiveSoftmax()._cutoffs(5) == [2]
    with pytest.raises(InputError, match="cutoffs"):
        AdaptiveSoftmax(cutoffs=[50, 20])._cutoffs(100)


def test_needs_a_linear_output(vec_data):
    with pytest.raises(TechniqueError, match="hierarchical-softmax needs a last Linear layer"):
        HierarchicalSoftmax().apply(torch.nn.Sequential(torch.nn.Flatten()), vec_data)


def test_needs_trainable_layers_before_the_output(vec_data):
    with pytest.raises(TechniqueError, match="trainable"):
        HierarchicalSoftmax().apply(torch.nn.Linear(16, 3), vec_data)


def test_adaptive_projection_must_keep_a_unit(many_class_data):
    with pytest.raises(TechniqueError, match="div_value"):
        AdaptiveSoftmax(cutoffs=[4, 16, 32], div_value=8.0).apply(
            many_class_data.make_model(), many_class_data
        )
