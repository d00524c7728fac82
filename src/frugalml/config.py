"""User configuration: ``~/.frugal/config.toml`` (or ``FRUGAL_CONFIG``), read without network.

Example file::

    region = "FR"          # or "aws:eu-west-3", "US-CAMX" ...; see `frugal regions`
    pue = 1.0              # or "datacenter"
    db = "sqlite:////home/me/.frugal/frugal.db"
    interval_s = 1.0
    db_connect_timeout_s = 5.0      # network registries: give up connecting after this
    db_statement_timeout_s = 30.0   # network registries: longest statement
    spool = "/home/me/.frugal/spool"  # where runs wait when the registry is unreachable

Precedence everywhere: explicit argument/flag > environment (``FRUGAL_REGION``, ``FRUGAL_PUE``,
``FRUGAL_DB``, ``FRUGAL_SPOOL``) > this file > defaults. Every value is checked when the file
is read, so a bad one is one clear error naming the key, never a traceback later.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from frugalml.errors import ConfigError

__all__ = ["KNOWN_KEYS", "config_path", "load_config", "spool_dir"]

_TEXT = {"region", "db", "spool"}
_SECONDS = {"interval_s", "db_connect_timeout_s", "db_statement_timeout_s"}
KNOWN_KEYS = _TEXT | _SECONDS | {"pue", "scope"}


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FRUGAL_CONFIG") or Path.home() / ".frugal" / "config.toml").expanduser()


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config file's settings, checked, or ``{}`` when there is none.

    Raises:
        ConfigError: unreadable file, bad TOML, an unknown key or a value of the wrong kind.
    """
    path = config_path(env)
    try:
        with open(path, "rb") as f:
            import tomllib  # only when there is a file: it costs a few ms to import

            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(
            f"Cannot read config file {path}: {e.strerror}. Fix its permissions or remove it."
        ) from e
    except ValueError as e:  # tomllib.TOMLDecodeError
        raise ConfigError(f"Config file {path} is not valid TOML ({e}). Fix or remove it.") from e
    section = data.get("frugal", data)
    unknown = set(section) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"Config file {path} has unknown key(s) {', '.join(sorted(unknown))}. "
            f"Known: {', '.join(sorted(KNOWN_KEYS))}."
        )
    for key, value in section.items():
        _check(path, key, value)
    return dict(section)


def _check(path: Path, key: str, value: object) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key in _SECONDS:
        if not (number and math.isfinite(float(value)) and float(value) > 0):  # type: ignore[arg-type]
            raise ConfigError(
                f"Config file {path}: {key} = {value!r} must be a finite number of seconds > 0, "
                f"e.g. {key} = 1.0."
            )
    elif key in _TEXT:
        if not isinstance(value, str):
            raise ConfigError(f"Config file {path}: {key} = {value!r} must be a string in quotes.")
    elif key == "pue":
        if not (number or isinstance(value, str)):
            raise ConfigError(
                f'Config file {path}: pue = {value!r} must be a number >= 1 or "datacenter".'
            )
    elif key == "scope" and value not in ("process", "machine"):
        raise ConfigError(f'Config file {path}: scope = {value!r} must be "process" or "machine".')


def spool_dir(
    env: Mapping[str, str] | None = None, config: Mapping[str, object] | None = None
) -> Path:
    """Where runs wait when their registry is unreachable: ``FRUGAL_SPOOL``, the config file's
    ``spool``, else ``~/.frugal/spool``."""
    env = os.environ if env is None else env
    value = env.get("FRUGAL_SPOOL")
    if not value:
        value = (load_config(env) if config is None else config).get("spool")  # type: ignore[assignment]
    return Path(str(value) if value else Path.home() / ".frugal" / "spool").expanduser()
