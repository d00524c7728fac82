"""The one registry of techniques: the 20 built in, plus those other packages install.

``REGISTRY`` maps each built-in kebab-case name to its class, written out here (no
import-time registration). Third-party packages add techniques through the
``frugalml.techniques`` entry-point group, one entry per technique::

    # the plugin's pyproject.toml
    [project.entry-points."frugalml.techniques"]
    my-prune = "my_package.prune:MyPrune"

:func:`available_techniques` reads the group each time it is called (nothing is cached at
import), so a plugin installed while a program runs is seen by the next call. A plugin
whose name is taken, that fails to import, or that is not a :class:`Technique` declaring
its ``kind`` and ``purpose`` is skipped with a :class:`~frugalml.errors.FrugalWarning`
naming it. Listing the registry does not import torch.

Example:
    >>> from frugalml.reduce import available_techniques, get_technique
    >>> len(available_techniques()) >= 20
    True
    >>> get_technique("early-exit", max_val_drop_pt=1.0).max_val_drop_pt
    1.0
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any

from frugalml._params import unknown_name
from frugalml.errors import FrugalWarning
from frugalml.reduce.active import ActiveLearning
from frugalml.reduce.base import Technique
from frugalml.reduce.binary import BinaryConnect
from frugalml.reduce.blocks import Depthwise, Fire
from frugalml.reduce.cluster import WeightCluster
from frugalml.reduce.distill import Distill
from frugalml.reduce.early_exit import EarlyExit
from frugalml.reduce.early_stop import EarlyStopEnergy
from frugalml.reduce.needs import PURPOSES
from frugalml.reduce.progressive import Progressive
from frugalml.reduce.prune import ChannelPrune, MagnitudePrune
from frugalml.reduce.quantize import BF16, FP16, QAT, Int8Dynamic, Int8Static
from frugalml.reduce.sharing import WeightSharing
from frugalml.reduce.softmax import AdaptiveSoftmax, HierarchicalSoftmax
from frugalml.reduce.transfer import Transfer

__all__ = ["ENTRY_POINT_GROUP", "REGISTRY", "available_techniques", "get_technique"]

ENTRY_POINT_GROUP = "frugalml.techniques"

REGISTRY: dict[str, type[Technique]] = {
    cls.name: cls
    for cls in (
        # compression: a trained model made cheaper to store or run
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
        # training and data: fewer or cheaper training passes, cheaper inference, fewer labels
        EarlyStopEnergy,
        Progressive,
        Transfer,
        EarlyExit,
        Depthwise,
        Fire,
        WeightSharing,
        AdaptiveSoftmax,
        HierarchicalSoftmax,
        ActiveLearning,
    )
}


def available_techniques() -> dict[str, type[Technique]]:
    """Every technique by name: the built-in ones, then the installed plugins'.

    Example:
        >>> "magnitude-prune" in available_techniques()
        True
    """
    out = dict(REGISTRY)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"{ep.value} (from {ep.dist.name if ep.dist else 'an unknown package'})"
        if ep.name in out:
            _skip(ep.name, where, f"the name is taken by {out[ep.name].__module__}")
            continue
        try:
            cls = ep.load()
        except Exception as e:
            _skip(ep.name, where, f"it failed to import: {type(e).__name__}: {e}")
            continue
        problem = _plugin_problem(ep.name, cls)
        if problem:
            _skip(ep.name, where, problem)
            continue
        out[ep.name] = cls
    return out


def get_technique(name: str, **params: Any) -> Technique:
    """Build the technique registered as ``name`` (built in or plugin) with ``params``.

    Raises:
        UnknownNameError: ``name`` is not registered; the message lists the valid names.
        InputError: a parameter name is not one the technique takes.

    Example:
        >>> get_technique("weight-cluster", n_clusters=16)
        WeightCluster(n_clusters=16, init='linear', fine_tune_epochs=2, lr=None)
    """
    known = available_techniques()
    cls = known.get(name)
    if cls is None:
        raise unknown_name(
            "technique", name, known, hint="List them with frugalml.reduce.available_techniques()."
        )
    technique = cls()
    technique.set_params(**params)
    return technique


def _plugin_problem(name: str, cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Technique)):
        return "it is not a frugalml.reduce.Technique subclass"
    if getattr(cls, "name", None) != name:
        return f"its class declares name {getattr(cls, 'name', None)!r}, not {name!r}"
    if getattr(cls, "kind", None) not in ("compress", "train"):
        return "its class declares no kind ('compress' or 'train')"
    purpose = getattr(cls, "purpose", None)
    if not purpose or not set(purpose) <= set(PURPOSES):
        return f"its class declares no purpose among {', '.join(PURPOSES)}"
    return None


def _skip(name: str, where: str, why: str) -> None:
    warnings.warn(
        f"frugalml: technique plugin {name!r} = {where} skipped: {why}.",
        FrugalWarning,
        stacklevel=3,
    )
