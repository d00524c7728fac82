"""Test isolation: no test reads the user's config or writes to ~/.frugal."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_frugal_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FRUGAL_DB", str(home / "frugal.db"))
    monkeypatch.setenv("FRUGAL_CONFIG", str(home / "config.toml"))
    for var in ("FRUGAL_REGION", "FRUGAL_PUE"):
        monkeypatch.delenv(var, raising=False)
