"""Per-layer, per-head attention weights of a generated model, for the UI to plot.

Encoder/decoder layers call their attention with ``need_weights=False``; a forward pre-hook (with kwargs) asks
for the weights per head and a forward hook keeps them. Captured in eval mode (no dropout, rows sum to 1);
the model's outputs are unchanged (the hooks only add a return value that the layers discard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from codegen.source import ModelSource


@dataclass(frozen=True)
class AttentionMap:
    node: str  # the graph node the attention belongs to
    kind: str  # "self" | "cross"
    weights: np.ndarray  # (batch, heads, query length, key length)

    @property
    def heads(self) -> int:
        return self.weights.shape[1]


def _attention_modules(module: nn.Module) -> list[tuple[str, nn.MultiheadAttention]]:
    """(kind, attention) pairs inside one graph block, in call order."""
    if isinstance(module, nn.MultiheadAttention):
        return [("self", module)]
    found = []
    for name, kind in (("self_attn", "self"), ("multihead_attn", "cross")):
        child = getattr(module, name, None)
        if isinstance(child, nn.MultiheadAttention):
            found.append((kind, child))
    if not found:  # a block made of blocks, or a stack: every attention inside, self or cross told at call time
        for child in module.modules():
            if child is not module and isinstance(child, nn.MultiheadAttention):
                found.append((CALLED, child))
    return found


CALLED = "called"  # the kind follows from the call: keys that are the queries make self-attention


def _ask_weights(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    kwargs = dict(kwargs)
    kwargs["need_weights"] = True
    kwargs["average_attn_weights"] = False
    query, key = (list(args) + [kwargs.get("query"), kwargs.get("key")])[:2]
    module._layerlab_kind = "self" if key is None or key is query else "cross"
    return args, kwargs


def capture_attention(model: nn.Module, source: ModelSource, inputs: tuple[torch.Tensor, ...]
                      ) -> dict[str, list[AttentionMap]]:
    """Run ``inputs`` through ``model`` in eval mode; attention maps keyed by node id (empty when none)."""
    maps: dict[str, list[AttentionMap]] = {}
    handles = []
    for node_id, attr in source.attributes.items():
        block = getattr(model, attr, None)
        if block is None:
            continue
        for kind, attn in _attention_modules(block):
            handles.append(attn.register_forward_pre_hook(_ask_weights, with_kwargs=True))
            handles.append(attn.register_forward_hook(_keeper(maps, node_id, kind)))
    if not handles:
        return maps
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


def _keeper(maps: dict[str, list[AttentionMap]], node_id: str, kind: str):
    def hook(_module: nn.Module, _args: tuple, output: tuple) -> None:
        weights = output[1]
        if weights is None:
            return
        if weights.dim() == 3:  # a single head gives (B, L, S)
            weights = weights.unsqueeze(1)
        told = kind if kind != CALLED else getattr(_module, "_layerlab_kind", "self")
        maps.setdefault(node_id, []).append(AttentionMap(node_id, told, weights.float().cpu().numpy()))
    return hook


def anti_diagonal_mass(weights: np.ndarray) -> float:
    """Share of attention on the anti-diagonal (query i looks at key L-1-i), averaged over batch and heads."""
    length = min(weights.shape[-2], weights.shape[-1])
    idx = np.arange(length)
    return float(weights[..., idx, length - 1 - idx].sum(-1).mean() / length)
