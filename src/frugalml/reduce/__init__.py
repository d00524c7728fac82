"""The reduce stage: techniques that make a model cheaper to store, run or train.

Each technique is a configurable object (estimator convention, see
:mod:`frugalml.reduce.base`): ``get_technique("magnitude-prune", target_sparsity=0.9)
.apply(model, data)`` returns the reduced model and sets learned ``*_`` state;
``report()`` gives the measured facts for a results row. What each one needs and what it
is for are declared on its class (:mod:`frugalml.reduce.needs`).

One registry (:mod:`frugalml.reduce.registry`) holds the 20 built-in techniques
(``REGISTRY``) and finds those other packages install under the ``frugalml.techniques``
entry-point group (:func:`available_techniques`). Importing this package does not import
torch.

Example:
    >>> from frugalml.reduce import REGISTRY, get_technique
    >>> len(REGISTRY), sorted(REGISTRY)[:3]
    (20, ['active-learning', 'adaptive-softmax', 'bf16'])
    >>> get_technique("weight-cluster", n_clusters=16)
    WeightCluster(n_clusters=16, init='linear', fine_tune_epochs=2, lr=None)
"""

from __future__ import annotations

from frugalml.reduce.active import ActiveLearning
from frugalml.reduce.base import (
    KINDS,
    Technique,
    count_nonzero,
    count_params,
    state_dict_bytes,
    weight_layers,
)
from frugalml.reduce.binary import BinaryConnect
from frugalml.reduce.blocks import Depthwise, Fire
from frugalml.reduce.cluster import WeightCluster
from frugalml.reduce.distill import Distill
from frugalml.reduce.early_exit import EarlyExit
from frugalml.reduce.early_stop import EarlyStopEnergy, EnergyAwareEarlyStopping
from frugalml.reduce.needs import DATA, MODEL_PARTS, PURPOSES, TARGETS, Needs
from frugalml.reduce.progressive import Progressive
from frugalml.reduce.prune import ChannelPrune, MagnitudePrune
from frugalml.reduce.quantize import (
    BACKENDS,
    BF16,
    FP16,
    QAT,
    Int8Dynamic,
    Int8Static,
    QuantBackend,
    TorchAOEagerBackend,
)
from frugalml.reduce.registry import (
    ENTRY_POINT_GROUP,
    REGISTRY,
    available_techniques,
    get_technique,
)
from frugalml.reduce.sharing import WeightSharing
from frugalml.reduce.softmax import AdaptiveSoftmax, HierarchicalSoftmax
from frugalml.reduce.transfer import Transfer, TransferData

__all__ = [
    "BACKENDS",
    "BF16",
    "DATA",
    "ENTRY_POINT_GROUP",
    "FP16",
    "KINDS",
    "MODEL_PARTS",
    "PURPOSES",
    "QAT",
    "REGISTRY",
    "TARGETS",
    "ActiveLearning",
    "AdaptiveSoftmax",
    "BinaryConnect",
    "ChannelPrune",
    "Depthwise",
    "Distill",
    "EarlyExit",
    "EarlyStopEnergy",
    "EnergyAwareEarlyStopping",
    "Fire",
    "HierarchicalSoftmax",
    "Int8Dynamic",
    "Int8Static",
    "MagnitudePrune",
    "Needs",
    "Progressive",
    "QuantBackend",
    "Technique",
    "TorchAOEagerBackend",
    "Transfer",
    "TransferData",
    "WeightCluster",
    "WeightSharing",
    "available_techniques",
    "count_nonzero",
    "count_params",
    "get_technique",
    "state_dict_bytes",
    "weight_layers",
]
