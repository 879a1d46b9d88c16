"""LayerLab's own settings: limits that keep one server usable for a whole classroom.

Read once per process from, in order of precedence: environment variables ``LAYERLAB_<NAME>`` (upper case),
a TOML file named by ``LAYERLAB_CONFIG``, ``./layerlab.toml``, and the defaults below. Streamlit's own server
settings (address, port, upload size) live in ``.streamlit/config.toml``. docs/classroom.md documents both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

try:  # Python 3.11+; on 3.10 only environment variables are read
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None


@dataclass(frozen=True)
class Settings:
    max_nodes: int = 1000  # blocks in one design
    max_params: int = 1_000_000_000  # a design above this is refused before anything is allocated
    max_file_bytes: int = 5_000_000  # a project file or pasted JSON
    max_upload_mb: int = 50  # a CSV or image zip
    max_concurrent_runs: int = 2  # training runs at once per server; more wait in a queue
    max_run_seconds: float = 0.0  # per run; 0 means no limit
    max_epochs: int = 1000
    data_dir: str = ""  # run store and weights; empty means the platform's user data directory


class SettingsError(ValueError):
    pass


def _coerce(name: str, value: Any, kind: type) -> Any:
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name}={value!r} must be a {kind.__name__}") from None
    if kind in (int, float) and converted < 0:
        raise SettingsError(f"setting {name}={value!r} must not be negative")
    return converted


def _read_toml() -> dict[str, Any]:
    path = os.environ.get("LAYERLAB_CONFIG") or ("layerlab.toml" if Path("layerlab.toml").exists() else "")
    if not path or tomllib is None:
        return {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"cannot read the settings file {path}: {err}") from None
    return data.get("layerlab", data)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment and the TOML file; raises SettingsError naming a bad value."""
    environ = dict(os.environ if environ is None else environ)
    from_file = _read_toml()
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        kind = type(spec.default)
        raw = environ.get(f"LAYERLAB_{spec.name.upper()}", from_file.get(spec.name))
        if raw is not None:
            values[spec.name] = _coerce(spec.name, raw, kind)
    return Settings(**values)


@cache
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
