"""frugalml: measure, explain and cut the energy and carbon cost of machine learning.

``import frugalml`` is cheap: it imports neither torch nor SQLAlchemy nor numpy.
Heavy parts load on first use.

Example:
    >>> import frugalml
    >>> with frugalml.track("example", db=False) as run:  # doctest: +SKIP
    ...     train()
    >>> run.energy_j["total"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from frugalml._lazy import lazy_exports
from frugalml.errors import (
    BudgetExceeded,
    ConfigError,
    EfficiencyWarning,
    FrugalError,
    FrugalWarning,
    InputError,
    MissingDependencyError,
    SensorError,
    StoreError,
    TechniqueError,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# Public name -> module that defines it; imported on first attribute access.
_LAZY = {
    "epoch_end": "frugalml.measure.epochs",
    "track": "frugalml.measure.tracker",
    "Tracker": "frugalml.measure.tracker",
    "Run": "frugalml.measure.run",
    "profile": "frugalml.profiler",
    "Profile": "frugalml.profiler",
}

if TYPE_CHECKING:
    from frugalml.measure.epochs import epoch_end
    from frugalml.measure.run import Run
    from frugalml.measure.tracker import Tracker, track
    from frugalml.profiler import Profile, profile

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "EfficiencyWarning",
    "FrugalError",
    "FrugalWarning",
    "InputError",
    "MissingDependencyError",
    "Profile",
    "Run",
    "SensorError",
    "StoreError",
    "TechniqueError",
    "Tracker",
    "__version__",
    "epoch_end",
    "profile",
    "track",
]


__getattr__, __dir__ = lazy_exports("frugalml", _LAZY, globals(), __all__)
