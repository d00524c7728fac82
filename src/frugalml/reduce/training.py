"""Registry of the training-side techniques: they cut the number or cost of training passes
and of inference, or the labels training needs.

``TRAINING_REGISTRY`` maps each name to its class, written out here (no import-time
registration); the bench merges it with :data:`frugalml.reduce.REGISTRY`. Importing it does
not import torch. Every technique here is of kind ``"train"``: the bench gives it a fresh
model of the task's architecture and tracks its whole ``apply``.

Example:
    >>> from frugalml.reduce.training import TRAINING_REGISTRY
    >>> TRAINING_REGISTRY["early-exit"](max_val_drop_pt=1.0).max_val_drop_pt
    1.0
"""

from __future__ import annotations

from frugalml.reduce.active import ActiveLearning
from frugalml.reduce.base import Technique
from frugalml.reduce.blocks import Depthwise, Fire, WeightSharing
from frugalml.reduce.early_exit import EarlyExit
from frugalml.reduce.early_stop import EarlyStopEnergy
from frugalml.reduce.progressive import Progressive
from frugalml.reduce.softmax import AdaptiveSoftmax, HierarchicalSoftmax
from frugalml.reduce.transfer import Transfer

__all__ = ["TRAINING_REGISTRY"]

TRAINING_REGISTRY: dict[str, type[Technique]] = {
    "early-stop-energy": EarlyStopEnergy,
    "progressive": Progressive,
    "transfer": Transfer,
    "early-exit": EarlyExit,
    "depthwise": Depthwise,
    "fire": Fire,
    "weight-sharing": WeightSharing,
    "adaptive-softmax": AdaptiveSoftmax,
    "hierarchical-softmax": HierarchicalSoftmax,
    "active-learning": ActiveLearning,
}
