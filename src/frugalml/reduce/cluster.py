"""Weight clustering (weight sharing): each layer's weights snap to k shared values.

Gong et al. 2014 ("Compressing Deep Convolutional Networks using Vector
Quantization") showed scalar k-means on a layer's weights keeps accuracy at a few bits
per weight; Han et al. 2016 ("Deep Compression") add linear centroid initialisation
(found best there) and fine-tune the centroids with the summed gradient of their
members. Both are done here: per Linear/Conv layer, 1-D k-means (scikit-learn) gives a
codebook of ``n_clusters`` float32 values and an index per weight; optional fine-tuning
trains only the codebooks; the layer then holds the decoded weights, so the model runs
unchanged while having at most ``n_clusters`` distinct values per layer.

The storage a codebook format needs is computed, not written: ``ceil(log2 k)`` index
bits per clustered weight plus the float32 codebook, everything else at its own dtype
(no Huffman coding, unlike Deep Compression).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar

from frugalml._lazy import require
from frugalml._params import check_choice, check_number
from frugalml.reduce.base import Needs, Technique, weight_layers

if TYPE_CHECKING:
    from torch import nn

    from frugalml.train.data import TrainData

__all__ = ["WeightCluster"]

logger = logging.getLogger(__name__)

INITS = ("linear", "k-means++")


class WeightCluster(Technique):
    """Per-layer k-means weight sharing with an optional centroid fine-tuning.

    Args:
        n_clusters: shared values per layer (16 gives 4-bit indices), >= 2.
        init: ``"linear"`` (centroids evenly spaced between the layer's min and max
            weight, as in Deep Compression) or ``"k-means++"``.
        fine_tune_epochs: epochs training the codebooks (shared gradient); 0 skips it.
        lr: fine-tuning learning rate; None takes the recipe's.

    Learned state:
        n_clusters_: the largest number of distinct values in any clustered layer.
        clustered_layers_: layers clustered (layers with <= n_clusters weights are not).
        bits_per_weight_: index bits plus the codebook amortised, over clustered weights.
        compressed_size_bytes_: packed indices + float32 codebooks + every other
            parameter and buffer at its dtype.
        dense_size_bytes_: all parameters and buffers at their dtype, unclustered.
        size_reduction_: ``dense_size_bytes_ / compressed_size_bytes_``.
        epochs_run_: fine-tuning epochs run.

    Example:
        >>> WeightCluster(n_clusters=16).apply(model, data)  # doctest: +SKIP
    """

    name: ClassVar[str] = "weight-cluster"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("size",)
    paper: ClassVar[str] = (
        "Gong et al. 2014, Compressing Deep ConvNets using Vector Quantization; "
        "Han et al. 2016, Deep Compression (ICLR)"
    )

    def __init__(
        self,
        n_clusters: int = 16,
        init: str = "linear",
        fine_tune_epochs: int = 2,
        lr: float | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.fine_tune_epochs = fine_tune_epochs
        self.lr = lr

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number(owner, "n_clusters", self.n_clusters, low=2, integer=True)
        check_choice(owner, "init", self.init, INITS)
        self._check_epochs("fine_tune_epochs", self.fine_tune_epochs)
        self._check_lr("lr", self.lr)

    def _apply(self, model: nn.Module, data: TrainData) -> nn.Module:
        torch = require("torch", "weight-cluster")
        from frugalml.reduce.layers import SharedWeights

        parametrize = torch.nn.utils.parametrize
        layers = [m for m in weight_layers(model) if m.weight.numel() > self.n_clusters]
        if not layers:
            raise self._fail(
                f"no Linear or Conv layer has more than {self.n_clusters} weights to cluster"
            )
        for layer in layers:
            centroids, labels = self._kmeans(layer.weight.detach(), data.seed)
            layer.weight.requires_grad_(False)
            parametrize.register_parametrization(
                layer, "weight", SharedWeights(centroids, labels.reshape(layer.weight.shape))
            )
        self.epochs_run_ = 0
        if self.fine_tune_epochs:
            self.epochs_run_ = self._fit(
                model, data, epochs=self.fine_tune_epochs, lr=self.lr
            ).epochs_run
        for layer in layers:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
            layer.weight.requires_grad_(True)
        self._measure(model, layers)
        return model

    def _kmeans(self, weight: Any, seed: int) -> tuple[Any, Any]:
        """Codebook (float32 tensor) and int64 label per weight of one layer."""
        torch = require("torch", "weight-cluster")
        np = require("numpy", "weight-cluster")
        cluster = require("sklearn.cluster", "weight-cluster")
        values = weight.flatten().double().numpy().reshape(-1, 1)
        k = min(self.n_clusters, len(np.unique(values)))
        if self.init == "linear":
            init: Any = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
        else:
            init = "k-means++"
        km = cluster.KMeans(n_clusters=k, init=init, n_init=1, random_state=seed)
        labels = km.fit_predict(values)
        return (
            torch.as_tensor(km.cluster_centers_.ravel(), dtype=torch.float32),
            torch.as_tensor(labels, dtype=torch.int64),
        )

    def _measure(self, model: nn.Module, layers: list[Any]) -> None:
        clustered = {id(m.weight) for m in layers}
        index_bits = 0
        codebook_bits = 0
        n_weights = 0
        max_unique = 0
        for layer in layers:
            k = int(layer.weight.detach().unique().numel())
            max_unique = max(max_unique, k)
            n = layer.weight.numel()
            index_bits += n * max(1, math.ceil(math.log2(k)))
            codebook_bits += 32 * k
            n_weights += n
        other_bytes = sum(
            t.numel() * t.element_size()
            for t in [*model.parameters(), *model.buffers()]
            if id(t) not in clustered
        )
        dense_bytes = sum(
            t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]
        )
        self.n_clusters_ = max_unique
        self.clustered_layers_ = len(layers)
        self.bits_per_weight_ = (index_bits + codebook_bits) / n_weights
        self.compressed_size_bytes_ = math.ceil(index_bits / 8) + codebook_bits // 8 + other_bytes
        self.dense_size_bytes_ = dense_bytes
        self.size_reduction_ = dense_bytes / self.compressed_size_bytes_
