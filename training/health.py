"""Training health, per layer, while the run trains: weight and gradient norms, activation statistics,
histograms at chosen epochs, and warnings in plain words, each naming its node and offering one fix.

The engine calls a ``HealthMonitor`` after every step (``after_step``) and at the end of every epoch
(``end_epoch``); it is the engine's only observer. To stay within a few per cent of the step time it samples:
it measures what its own statistics cost and takes the next sample only while that cost is under ``budget``
of the training steps' time so far (the first two steps are always sampled). Activations are read by forward hooks
that exist only for the one step being sampled, so unsampled steps pay nothing.

The worker appends and the page reads at the same time: every list here is append-only and every dict is
replaced whole, never changed in place. Pure torch and builder, no streamlit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from builder.edits import insert_before
from builder.graph import Graph, Node

BUDGET = 0.02  # share of the training steps' time the statistics may take (forced samples included)
HIST_BINS = 30
HIST_VALUES = 20_000  # values kept per histogram
HIST_EPOCHS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)  # plus the start (0)
RECTIFIERS = (nn.ReLU, nn.ReLU6)
SQUASHERS = {nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh"}
DEAD_SHARE = 0.5  # a ReLU with more of its units never active on a batch is "dying"
SATURATED_SHARE = 0.6  # a sigmoid/tanh with more of its outputs within 0.02 of a limit is saturated
SATURATED_EPOCHS = 3  # ... in its first epochs: later, a trained tanh net often sits at its limits on purpose
VANISHED = 1e-4  # a layer's gradient this small next to the largest layer's has vanished
EXPLODED = 1e3  # a layer's gradient this large next to its weights has exploded
DIVERGED = 1.5  # a loss whose recent median is this many times the first step's diverges
WINDOW = 5  # steps of loss whose median is compared


@dataclass(frozen=True)
class HealthFix:
    """One click that may cure a warning: a change of the design (``edit``) or of the settings."""

    label: str
    settings: dict[str, Any] = field(default_factory=dict)  # training settings to set
    edit: Callable[[Graph], Graph] | None = field(default=None, compare=False)  # pure graph -> graph

    def apply(self, graph: Graph) -> Graph:
        return self.edit(graph) if self.edit is not None else graph


@dataclass(frozen=True)
class HealthWarning:
    node: str  # the top-level node the warning belongs on
    kind: str  # dead_relu | vanishing | exploding | diverging | saturated
    message: str
    step: int  # the step it was first seen at
    epoch: int
    fix: HealthFix | None = None


@dataclass(frozen=True)
class Sample:
    """The statistics of one sampled step."""

    step: int
    epoch: float  # fractional epochs, for the x axis
    loss: float
    weight_norm: dict[str, float]  # node id -> norm of all its parameters
    grad_norm: dict[str, float]
    activations: dict[str, dict[str, float]] = field(default_factory=dict)  # node -> dead / saturated share


@dataclass(frozen=True)
class Histogram:
    """Values kept from a tensor (a subsample); ``bins()`` counts them."""

    values: torch.Tensor

    def bins(self, count: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
        """(counts, edges) over the finite values' range."""
        values = self.values.numpy()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return np.zeros(count), np.linspace(0.0, 1.0, count + 1)
        low, high = float(values.min()), float(values.max())
        if high <= low:
            low, high = low - 0.5, high + 0.5
        return np.histogram(values, count, (low, high))


@dataclass
class HealthLog:
    """What the page reads: samples, histograms by epoch (0 = the start) and warnings by node."""

    layers: list[str] = field(default_factory=list)  # nodes with parameters, input to output
    activations: list[str] = field(default_factory=list)  # ReLU / sigmoid / tanh nodes
    samples: list[Sample] = field(default_factory=list)
    weight_hists: dict[int, dict[str, Histogram]] = field(default_factory=dict)
    activation_hists: dict[int, dict[str, Histogram]] = field(default_factory=dict)
    warnings: dict[str, HealthWarning] = field(default_factory=dict)  # (node:kind) -> first warning
    seconds: float = 0.0  # time spent on statistics

    def by_node(self) -> dict[str, list[HealthWarning]]:
        out: dict[str, list[HealthWarning]] = {}
        for warning in list(self.warnings.values()):
            out.setdefault(warning.node, []).append(warning)
        return out


class HealthMonitor:
    """The engine's observer. ``attributes`` maps node id -> module attribute (``ModelSource.attributes``);
    ``graph`` is the design, for the fixes; ``settings`` the run's (lr and optimizer, for the rate fix)."""

    def __init__(self, attributes: dict[str, str], graph: Graph, settings: dict[str, Any] | None = None,
                 steps_per_epoch: int = 1, budget: float = BUDGET) -> None:
        self.attributes = dict(attributes)
        self.graph = graph
        self.settings = dict(settings or {})
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.budget = budget
        self.log = HealthLog()
        self._modules: dict[str, nn.Module] | None = None
        self._params: dict[str, list[nn.Parameter]] = {}
        self._hooks: list[Any] = []
        self._captured: dict[str, dict[str, float]] = {}
        self._hist_for: int | None = 0  # the epoch whose activation histogram the next sample takes
        self._train_time = 0.0  # seconds of training steps seen so far: what the budget is a share of
        self._last: float | None = None  # when the last after_step returned
        self._first: float | None = None  # the first finite loss: where the run started
        self._recent: deque[float] = deque(maxlen=WINDOW)

    # -- the engine's calls ---------------------------------------------------------------------------
    def after_step(self, model: nn.Module, epoch: int, step: int, loss: float) -> None:
        began = time.perf_counter()
        if self._last is not None:  # the step just taken (not the evaluation after an epoch)
            self._train_time += began - self._last
        sampled = bool(self._hooks) or not math.isfinite(loss)
        if self._modules is None:  # the first step: its norms now, activations from the next step on
            self._bind(model)
            sampled = True
        if self._first is None and math.isfinite(loss):
            self._first = loss
        self._recent.append(loss)
        self._remove_hooks()
        if sampled:
            self._sample(epoch, step, loss)
        self._check_loss(epoch, step)
        spent = self.log.seconds + time.perf_counter() - began
        if self._hist_for is not None or spent <= self.budget * self._train_time:
            self._add_hooks()  # sample the next step
        self._last = time.perf_counter()
        self.log.seconds += self._last - began

    def end_epoch(self, model: nn.Module, epoch: int) -> None:
        began = time.perf_counter()
        if epoch in HIST_EPOCHS:
            self.log.weight_hists = {**self.log.weight_hists, epoch: self._weight_hists()}
            self._hist_for = epoch
            self._remove_hooks()
            self._add_hooks()
        self._last = None
        self.log.seconds += time.perf_counter() - began

    # -- binding to the model -------------------------------------------------------------------------
    def _bind(self, model: nn.Module) -> None:
        modules = {}
        for node, attr in self.attributes.items():
            try:
                modules[node] = model.get_submodule(attr)
            except AttributeError:
                continue
        self._modules = modules
        self._params = {n: [p for p in m.parameters() if p.requires_grad] for n, m in modules.items()}
        self._params = {n: ps for n, ps in self._params.items() if ps}
        self.log.layers = list(self._params)
        self.log.activations = [n for n, m in modules.items() if _activation_kind(m)]
        self.log.weight_hists = {0: self._weight_hists()}

    def _add_hooks(self) -> None:
        if self._hooks or not self._modules:
            return
        self._captured = {}
        for node in self.log.activations:
            hook = self._modules[node].register_forward_hook(self._reader(node))
            self._hooks.append(hook)
        if not self._hooks:
            self._hooks.append(_NoHook())  # still marks the next step as sampled

    def _remove_hooks(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _reader(self, node: str) -> Callable[[nn.Module, Any, Any], None]:
        def read(module: nn.Module, _inputs: Any, output: Any) -> None:
            if not module.training or not isinstance(output, torch.Tensor):
                return
            began = time.perf_counter()
            self._captured[node] = _activation_stats(module, output.detach())
            if self._hist_for is not None:
                hists = dict(self.log.activation_hists.get(self._hist_for, {}))
                hists[node] = _histogram(output.detach())
                self.log.activation_hists = {**self.log.activation_hists, self._hist_for: hists}
            self.log.seconds += time.perf_counter() - began  # inside the step, but the monitor's cost
        return read

    # -- statistics -----------------------------------------------------------------------------------
    def _sample(self, epoch: int, step: int, loss: float) -> None:
        weights, grads = self._norms()
        sample = Sample(step, step / self.steps_per_epoch, loss, weights, grads, dict(self._captured))
        self.log.samples.append(sample)
        if self._captured or not self.log.activations:  # the histogram asked for is taken
            self._hist_for = None
        self._judge(sample, epoch)

    def _norms(self) -> tuple[dict[str, float], dict[str, float]]:
        nodes, weights, grads = [], [], []
        for node, params in self._params.items():
            nodes.append(node)
            weights.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.detach() for p in params]))))
            found = [p.grad.detach() for p in params if p.grad is not None]
            grads.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(found))) if found
                         else torch.zeros((), device=weights[-1].device))
        if not nodes:
            return {}, {}
        values = torch.stack([torch.stack(weights), torch.stack(grads)]).float().cpu().tolist()  # one sync
        return dict(zip(nodes, values[0])), dict(zip(nodes, values[1]))

    def _weight_hists(self) -> dict[str, Histogram]:
        out = {}
        for node, params in self._params.items():
            weight = next((p for name, p in self._named(node) if name.endswith("weight")), params[0])
            out[node] = _histogram(weight.detach())
        return out

    def _named(self, node: str) -> Iterable[tuple[str, nn.Parameter]]:
        return self._modules[node].named_parameters() if self._modules else []

    # -- warnings -------------------------------------------------------------------------------------
    def _warn(self, node: str, kind: str, message: str, step: int, epoch: int, fix: HealthFix | None) -> None:
        key = f"{node}:{kind}"
        if key not in self.log.warnings:
            self.log.warnings = {**self.log.warnings, key: HealthWarning(node, kind, message, step, epoch, fix)}

    def _judge(self, sample: Sample, epoch: int) -> None:
        for node, stats in sample.activations.items():
            if "dead" in stats and stats["dead"] >= DEAD_SHARE:
                self._warn(node, "dead_relu", dead_message(node, stats["dead"]), sample.step, epoch,
                           HealthFix(f"Replace ‘{node}’ with LeakyReLU", edit=partial(to_leaky, nodes=(node,))))
            if "saturated" in stats and stats["saturated"] >= SATURATED_SHARE and epoch <= SATURATED_EPOCHS:
                self._warn(node, "saturated", saturated_message(node, stats["saturated"]), sample.step, epoch,
                           batchnorm_fix(self.graph, [node]))
        self._judge_gradients(sample, epoch)

    def _judge_gradients(self, sample: Sample, epoch: int) -> None:
        grads = sample.grad_norm
        finite = [g for g in grads.values() if math.isfinite(g)]
        if not finite or max(finite) <= 0:
            return
        top = max(finite)
        for node in self.log.layers:  # input to output: the first vanished layer is where learning stops
            if grads.get(node, top) < VANISHED * top:
                # BatchNorm before each activation, not another activation: with PyTorch's default
                # initialisation a deep LeakyReLU stack still shrinks its signal (measured: 20 layers on
                # spirals stay at ln 3 either way; with BatchNorm the loss falls from the first epoch).
                squashers = self._squashers()
                fix = batchnorm_fix(self.graph, squashers or self.log.activations) if (
                    squashers or self.log.activations) else None
                self._warn(node, "vanishing", vanishing_message(node, grads[node] / top, len(squashers)),
                           sample.step, epoch, fix)
                break
        for node in self.log.layers:
            grad, weight = grads.get(node, 0.0), sample.weight_norm.get(node, 0.0)
            if not math.isfinite(grad) or grad > EXPLODED * max(weight, 1e-12):
                self._warn(node, "exploding", exploding_message(node, grad, weight), sample.step, epoch,
                           HealthFix("Clip gradients at norm 1", settings={"grad_clip": 1.0}))
                break

    def _squashers(self) -> list[str]:
        return [n for n in self.log.activations if _activation_kind(self._modules[n]) == "squash"]

    def _check_loss(self, epoch: int, step: int) -> None:
        start, latest = self._first, self._recent[-1]
        diverged = not math.isfinite(latest) or (
            start is not None and len(self._recent) == WINDOW and sorted(self._recent)[WINDOW // 2] > DIVERGED * start)
        if diverged:
            self._warn(self._output_node(), "diverging", diverging_message(self.settings, latest, start), step, epoch,
                       lower_rate_fix(self.settings))

    def _output_node(self) -> str:
        sinks = self.graph.sinks()
        return sinks[0].id if sinks else (self.log.layers[-1] if self.log.layers else "")


class _NoHook:
    def remove(self) -> None:
        pass


# -- statistics of one tensor -----------------------------------------------------------------------------
def _activation_kind(module: nn.Module) -> str | None:
    if isinstance(module, RECTIFIERS):
        return "rectifier"
    if isinstance(module, tuple(SQUASHERS)):
        return "squash"
    return None


def _activation_stats(module: nn.Module, output: torch.Tensor) -> dict[str, float]:
    """ReLU: the share of units (every position but the batch's) not active for any example of the batch.
    Sigmoid/tanh: the share of outputs within 0.02 of a limit, where the gradient is under ~2 % of its peak."""
    if output.ndim < 2 or output.shape[0] < 2:
        return {}
    if _activation_kind(module) == "rectifier":
        return {"dead": float((output > 0).flatten(1).any(dim=0).logical_not().float().mean())}
    near = (output < 0.02) | (output > 0.98) if isinstance(module, nn.Sigmoid) else output.abs() > 0.98
    return {"saturated": float(near.float().mean())}


def _histogram(values: torch.Tensor) -> Histogram:
    """A histogram of ``values``, binned later (by the page): here only a strided subsample of at most
    HIST_VALUES values is copied, one cheap operation in the training thread."""
    flat = values.detach().flatten()
    return Histogram(flat[:: max(1, flat.numel() // HIST_VALUES)][:HIST_VALUES].float().to("cpu", copy=True))


# -- words ------------------------------------------------------------------------------------------------
def dead_message(node: str, share: float) -> str:
    return (f"{share:.0%} of the units of ‘{node}’ gave 0 for every example of a batch: dead ReLUs pass no gradient "
            "and stop learning. LeakyReLU keeps a small slope below 0, so they can come back.")


def saturated_message(node: str, share: float) -> str:
    return (f"{share:.0%} of the outputs of ‘{node}’ sit at its limits, where its slope is almost 0: the layers "
            "before it hardly learn. Normalising its input (BatchNorm) keeps it in its steep middle.")


def vanishing_message(node: str, ratio: float, squashers: int) -> str:
    why = (f" Each of the {squashers} sigmoid/tanh layers shrinks it (a sigmoid's slope is at most 0.25); "
           "BatchNorm before each keeps them in their steep middle.") if squashers else ""
    share = f"{ratio:.0e} of" if ratio > 0 else "nothing next to"
    return (f"The gradient reaching ‘{node}’ is {share} the largest layer's: it has vanished, so "
            f"‘{node}’ and the layers before it barely change.{why}")


def exploding_message(node: str, grad: float, weight: float) -> str:
    return (f"The gradient of ‘{node}’ ({grad:.3g}) is over {EXPLODED:g}× its weights ({weight:.3g}): one step can "
            "throw them far away. Clipping the gradient's norm bounds each step.")


def diverging_message(settings: dict[str, Any], latest: float, start: float | None) -> str:
    lr = settings.get("lr")
    rate = f" (now {lr:g})" if isinstance(lr, (int, float)) else ""
    was = f", from {start:.3g} at the start" if start is not None else ""
    return (f"The loss is growing instead of falling ({latest:.3g}{was}): the learning rate{rate} is so large "
            "that each step overshoots. Lower it.")


# -- fixes (pure graph edits and settings) ------------------------------------------------------------------
def to_leaky(graph: Graph, nodes: Iterable[str]) -> Graph:
    """The nodes, each replaced by a LeakyReLU of the same id (their edges stay)."""
    for node_id in nodes:
        node = graph.node(node_id)
        graph = graph.replace_node(Node(node.id, "LeakyReLU", {}, node.pos, node.meta))
    return graph


def with_batchnorm(graph: Graph, nodes: Iterable[str], ranks: dict[str, int] | None = None) -> Graph:
    """A BatchNorm inserted before each node (1d for (N, C) and (N, C, L) inputs, 2d for images)."""
    for node_id in nodes:
        dims = 2 if (ranks or {}).get(node_id, 2) == 4 else 1
        graph = insert_before(graph, node_id, f"BatchNorm{dims}d")[0]
    return graph


def batchnorm_fix(graph: Graph, nodes: list[str]) -> HealthFix:
    ranks = _input_ranks(graph, nodes)
    label = (f"Add BatchNorm before ‘{nodes[0]}’" if len(nodes) == 1
             else f"Add BatchNorm before each of the {len(nodes)} activations")
    # a partial of a module function, not a lambda: a fix found in a worker process pickles back to the server
    return HealthFix(label, edit=partial(with_batchnorm, nodes=tuple(nodes), ranks=ranks))


def _input_ranks(graph: Graph, nodes: list[str]) -> dict[str, int]:
    """Rank (with the batch) of what flows into each node; 2 where unknown."""
    from builder.validate import validate

    result = validate(graph)
    ranks = {}
    for node_id in nodes:
        ins = graph.in_edges(node_id)
        info = result.nodes.get(ins[0].source) if ins else None
        shape = getattr(getattr(info, "output", None), "shape", None)
        ranks[node_id] = len(shape) + 1 if shape is not None else 2
    return ranks


TITLES = {"dead_relu": "Dead ReLUs", "saturated": "Saturated", "vanishing": "Vanishing gradient",
          "exploding": "Exploding gradient", "diverging": "Loss diverges"}  # what a canvas node's line starts with
TYPICAL_RATE = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05}  # adaptive optimizers: 0.01


def lower_rate_fix(settings: dict[str, Any]) -> HealthFix:
    lr = float(settings.get("lr") or 1e-3)
    new = min(lr / 100, TYPICAL_RATE.get(str(settings.get("optimizer", "adam")), 0.01))
    return HealthFix(f"Lower the learning rate to {new:g}", settings={"lr": new})


def monitor_for(graph: Graph, dataset: Any, config: Any, budget: float = BUDGET) -> HealthMonitor:
    """A monitor for training ``graph`` on ``dataset`` with ``config`` (a TrainConfig)."""
    from codegen.source import generate_model

    steps = math.ceil(len(dataset.train) / max(1, int(config.batch_size)))
    return HealthMonitor(generate_model(graph).attributes, graph, config.settings(), steps, budget)


def warning_line(warning: HealthWarning) -> tuple[str, str]:
    """(title, full sentence) of a warning on its canvas node: the title on the node, the sentence on hover."""
    return TITLES.get(warning.kind, warning.kind), warning.message


def health_issues(run: Any) -> dict[str, list[tuple[str, str]]]:
    """Node id -> the health warnings of ``run`` (a run with a ``health`` monitor, a monitor or a log) as
    ``warning_line``s, for the canvas. Empty when the run has none."""
    monitor = getattr(run, "health", run)
    log = getattr(monitor, "log", monitor)
    if not isinstance(log, HealthLog):
        return {}
    return {node: [warning_line(w) for w in warnings] for node, warnings in log.by_node().items()}
