"""Every built-in technique passes the contract plugin authors run (frugalml.testing)."""

import pytest

from frugalml.reduce import REGISTRY, get_technique
from frugalml.testing import TechniqueContract

# fast settings whose results do not depend on measured energy (fixed epochs, windows longer
# than the training so the energy-aware stopper never decides)
FAST = {
    "magnitude-prune": {"fine_tune_epochs": 1, "steps": 2},
    "channel-prune": {"fine_tune_epochs": 1},
    "qat": {"fine_tune_epochs": 1},
    "weight-cluster": {"fine_tune_epochs": 1, "n_clusters": 4},
    "binary-connect": {"epochs": 1},
    "distill": {"epochs": 1},
    "early-stop-energy": {"window": 50, "max_epochs": 2},
    "progressive": {"epochs_per_stage": 1},
    "transfer": {"epochs": 1, "base_epochs": 1},
    "early-exit": {"epochs": 1},
    "depthwise": {"epochs": 1},
    "fire": {"epochs": 1},
    "weight-sharing": {"epochs": 1},
    "adaptive-softmax": {"epochs": 1},
    "hierarchical-softmax": {"epochs": 1},
    "active-learning": {"epochs_per_round": 1, "max_labels": 0.3},
}


def test_twenty_built_in_techniques():
    assert len(REGISTRY) == 20


@pytest.mark.filterwarnings("ignore::frugalml.errors.EfficiencyWarning")  # bf16 on old CPUs
class TestBuiltInTechniques(TechniqueContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _technique_name(self, request):
        self.name = request.param

    def make_technique(self):
        return get_technique(self.name, **FAST.get(self.name, {}))
