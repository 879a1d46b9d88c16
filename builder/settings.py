"""LayerLab's own settings: limits that keep one server usable for a whole classroom.

Read once per process from, in order of precedence: environment variables ``LAYERLAB_<NAME>`` (upper case),
a TOML file named by ``LAYERLAB_CONFIG``, ``./layerlab.toml``, and the defaults below. Streamlit's own server
settings (address, port, upload size) live in ``.streamlit/config.toml``. docs/classroom.md documents both.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
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
    max_epochs: int = 10_000  # per run; the training panel offers up to 10,000
    max_checkpoint_mb: int = 500  # per run, its last and best checkpoints together; 0: no checkpoints
    data_dir: str = ""  # run store and weights; empty means the platform's user data directory
    executor: str = "process"  # where runs train: "process" (warm worker processes), "thread" (the server), "ray"
    worker_memory_mb: int = 0  # with executor "process": memory a run may allocate (the OS limit); 0: no cap
    ray_address: str = ""  # with executor "ray": HOST:PORT of a cluster's head, "auto", or empty for a private one
    ray_num_cpus: float = 1.0  # with executor "ray": CPUs each run asks the cluster for
    ray_num_gpus: float = 0.0  # with executor "ray": GPUs each run asks the cluster for
    ray_memory_mb: int = 0  # with executor "ray": memory each run asks the cluster for; 0: none asked

    @property
    def max_upload_bytes(self) -> int:
        """max_upload_mb in bytes, counted in MiB as Streamlit counts server.maxUploadSize."""
        return self.max_upload_mb * 1024 * 1024


class SettingsError(ValueError):
    pass


EXECUTORS = ("thread", "process", "ray")  # ui.train.executor, ui.train.process_executor, ui.train.ray_executor

# Settings that must be at least 1 (0 would refuse everything); max_run_seconds 0 means "no limit".
_AT_LEAST_ONE = ("max_nodes", "max_params", "max_file_bytes", "max_upload_mb", "max_concurrent_runs", "max_epochs")


def _coerce(name: str, value: Any, kind: type) -> Any:
    """``value`` (text from the environment, or a TOML value) as ``kind``; SettingsError names the setting."""
    where = f"LAYERLAB_{name.upper()}={value!r}" if isinstance(value, str) else f"{name} = {value!r}"
    if kind is str:
        if not isinstance(value, str):
            raise SettingsError(f"setting {where} must be text")
        return value
    if isinstance(value, bool):  # TOML true/false: int(True) would silently be 1
        raise SettingsError(f"setting {where} must be a number, not true/false")
    try:
        converted = _number(value, kind)
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(f"setting {where} must be {_kind_text(kind)}") from None
    if converted < 0 or (name in _AT_LEAST_ONE and converted < 1):
        least = "at least 1" if name in _AT_LEAST_ONE else "0 or more"
        raise SettingsError(f"setting {where} must be {least}")
    return converted


def _number(value: Any, kind: type) -> int | float:
    """int or float from text such as "50", "1e9" or "1_000_000"; NaN, infinities and fractions for
    whole-number settings are refused."""
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    if kind is int:
        if not number.is_integer():
            raise ValueError(value)
        return int(value) if isinstance(value, int) else int(number)
    return number


def _kind_text(kind: type) -> str:
    return "a whole number" if kind is int else "a number"


def _read_toml(environ: dict[str, str]) -> dict[str, Any]:
    path = environ.get("LAYERLAB_CONFIG") or ("layerlab.toml" if Path("layerlab.toml").exists() else "")
    if not path or tomllib is None:
        return {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise SettingsError(f"cannot read the settings file {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"the settings file {path} is not valid TOML: {err}") from None
    table = data.get("layerlab", data)
    if not isinstance(table, dict):
        raise SettingsError(f"the settings file {path}: [layerlab] must be a table of settings")
    _check_names(path, table)
    return table


def _check_names(path: str, table: dict[str, Any]) -> None:
    """A misspelt setting would otherwise be ignored without a word."""
    known = [spec.name for spec in fields(Settings)]
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(f"the settings file {path} has an unknown setting {key!r}{hint}; "
                                f"the settings are {', '.join(known)}")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the environment and the TOML file; raises SettingsError naming a bad value."""
    environ = dict(os.environ if environ is None else environ)
    from_file = _read_toml(environ)
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        kind = type(spec.default)
        raw = environ.get(f"LAYERLAB_{spec.name.upper()}", "").strip() or from_file.get(spec.name)
        if raw is not None:
            values[spec.name] = _coerce(spec.name, raw, kind)
    executor = str(values.get("executor", Settings.executor)).strip().lower()
    if executor not in EXECUTORS:
        raise SettingsError(f"setting executor={executor!r} is not known: use one of {', '.join(EXECUTORS)}")
    return Settings(**{**values, "executor": executor})


@cache
def settings() -> Settings:
    """The process-wide settings (read once; ``settings.cache_clear()`` re-reads them)."""
    return load_settings()


def default_data_dir() -> Path:
    """LAYERLAB_DATA_DIR, else the platform's user data folder (what an empty ``data_dir`` setting means)."""
    env = os.environ.get("LAYERLAB_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "layerlab"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "layerlab"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layerlab"


def data_dir() -> Path:
    """Where the server keeps the run history, weights and saved work: LAYERLAB_DATA_DIR as it is now (tests
    change it after the settings were read), else the data_dir setting, else the platform's folder."""
    chosen = "" if os.environ.get("LAYERLAB_DATA_DIR") else settings().data_dir
    return Path(chosen).expanduser() if chosen else default_data_dir()
