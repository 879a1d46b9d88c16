"""Runs that continue: resume a run from its last checkpoint, or start a new run from a run's weights.

The app's history ("Continue this run", "Start from these weights") and ``layerlab train --resume RUN`` /
``--from-run RUN`` / ``--from-weights FILE`` all come through here, so they check the same things and say
the same when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import TrainConfig
from training.runstore import RunRecord, RunStore, RunStoreError
from training.tasks import FitError, FitProblem


@dataclass
class StartFrom:
    """Weights a new run's model starts from (fine-tuning); its optimizer and schedule start afresh."""

    state: dict[str, torch.Tensor]
    label: str  # 'run 12' or 'weights.safetensors': said in messages
    origin: dict[str, Any] = field(default_factory=dict)  # what the run store records of it

    def load_into(self, model: nn.Module) -> None:
        """Strictly: every tensor of the model, with its shape; FitError naming what differs otherwise."""
        own = model.state_dict()
        missing = [k for k in own if k not in self.state]
        extra = [k for k in self.state if k not in own]
        shapes = [f"{k} {tuple(self.state[k].shape)} ≠ {tuple(v.shape)}" for k, v in own.items()
                  if k in self.state and self.state[k].shape != v.shape]
        problems = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                   ([f"not in this design: {', '.join(extra[:5])}"] if extra else []) + \
                   ([f"other sizes: {', '.join(shapes[:5])}"] if shapes else [])
        if problems:
            raise FitError([FitProblem(f"the weights of {self.label} don't fit this design ({'; '.join(problems)})")])
        model.load_state_dict(self.state, strict=True)


def resume_inputs(store: RunStore, ref: str | int) -> tuple[RunRecord, Any, TrainConfig]:
    """The run ``ref`` (number or id) with its own design and settings, for ``train(..., resume=record.id)``;
    RunStoreError saying why it can't be continued."""
    from builder.project import ProjectError, load_project
    from training.runstore import _alive

    record = store.find_run(ref)
    if record.status == "running" and _alive(_pid(store, record.id)):
        raise RunStoreError(f"run {record.number} is still running: stop it before continuing it")
    if record.status == "finished":  # all its epochs, or early stopping ended it: there is nothing left to do
        raise RunStoreError(f"run {record.number} has finished ({record.message}): start a new run from its weights "
                            f"(--from-run {record.number}, or 'Start from these weights') to train it further")
    if not (store.checkpoint_folder(record.id) / "last.pt").is_file():
        raise RunStoreError(f"run {record.number} has no checkpoint to continue from (runs keep one from the end of "
                            "their first epoch; older runs, and runs over the checkpoint size limit, have none)")
    try:
        graph = load_project(record.graph)
    except ProjectError as err:
        raise RunStoreError(f"run {record.number}: its design can't be read: {'; '.join(err.problems)}") from None
    return record, graph, TrainConfig.from_dict(record.config)


def _pid(store: RunStore, run_id: str) -> int | None:
    row = store._guard(lambda: store._conn().execute("SELECT pid FROM runs WHERE id=?", (run_id,)).fetchone())
    return row["pid"] if row else None


def from_run(store: RunStore, ref: str | int) -> tuple[RunRecord, StartFrom]:
    """A run's final weights to start a new run from; RunStoreError when it has none."""
    record = store.find_run(ref)
    state = store.weights_state(record.id)
    return record, StartFrom(state, f"run {record.number}", {"from_run": record.id, "number": record.number})


def from_bytes(data: bytes, name: str) -> StartFrom:
    """Weights uploaded in the app (a .safetensors file's bytes); RunStoreError when they can't be read."""
    from safetensors.torch import load

    try:
        state = load(data)
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends: the bytes aren't safetensors
        raise RunStoreError(f"{name} can't be read as safetensors: {str(err).splitlines()[0] if str(err) else err}") \
            from None
    return StartFrom(state, name, {"from_weights": name})


def from_file(path: str | Path) -> StartFrom:
    """Weights in a .safetensors file keyed for the design (``layerlab import --weights`` writes one, as does
    the app's weights download); never a pickle."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise RunStoreError(f"{path}: weights to start from must be a .safetensors file")
    if not path.is_file():
        raise RunStoreError(f"{path}: no such file")
    try:
        state = load_file(str(path))
    except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: the file can't be read
        raise RunStoreError(f"{path} can't be read as safetensors: {str(err).splitlines()[0] if str(err) else err}") \
            from None
    return StartFrom(state, path.name, {"from_weights": path.name})
