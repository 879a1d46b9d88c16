"""What a trained model does, as arrays for the charts: decision boundaries, predictions on sample inputs,
greedy-decoded sequences and attention maps over the tokens of one example.

Pure torch/numpy (no streamlit), so tests run them on real trained models. Every function evaluates in
``torch.no_grad()`` and eval mode and puts the model's mode back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from data.base import model_input
from ui.train import charts


@contextmanager
def evaluating(model: nn.Module) -> Iterator[torch.device]:
    """Eval mode and no gradients for the block; yields the model's device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next((p.device for p in model.parameters()), torch.device("cpu"))
    finally:
        model.train(was_training)


def model_inputs(split: Any, plan: Any, rows: slice | list[int] | torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The model's inputs for some rows of a split, in the model's argument order."""
    order = plan.input_order or tuple(range(len(split.inputs)))
    return tuple(model_input(split.inputs[k][rows]) for k in order)


def _forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    with evaluating(model) as device:
        output = model(*(x.to(device) for x in inputs))
    if isinstance(output, tuple):  # a VAE's (reconstruction, mu, logvar): its reconstruction is what it predicts
        output = output[0]
    return output.float().cpu()


def _probabilities(output: torch.Tensor, plan: Any) -> torch.Tensor:
    """Per-class probabilities (N, K), or P(class 1) as (N, 1) for one-logit binary models."""
    kind = getattr(plan, "output_kind", "logits")
    if output.shape[-1] == 1:
        return output if kind == "probabilities" else torch.sigmoid(output)
    if kind == "probabilities":
        return output
    return output.exp() if kind == "log_probabilities" else torch.softmax(output, dim=-1)


def predict_classes(model: nn.Module, plan: Any, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    return plan.predict(_forward(model, inputs)).reshape(-1).numpy()


# ---- 2-D decision boundary ----------------------------------------------------------------------------
def boundary_values(
    model: nn.Module, plan: Any, bounds: Any, resolution: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, values[len(ys), len(xs)]): P(class 1) for binary models, the predicted class otherwise."""
    xs, ys, points = charts.boundary_grid(bounds, resolution)
    probs = _probabilities(_forward(model, (torch.from_numpy(points),)), plan)
    if probs.shape[-1] == 1:
        values = probs[:, 0]
    elif probs.shape[-1] == 2:
        values = probs[:, 1]
    else:
        values = probs.argmax(-1).float()
    return xs, ys, values.numpy().reshape(len(ys), len(xs))


# ---- predictions on sample inputs -----------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    inputs: tuple[np.ndarray, ...]  # the first n examples of the split
    predicted: np.ndarray
    actual: np.ndarray


def sample_predictions(model: nn.Module, plan: Any, split: Any, n: int = 16) -> Prediction:
    """Predictions (class ids, values or reconstructions) for the first ``n`` examples of ``split``."""
    rows = slice(0, min(n, len(split)))
    inputs = model_inputs(split, plan, rows)
    output = _forward(model, inputs)
    predicted = plan.predict(output) if plan.task in ("classification", "binary", "sequence") else output
    actual = plan.target_for(inputs, split.target[rows])
    return Prediction(tuple(x.numpy() for x in inputs), predicted.numpy(), actual.numpy())


def forecast(model: nn.Module, plan: Any, split: Any, limit: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) next values over consecutive windows of a chronological split (first column)."""
    rows = slice(0, min(limit, len(split)))
    output = _forward(model, model_inputs(split, plan, rows))
    actual = split.target[rows].float().reshape(output.shape[0], -1)[:, 0]
    return actual.numpy(), output.reshape(output.shape[0], -1)[:, 0].numpy()


def greedy_decode(
    model: nn.Module, src: torch.Tensor, length: int, bos_id: int, pad_id: int = 0
) -> torch.Tensor:
    """Generate target tokens one at a time: position t reads the tokens chosen before it.

    The model takes (src, tgt) with teacher forcing during training; here tgt starts as BOS + padding and
    each step writes the argmax of position t into position t + 1 (causal decoders never look ahead).
    """
    with evaluating(model) as device:
        src = src.to(device)
        tgt = torch.full((len(src), length), pad_id, dtype=torch.long, device=device)
        tgt[:, 0] = bos_id
        out = torch.empty_like(tgt)
        for t in range(length):
            step = model(src, tgt)[:, t].argmax(-1)
            out[:, t] = step
            if t + 1 < length:
                tgt[:, t + 1] = step
        return out.cpu()


# ---- attention --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionView:
    node: str  # the layer: a top-level node or a flat id inside blocks (blocks.0.self_attn)
    kind: str  # self | cross
    weights: np.ndarray  # (heads, L, S) for one example
    queries: list[str]
    keys: list[str]
    label: str = ""  # the layer's path as the canvas shows it (blocks[0] › self_attn)

    @property
    def title(self) -> str:
        return f"{self.label or self.node} · {self.kind}-attention"


def token_input_of(graph: Any, node_id: str, ports: tuple[str | None, ...]) -> str | None:
    """The Input node whose tokens reach ``node_id`` through one of ``ports`` (then through first inputs)."""
    edges = [e for e in graph.in_edges(node_id) if e.port in ports] or graph.in_edges(node_id)[:1]
    seen: set[str] = set()
    while edges:
        source = edges[0].source
        if source in seen:
            return None
        seen.add(source)
        if graph.node(source).type == "Input":
            return source
        edges = graph.in_edges(source)[:1]
    return None


def attention_views(
    model: nn.Module,
    graph: Any,
    source: Any,
    plan: Any,
    split: Any,
    index: int,
    token_text: dict[str, list[str]],
) -> list[AttentionView]:
    """Per-layer, per-head attention of example ``index``; ``token_text`` maps Input node id -> its tokens."""
    from training.attention import capture_attention, label_of, layer_labels

    with evaluating(model) as device:
        inputs = tuple(x.to(device) for x in model_inputs(split, plan, slice(index, index + 1)))
    from builder.blocks import expand

    types = {n.id: n.type for n in expand(graph).flat.nodes}  # attention written as an op node is watched too
    maps = capture_attention(model, source, inputs, types)
    labels = layer_labels(graph)
    views = []
    for node_id, node_maps in maps.items():  # node_id: the top-level node, whose inputs carry the tokens
        for amap in node_maps:
            query_in = token_input_of(graph, node_id, ("tgt", "x", "tokens", None))
            key_in = token_input_of(graph, node_id, ("memory",)) if amap.kind == "cross" else query_in
            weights = amap.weights[0]
            views.append(
                AttentionView(
                    amap.node,
                    amap.kind,
                    weights,
                    _labels(token_text.get(query_in), weights.shape[1]),
                    _labels(token_text.get(key_in), weights.shape[2]),
                    label_of(amap.node, labels),
                )
            )
    return views


def _labels(tokens: list[str] | None, length: int) -> list[str]:
    tokens = list(tokens or [])
    return [tokens[i] if i < len(tokens) else str(i) for i in range(length)]
