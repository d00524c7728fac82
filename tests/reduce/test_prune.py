import copy
import itertools

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.reduce import ChannelPrune, MagnitudePrune, count_nonzero, count_params
from frugalml.reduce.prune import sparsity_schedule
from frugalml.train import evaluate


def test_geometric_schedule_halves_what_remains():
    assert sparsity_schedule(0.9375, 4, "geometric") == [0.5, 0.75, 0.875, 0.9375]


def test_cubic_schedule_front_loads_and_ends_at_target():
    s = sparsity_schedule(0.9, 4, "cubic")
    assert s[-1] == pytest.approx(0.9)
    assert all(a < b for a, b in itertools.pairwise(s))
    assert s[0] > 0.9 / 4  # more than a linear share in the first round


def test_schedule_rejects_bad_values():
    with pytest.raises(InputError, match="target"):
        sparsity_schedule(1.0, 3)
    with pytest.raises(InputError, match="schedule"):
        sparsity_schedule(0.5, 3, "linear")


def test_magnitude_prune_reaches_exact_global_sparsity(vec_data, trained_mlp):
    t = MagnitudePrune(target_sparsity=0.8, steps=3, fine_tune_epochs=1, sparse_kernels="never")
    pruned = t.apply(trained_mlp, vec_data)
    weights = [m.weight for m in pruned if isinstance(m, torch.nn.Linear)]
    n = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros == round(0.8 * n)
    assert t.sparsity_ == pytest.approx(zeros / n)
    assert t.nonzero_params_ == count_nonzero(pruned)
    assert t.total_params_ == count_params(trained_mlp)
    assert t.param_reduction_ == pytest.approx(t.total_params_ / t.nonzero_params_)
    assert t.epochs_run_ == 3


def test_masks_are_permanent(vec_data, trained_mlp):
    pruned = MagnitudePrune(target_sparsity=0.7, fine_tune_epochs=0, sparse_kernels="never").apply(
        trained_mlp, vec_data
    )
    for m in pruned.modules():
        assert not hasattr(m, "weight_orig") and not hasattr(m, "weight_mask")
        assert not m._forward_pre_hooks
    assert set(dict(pruned.named_parameters())) == set(dict(trained_mlp.named_parameters()))


def test_without_fine_tuning_the_smallest_weights_go(vec_data, trained_mlp):
    pruned = MagnitudePrune(
        target_sparsity=0.6, steps=2, fine_tune_epochs=0, sparse_kernels="never"
    ).apply(trained_mlp, vec_data)
    orig = torch.cat([m.weight.flatten() for m in trained_mlp if isinstance(m, torch.nn.Linear)])
    new = torch.cat([m.weight.flatten() for m in pruned if isinstance(m, torch.nn.Linear)])
    kept = new != 0
    assert torch.equal(new[kept], orig[kept])  # survivors untouched
    assert orig[~kept].abs().max() <= orig[kept].abs().min()  # global magnitude order
    # biases are not pruned
    assert torch.equal(pruned[0].bias, trained_mlp[0].bias)


def test_pruned_model_keeps_accuracy_on_easy_data(vec_data, trained_mlp):
    base = evaluate(trained_mlp, vec_data.X_val, vec_data.y_val)
    pruned = MagnitudePrune(target_sparsity=0.7).apply(trained_mlp, vec_data)
    assert evaluate(pruned, vec_data.X_val, vec_data.y_val) >= base - 0.1


def test_sparse_kernels_give_the_dense_outputs(vec_data, trained_mlp):
    from frugalml.reduce._sparse import SparseLinear, to_dense

    kw = {"target_sparsity": 0.9, "steps": 2, "fine_tune_epochs": 1}
    dense = MagnitudePrune(**kw, sparse_kernels="never").apply(trained_mlp, vec_data)
    t = MagnitudePrune(**kw, sparse_kernels="always", sparse_batch=8)
    sparse = t.apply(trained_mlp, vec_data)
    layers = [m for m in sparse if isinstance(m, SparseLinear)]
    assert len(layers) == 3 == t.sparse_layers_ == t.linear_layers_
    assert all(m.weight.layout == torch.sparse_csr for m in layers)
    assert sum(m.values.numel() for m in layers) == sum(
        int((m.weight != 0).sum()) for m in dense if isinstance(m, torch.nn.Linear)
    )
    X = vec_data.X_val
    with torch.no_grad():
        assert torch.allclose(sparse(X), dense(X), atol=1e-5)
    assert t.nonzero_params_ == count_nonzero(dense) == count_nonzero(sparse)
    copied = copy.deepcopy(sparse)  # CSR parameters could not be deep-copied
    with torch.no_grad():
        assert torch.allclose(copied(X), dense(X), atol=1e-5)
    assert "sparse" in t.kernels_ and "batch 8" in t.kernels_ and t.sparse_speedup_ > 0
    restored = to_dense(sparse)
    assert all(type(m) is not SparseLinear for m in restored.modules())
    with torch.no_grad():
        assert torch.allclose(restored(X), dense(X), atol=1e-5)


def test_auto_kernels_keep_the_faster_product(vec_data, trained_mlp, monkeypatch):
    from frugalml.reduce import _sparse

    timings = iter([(1.0, 0.5), (1.0, 0.95), (1.0, 2.0)])  # 2x, 1.05x (< 1.1), 0.5x
    monkeypatch.setattr(_sparse, "_time_pair", lambda *args: next(timings))
    t = MagnitudePrune(target_sparsity=0.9, fine_tune_epochs=0)
    pruned = t.apply(trained_mlp, vec_data)
    kinds = [type(m).__name__ for m in pruned if not isinstance(m, torch.nn.ReLU)]
    assert kinds == ["SparseLinear", "Linear", "Linear"]
    assert t.sparse_layers_ == 1
    assert t.sparse_speedup_ == pytest.approx(3.0 / 2.5)
    assert t.kernels_.startswith("0: density 0.") and "sparse 2.00x, sparse" in t.kernels_


def test_profile_counts_sparse_work_and_bytes():
    import frugalml
    from frugalml.reduce._sparse import SparseLinear

    layer = torch.nn.Linear(64, 32)
    with torch.no_grad():
        layer.weight[torch.rand(32, 64, generator=torch.Generator().manual_seed(0)) < 0.9] = 0
    nnz = int((layer.weight != 0).sum())
    p = frugalml.profile(SparseLinear.from_dense(layer), torch.randn(4, 64))
    assert p.macs == 4 * nnz and p.unknown_operators == {}
    assert p.params == p.params_nonzero == nnz + 32  # the stored values and the bias
    assert p.size_bytes_by_dtype == {"float32": 4 * (nnz + 32), "int32": 4 * (nnz + 33)}


def test_channel_prune_halves_conv_channels(img_data, trained_cnn):
    t = ChannelPrune(pruning_ratio=0.5, fine_tune_epochs=1)
    pruned = t.apply(trained_cnn, img_data)
    convs = [m.out_channels for m in pruned if isinstance(m, torch.nn.Conv2d)]
    assert convs == [4, 8, 8]
    bns = [m.num_features for m in pruned if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns == convs
    head = pruned[-1]
    assert (head.in_features, head.out_features) == (8, 3)
    assert pruned(img_data.X_val).shape == (len(img_data.X_val), 3)
    assert (t.channels_before_, t.channels_after_) == (8 + 16 + 16, 4 + 8 + 8)
    assert t.params_after_ == count_params(pruned) < t.params_before_
    assert t.param_reduction_ > 2


def test_channel_prune_on_mlp_removes_hidden_units(vec_data, trained_mlp):
    pruned = ChannelPrune(pruning_ratio=0.25, fine_tune_epochs=0).apply(trained_mlp, vec_data)
    linears = [(m.in_features, m.out_features) for m in pruned if isinstance(m, torch.nn.Linear)]
    assert linears == [(16, 24), (24, 24), (24, 3)]


def test_channel_prune_keeps_the_largest_l1_filters(vec_data, trained_mlp):
    pruned = ChannelPrune(pruning_ratio=0.5, fine_tune_epochs=0).apply(trained_mlp, vec_data)
    norms = trained_mlp[0].weight.abs().sum(1)
    expected = set(norms.topk(16).indices.tolist())
    kept = {int((trained_mlp[0].weight == row).all(1).nonzero().item()) for row in pruned[0].weight}
    assert kept == expected


def test_channel_prune_reports_torch_pruning_failure(vec_data, trained_mlp, monkeypatch):
    import torch_pruning as tp

    def broken(*args, **kwargs):
        raise RuntimeError("cannot trace this op\nlong traceback detail")

    monkeypatch.setattr(tp.pruner, "MetaPruner", broken)
    with pytest.raises(TechniqueError, match=r"^channel-prune failed: .*cannot trace this op\."):
        ChannelPrune().apply(trained_mlp, vec_data)


def test_no_prunable_layer_is_technique_error(vec_data):
    model = torch.nn.Sequential(torch.nn.Flatten())
    with pytest.raises(TechniqueError, match="magnitude-prune needs Linear or Conv layers"):
        MagnitudePrune().apply(model, vec_data)
