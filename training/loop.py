"""One training step, one evaluation pass and early stopping, as plain torch code.

The engine runs these functions and an exported training script carries their source verbatim
(``export.script_data.carry``), so the app and the script take the same steps in the same order: keep them
free of LayerLab imports.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import nn


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision when ``dtype`` is set; no autocast object at all otherwise (not every device type
    accepts one, even disabled)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def as_float(output: Any) -> Any:
    """The output in float32, each of a tuple's (a VAE returns reconstruction, mu, logvar)."""
    return tuple(o.float() for o in output) if isinstance(output, tuple) else output.float()


def train_step(model: nn.Module, criterion: Any, inputs: tuple[torch.Tensor, ...], target: torch.Tensor,
               optimizer: torch.optim.Optimizer, schedule: Any, scaler: Any, grad_clip: float,
               amp: torch.dtype | None, device: torch.device, weight: float = 1.0) -> float:
    """Forward, loss, backward, clipping, optimizer and schedule step; returns the batch's mean loss.

    A non-finite loss is returned before any update, so the caller can stop with the weights intact.
    ``weight`` scales the gradient only (under torchrun: this process's share of the global batch).
    """
    with autocast(device, amp):
        output = model(*inputs)
        loss = criterion(as_float(output) if amp else output, target)
    value = loss.item()  # one sync per step: needed to stop at the first non-finite loss
    if not math.isfinite(value):
        return value
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss if weight == 1.0 else loss * weight).backward()
    if grad_clip:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    schedule.step()
    return value


@torch.no_grad()
def evaluate(model: nn.Module, criterion: Any, plan: Any, batches: Any, accumulator: Any, device: torch.device,
             amp: torch.dtype | None) -> tuple[float | None, dict[str, Any]]:
    """Mean loss and metrics over ``batches`` in order, in eval mode (the model's mode is restored)."""
    if batches.n == 0:
        return None, {}
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    for inputs, target in batches.epoch(None):
        with autocast(device, amp):
            output = model(*inputs)
        output = as_float(output)
        loss_sum += float(criterion(output, target)) * len(target)
        accumulator.update(plan.predict(output), plan.metric_target(target))
    model.train(was_training)
    return loss_sum / batches.n, accumulator.result()


def in_units(metrics: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """Regression targets are often standardized for training: MAE and RMSE are rescaled to the target's own
    units (``target_std``), so every figure a run reports, stores or charts reads like the data. R² has no
    units. The one place errors change units: the app, the CLI, the run store and a script all report this."""
    std = extras.get("target_std")
    if "rmse" in metrics and isinstance(std, (int, float)) and std > 0:
        metrics = {**metrics, "mae": metrics["mae"] * std, "rmse": metrics["rmse"] * std}
    return metrics


def target_values(values: Any, extras: dict[str, Any]) -> Any:
    """Standardized regression values (targets or predictions) back in the target's own units; unchanged
    when the dataset has no scale (it was not standardized)."""
    std, mean = extras.get("target_std"), extras.get("target_mean")
    if not isinstance(std, (int, float)) or not isinstance(mean, (int, float)):
        return values
    return values * std + mean


def keep_frozen_norms(model: nn.Module, mode: str) -> None:
    """With ``mode`` 'eval', the batch-norm layers of frozen parts (their own weights, or a module around them,
    all ``requires_grad`` False) stay in eval mode while the rest of the model trains: their running statistics
    keep the values they were loaded with. Call it after ``model.train()``."""
    if mode != "eval":
        return
    frozen = [name for name, module in model.named_modules()
              if name and any(True for _ in module.parameters()) and not any(p.requires_grad for p in module.parameters())]
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    for name, module in model.named_modules():
        if isinstance(module, norms) and any(name == f or name.startswith(f + ".") for f in frozen):
            module.eval()


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class EarlyStopping:
    """Keeps the best validation loss with its epoch and weights; says when ``patience`` epochs in a row
    brought nothing better (patience 0: never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def should_stop(self, epoch: int, val_loss: float | None, state: dict[str, torch.Tensor]) -> bool:
        if not self.patience or val_loss is None:
            return False
        if self.best_loss is None or val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_state = val_loss, epoch, state
            return False
        return epoch - self.best_epoch >= self.patience
