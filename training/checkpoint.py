"""A run's checkpoints: what it takes to pick a run up where it stopped, written at the end of each epoch.

Two files per run, in ``<run store folder>/checkpoints/<run id>/``:

- ``last.pt``: the weights, the optimizer's, schedule's and gradient scaler's state, every random stream the
  run draws from (the shuffling generator and the run's copy of torch's global generator, which dropout
  reads), the epoch, the optimizer steps, the per-epoch history and the early-stopping state. Resuming from
  it continues the run exactly as if it had never stopped (on CPU, bit for bit).
- ``best.pt``: the weights of the epoch with the lowest validation loss so far (early stopping restores them).

The run does not draw from numpy's or Python's generators while it trains (the data is prepared and split
before the first epoch from the seed), so those are not saved: the seed recreates them.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``: tensors and plain
values only, never an arbitrary pickle. A file is written beside its final name and renamed into place, so a
process killed mid-write leaves the previous checkpoint whole.

Size limit (``max_checkpoint_mb``, per run, both files together): when ``last.pt`` alone is over it, the run
keeps no checkpoints (any older ones are removed) and can't be resumed; when ``last.pt`` fits but not both,
``best.pt`` is not kept (a run with early stopping on can then not be resumed: its best weights are gone).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMAT = 1
LAST, BEST = "last.pt", "best.pt"


class CheckpointError(Exception):
    """A checkpoint that is missing, damaged, or doesn't belong to the run it is used for."""


@dataclass
class Checkpoint:
    """What ``last.pt`` holds (plain values and tensors)."""

    epoch: int
    step: int
    samples: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    scaler: dict[str, Any]
    shuffle_state: torch.Tensor  # the run's shuffling torch.Generator
    global_states: list[torch.Tensor]  # the run's copy of torch's global generator (CPU, then its GPU)
    draws: bool | None  # whether a training step draws from the global generator (None: not known yet)
    best_loss: float | None  # early stopping's best validation loss and its epoch
    best_epoch: int | None
    history: list[dict[str, Any]]
    seconds: float  # the run's clock at the end of the epoch (the history's "seconds" goes on from it)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **{k: getattr(self, k) for k in self.__dataclass_fields__}}


def checkpoint_dir(store_folder: Path, run_id: str) -> Path:
    return store_folder / "checkpoints" / run_id


class Keeper:
    """Writes one run's checkpoints within ``limit_bytes`` (0: none), and says once when it can't."""

    def __init__(self, folder: Path, limit_bytes: int) -> None:
        self.folder = folder
        self.limit = limit_bytes
        self.best_loss: float | None = None
        self.note: str | None = None  # why checkpoints (or the best one) are not kept

    def restore_best(self, best_loss: float | None) -> None:
        self.best_loss = best_loss

    def save(self, checkpoint: Checkpoint, val_loss: float | None) -> None:
        if self.limit <= 0:
            self._give_up("checkpoints are off on this server (max_checkpoint_mb = 0): this run can't be resumed")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        last = _write(self.folder / LAST, checkpoint.to_dict(), self.limit)
        if last is None:
            self._give_up(f"a checkpoint of this run is over the server's limit of {_mb(self.limit)} per run "
                          "(max_checkpoint_mb): none is kept, so it can't be resumed")
            return
        better = val_loss is not None and math.isfinite(val_loss) and (self.best_loss is None
                                                                       or val_loss < self.best_loss)
        if better:
            self.best_loss = val_loss
            best = {"format": FORMAT, "epoch": checkpoint.epoch, "val_loss": val_loss, "model": checkpoint.model}
            if _write(self.folder / BEST, best, self.limit - last) is None:
                (self.folder / BEST).unlink(missing_ok=True)
                self.note = self.note or (f"the best epoch's weights don't fit beside the last checkpoint in the "
                                          f"server's limit of {_mb(self.limit)} per run: only the last is kept")

    def _give_up(self, note: str) -> None:
        self.note = self.note or note
        shutil.rmtree(self.folder, ignore_errors=True)


def _write(path: Path, values: dict[str, Any], limit: int) -> int | None:
    """Write ``values`` to ``path`` (via a temporary file, renamed into place); its size, or None when it is over
    ``limit`` bytes (then nothing is written)."""
    tmp = path.with_suffix(".tmp")
    torch.save(values, tmp)
    size = tmp.stat().st_size
    if size > limit:
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, path)
    return size


def _mb(size: int) -> str:
    return f"{size / 2**20:g} MB"


def load_last(folder: Path) -> Checkpoint:
    values = _read(folder / LAST)
    try:
        return Checkpoint(**{k: values[k] for k in Checkpoint.__dataclass_fields__})
    except KeyError as err:
        raise CheckpointError(f"the checkpoint {folder / LAST} lacks {err.args[0]!r}: it was not written by "
                              "this version of LayerLab") from None


def load_resumable(folder: Path, patience: int, epochs: int) -> tuple[Checkpoint, dict[str, torch.Tensor] | None]:
    """The last checkpoint and, with early stopping on, its best epoch's weights; CheckpointError when the run
    can't go on from them (missing, damaged, or all ``epochs`` done)."""
    last = load_last(folder)
    if last.epoch >= epochs:
        raise CheckpointError(f"it has trained all its {epochs} epochs: start a new run from its weights to train "
                              "it further")
    best = load_best(folder, last.best_epoch) if patience and last.best_epoch is not None else None
    return last, best


def load_best(folder: Path, epoch: int) -> dict[str, torch.Tensor]:
    """The best weights, which must be those of ``epoch`` (early stopping's best)."""
    values = _read(folder / BEST)
    if values.get("epoch") != epoch:
        raise CheckpointError(f"the best checkpoint in {folder} is of epoch {values.get('epoch')}, not {epoch}")
    return values["model"]


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        values = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file: say so, never unpickle more
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"the checkpoint {path} can't be read: {first}") from None
    if not isinstance(values, dict) or values.get("format") != FORMAT:
        raise CheckpointError(f"the checkpoint {path} is not a LayerLab checkpoint (format {FORMAT})")
    return values
