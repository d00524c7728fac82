"""FPO/MAC counting on PyTorch's dispatcher, parameters, bytes moved, latency and energy.

``frugalml.profile(model, inputs)`` returns a :class:`Profile`. The counting rules of
every operator are in :mod:`frugalml.profiler.rules`.

Example:
    >>> import torch, frugalml
    >>> frugalml.profile(torch.nn.Linear(4, 2, bias=False), torch.ones(3, 4)).macs
    24
"""

from __future__ import annotations

from frugalml.profiler.api import profile
from frugalml.profiler.result import CONVENTION, Profile

__all__ = ["CONVENTION", "Profile", "profile"]
