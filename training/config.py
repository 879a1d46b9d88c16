"""The settings of one training run as a frozen dataclass that the app, the CLI, the run store and the
exported script share. Its fields, defaults and checks come from ``training.settings`` (one description of
every setting); only the engine's own knobs below the line are not user settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from training.settings import SettingsError, check_settings, normalise, setting, upgrade


def _default(name: str) -> Any:
    value = setting(name).default
    return field(default_factory=dict) if isinstance(value, dict) else value


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = _default("optimizer")
    lr: float = _default("lr")
    momentum: float = _default("momentum")
    beta1: float = _default("beta1")
    beta2: float = _default("beta2")
    eps: float = _default("eps")
    schedule: str = _default("schedule")
    gamma: float = _default("gamma")
    warmup: float = _default("warmup")
    loss: str = _default("loss")
    label_smoothing: float = _default("label_smoothing")
    class_weights: str = _default("class_weights")
    weight_decay: float = _default("weight_decay")
    grad_clip: float = _default("grad_clip")  # 0 = off
    patience: int = _default("patience")  # 0 = off
    epochs: int = _default("epochs")
    batch_size: int = _default("batch_size")
    seed: int = _default("seed")
    device: str = _default("device")
    amp: str = _default("amp")
    frozen_norm: str = _default("frozen_norm")
    max_seconds: float = _default("max_seconds")  # 0 = no limit
    threads: int = _default("threads")
    dataset: str = _default("dataset")
    dataset_options: dict[str, Any] = _default("dataset_options")
    target: str = _default("target")
    task: str | None = _default("task")  # None: the dataset's task
    val_fraction: float = _default("val_fraction")
    test_fraction: float = _default("test_fraction")
    # -- the engine's own knobs, not user settings ---------------------------------------------------------
    event_interval: float = 0.1  # seconds between step events
    max_device_bytes: int = 2 << 30  # larger datasets stay on the CPU and stream through a DataLoader

    def settings(self) -> dict[str, Any]:
        """The user settings only: what the run store records and ``meta.training`` holds."""
        return {k: v for k, v in asdict(self).items() if k not in _ENGINE_ONLY}

    def problems(self) -> list[str]:
        return check_settings(self.settings())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_settings(cls, values: Mapping[str, Any], **engine: Any) -> TrainConfig:
        """Checked settings (SettingsError lists every bad value; unknown names are ignored, as a project's
        meta.training may carry more) plus engine knobs."""
        return cls(**normalise(values), **engine)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Lenient, for records written by older versions: known keys only, None means the default; values
        are not checked here (``problems()`` reports them)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in upgrade(values).items() if k in names and (v is not None or k == "task")})


_ENGINE_ONLY = ("event_interval", "max_device_bytes")

__all__ = ["SettingsError", "TrainConfig"]
