"""Fakes for tests, shipped to users and plugin authors.

- :class:`NullSensor`, :class:`ScriptedSensor`: tiny sensors (no energy; scripted readings and faults).
- :class:`~frugalml.measure.constant.ConstantPowerSensor`, :class:`~frugalml.measure.replay.ReplaySensor`.
- :func:`make_powercap_tree`: a RAPL powercap sysfs tree in a folder, with wraparound.
- ``FakeNVML`` / ``FakeAMDSMI``: stand-ins for the ``pynvml`` and ``amdsmi`` modules, with
  their error codes, to pass as ``NvmlSensor(nvml=FakeNVML(...))``.
- :class:`~frugalml.testing._technique.TechniqueContract`: the contract suite every reduction
  technique passes (subclass it in your plugin's tests), with its tiny models and data
  (``ContractMLP``, ``ContractCNN``, ``contract_data``); it imports torch on first use.
- :class:`SensorContract`, :class:`SinkContract`: the checks every sensor and every sink must
  pass, to subclass in a pytest module (frugalml runs them over all its built-ins).
"""

from __future__ import annotations

import importlib
from typing import Any

from frugalml.measure.constant import ConstantPowerSensor
from frugalml.measure.replay import ReplaySensor
from frugalml.testing._powercap import FakePowercap, make_powercap_tree
from frugalml.testing._sensors import NullSensor, ScriptedSensor

__all__ = [
    "ConstantPowerSensor",
    "ContractCNN",
    "ContractMLP",
    "FakeAMDSMI",
    "FakeAmdGpu",
    "FakeGPU",
    "FakeNVML",
    "FakePowercap",
    "NullSensor",
    "ReplaySensor",
    "ScriptedSensor",
    "SensorContract",
    "SinkContract",
    "TechniqueContract",
    "contract_data",
    "make_powercap_tree",
    "make_test_run",
]

_LAZY = {
    "FakeNVML": "frugalml.testing._nvml",
    "FakeGPU": "frugalml.testing._nvml",
    "FakeAMDSMI": "frugalml.testing._amdsmi",
    "FakeAmdGpu": "frugalml.testing._amdsmi",
    "TechniqueContract": "frugalml.testing._technique",
    "ContractMLP": "frugalml.testing._technique",
    "ContractCNN": "frugalml.testing._technique",
    "contract_data": "frugalml.testing._technique",
    "SensorContract": "frugalml.testing._contracts",
    "SinkContract": "frugalml.testing._contracts",
    "make_test_run": "frugalml.testing._contracts",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'frugalml.testing' has no attribute {name!r}")
