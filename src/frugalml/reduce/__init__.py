"""The reduce stage: techniques that make a model cheaper to store, run or train.

Each technique is a configurable object (estimator convention, see
:mod:`frugalml.reduce.base`): ``get_technique("magnitude-prune", target_sparsity=0.9)
.apply(model, data)`` returns the reduced model and sets learned ``*_`` state;
``report()`` gives the measured facts for a results row.

``REGISTRY`` maps each kebab-case name to its class, written out here (no import-time
registration). Importing this package does not import torch.

Example:
    >>> from frugalml.reduce import REGISTRY, get_technique
    >>> sorted(REGISTRY)[:3]
    ['bf16', 'binary-connect', 'channel-prune']
    >>> get_technique("weight-cluster", n_clusters=16)
    WeightCluster(n_clusters=16, init='linear', fine_tune_epochs=2, lr=None)
"""

from __future__ import annotations

from typing import Any

from frugalml._params import unknown_name
from frugalml.reduce.base import (
    KINDS,
    Technique,
    count_nonzero,
    count_params,
    state_dict_bytes,
    weight_layers,
)
from frugalml.reduce.binary import BinaryConnect
from frugalml.reduce.cluster import WeightCluster
from frugalml.reduce.distill import Distill
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

__all__ = [
    "BACKENDS",
    "BF16",
    "FP16",
    "KINDS",
    "QAT",
    "REGISTRY",
    "BinaryConnect",
    "ChannelPrune",
    "Distill",
    "Int8Dynamic",
    "Int8Static",
    "MagnitudePrune",
    "QuantBackend",
    "Technique",
    "TorchAOEagerBackend",
    "WeightCluster",
    "count_nonzero",
    "count_params",
    "get_technique",
    "state_dict_bytes",
    "weight_layers",
]

REGISTRY: dict[str, type[Technique]] = {
    cls.name: cls
    for cls in (
        MagnitudePrune,
        ChannelPrune,
        Int8Dynamic,
        Int8Static,
        QAT,
        BF16,
        FP16,
        WeightCluster,
        BinaryConnect,
        Distill,
    )
}


def get_technique(name: str, **params: Any) -> Technique:
    """Build the technique registered as ``name`` with ``params``.

    Raises:
        UnknownNameError: ``name`` is not registered; the message lists the valid names.
        InputError: a parameter name is not one the technique takes.
    """
    cls = REGISTRY.get(name)
    if cls is None:
        raise unknown_name(
            "technique", name, REGISTRY, hint="See frugalml.reduce.REGISTRY for the list."
        )
    technique = cls()
    technique.set_params(**params)
    return technique
