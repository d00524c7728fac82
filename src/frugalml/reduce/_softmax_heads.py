"""Torch modules of the many-class output layers (imported on first use: this module imports
torch). :mod:`frugalml.reduce.softmax` documents the techniques that build them.

Every head maps features ``h`` (``B x d``) to ``B x N`` class scores in ``forward``, with a
``decode`` setting choosing how much of the distribution that computes:

- ``"full"``: the log-probability of every class (``O(N d)`` per sample, the exact
  distribution);
- ``"greedy"`` (hierarchical softmax only): one top-down descent of the tree, taking the
  likelier child at each node: ``ceil(log2 N)`` logistic units, ``O(d log N)`` per sample;
- ``"exact"``: the exact argmax at less than the full cost (see each head).

With ``"greedy"`` and ``"exact"`` the output holds the decoded class's log-probability and
``-inf`` elsewhere (the classes not computed), so ``output.argmax(1)`` is the prediction and
anything written for logits runs unchanged; filling that ``B x N`` output is a memory write,
no arithmetic. ``predict(h)`` returns the class indices without it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional

__all__ = ["AdaptiveHead", "HeadModel", "HierarchicalSoftmaxLayer", "PathAdam"]

HS_DECODES = ("greedy", "exact", "full")
ADAPTIVE_DECODES = ("exact", "full")


class HierarchicalSoftmaxLayer(nn.Module):
    """Binary-tree softmax over ``n_classes`` on ``in_features`` inputs (Morin & Bengio 2005).

    One logistic unit per internal node: ``p(left child) = sigmoid(w . h + b)``. A class's
    probability is the product along its path from the root.

    - ``log_prob_of(h, y)``: the log-probability of class ``y`` along its path
      (``ceil(log2 N)`` units). Node weights and biases are looked up as embedding rows,
      with sparse gradients when ``sparse_grad`` (rows on the batch's paths only, for
      ``torch.optim.SparseAdam`` / ``SGD``).
    - ``log_prob(h)``: every class's log-probability, top-down level by level, ``O(N d)``.
    - ``greedy(h)``: one descent taking the likelier child at each node, ``O(d log N)``;
      returns the class, its log-probability and whether the result is *certified* exact
      (below).
    - ``predict(h, exact=False)``: class indices (greedy, or the exact argmax).
    - ``forward(h)``: per ``decode`` (module docstring).

    When greedy decoding is exact. Any class below a sibling the descent did not take has
    at most that sibling subtree's probability mass ``m_i = p(prefix_i) * (1 - p_i)``. So
    if the greedy leaf's probability is at least every ``m_i`` along its path, it is the
    argmax (``certified``); in particular whenever it is at least 0.5. Otherwise greedy can
    miss: e.g. root ``p(left) = 0.6`` with two equal leaves below (0.3 each) while the
    right subtree splits 0.36 / 0.04 — greedy returns a 0.3 leaf, the argmax is the 0.36
    one. ``decode="exact"`` keeps certified greedy results and computes the full
    distribution only for the other rows.

    Args:
        in_features: input features ``d``.
        n_classes: classes ``N`` (>= 2).
        sparse_grad: sparse gradients for the path lookups.
        decode: ``"greedy"``, ``"exact"`` or ``"full"`` (what ``forward`` computes).

    Example:
        >>> layer = HierarchicalSoftmaxLayer(8, 1000, decode="greedy")
        >>> layer(torch.randn(4, 8)).argmax(1).shape
        torch.Size([4])
    """

    path_nodes: torch.Tensor
    path_signs: torch.Tensor
    child: torch.Tensor
    node_parent: torch.Tensor
    node_sign: torch.Tensor
    leaf_parent: torch.Tensor
    leaf_sign: torch.Tensor

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        sparse_grad: bool = False,
        decode: str = "full",
    ) -> None:
        super().__init__()
        if decode not in HS_DECODES:
            raise ValueError(f"decode must be one of {HS_DECODES}; got {decode!r}")
        self.sparse_grad = sparse_grad
        self.decode = decode
        self.in_features, self.n_classes = in_features, n_classes
        from frugalml.reduce.softmax import balanced_tree

        tree = {k: torch.from_numpy(v) for k, v in balanced_tree(n_classes).items()}
        n_nodes = n_classes - 1
        bound = 1 / math.sqrt(in_features)
        # one row per node, its bias in the last column: a path lookup is one gather
        weight = torch.empty(n_nodes, in_features + 1).uniform_(-bound, bound)
        self.weight = nn.Parameter(weight.index_fill_(1, torch.tensor([in_features]), 0.0))
        for name, key in (
            ("path_nodes", "path_nodes"),
            ("path_signs", "path_signs"),
            ("child", "children"),
            ("node_parent", "parent"),
            ("node_sign", "sign"),
            ("leaf_parent", "leaf_parent"),
            ("leaf_sign", "leaf_sign"),
        ):
            value = tree[key].float() if "sign" in key else tree[key]
            self.register_buffer(name, value, persistent=False)
        bounds = tree["level_start"].tolist()
        self.level_bounds = list(itertools.pairwise(bounds))
        self.path_lengths = tree["path_length"].tolist()
        self.depth = int(tree["path_nodes"].shape[1])

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, "
            f"depth={self.depth}, decode={self.decode!r}"
        )

    def log_prob_of(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Log-probability of class ``y[i]`` for row ``h[i]`` (``B``), along its path only."""
        rows = functional.embedding(self.path_nodes[y], self.weight, sparse=self.sparse_grad)
        return self.path_log_prob(h, rows, self.path_signs[y])

    @staticmethod
    def path_log_prob(h: torch.Tensor, rows: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        """``sum log sigmoid(sign * (w . h + b))`` over a path's node ``rows`` (``B x depth x
        (d + 1)``) and ``signs`` (``B x depth``, 0 for padding)."""
        z = torch.bmm(rows, functional.pad(h, (0, 1), value=1.0).unsqueeze(2)).squeeze(2)
        # padding entries have sign 0: logsigmoid(0) is masked out by |sign|
        return (functional.logsigmoid(signs * z) * signs.abs()).sum(dim=1)

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of all classes (``B x N``; they sum to 1), ``O(N d)``."""
        # node-major (N - 1, B): gathering a node's row of the batch is contiguous
        d = self.in_features
        zt = torch.addmm(self.weight[:, d:], self.weight[:, :d], h.t())
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

    def greedy(
        self, h: torch.Tensor, certify: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One top-down descent per row, ``ceil(log2 N)`` logistic units.

        Returns:
            ``(classes, log_prob, certified)``: the class reached, its log-probability, and
            (with ``certify``, else None) whether it is provably the argmax: its probability
            is at least the mass of every subtree the descent left.
        """
        rows = h.shape[0]
        h1 = functional.pad(h, (0, 1), value=1.0).unsqueeze(2)
        node = torch.zeros(rows, dtype=torch.long, device=h.device)
        logp = h.new_zeros(rows)
        left_mass = h.new_full((rows,), -math.inf)  # log of the largest subtree left behind
        for _ in range(self.depth):
            done = node < 0  # a leaf was reached (balanced tree: only on the last level)
            at = node.clamp(min=0)
            z = torch.bmm(self.weight[at].unsqueeze(1), h1).view(rows)
            step = self.child[at, (z < 0).long()]
            a = z.abs()
            taken = functional.logsigmoid(a)
            other = taken - a if certify else None  # log sigmoid(-a) = log sigmoid(a) - a
            if bool(done.any()):
                step = torch.where(done, node, step)
                taken = taken.masked_fill(done, 0.0)
                other = None if other is None else other.masked_fill(done, -math.inf)
            if other is not None:
                left_mass = torch.maximum(left_mass, logp + other)
            logp = logp + taken
            node = step
        return -node - 1, logp, (logp >= left_mass) if certify else None

    def predict(self, h: torch.Tensor, exact: bool = False) -> torch.Tensor:
        """Class indices: greedy, or (``exact``) the argmax of the full distribution."""
        return self._decode(h, exact)[0]

    def _decode(self, h: torch.Tensor, exact: bool) -> tuple[torch.Tensor, torch.Tensor]:
        classes, logp, certified = self.greedy(h, certify=exact)
        if certified is not None and not bool(certified.all()):
            rest = (~certified).nonzero().squeeze(1)
            best = self.log_prob(h[rest]).max(dim=1)
            classes = classes.index_put((rest,), best.indices)
            logp = logp.index_put((rest,), best.values)
        return classes, logp

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.decode == "full":
            return self.log_prob(h)
        classes, logp = self._decode(h, exact=self.decode == "exact")
        return _one_hot_scores(classes, logp, self.n_classes)


class PathAdam:
    """Adam on the tree nodes a batch's paths visit: training that touches only the paths.

    ``loss(h, y)`` gathers the node rows of the batch's paths into a small leaf tensor
    (``B x depth x (d + 1)``) and returns the mean negative log-likelihood; after
    ``backward``, ``step()`` sums that tensor's gradient per node and applies Adam to those
    rows only. The moments of nodes not visited do not move: the "lazy" Adam of
    ``torch.optim.SparseAdam`` (and TensorFlow's LazyAdam), with the same update, without
    building a sparse gradient of the whole ``(N - 1) x (d + 1)`` table.

    Args:
        layer: the hierarchical softmax layer whose ``weight`` it trains.
        lr, betas, eps: as ``torch.optim.Adam``.

    Example:
        >>> layer = HierarchicalSoftmaxLayer(4, 100)
        >>> opt = PathAdam(layer, lr=0.01)
        >>> opt.loss(torch.randn(8, 4), torch.randint(0, 100, (8,))).backward()
        >>> opt.step()
    """

    def __init__(
        self,
        layer: HierarchicalSoftmaxLayer,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.layer, self.lr, self.betas, self.eps = layer, lr, betas, eps
        self.exp_avg = torch.zeros_like(layer.weight)
        self.exp_avg_sq = torch.zeros_like(layer.weight)
        self.steps = 0
        self._nodes: torch.Tensor | None = None
        self._rows: torch.Tensor | None = None

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of classes ``y`` along their paths."""
        layer = self.layer
        self._nodes = layer.path_nodes[y]
        self._rows = layer.weight.detach()[self._nodes].requires_grad_()
        return -layer.path_log_prob(h, self._rows, layer.path_signs[y]).mean()

    @torch.no_grad()
    def step(self) -> None:
        """Adam on the rows the last ``loss`` gathered (no-op before a ``backward``)."""
        if self._nodes is None or self._rows is None or self._rows.grad is None:
            return
        grad_rows = self._rows.grad
        nodes, inverse = torch.unique(self._nodes.reshape(-1), return_inverse=True)
        grad = grad_rows.new_zeros(len(nodes), grad_rows.shape[-1])
        grad.index_add_(0, inverse, grad_rows.reshape(-1, grad_rows.shape[-1]))
        self._nodes = self._rows = None
        self.steps += 1
        beta1, beta2 = self.betas
        m = self.exp_avg.index_select(0, nodes).mul_(beta1).add_(grad, alpha=1 - beta1)
        v = self.exp_avg_sq.index_select(0, nodes).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        self.exp_avg.index_copy_(0, nodes, m)
        self.exp_avg_sq.index_copy_(0, nodes, v)
        correction1, correction2 = 1 - beta1**self.steps, 1 - beta2**self.steps
        # SparseAdam's update: lr * sqrt(c2) / c1 * m / (sqrt(v) + eps)
        update = m.div_(v.sqrt_().add_(self.eps))
        step_size = self.lr * math.sqrt(correction2) / correction1
        self.layer.weight.index_add_(0, nodes, update, alpha=-step_size)


class AdaptiveHead(nn.Module):
    """``torch.nn.AdaptiveLogSoftmaxWithLoss`` over classes ranked by frequency, in class order.

    ``rank_of_class[c]`` is class ``c``'s frequency rank (the index the adaptive softmax
    works on). ``decode="exact"`` computes the head (the frequent classes and one logit
    per tail cluster), and a tail cluster only for the rows where that cluster's
    probability exceeds the best head class's (only there can one of its classes win): the
    exact argmax. ``"full"`` gives every class's log-probability.

    Example:
        >>> head = AdaptiveHead(nn.AdaptiveLogSoftmaxWithLoss(8, 100, [10]), torch.arange(100))
        >>> head(torch.randn(3, 8)).shape
        torch.Size([3, 100])
    """

    rank_of_class: torch.Tensor
    class_of_rank: torch.Tensor

    def __init__(
        self,
        adaptive: nn.AdaptiveLogSoftmaxWithLoss,
        rank_of_class: torch.Tensor,
        decode: str = "exact",
    ) -> None:
        super().__init__()
        if decode not in ADAPTIVE_DECODES:
            raise ValueError(f"decode must be one of {ADAPTIVE_DECODES}; got {decode!r}")
        self.adaptive = adaptive
        self.decode = decode
        self.n_classes = int(adaptive.n_classes)
        self.register_buffer("rank_of_class", rank_of_class)
        self.register_buffer("class_of_rank", torch.argsort(rank_of_class), persistent=False)

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of classes ``y`` (head, plus the target's cluster)."""
        return self.adaptive(h, self.rank_of_class[y]).loss

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of all classes, in class order (``B x N``)."""
        return self.adaptive.log_prob(h)[:, self.rank_of_class]

    def predict(self, h: torch.Tensor) -> torch.Tensor:
        """The exact argmax class per row."""
        return self._decode(h)[0]

    def _decode(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ada = self.adaptive
        head_logp = functional.log_softmax(ada.head(h), dim=1)
        short = ada.shortlist_size
        best = head_logp[:, :short].max(dim=1)
        logp, rank = best.values, best.indices
        bounds = ada.cutoffs  # shortlist, cluster ends..., n_classes
        for i, tail in enumerate(ada.tail):
            cluster = head_logp[:, short + i]
            rows = (cluster > logp).nonzero().squeeze(1)  # only here can a tail class win
            if rows.numel() == 0:
                continue
            inside = functional.log_softmax(tail(h[rows]), dim=1).max(dim=1)
            value = cluster[rows] + inside.values
            better = value > logp[rows]
            rows = rows[better]
            logp = logp.index_put((rows,), value[better])
            rank = rank.index_put((rows,), inside.indices[better] + bounds[i])
        return self.class_of_rank[rank], logp

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.decode == "full":
            return self.log_prob(h)
        classes, logp = self._decode(h)
        return _one_hot_scores(classes, logp, self.n_classes)


class HeadModel(nn.Module):
    """``body`` then a many-class ``head``: ``forward(x) = head(body(x))``.

    ``predict(x)`` returns class indices through the head's own decoding (no ``B x N``
    output); ``decode`` reads or sets the head's.
    """

    head: HierarchicalSoftmaxLayer | AdaptiveHead

    def __init__(self, body: nn.Module, head: HierarchicalSoftmaxLayer | AdaptiveHead) -> None:
        super().__init__()
        self.body, self.head = body, head

    @property
    def decode(self) -> str:
        return str(self.head.decode)

    @decode.setter
    def decode(self, value: str) -> None:
        allowed = (
            HS_DECODES if isinstance(self.head, HierarchicalSoftmaxLayer) else ADAPTIVE_DECODES
        )
        if value not in allowed:
            raise ValueError(f"decode must be one of {allowed}; got {value!r}")
        self.head.decode = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def predict(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Class indices (``head.predict``), under ``torch.no_grad``."""
        with torch.no_grad():
            return self.head.predict(self.body(x), **kwargs)


def _one_hot_scores(classes: torch.Tensor, logp: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``B x N`` scores: ``logp`` at each row's class, ``-inf`` (not computed) elsewhere."""
    out = logp.new_full((len(classes), n_classes), -math.inf)
    return out.scatter_(1, classes.unsqueeze(1), logp.unsqueeze(1))
