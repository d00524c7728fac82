"""One error hierarchy for frugalml.

Every subclass also inherits the matching builtin, so ``except ValueError`` still
works, and every message says what to do next. The CLI turns any ``FrugalError``
into one line on stderr and exit code 2 (``ConfigError``/``InputError``) or 1.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "BudgetWarning",
    "ConfigError",
    "EfficiencyWarning",
    "FrugalError",
    "FrugalWarning",
    "InputError",
    "MissingDependencyError",
    "RegistryCorruptError",
    "RegistryNotFoundError",
    "SensorError",
    "SensorPermissionError",
    "SensorUnavailableError",
    "StoreError",
    "TechniqueError",
    "UnknownNameError",
]


class FrugalError(Exception):
    """Base class of every error frugalml raises on purpose."""


class InputError(FrugalError, ValueError):
    """A value given by the user is invalid; the message names it and the fix."""


class ConfigError(InputError):
    """A configuration value (region, PUE, interval, URL, ...) is invalid."""


class UnknownNameError(InputError, KeyError):
    """A name (region, task, technique, sensor) is not known; the message lists close ones."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(FrugalError, ImportError):
    """An optional dependency is not installed; the message says what to pip install."""


class SensorError(FrugalError, RuntimeError):
    """A sensor failed to read. The tracker records it and carries on."""


class SensorUnavailableError(SensorError):
    """A sensor cannot be used on this machine (no device, no driver)."""


class SensorPermissionError(SensorError, PermissionError):
    """A sensor exists but the current user may not read it."""


class StoreError(FrugalError, OSError):
    """The run registry could not be opened or written."""


class RegistryCorruptError(StoreError, InputError):
    """The registry the user pointed at is corrupt or not a frugalml database (bad input: the
    CLI exits 2)."""


class RegistryNotFoundError(ConfigError):
    """A command that only reads the registry was pointed at one that does not exist."""


class TechniqueError(FrugalError, RuntimeError):
    """A reduction technique could not be applied to this model."""


class BudgetExceeded(FrugalError, RuntimeError):
    """An energy or CO2e budget was spent with ``on_budget="stop"``: raised by ``epoch_end``
    between epochs, after the run was recorded with status ``budget-stopped``.

    Attributes:
        run: the recorded run (``run.status == "budget-stopped"``).
    """

    def __init__(self, message: str, run: object = None) -> None:
        super().__init__(message)
        self.run = run


class FrugalWarning(UserWarning):
    """Base class of frugalml's warnings, so users can filter them all at once."""


class EfficiencyWarning(FrugalWarning):
    """Something works but wastes energy, or a figure is less certain than usual."""


class BudgetWarning(FrugalWarning):
    """An energy or CO2e budget was reached (the message says whether training stops)."""
