"""The hyper-parameters of one training run, as one dataclass the app, the CLI and the run store share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from training.device import AMP_MODES, DEVICES
from training.optim import OPTIMIZERS, SCHEDULES
from training.tasks import LOSSES


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # for 'momentum' / 'nesterov'
    schedule: str = "constant"  # one of SCHEDULES
    loss: str = "auto"  # auto picks from the task
    label_smoothing: float = 0.0  # cross-entropy only
    task: str | None = None  # override the dataset's task (e.g. "reconstruction" for an autoencoder)
    epochs: int = 10
    batch_size: int = 64
    grad_clip: float | None = None  # max gradient norm
    patience: int | None = None  # early stopping: epochs without a better val loss; restores the best weights
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    amp: str = "auto"  # off | auto (bf16 where supported) | bf16 | fp16 — CUDA only
    max_seconds: float | None = None  # stop training after this long (the test pass still runs)
    event_interval: float = 0.1  # seconds between step events
    max_device_bytes: int = 2 << 30  # larger datasets stay on the CPU and stream through a DataLoader
    threads: int = 0  # CPU intra-op threads; 0 picks from the model size and the machine's load

    def problems(self) -> list[str]:
        found = []
        if self.optimizer not in OPTIMIZERS:
            found.append(f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            found.append(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            found.append(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.device.split(":")[0] not in DEVICES:
            found.append(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.amp not in AMP_MODES:
            found.append(f"unknown mixed-precision mode {self.amp!r}: choose one of {', '.join(AMP_MODES)}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                found.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            found.append(f"the learning rate must be a positive number, got {self.lr}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Known keys only (a template's meta.training also names its dataset)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})
