"""Output layers for many classes: adaptive softmax and a binary-tree hierarchical softmax.

A full softmax over ``N`` classes costs ``N * d`` MACs per sample (``d`` input features),
to score one class as much as all of them: the normalisation needs every logit.

- ``hierarchical-softmax`` (Morin & Bengio 2005, "Hierarchical Probabilistic Neural Network
  Language Model"): classes are the leaves of a balanced binary tree (recursive halving of
  the label range, so classes with nearby labels share subtrees); each of the ``N - 1``
  internal nodes holds a logistic unit, and ``p(class) = prod sigmoid(+-w_node . h)`` along
  the class's path. Training scores a sample's class along its path only: ``ceil(log2 N)``
  nodes, ``~ d log2 N`` MACs (14 nodes for 10,000 classes), and only those nodes' rows are
  updated (``PathAdam``: ``torch.optim.SparseAdam``'s update). Prediction descends the tree
  greedily, taking the likelier child at each node: ``O(d log N)`` per sample too
  (``decode="greedy"``); ``decode="exact"`` adds the full distribution for the samples
  whose greedy result is not provably the argmax, ``decode="full"`` gives every class's
  log-probability (``O(N d)``).
- ``adaptive-softmax`` (Grave et al. 2017, "Efficient softmax approximation for GPUs"):
  ``torch.nn.AdaptiveLogSoftmaxWithLoss``: frequent classes in a small head, rarer ones in
  tail clusters reached through a cluster logit, with projections shrunk by ``div_value``.
  Classes are ranked by their training frequency first, as it requires. Its exact argmax
  needs a tail cluster only where the cluster is likelier than the best head class.

Both techniques replace the model's last ``Linear`` by the new output layer and train from
scratch (kind ``"train"``): the body with the recipe's optimiser, the output layer with a
loss that scores only the target class's path (HS) or cluster (adaptive). The torch modules
(:class:`HierarchicalSoftmaxLayer`, :class:`AdaptiveHead`, :class:`HeadModel`) live in
``frugalml.reduce._softmax_heads``, imported on first access.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.errors import InputError
from frugalml.reduce.base import Needs, Technique

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["AdaptiveSoftmax", "HierarchicalSoftmax", "balanced_tree"]

# torch modules, imported from frugalml.reduce._softmax_heads on first access
_LAZY = ("AdaptiveHead", "HeadModel", "HierarchicalSoftmaxLayer", "PathAdam")


def balanced_tree(n_classes: int) -> dict[str, np.ndarray]:
    """The balanced binary tree over classes ``0..N-1`` by recursive halving of the label range.

    Internal nodes are numbered breadth-first, level by level (0 is the root); at each
    node the left child takes the lower half of its label range, ``[lo, (lo + hi) // 2)``.
    Depth: ``ceil(log2 N)``.

    Returns:
        dict of NumPy arrays: ``parent`` and ``sign`` per internal node (``+1`` when it is
        its parent's left child, ``-1`` right; the root has parent -1 and sign 0);
        ``leaf_parent`` and ``leaf_sign`` per class; ``children`` (``(N - 1) x 2``: left,
        right, a leaf stored as ``-(class + 1)``); ``level_start`` (first node of each
        level, then ``N - 1``); ``path_nodes`` / ``path_signs`` (``N x depth``: per class
        the nodes from the root and the direction taken, right-padded with node 0, sign 0)
        and ``path_length`` per class.

    Example:
        >>> t = balanced_tree(5)
        >>> t["path_length"].tolist(), t["path_nodes"][4].tolist(), t["path_signs"][4].tolist()
        ([2, 2, 2, 3, 3], [0, 2, 3], [-1, -1, -1])
    """
    check_number("balanced_tree", "n_classes", n_classes, low=2, integer=True)
    np = require("numpy", "balanced_tree")
    parents, signs, starts = [np.array([-1])], [np.array([0])], [0]
    leaf_parent = np.zeros(n_classes, dtype=np.int64)
    leaf_sign = np.zeros(n_classes, dtype=np.int64)
    ids, lo, hi = np.array([0]), np.array([0]), np.array([n_classes])
    n_nodes = 1
    while len(ids):
        # each node's children, left then right, in node order: the next level's order
        mid = (lo + hi) // 2
        c_lo, c_hi = np.stack([lo, mid], 1).ravel(), np.stack([mid, hi], 1).ravel()
        c_parent, c_sign = np.repeat(ids, 2), np.tile([1, -1], len(ids))
        leaf = c_hi - c_lo == 1
        leaf_parent[c_lo[leaf]], leaf_sign[c_lo[leaf]] = c_parent[leaf], c_sign[leaf]
        inner = ~leaf
        ids = np.arange(n_nodes, n_nodes + int(inner.sum()))
        if len(ids):
            starts.append(n_nodes)
        n_nodes += len(ids)
        parents.append(c_parent[inner])
        signs.append(c_sign[inner])
        lo, hi = c_lo[inner], c_hi[inner]
    parent, sign = np.concatenate(parents), np.concatenate(signs)
    children = np.empty((n_classes - 1, 2), dtype=np.int64)
    children[parent[1:], (sign[1:] < 0).astype(np.int64)] = np.arange(1, n_classes - 1)
    children[leaf_parent, (leaf_sign < 0).astype(np.int64)] = -np.arange(1, n_classes + 1)
    # paths: walk up from every leaf at once (the root's parent is -1), then reverse
    up_nodes, up_signs, node = [leaf_parent], [leaf_sign], leaf_parent
    while (node > 0).any():
        up_signs.append(np.where(node > 0, sign[node], 0))
        node = np.where(node > 0, parent[node], -1)
        up_nodes.append(node)
    nodes_up, signs_up = np.stack(up_nodes, 1), np.stack(up_signs, 1)
    length = (nodes_up >= 0).sum(1)
    col = np.arange(int(length.max()))
    src = np.clip(length[:, None] - 1 - col, 0, None)
    valid = col < length[:, None]
    return {
        "parent": parent,
        "sign": sign,
        "leaf_parent": leaf_parent,
        "leaf_sign": leaf_sign,
        "children": children,
        "level_start": np.array([*starts, n_classes - 1]),
        "path_nodes": np.where(valid, np.take_along_axis(nodes_up, src, 1), 0),
        "path_signs": np.where(valid, np.take_along_axis(signs_up, src, 1), 0),
        "path_length": length,
    }


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # torch modules: importing them imports torch
        from frugalml.reduce import _softmax_heads

        return getattr(_softmax_heads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _split_body(model: nn.Module) -> tuple[nn.Module, int, int]:
    """Replace the model's last Linear by Identity (in place); return (body, in, out)."""
    torch = require("torch", "softmax output layers")
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not found:
        raise InputError("the model has no Linear output layer to replace")
    name, last = found[-1]
    if not name:  # the model is the output layer itself
        return torch.nn.Identity(), int(last.in_features), int(last.out_features)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], torch.nn.Identity())
    return model, int(last.in_features), int(last.out_features)


class _SoftmaxTechnique(Technique):
    kind: ClassVar[str] = "train"
    needs: ClassVar[Needs] = Needs(model=("classifier",), task="many-class")
    purpose: ClassVar[tuple[str, ...]] = ("training-energy", "inference-energy")
    decodes: ClassVar[tuple[str, ...]]

    decode: str
    epochs: int | None
    lr: float | None

    def _check_common(self) -> None:
        check_choice(type(self).__name__, "decode", self.decode, self.decodes)
        self._check_epochs("epochs", self.epochs)
        self._check_lr("lr", self.lr)

    @abstractmethod
    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> Any:
        """The output layer replacing the task's last Linear (set up for training)."""

    @abstractmethod
    def _head_training(self, head: Any, lr: float) -> tuple[Any, Callable[[], None]]:
        """``(loss(h, y), step())``: the output layer's loss on the target classes only (the
        log N path for the tree) and its parameter update, run after each training step."""

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", self.name)
        from frugalml.reduce._softmax_heads import HeadModel

        try:
            body, d, n = _split_body(model)
        except InputError as e:
            raise self._fail("cannot find the output layer", e) from e
        if n < 2:
            raise self._fail(f"the output layer has {n} class; needs at least 2")
        if not any(p.requires_grad for p in body.parameters()):
            raise self._fail(
                "nothing before the output layer has trainable parameters",
                hint="Give it a model with at least one trainable layer before its last Linear.",
            )
        torch.manual_seed(data.seed)
        head = self._build_head(d, n, data)
        head_loss, head_step = self._head_training(head, data.lr if self.lr is None else self.lr)
        # fit trains the body with the recipe's optimiser; the head steps after it with
        # its own update (for the tree: only the rows on the batch's paths move)
        history = self._fit(
            body,
            data,
            epochs=self.epochs,
            lr=self.lr,
            loss_fn=lambda h, y, x: head_loss(h, y),
            after_step=lambda _body: head_step(),
        )
        head.decode = self.decode
        self.decode_ = self.decode
        self.epochs_run_ = history.epochs_run
        self.n_classes_ = n
        self.in_features_ = d
        self.full_softmax_macs_ = n * d
        return HeadModel(body, head)


class HierarchicalSoftmax(_SoftmaxTechnique):
    """Replace the output layer by a balanced binary-tree softmax and train from scratch.

    Training scores each sample's class along its path and updates only the nodes on the
    batch's paths (:class:`~frugalml.reduce._softmax_heads.PathAdam`: the update of
    ``torch.optim.SparseAdam``, whose moments move for those rows only, as TensorFlow's
    LazyAdam); the rest of the model trains with the recipe's optimiser. The returned model predicts by ``decode``:

    - ``"greedy"`` (default): one descent of the tree, ``O(d log N)`` per sample. It returns
      the argmax whenever the reached class's probability is at least the mass of every
      subtree it passed by (always when it is >= 0.5); otherwise it may not (see
      :class:`~frugalml.reduce._softmax_heads.HierarchicalSoftmaxLayer`).
    - ``"exact"``: greedy, then the full distribution for the rows not certified exact.
    - ``"full"``: every class's log-probability, ``O(N d)``.

    Args:
        decode: ``"greedy"``, ``"exact"`` or ``"full"``; settable later on the returned
            model (``model.decode = "full"``).
        epochs: training epochs; None takes the recipe's.
        lr: learning rate (body and tree); None takes the recipe's.

    Learned state:
        n_classes_, in_features_, tree_depth_ (longest path), mean_path_length_ (over
        the training labels), decode_.
        target_path_macs_: MACs to score one sample's class (mean over training labels,
            ``path length x d``): the training cost of the output layer.
        greedy_macs_: at most ``tree_depth x d``, one greedy prediction.
        full_softmax_macs_: ``N x d``, the full softmax's.
        all_classes_macs_: ``(N - 1) x d``, the log-probabilities of every class.
        epochs_run_.

    Example:
        >>> model = HierarchicalSoftmax().apply(data.make_model(), data)  # doctest: +SKIP
        >>> model.predict(X_test)  # class indices, greedy  # doctest: +SKIP
    """

    name: ClassVar[str] = "hierarchical-softmax"
    paper: ClassVar[str] = (
        "Morin & Bengio 2005, Hierarchical Probabilistic Neural Network Language Model"
    )
    decodes: ClassVar[tuple[str, ...]] = ("greedy", "exact", "full")

    def __init__(
        self, decode: str = "greedy", epochs: int | None = None, lr: float | None = None
    ) -> None:
        self.decode = decode
        self.epochs = epochs
        self.lr = lr

    def _check_params(self) -> None:
        self._check_common()

    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> Any:
        from frugalml.reduce._softmax_heads import HierarchicalSoftmaxLayer

        head = HierarchicalSoftmaxLayer(in_features, n_classes)
        lengths = [head.path_lengths[int(c)] for c in data.targets("train")]
        self.tree_depth_ = head.depth
        self.mean_path_length_ = sum(lengths) / len(lengths)
        self.target_path_macs_ = self.mean_path_length_ * in_features
        self.greedy_macs_ = head.depth * in_features
        self.all_classes_macs_ = (n_classes - 1) * in_features
        return head

    def _head_training(self, head: Any, lr: float) -> tuple[Any, Callable[[], None]]:
        from frugalml.reduce._softmax_heads import PathAdam

        optimizer = PathAdam(head, lr=lr)
        return optimizer.loss, optimizer.step


class AdaptiveSoftmax(_SoftmaxTechnique):
    """Replace the output layer by ``torch.nn.AdaptiveLogSoftmaxWithLoss`` and train from scratch.

    Args:
        cutoffs: class-rank boundaries of the head and the tail clusters (classes ranked by
            training frequency, most frequent first); None uses ``[N // 100, N // 10]``
            (those in ``(0, N)``), e.g. ``[100, 1000]`` for 10,000 classes.
        div_value: each tail cluster's projection is ``div_value`` times narrower.
        decode: ``"exact"`` (default: the argmax, computing a tail cluster only for the
            rows where it could hold the winner) or ``"full"`` (every class's
            log-probability).
        epochs: training epochs; None takes the recipe's.
        lr: learning rate; None takes the recipe's.

    Learned state:
        n_classes_, in_features_, cutoffs_ (as text), head_classes_, n_clusters_, decode_.
        head_coverage_: fraction of training samples whose class is in the head.
        target_macs_: mean MACs to score one training sample's class (head, plus the
            cluster's projection and logits for tail classes); full_softmax_macs_.
        epochs_run_.

    Example:
        >>> model = AdaptiveSoftmax(cutoffs=[100, 1000]).apply(data.make_model(), data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "adaptive-softmax"
    paper: ClassVar[str] = "Grave et al. 2017, Efficient softmax approximation for GPUs"
    decodes: ClassVar[tuple[str, ...]] = ("exact", "full")

    def __init__(
        self,
        cutoffs: list[int] | None = None,
        div_value: float = 4.0,
        decode: str = "exact",
        epochs: int | None = None,
        lr: float | None = None,
    ) -> None:
        self.cutoffs = cutoffs
        self.div_value = div_value
        self.decode = decode
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
        self._check_common()

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

    def _build_head(self, in_features: int, n_classes: int, data: TrainData) -> Any:
        torch = require("torch", "adaptive-softmax")
        from frugalml.reduce._softmax_heads import AdaptiveHead

        cutoffs = self._cutoffs(n_classes)
        if in_features // self.div_value ** len(cutoffs) < 1:
            raise self._fail(
                f"the last tail cluster's projection would have no unit ({in_features} "
                f"features / div_value {self.div_value} ** {len(cutoffs)} clusters)",
                hint="Use a smaller div_value or fewer cutoffs.",
            )
        adaptive = torch.nn.AdaptiveLogSoftmaxWithLoss(
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
        for i, tail in enumerate(adaptive.tail):
            proj = int(tail[0].out_features)
            share = float(((ranks >= bounds[i]) & (ranks < bounds[i + 1])).float().mean())
            tail_macs += share * (in_features * proj + proj * (bounds[i + 1] - bounds[i]))
        self.target_macs_ = head_macs + tail_macs
        return AdaptiveHead(adaptive, rank_of_class)

    def _head_training(self, head: Any, lr: float) -> tuple[Any, Callable[[], None]]:
        torch = require("torch", self.name)
        optimizer = torch.optim.Adam(head.parameters(), lr=lr)

        def step() -> None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return head.loss, step
