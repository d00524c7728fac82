import math

import pytest
import torch

from frugalml.errors import TechniqueError
from frugalml.reduce import WeightCluster
from frugalml.train import evaluate, mlp


def _linears(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("init", ["linear", "k-means++"])
def test_at_most_k_distinct_values_per_layer(init, vec_data, trained_mlp):
    t = WeightCluster(n_clusters=8, init=init, fine_tune_epochs=1)
    out = t.apply(trained_mlp, vec_data)
    for layer in _linears(out):
        assert layer.weight.unique().numel() <= 8
    assert t.n_clusters_ <= 8 and t.clustered_layers_ == 3


def test_without_fine_tuning_weights_snap_to_nearest_centroid(vec_data, trained_mlp):
    out = WeightCluster(n_clusters=16, fine_tune_epochs=0).apply(trained_mlp, vec_data)
    for old, new in zip(_linears(trained_mlp), _linears(out)):
        centroids = new.weight.unique()
        nearest = centroids[(old.weight.reshape(-1, 1) - centroids).abs().argmin(1)]
        assert torch.allclose(nearest, new.weight.flatten())
        assert torch.equal(old.bias, new.bias)


def test_fine_tuning_moves_centroids_but_keeps_sharing(vec_data, trained_mlp):
    frozen = WeightCluster(n_clusters=4, fine_tune_epochs=0).apply(trained_mlp, vec_data)
    tuned = WeightCluster(n_clusters=4, fine_tune_epochs=2).apply(trained_mlp, vec_data)
    assert not torch.equal(frozen[0].weight, tuned[0].weight)
    assert all(m.weight.unique().numel() <= 4 for m in _linears(tuned))
    # the cluster structure (which weights share a value) is kept
    same_before = frozen[0].weight.reshape(-1, 1) == frozen[0].weight.reshape(1, -1)
    same_after = tuned[0].weight.reshape(-1, 1) == tuned[0].weight.reshape(1, -1)
    assert torch.equal(same_before & same_after, same_before)


def test_bits_and_compressed_size(vec_data, trained_mlp):
    t = WeightCluster(n_clusters=16, fine_tune_epochs=0)
    out = t.apply(trained_mlp, vec_data)
    layers = _linears(out)
    n = sum(m.weight.numel() for m in layers)
    ks = [m.weight.unique().numel() for m in layers]
    bits = sum(m.weight.numel() * math.ceil(math.log2(k)) + 32 * k for m, k in zip(layers, ks))
    assert t.bits_per_weight_ == pytest.approx(bits / n)
    assert 4 < t.bits_per_weight_ < 5  # 4-bit indices + small codebooks on tiny layers
    biases = sum(m.bias.numel() for m in layers) * 4
    index_bytes = math.ceil(
        sum(m.weight.numel() * math.ceil(math.log2(k)) for m, k in zip(layers, ks)) / 8
    )
    assert t.compressed_size_bytes_ == index_bytes + 4 * sum(ks) + biases
    assert t.dense_size_bytes_ == 4 * sum(p.numel() for p in out.parameters())
    assert t.size_reduction_ > 4


def test_keeps_accuracy_on_easy_data(vec_data, trained_mlp):
    base = evaluate(trained_mlp, vec_data.X_val, vec_data.y_val)
    out = WeightCluster(n_clusters=16).apply(trained_mlp, vec_data)
    assert evaluate(out, vec_data.X_val, vec_data.y_val) >= base - 0.05


def test_layers_smaller_than_k_are_left_alone(vec_data):
    model = torch.nn.Sequential(torch.nn.Linear(16, 2), torch.nn.Linear(2, 3))  # 32 and 6
    t = WeightCluster(n_clusters=16, fine_tune_epochs=0)
    out = t.apply(model, vec_data)
    assert t.clustered_layers_ == 1
    assert torch.equal(out[1].weight, model[1].weight)


def test_nothing_to_cluster_is_technique_error(vec_data):
    with pytest.raises(TechniqueError, match="weight-cluster failed"):
        WeightCluster(n_clusters=64).apply(mlp(16, 2, 3, depth=1), vec_data)


def test_no_parametrization_left_behind(vec_data, trained_mlp):
    out = WeightCluster(fine_tune_epochs=1).apply(trained_mlp, vec_data)
    assert set(dict(out.named_parameters())) == set(dict(trained_mlp.named_parameters()))
    assert all(p.requires_grad for p in out.parameters())
