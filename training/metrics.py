"""Evaluation metrics, accumulated batch by batch on the device so large sets never need one big tensor.

Classification (and binary): accuracy, per-class precision/recall, confusion matrix. Regression: MAE, RMSE,
R² (averaged over output columns, as scikit-learn does). Sequences: token accuracy ignoring padding and whole
sequence accuracy. Reconstruction: mean squared error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


class Accumulator:
    """Collects one evaluation pass; ``update`` takes predictions (not raw outputs) and targets."""

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        raise NotImplementedError


class ClassAccumulator(Accumulator):
    def __init__(self, num_classes: int, device: torch.device) -> None:
        self.k = num_classes
        self.confusion = torch.zeros(num_classes * num_classes, dtype=torch.long, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        # One bincount of (true, predicted) pairs: no Python loop over samples.
        index = target.reshape(-1).long() * self.k + pred.reshape(-1).long()
        self.confusion += torch.bincount(index, minlength=self.k * self.k)

    def result(self) -> dict[str, Any]:
        matrix = self.confusion.view(self.k, self.k).cpu()
        total = int(matrix.sum())
        correct = int(matrix.diag().sum())
        predicted = matrix.sum(0)
        actual = matrix.sum(1)
        precision = [float(matrix[i, i] / predicted[i]) if predicted[i] else 0.0 for i in range(self.k)]
        recall = [float(matrix[i, i] / actual[i]) if actual[i] else 0.0 for i in range(self.k)]
        return {"accuracy": correct / total if total else 0.0, "precision": precision, "recall": recall,
                "confusion": matrix.tolist()}


class RegressionAccumulator(Accumulator):
    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, torch.Tensor] = {}

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred = pred.detach().float().reshape(len(pred), -1)
        target = target.float().reshape(len(target), -1)
        err = pred - target
        parts = {"abs": err.abs().sum(0), "sq": (err * err).sum(0), "y": target.sum(0), "yy": (target * target).sum(0)}
        for key, value in parts.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.n += len(pred)

    def result(self) -> dict[str, Any]:
        if not self.n:
            return {"mae": 0.0, "rmse": 0.0, "r2": 0.0}
        s = {k: v.double().cpu() for k, v in self.sums.items()}
        cols = s["abs"].numel()
        mae = float(s["abs"].sum()) / (self.n * cols)
        rmse = math.sqrt(float(s["sq"].sum()) / (self.n * cols))
        total = s["yy"] - s["y"] ** 2 / self.n  # per-column sum of squares around the mean
        r2 = torch.where(total > 1e-12, 1.0 - s["sq"] / total.clamp_min(1e-12), torch.zeros_like(total))
        return {"mae": mae, "rmse": rmse, "r2": float(r2.mean())}


class TokenAccumulator(Accumulator):
    def __init__(self, pad_id: int | None) -> None:
        self.pad_id = pad_id
        self.correct = self.tokens = self.seq_correct = self.seqs = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        keep = torch.ones_like(target, dtype=torch.bool) if self.pad_id is None else target != self.pad_id
        hit = (pred == target) & keep
        self.correct += int(hit.sum())
        self.tokens += int(keep.sum())
        self.seq_correct += int(((pred == target) | ~keep).all(dim=1).sum())
        self.seqs += len(target)

    def result(self) -> dict[str, Any]:
        return {"token_accuracy": self.correct / self.tokens if self.tokens else 0.0,
                "sequence_accuracy": self.seq_correct / self.seqs if self.seqs else 0.0}


class ReconstructionAccumulator(Accumulator):
    def __init__(self) -> None:
        self.sq = 0.0
        self.count = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.sq += float(((pred.detach().float() - target.float()) ** 2).sum())
        self.count += target.numel()

    def result(self) -> dict[str, Any]:
        return {"mse": self.sq / self.count if self.count else 0.0}


# The accumulator of each task (data.base.Task), by its name: an exported script carries only its run's entry.
ACCUMULATORS: dict[str, Callable[[int | None, int | None, torch.device], Accumulator]] = {
    "classification": lambda num_classes, pad_id, device: ClassAccumulator(num_classes or 2, device),
    "binary": lambda num_classes, pad_id, device: ClassAccumulator(num_classes or 2, device),
    "regression": lambda num_classes, pad_id, device: RegressionAccumulator(),
    "sequence": lambda num_classes, pad_id, device: TokenAccumulator(pad_id),
    "reconstruction": lambda num_classes, pad_id, device: ReconstructionAccumulator(),
    "vae": lambda num_classes, pad_id, device: ReconstructionAccumulator(),  # of its reconstruction
}


def make_accumulator(task: str, num_classes: int | None, pad_id: int | None, device: torch.device) -> Accumulator:
    return ACCUMULATORS[task](num_classes, pad_id, device)


HEADLINE = {"classification": "accuracy", "binary": "accuracy", "regression": "rmse",
            "sequence": "token_accuracy", "reconstruction": "mse", "vae": "mse"}
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False, "token_accuracy": True, "mse": False}


def headline(task: str, metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The one number to show for a task (accuracy, RMSE, token accuracy or MSE)."""
    name = HEADLINE.get(task, "mse")
    return name, metrics.get(name)
