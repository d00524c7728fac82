"""Output layers for many classes: adaptive softmax and a binary-tree hierarchical softmax.

A full softmax over ``N`` classes costs ``N * d`` MACs per sample (``d`` input features),
to score one class as much as all of them: the normalisation needs every logit.

- ``hierarchical-softmax`` (Morin & Bengio 2005, "Hierarchical Probabilistic Neural Network
  Language Model"): classes are the leaves of a balanced binary tree (recursive halving of
  the label range, so classes with nearby labels share subtrees); each of the ``N - 1``
  internal nodes holds a logistic unit, and ``p(class) = prod sigmoid(+-w_node . h)`` along
  the class's path. Scoring or training on a sample's class visits its path only:
  ``ceil(log2 N)`` nodes, ``~ d log2 N`` MACs (14 nodes for 10,000 classes). Probabilities
  over all classes sum to 1 by construction (``sigmoid(z) + sigmoid(-z) = 1`` at each node).
  The distribution over all classes, for an argmax, is computed top-down in ``O(N)``.
- ``adaptive-softmax`` (Grave et al. 2017, "Efficient softmax approximation for GPUs"):
  ``torch.nn.AdaptiveLogSoftmaxWithLoss``: frequent classes in a small head, rarer ones in
  tail clusters reached through a cluster logit, with projections shrunk by ``div_value``.
  Classes are ranked by their training frequency first, as it requires.

Both techniques replace the model's last ``Linear`` by the new output layer and train from
scratch (kind ``"train"``) with a loss that scores only the target class's path (HS) or
cluster (adaptive). The returned model's ``forward`` gives log-probabilities over all
classes, for evaluation.
"""

from __future__ import annotations

import functools
import math
from abc import abstractmethod
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Needs, Technique

if TYPE_CHECKING:
    import torch
    from torch import nn

    from frugalml.train.data import TrainData

# HierarchicalSoftmaxLayer and HeadModel are torch modules, defined on first access
__all__ = ["AdaptiveSoftmax", "HierarchicalSoftmax", "balanced_tree"]

_LAZY = ("HierarchicalSoftmaxLayer", "HeadModel")


def balanced_tree(n_classes: int) -> dict[str, Any]:
    """The balanced binary tree over classes ``0..N-1`` by recursive halving of the label range.

    Internal nodes are numbered breadth-first (0 is the root).

    Returns:
        dict of lists: ``parent`` and ``sign`` per internal node (``+1`` when it is its
        parent's left child, ``-1`` right; the root's parent is -1), ``leaf_parent`` and
        ``leaf_sign`` per class, ``levels`` (internal node ids by depth) and ``paths``
        (per class, the ``(node, sign)`` pairs from the root).

    Example:
        >>> t = balanced_tree(5)
        >>> [len(p) for p in t["paths"]]
        [2, 2, 2, 3, 3]
    """
    check_number("balanced_tree", "n_classes", n_classes, low=2, integer=True)
    parent, sign = [-1], [0]
    leaf_parent, leaf_sign = [0] * n_classes, [0] * n_classes
    levels: list[list[int]] = [[0]]
    frontier = [(0, 0, n_classes)]  # (node id, lo, hi)
    while frontier:
        nxt = []
        for node, lo, hi in frontier:
            mid = (lo + hi) // 2
            for s, (a, b) in ((1, (lo, mid)), (-1, (mid, hi))):
                if b - a == 1:
                    leaf_parent[a], leaf_sign[a] = node, s
                else:
                    child = len(parent)
                    parent.append(node)
                    sign.append(s)
                    nxt.append((child, a, b))
        frontier = nxt
        if nxt:
            levels.append([n for n, _, _ in nxt])
    paths: list[list[tuple[int, int]]] = []
    for c in range(n_classes):
        path = [(leaf_parent[c], leaf_sign[c])]
        node = leaf_parent[c]
        while parent[node] >= 0:
            path.append((parent[node], sign[node]))
            node = parent[node]
        paths.append(path[::-1])
    return {
        "parent": parent,
        "sign": sign,
        "leaf_parent": leaf_parent,
        "leaf_sign": leaf_sign,
        "levels": levels,
        "paths": paths,
    }


@functools.cache
def _modules() -> SimpleNamespace:
    require("torch", "softmax output layers")
    import torch
    from torch import nn as nn_

    functional = nn_.functional

    class HierarchicalSoftmaxLayer(nn_.Module):
        """Binary-tree softmax over ``n_classes`` on ``in_features`` inputs.

        ``forward(h)`` gives log-probabilities over all classes (top-down, ``O(N)`` per
        sample); ``log_prob_of(h, y)`` the log-probability of class ``y`` only, along its
        path (``~ log2 N`` logistic units). With ``sparse_grad`` the node weights get a
        sparse gradient (rows of the visited nodes only), for an optimizer that takes one
        (``torch.optim.SparseAdam``, ``SGD``); the bench's ``fit`` uses dense Adam.
        """

        path_nodes: torch.Tensor
        path_signs: torch.Tensor
        node_parent: torch.Tensor
        node_sign: torch.Tensor
        leaf_parent: torch.Tensor
        leaf_sign: torch.Tensor

        def __init__(self, in_features: int, n_classes: int, sparse_grad: bool = False) -> None:
            super().__init__()
            self.sparse_grad = sparse_grad  # sparse weight gradients (for SparseAdam / SGD)
            tree = balanced_tree(n_classes)
            self.in_features, self.n_classes = in_features, n_classes
            n_nodes = n_classes - 1
            bound = 1 / math.sqrt(in_features)
            self.weight = nn_.Parameter(torch.empty(n_nodes, in_features).uniform_(-bound, bound))
            self.bias = nn_.Parameter(torch.zeros(n_nodes))
            depth = max(len(p) for p in tree["paths"])
            pad = [(0, 0)] * depth
            padded = [(p + pad)[:depth] for p in tree["paths"]]
            nodes = torch.tensor([[n for n, _ in p] for p in padded], dtype=torch.long)
            signs = torch.tensor([[s for _, s in p] for p in padded], dtype=torch.float32)
            # padding entries have sign 0 and are masked out by it
            self.register_buffer("path_nodes", nodes, persistent=False)
            self.register_buffer("path_signs", signs, persistent=False)
            self.register_buffer("node_parent", torch.tensor(tree["parent"]), persistent=False)
            self.register_buffer(
                "node_sign", torch.tensor(tree["sign"], dtype=torch.float32), persistent=False
            )
            self.register_buffer("leaf_parent", torch.tensor(tree["leaf_parent"]), persistent=False)
            self.register_buffer(
                "leaf_sign", torch.tensor(tree["leaf_sign"], dtype=torch.float32), persistent=False
            )
            self.level_bounds = [(lv[0], lv[-1] + 1) for lv in tree["levels"]]
            self.path_lengths = [len(p) for p in tree["paths"]]

        @property
        def depth(self) -> int:
            return max(self.path_lengths)

        def log_prob_of(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nodes, signs = self.path_nodes[y], self.path_signs[y]  # (B, D)
            w = functional.embedding(nodes, self.weight, sparse=self.sparse_grad)
            z = torch.bmm(w, h.unsqueeze(2)).squeeze(2) + self.bias[nodes]
            return (functional.logsigmoid(signs * z) * signs.abs()).sum(dim=1)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            # node-major (N - 1, B): gathering a node's row of the batch is contiguous
            zt = torch.addmm(self.bias.unsqueeze(1), self.weight, h.t())
            node_logp = torch.zeros_like(zt)
            for lo, hi in self.level_bounds[1:]:  # parents are always on the level above
                parents = self.node_parent[lo:hi]
                node_logp[lo:hi] = node_logp.index_select(0, parents) + functional.logsigmoid(
                    self.node_sign[lo:hi, None] * zt.index_select(0, parents)
                )
            lp = self.leaf_parent
            leaves = node_logp.index_select(0, lp) + functional.logsigmoid(
                self.leaf_sign[:, None] * zt.index_select(0, lp)
            )
            return leaves.t()

    class HeadModel(nn_.Module):
        """``body`` then an output layer. ``forward`` gives log-probabilities over all classes;
        with ``features_only`` set (during training) it returns the body's output for a loss
        that scores only the target class."""

        rank_of_class: torch.Tensor

        def __init__(self, body: nn.Module, head: nn.Module, class_of: Any = None) -> None:
            super().__init__()
            self.body, self.head = body, head
            self.features_only = False
            # rank -> class for heads that work on frequency ranks (adaptive softmax)
            self.register_buffer("rank_of_class", class_of, persistent=class_of is not None)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x)
            if self.features_only:
                return h
            if isinstance(self.head, nn_.AdaptiveLogSoftmaxWithLoss):
                return self.head.log_prob(h)[:, self.rank_of_class]
            return self.head(h)

    for cls in (HierarchicalSoftmaxLayer, HeadModel):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return SimpleNamespace(HierarchicalSoftmaxLayer=HierarchicalSoftmaxLayer, HeadModel=HeadModel)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(_modules(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _split_body(model: nn.Module) -> tuple[nn.Module, int, int]:
    """Replace the model's last Linear by Identity (in place); return (body, in, out)."""
    torch = require("torch", "softmax output layers")
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not found:
        raise InputError("the model has no Linear output layer to replace")
    name, last = found[-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], torch.nn.Identity())
    return model, int(last.in_features), int(last.out_features)


class _SoftmaxTechnique(Technique):
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=("classifier",), task="many-class")
    purpose: ClassVar[tuple[str, ...]] = ("training-energy", "inference-energy")

    epochs: int | None
    lr: float | None

    @abstractmethod
    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> tuple[Any, Any]:
        """The output layer replacing the task's last Linear, and its module for timing."""

    @abstractmethod
    def _target_loss(self, model: Any, h: Any, y: Any) -> Any:
        """Loss of the target classes only (the log N path for the tree)."""

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", self.name)
        try:
            body, d, n = _split_body(model)
        except InputError as e:
            raise self._fail("cannot find the output layer", e) from e
        if n < 2:
            raise self._fail(f"the output layer has {n} class; needs at least 2")
        torch.manual_seed(data.seed)
        head, class_of = self._build_head(d, n, data)
        net = _modules().HeadModel(body, head, class_of)
        net.features_only = True
        try:
            history = self._fit(
                net,
                data,
                epochs=self.epochs,
                lr=self.lr,
                loss_fn=lambda h, y, x: self._target_loss(net, h, y),
            )
        finally:
            net.features_only = False
        self.epochs_run_ = history.epochs_run
        self.n_classes_ = n
        self.in_features_ = d
        self.full_softmax_macs_ = n * d
        return net


class HierarchicalSoftmax(_SoftmaxTechnique):
    """Replace the output layer by a balanced binary-tree softmax and train from scratch.

    Args:
        epochs: training epochs; None takes the recipe's.
        lr: learning rate; None takes the recipe's.

    Learned state:
        n_classes_, in_features_, tree_depth_ (longest path), mean_path_length_ (over
        the training labels).
        target_path_macs_: MACs to score one sample's class (mean over training labels,
            ``path length x d``); full_softmax_macs_: ``N x d``, the full softmax's.
        all_classes_macs_: ``(N - 1) x d``, the log-probabilities of every class.
        epochs_run_.

    Example:
        >>> model = HierarchicalSoftmax().apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "hierarchical-softmax"
    paper: ClassVar[str] = (
        "Morin & Bengio 2005, Hierarchical Probabilistic Neural Network Language Model"
    )

    def __init__(self, epochs: int | None = None, lr: float | None = None) -> None:
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> tuple[Any, Any]:
        head = _modules().HierarchicalSoftmaxLayer(in_features, n_classes)
        lengths = [head.path_lengths[int(c)] for c in data.targets("train")]
        self.tree_depth_ = head.depth
        self.mean_path_length_ = sum(lengths) / len(lengths)
        self.target_path_macs_ = self.mean_path_length_ * in_features
        self.all_classes_macs_ = (n_classes - 1) * in_features
        return head, None

    def _target_loss(self, model: Any, h: Any, y: Any) -> Any:
        return -model.head.log_prob_of(h, y).mean()


class AdaptiveSoftmax(_SoftmaxTechnique):
    """Replace the output layer by ``torch.nn.AdaptiveLogSoftmaxWithLoss`` and train from scratch.

    Args:
        cutoffs: class-rank boundaries of the head and the tail clusters (classes ranked by
            training frequency, most frequent first); None uses ``[N // 100, N // 10]``
            (those in ``(0, N)``), e.g. ``[100, 1000]`` for 10,000 classes.
        div_value: each tail cluster's projection is ``div_value`` times narrower.
        epochs: training epochs; None takes the recipe's.
        lr: learning rate; None takes the recipe's.

    Learned state:
        n_classes_, in_features_, cutoffs_ (as text), head_classes_, n_clusters_.
        head_coverage_: fraction of training samples whose class is in the head.
        target_macs_: mean MACs to score one training sample's class (head, plus the
            cluster's projection and logits for tail classes); full_softmax_macs_.
        epochs_run_.

    Example:
        >>> model = AdaptiveSoftmax(cutoffs=[100, 1000]).apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "adaptive-softmax"
    paper: ClassVar[str] = "Grave et al. 2017, Efficient softmax approximation for GPUs"

    def __init__(
        self,
        cutoffs: list[int] | None = None,
        div_value: float = 4.0,
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.cutoffs = cutoffs
        self.div_value = div_value
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        check_number(type(self).__name__, "div_value", self.div_value, low=1)
        if self.cutoffs is not None and not (
            isinstance(self.cutoffs, list | tuple)
            and all(isinstance(c, int) and not isinstance(c, bool) for c in self.cutoffs)
        ):
            raise InputError(
                f"The 'cutoffs' parameter of {type(self).__name__} must be a list of ints or "
                f"None. Got {self.cutoffs!r} instead."
            )
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    def _cutoffs(self, n: int) -> list[int]:
        if self.cutoffs is None:
            return sorted({c for c in (n // 100, n // 10) if 0 < c < n}) or [max(1, n // 2)]
        cut = [int(c) for c in self.cutoffs]
        if not cut or cut != sorted(set(cut)) or cut[0] <= 0 or cut[-1] >= n:
            raise InputError(
                f"The 'cutoffs' parameter of AdaptiveSoftmax must be increasing ints in (0, {n}); "
                f"got {self.cutoffs!r}."
            )
        return cut

    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> tuple[Any, Any]:
        torch = require("torch", "adaptive-softmax")
        cutoffs = self._cutoffs(n_classes)
        if in_features // self.div_value ** len(cutoffs) < 1:
            raise self._fail(
                f"the last tail cluster's projection would have no unit ({in_features} "
                f"features / div_value {self.div_value} ** {len(cutoffs)} clusters)",
                hint="Use a smaller div_value or fewer cutoffs.",
            )
        head = torch.nn.AdaptiveLogSoftmaxWithLoss(
            in_features, n_classes, cutoffs, div_value=float(self.div_value)
        )
        y_train = data.targets("train")
        counts = torch.bincount(y_train, minlength=n_classes)[:n_classes]
        class_of_rank = torch.sort(counts, descending=True, stable=True).indices
        rank_of_class = torch.empty_like(class_of_rank)
        rank_of_class[class_of_rank] = torch.arange(n_classes)
        ranks = rank_of_class[y_train]
        self.cutoffs_ = ",".join(map(str, cutoffs))
        self.head_classes_ = cutoffs[0]
        self.n_clusters_ = len(cutoffs)
        self.head_coverage_ = float((ranks < cutoffs[0]).float().mean())
        head_macs = (cutoffs[0] + len(cutoffs)) * in_features
        bounds = [*cutoffs, n_classes]
        tail_macs = 0.0
        for i, tail in enumerate(head.tail):
            proj = int(tail[0].out_features)
            share = float(((ranks >= bounds[i]) & (ranks < bounds[i + 1])).float().mean())
            tail_macs += share * (in_features * proj + proj * (bounds[i + 1] - bounds[i]))
        self.target_macs_ = head_macs + tail_macs
        return head, rank_of_class

    def _target_loss(self, model: Any, h: Any, y: Any) -> Any:
        return model.head(h, model.rank_of_class[y]).loss
