"""Third-party techniques through the ``frugalml.techniques`` entry-point group.

The plugin is a real installed distribution: a module and its ``.dist-info`` (METADATA and
entry_points.txt, what pip writes) in a temporary folder put on ``sys.path`` for the test,
so nothing is left in the tree or the virtual environment.
"""

import subprocess
import sys

import pytest
import torch

from frugalml.errors import FrugalWarning
from frugalml.reduce import ENTRY_POINT_GROUP, available_techniques, get_technique

PLUGIN = '''
from typing import ClassVar

import torch

from frugalml.reduce import Needs, Technique


class HalveWeights(Technique):
    """A toy technique: every Linear weight times a factor (for the plugin test)."""

    name: ClassVar[str] = "halve-weights"
    kind: ClassVar[str] = "compress"
    needs: ClassVar[Needs] = Needs(data="none", targets=("classification", "regression"))
    purpose: ClassVar[tuple[str, ...]] = ("size",)

    def __init__(self, factor=0.5):
        self.factor = factor

    def _check_params(self):
        from frugalml._params import check_number

        check_number(type(self).__name__, "factor", self.factor, low=0, low_open=True)

    def _apply(self, model, data):
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.mul_(self.factor)
        self.scaled_layers_ = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
        return model


class NotATechnique:
    name = "not-a-technique"
'''


def install_plugin(root, entries):
    """Write the plugin module and a dist-info declaring ``entries`` under ``root``."""
    (root / "frugal_toy_plugin.py").write_text(PLUGIN)
    info = root / "frugal_toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: frugal-toy-plugin\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries)
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    install_plugin(tmp_path, [("halve-weights", "frugal_toy_plugin:HalveWeights")])
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("frugal_toy_plugin", None)


def test_a_plugin_technique_is_found_built_and_applied(plugin, trained_mlp, vec_data):
    assert "halve-weights" in available_techniques()
    t = get_technique("halve-weights", factor=0.25)
    out = t.apply(trained_mlp)  # needs no data
    assert torch.allclose(out[0].weight, 0.25 * trained_mlp[0].weight)
    assert t.report() == {"scaled_layers": 3}


def test_a_plugin_runs_in_the_bench(plugin, tmp_path):
    from frugalml.bench import BenchConfig, run_bench

    results = run_bench(
        BenchConfig(tasks=["iris-mlp"], techniques=["halve-weights"], db=False, repeats=1)
    )
    row = results["tasks"]["iris-mlp"]["techniques"]["halve-weights"]
    assert row["status"] == "ok" and row["extra"] == {"scaled_layers": 3}


def test_the_cli_lists_plugins_in_a_fresh_process(plugin):
    code = "from frugalml.cli.main import main; main(['bench', '--list'])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(plugin), "PATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert "halve-weights" in out.stdout and "magnitude-prune" in out.stdout


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([("magnitude-prune", "frugal_toy_plugin:HalveWeights")], "the name is taken"),
        ([("halve-weights", "frugal_toy_plugin:Missing")], "failed to import"),
        ([("not-a-technique", "frugal_toy_plugin:NotATechnique")], "not a frugalml.reduce"),
        ([("other-name", "frugal_toy_plugin:HalveWeights")], "declares name"),
    ],
)
def test_broken_plugins_are_skipped_with_a_warning(entries, why, tmp_path, monkeypatch):
    install_plugin(tmp_path, entries)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(FrugalWarning, match=why):
            names = available_techniques()
    finally:
        sys.modules.pop("frugal_toy_plugin", None)
    assert len(names) == 20 and all(n not in names for n, _ in entries if n != "magnitude-prune")
    assert names["magnitude-prune"].__module__ == "frugalml.reduce.prune"


def test_plugin_authors_get_the_contract(plugin):
    """What a plugin's own test suite does: subclass TechniqueContract."""
    from frugalml.testing import TechniqueContract

    class TestHalve(TechniqueContract):
        def make_technique(self):
            return get_technique("halve-weights")

    suite = TestHalve()
    for check in [n for n in dir(suite) if n.startswith("test_")]:
        getattr(suite, check)()
