"""Integrations are optional extras: importing frugalml imports none of their frameworks, and a
missing framework is one clear error naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("torch", "lightning", "transformers", "mlflow", "sklearn", "huggingface_hub")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_import_frugalml_loads_no_framework():
    code = (
        "import sys, frugalml, frugalml.integrations\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_framework_names_the_extra():
    # a None entry in sys.modules makes `import NAME` fail as if it were not installed
    code = (
        "import sys\n"
        "for name, module in [('lightning', 'lightning'), ('transformers', 'transformers'),\n"
        "                     ('mlflow', 'mlflow'), ('sklearn', 'sklearn')]:\n"
        "    sys.modules[module] = None\n"
        "    try:\n"
        "        __import__('frugalml.integrations.' + name)\n"
        "        if name == 'mlflow':\n"
        "            from frugalml.integrations.mlflow import log_run\n"
        "            log_run(None)\n"
        "    except ImportError as e:\n"
        "        print(type(e).__name__, '|', e)\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4
    for line, extra in zip(lines, ("lightning", "transformers", "mlflow", "bench")):
        assert line.startswith("MissingDependencyError |"), line
        assert f"pip install 'frugalml[{extra}]'" in line
