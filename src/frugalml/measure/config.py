"""User configuration: ``~/.frugal/config.toml`` (or ``FRUGAL_CONFIG``), read without network.

Example file::

    region = "FR"          # or "aws:eu-west-3", "US-CAMX" ...; see `frugal regions`
    pue = 1.0              # or "datacenter"
    db = "sqlite:////home/me/.frugal/frugal.db"
    interval_s = 1.0

Precedence everywhere: explicit argument/flag > environment (``FRUGAL_REGION``, ``FRUGAL_PUE``,
``FRUGAL_DB``) > this file > defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from frugalml.errors import ConfigError

__all__ = ["config_path", "load_config"]

KNOWN_KEYS = {"region", "pue", "db", "interval_s", "scope"}


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FRUGAL_CONFIG") or Path.home() / ".frugal" / "config.toml").expanduser()


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config file's settings, or ``{}`` when there is none."""
    path = config_path(env)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(
            f"Cannot read config file {path}: {e.strerror}. Fix its permissions or remove it."
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Config file {path} is not valid TOML ({e}). Fix or remove it.") from e
    section = data.get("frugal", data)
    unknown = set(section) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"Config file {path} has unknown key(s) {', '.join(sorted(unknown))}. "
            f"Known: {', '.join(sorted(KNOWN_KEYS))}."
        )
    return dict(section)
