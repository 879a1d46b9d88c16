"""Batches for training and evaluation, without per-sample Python collation.

uint8 pixels (the real image sets) stay bytes on the device and become float32 in [0, 1] batch by batch.

In-memory data moves to the device once and an epoch is a ``torch.randperm`` cut into index batches; data
too large for the device stays on the CPU and a DataLoader fetches whole batches by index (a BatchSampler
with ``batch_size=None``), pinned for fast copies to a GPU. With the same generator both paths visit the
samples in the same order (RandomSampler draws the same permutation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from data.base import model_input
from training.device import free_cached_memory, is_out_of_memory
from training.tasks import TaskPlan


class Batches:
    """One split as tensors on the device; an epoch is a random permutation cut into batches."""

    def __init__(self, inputs: tuple[torch.Tensor, ...], target: torch.Tensor, device: torch.device,
                 batch_size: int) -> None:
        self.inputs = tuple(t.to(device) for t in inputs)
        self.target = target.to(device)
        self.device = device
        self.batch_size = batch_size
        self.n = len(self.target)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def epoch(self, generator: torch.Generator | None) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        if generator is None:  # evaluation: in order, plain slices (views, no copies)
            for start in range(0, self.n, self.batch_size):
                end = start + self.batch_size
                yield tuple(model_input(t[start:end]) for t in self.inputs), self.target[start:end]
            return
        order = torch.randperm(self.n, generator=generator).to(self.device)
        for index in order.split(self.batch_size):
            yield tuple(model_input(t.index_select(0, index)) for t in self.inputs), self.target.index_select(0, index)


class LoaderBatches(Batches):
    """For data that doesn't fit on the device: stays on the CPU, whole batches fetched by index."""

    def __init__(self, inputs: tuple[torch.Tensor, ...], target: torch.Tensor, device: torch.device,
                 batch_size: int) -> None:
        self.inputs, self.target = inputs, target
        self.device, self.batch_size, self.n = device, batch_size, len(target)
        self.dataset = torch.utils.data.TensorDataset(*inputs, target)

    def epoch(self, generator: torch.Generator | None) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        data = torch.utils.data
        base = data.RandomSampler(self.dataset, generator=generator) if generator else range(self.n)
        # batch_size=None with a BatchSampler: TensorDataset indexes with the whole list, no per-sample collation.
        # The loader draws a base seed per epoch: from a throwaway generator, not torch's global one (another
        # run's dropout stream) nor the shuffling one (the order must match Batches.epoch).
        loader = data.DataLoader(self.dataset, sampler=data.BatchSampler(base, self.batch_size, drop_last=False),
                                 batch_size=None, pin_memory=self.device.type == "cuda", generator=torch.Generator())
        for *xs, y in loader:
            yield tuple(model_input(x.to(self.device, non_blocking=True)) for x in xs), y.to(self.device, non_blocking=True)


def batch_tensors(split: Any, plan: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """The split's inputs in the model's input order, and the target the loss compares with."""
    inputs = tuple(split.inputs[k] for k in plan.input_order) if plan.input_order else tuple(split.inputs)
    return inputs, plan.target_for(inputs, split.target)


def make_batches(split: Any, plan: TaskPlan, device: torch.device, batch_size: int, max_bytes: int) -> Batches:
    inputs, target = batch_tensors(split, plan)
    size = sum(t.numel() * t.element_size() for t in (*inputs, target))
    if size <= max_bytes:
        try:
            return Batches(inputs, target, device, batch_size)
        except Exception as err:  # the device is fuller than the size check assumed: stream instead
            if not is_out_of_memory(err):
                raise
            free_cached_memory(device)
    return LoaderBatches(inputs, target, device, batch_size)
