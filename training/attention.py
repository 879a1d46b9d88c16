"""Per-layer, per-head attention weights of a generated model, for the UI to plot.

Every ``nn.MultiheadAttention`` in the model is watched, at any depth: a top-level attention node, the layers of
a catalog Transformer block, and the attention layers inside blocks made of blocks (every copy of a repeated
block: ``blocks.0.self_attn``, ``blocks.1.self_attn``). Layers call their attention with ``need_weights=False``;
a forward pre-hook (with kwargs) asks for the weights per head and a forward hook keeps them. Self- or
cross-attention is read from the call itself (keys that are the queries make self-attention). Captured in eval
mode (no dropout, rows sum to 1); the model's outputs are unchanged (the hooks only add a return value that the
layers discard).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from codegen.source import ModelSource


@dataclass(frozen=True)
class AttentionMap:
    node: str  # the layer it belongs to: a top-level node, a flat id inside blocks (blocks.0.self_attn)
    kind: str  # "self" | "cross"
    weights: np.ndarray  # (batch, heads, query length, key length)

    @property
    def heads(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True)
class AttentionLayer:
    """One ``nn.MultiheadAttention`` of the model and the design's names for it."""

    path: str  # module path in the model, for get_submodule
    top: str  # the top-level graph node holding it (itself for a top-level attention node)
    layer: str  # the flat id naming it; under a catalog block with no flat ids, its module path


Keep = Callable[[AttentionLayer, AttentionMap], None]


def attention_layers(model: nn.Module, source: ModelSource) -> list[AttentionLayer]:
    """Every attention module of ``model`` in definition order, each named by its layer and top-level node."""
    by_path = {path: flat_id for flat_id, path in source.module_paths.items()}
    top_of = {attr: node_id for node_id, attr in source.attributes.items()}
    found = []
    for path, module in model.named_modules():
        if not isinstance(module, nn.MultiheadAttention):
            continue
        top = _top_of(path, top_of)
        if top is not None:  # a module outside every node's attribute is no layer of the design
            found.append(AttentionLayer(path, top, by_path.get(path) or _under(top, path, source)))
    return found


def _top_of(path: str, top_of: dict[str, str]) -> str | None:
    """The top-level node whose attribute holds ``path``: the longest attribute that prefixes it (an imported
    node's attribute may be a path itself, ``transformer.h``)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        found = top_of.get(".".join(parts[:cut]))
        if found is not None:
            return found
    return None


def _under(top: str, path: str, source: ModelSource) -> str:
    """A module inside a catalog block (an nn.TransformerDecoderLayer's self_attn): the node id, then the rest."""
    attr = source.attributes[top]
    return top if path == attr else f"{top}{path[len(attr):]}"


def watch_attention(model: nn.Module, layers: list[AttentionLayer], keep: Keep) -> list[Any]:
    """Hooks that make each layer return its per-head weights and hand them to ``keep``; remove them after."""
    handles = []
    for layer in layers:
        module = model.get_submodule(layer.path)
        kinds: list[str] = []  # what the pre-hook saw of the call, for the hook after it
        handles.append(module.register_forward_pre_hook(_asking(kinds), with_kwargs=True))
        handles.append(module.register_forward_hook(_keeper(layer, kinds, keep)))
    return handles


def capture_attention(model: nn.Module, source: ModelSource, inputs: tuple[torch.Tensor, ...]
                      ) -> dict[str, list[AttentionMap]]:
    """Run ``inputs`` through ``model`` in eval mode; maps keyed by top-level node id, in call order (empty when
    none). Each map's ``node`` is its own layer, so the copies inside a repeated block stay apart."""
    maps: dict[str, list[AttentionMap]] = {}
    layers = attention_layers(model, source)
    if not layers:
        return maps
    handles = watch_attention(model, layers, lambda at, found: maps.setdefault(at.top, []).append(found))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return maps


def _asking(kinds: list[str]) -> Callable:
    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        query, key = (list(args) + [kwargs.get("query"), kwargs.get("key")])[:2]
        kinds.append("self" if key is None or key is query else "cross")
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}
    return pre_hook


def _keeper(layer: AttentionLayer, kinds: list[str], keep: Keep) -> Callable:
    def hook(_module: nn.Module, _args: tuple, output: Any) -> None:
        kind = kinds.pop() if kinds else "self"
        weights = output[1] if isinstance(output, tuple) else None
        if weights is None:
            return
        if weights.dim() == 3:  # a single head gives (B, L, S)
            weights = weights.unsqueeze(1)
        keep(layer, AttentionMap(layer.layer, kind, weights.float().cpu().numpy()))
    return hook


def layer_labels(graph: Any) -> dict[str, str]:
    """Flat id -> the path the canvas shows for it (``blocks.0.self_attn`` -> ``blocks[0] › self_attn``)."""
    from builder.blocks import expand

    return {flat_id: place.label for flat_id, place in expand(graph).origin.items()}


def label_of(layer: str, labels: dict[str, str]) -> str:
    """The canvas path of ``layer``; a module inside a catalog block reads as its node's path, then the rest."""
    parts = layer.split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix the design names: the node the module sits in
        head = ".".join(parts[:cut])
        if head in labels:
            break
    else:
        head, cut = parts[0], 1
    out = [labels.get(head, head)]
    for part in parts[cut:]:
        if part.isdigit():  # a stack's copy number, written as the canvas writes a repeat: layers[0]
            out[-1] += f"[{part}]"
        else:
            out.append(part)
    return " › ".join(out)


def anti_diagonal_mass(weights: np.ndarray) -> float:
    """Share of attention on the anti-diagonal (query i looks at key L-1-i), averaged over batch and heads."""
    length = min(weights.shape[-2], weights.shape[-1])
    idx = np.arange(length)
    return float(weights[..., idx, length - 1 - idx].sum(-1).mean() / length)
