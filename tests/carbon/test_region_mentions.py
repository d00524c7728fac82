"""Every region code the documentation, the help texts and the docstrings show a user resolves.

A user copies examples: ``--region US-CA`` in ``frugal run --help`` was rejected by the
command it documents. The scan covers README.md, docs/*.md and every source file of the
package (help texts and docstrings live there).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frugalml.carbon import lookup_region
from frugalml.errors import UnknownNameError

ROOT = Path(__file__).resolve().parents[2]
CODE = r"[\w:-]+"
MENTIONS = [
    re.compile(r"\b[A-Z]{2}-[A-Z]{2,5}(?:-[A-Z]{2,5})?\b"),  # subregions: US-CAMX, AU-WA-NWIS
    re.compile(r"\b(?:aws|gcp|azure):[a-z0-9-]*[a-z0-9]\b"),  # cloud regions
    re.compile(rf"--region[ =]+[`'\"]?({CODE})"),
    re.compile(rf"-r [`'\"]?({CODE})"),
    re.compile(rf"\bregion\s*=\s*[\"']({CODE})[\"']"),
    re.compile(rf"FRUGAL_REGION=[`'\"]?({CODE})"),
    re.compile(rf"(?:lookup_region|resolve_region)\([\"']({CODE})[\"']"),
]
EXAMPLES = re.compile(r"[Rr]egion.*?e\.g\.\s+((?:[\w:-]+,\s*)+[\w:-]+)")
# What a region code looks like (placeholders such as CODE or R, and words, are not codes).
SHAPE = re.compile(r"world|[A-Za-z]{2}(?:-[A-Za-z]{2,5}){0,2}|(?:aws|gcp|azure):[\w-]+")
WORDS = {"or", "to", "in", "is", "as", "by", "of", "on", "at", "if", "an", "be", "it"}
# Deliberate counter-examples: docs that show what an unknown code does.
COUNTER_EXAMPLES = {("docs/carbon.md", "US-CA")}


def _sources() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "src" / "frugalml").rglob("*.py")),
    ]


def _mentions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            codes = [m.group(m.re.groups) for p in MENTIONS for m in p.finditer(line)]
            for m in EXAMPLES.finditer(line):
                codes += [c.strip() for c in m.group(1).split(",")]
            for code in codes:
                if (
                    SHAPE.fullmatch(code)
                    and code not in WORDS
                    and (rel, code) not in COUNTER_EXAMPLES
                ):
                    found.setdefault(code, []).append(f"{rel}:{n}")
    return found


def test_the_scan_sees_the_examples():
    found = _mentions()
    # the help of `frugal run --region` and the README's quick start are among them
    assert any(w.startswith("src/frugalml/cli/run.py") for w in found.get("US-CAMX", []))
    assert "FR" in found and "aws:eu-west-1" in found


@pytest.mark.parametrize("code, where", sorted(_mentions().items()))
def test_every_region_mentioned_resolves(code, where):
    try:
        lookup_region(code)
    except UnknownNameError as e:
        pytest.fail(f"{code!r} (in {', '.join(where)}) does not resolve: {e}")
