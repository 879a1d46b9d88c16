"""The learning-rate range test (Smith 2015; fastai's lr_find): train a copy of the model for one pass with a
learning rate that grows exponentially from ``START_LR`` to ``END_LR``, smooth the loss, and suggest the rate
where the smoothed loss falls fastest (the steepest descent against log lr).

The test trains its own model, built and seeded as a run builds it (or from given weights), with its own
optimizer and random streams: the design, any loaded weights, the run history and torch's global generator
are left as they were. A pass shorter than ``MIN_STEPS`` batches goes round the data again, a longer one is
cut at ``MAX_STEPS``, so the curve has enough points and the test stays a few seconds. It stops early once
the smoothed loss explodes (``DIVERGE`` times its lowest, or not finite).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from codegen.loader import build_model
from training.batches import make_batches
from training.config import TrainConfig
from training.device import amp_dtype, cpu_thread_budget, cpu_threads, pick_device
from training.loop import keep_frozen_norms, train_step
from training.optim import make_optimizer
from training.rng import RunRandom

if TYPE_CHECKING:
    from training.continuation import StartFrom

START_LR, END_LR = 1e-7, 10.0  # the lr setting's own range
MIN_STEPS, MAX_STEPS = 100, 300
SMOOTHING = 0.98  # the exponential moving average's weight on the past (bias-corrected)
DIVERGE = 4.0
SKIP_START = 0.1  # the first tenth of the curve is mostly the average warming up: no suggestion there


@dataclass
class LrFinding:
    lrs: list[float]
    losses: list[float]  # each step's loss
    smoothed: list[float]
    suggestion: float | None  # None when the loss never fell
    ended: str  # why the test ended
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"suggestion": self.suggestion, "ended": self.ended, "seconds": round(self.seconds, 3),
                "steps": len(self.lrs), "lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed}


def find_lr(graph: Any, dataset: Any, config: TrainConfig, start_from: StartFrom | None = None) -> LrFinding:
    """The range test for ``graph`` on ``dataset`` with ``config``'s optimizer, batch size, loss and seed (its lr
    and schedule are what is being searched, so they are ignored). Raises FitError like ``train``."""
    from training.engine import prepare

    source, plan, macs = prepare(graph, dataset, config)
    choice = pick_device(config.device)
    device = choice.device
    budget = cpu_thread_budget(cpu_threads(config.threads, macs * config.batch_size * 3)) \
        if device.type == "cpu" else contextlib.nullcontext()
    with budget:
        began = time.perf_counter()
        random = RunRandom(config.seed, device)
        with random.init():
            model = build_model(source)
        if start_from is not None:
            start_from.load_into(model)
        model = model.to(device)
        batches = make_batches(dataset.train, plan, device, config.batch_size, config.max_device_bytes)
        steps = min(MAX_STEPS, max(MIN_STEPS, len(batches)))
        optimizer = make_optimizer(config.optimizer, model.parameters(), START_LR, config.weight_decay,
                                   config.momentum, (config.beta1, config.beta2), config.eps)
        growth = (END_LR / START_LR) ** (1 / max(1, steps - 1))
        schedule = LambdaLR(optimizer, lambda step: growth ** step)
        amp = amp_dtype(device, config.amp)
        scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
        curve, criterion = _Curve(), plan.criterion()
        ended = f"reached lr {END_LR:g}"
        model.train()
        keep_frozen_norms(model, config.frozen_norm)
        for inputs, target in _batches(batches, random.shuffle, steps):
            lr = optimizer.param_groups[0]["lr"]
            with random.step():
                loss = train_step(model, criterion, inputs, target, optimizer, schedule, scaler, config.grad_clip,
                                  amp, device)
            if not curve.add(lr, loss):
                ended = f"the loss exploded at lr {lr:.3g}"
                break
    return LrFinding(curve.lrs, curve.losses, curve.smoothed, suggest(curve.lrs, curve.smoothed), ended,
                     time.perf_counter() - began, [choice.note] if choice.note else [])


class _Curve:
    """The points so far; ``add`` says whether to go on (False once the smoothed loss explodes)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average = 0.0

    def add(self, lr: float, loss: float) -> bool:
        if not math.isfinite(loss):
            return False
        self.average = SMOOTHING * self.average + (1 - SMOOTHING) * loss
        smooth = self.average / (1 - SMOOTHING ** (len(self.lrs) + 1))
        self.lrs.append(float(lr))
        self.losses.append(float(loss))
        self.smoothed.append(float(smooth))
        return len(self.smoothed) < 10 or smooth <= DIVERGE * min(self.smoothed)


def suggest(lrs: list[float], smoothed: list[float]) -> float | None:
    """The lr where the smoothed loss falls fastest against log lr, before its lowest point (after it the loss
    is already rising); None when it never falls."""
    if len(lrs) < 5:
        return None
    lowest = int(np.argmin(smoothed))
    first = int(len(lrs) * SKIP_START)
    if lowest - first < 2:
        return None
    slope = np.gradient(np.asarray(smoothed[: lowest + 1]), np.log10(np.asarray(lrs[: lowest + 1])))
    steepest = first + int(np.argmin(slope[first:]))
    return float(lrs[steepest]) if slope[steepest] < 0 else None


def _batches(batches: Any, generator: torch.Generator, steps: int) -> Any:
    """``steps`` training batches: the data in the run's shuffled order, again from the start when a pass ends."""
    done = 0
    while done < steps:
        for item in batches.epoch(generator):
            yield item
            done += 1
            if done >= steps:
                return
