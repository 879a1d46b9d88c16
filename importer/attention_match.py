"""Which ``nn.MultiheadAttention`` computes what a piece of a model computes — found by running candidates, not by
reading op patterns.

Given the piece's weights (named arrays, matrices as torch's (out, in)), the values of its input(s) and its output on
one batch, every way the arrays can be the block's ``in_proj`` and ``out_proj`` is tried with every head count, with
and without a causal mask (self-attention), and with either input as the query (cross-attention); the first that
gives the same output (≤ 1e-4, relative to its size) is the block. The ONNX reader uses it on attention regions of a
file (values from onnxruntime), the PyTorch importer on submodules written by hand (values from running the model).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import torch

MATCH_TOLERANCE = 1e-4  # per piece; the whole import is then verified at 1e-5


@dataclass(frozen=True)
class Attention:
    """The MultiheadAttention a piece computes."""

    params: dict[str, Any]
    query: str  # the value that is x
    memory: str | None  # the value of the keys and values, for cross-attention
    weights: dict[str, np.ndarray]  # by the block's keys: in_proj_weight, out_proj.bias, ...
    sources: dict[str, str] = field(default_factory=dict)  # block key -> the one array it is, where it is one


def identify(arrays: dict[str, np.ndarray], tensors: list[str], output: str,
             values: dict[str, np.ndarray]) -> Attention | str:
    """The MultiheadAttention that turns ``tensors`` into ``output`` (names in ``values``) with ``arrays``."""
    if len(tensors) not in (1, 2) or output not in values:
        return f"attention with {len(tensors)} computed inputs has no block (one for self-, two for cross-attention)"
    shapes = [values[name].shape for name in tensors]
    if any(len(s) != 3 for s in shapes) or len({s[2] for s in shapes}) != 1 or values[output].shape != shapes[0]:
        return "attention over tensors that aren't (N, T, E) sequences of one width has no block"
    width = shapes[0][2]
    orders = [(tensors[0], None)] if len(tensors) == 1 else [(tensors[0], tensors[1]), (tensors[1], tensors[0])]
    expected = torch.from_numpy(values[output])
    best: tuple[float, Attention] | None = None
    for (query, memory), heads in product(orders, _divisors(width)):
        for causal in ((False, True) if memory is None else (False,)):
            for weights, sources in _assignments(arrays, width, cross=memory is not None):
                got = _run(values, query, memory, width, heads, causal, weights)
                if got is None or got.shape != expected.shape:
                    continue
                error = float((got - expected).abs().max())
                # The closest within tolerance: small weights make another head count nearly the same numbers.
                if error <= MATCH_TOLERANCE * max(1.0, float(expected.abs().max())) and (best is None or
                                                                                         error < best[0]):
                    params = {"num_heads": heads, "causal": causal, "bias": "in_proj_bias" in weights, "dropout": 0.0}
                    best = error, Attention(params, query, memory, {k: v.numpy() for k, v in weights.items()}, sources)
    if best is not None:
        return best[1]
    return ("its weights and arithmetic don't match nn.MultiheadAttention (any head count, with or without a causal "
            "mask)")


def _divisors(width: int) -> list[int]:
    return [h for h in range(1, width + 1) if width % h == 0]


Named = tuple[str, np.ndarray]
State = tuple[dict[str, torch.Tensor], dict[str, str]]


def _assignments(arrays: dict[str, np.ndarray], width: int, cross: bool) -> Iterator[State]:
    """Ways the arrays can be MultiheadAttention's in_proj and out_proj (usually one or two), each with the array
    every block key is, where it is exactly one."""
    by_shape: dict[tuple[int, ...], list[Named]] = {}
    for name, array in arrays.items():
        by_shape.setdefault(array.shape, []).append((name, array))
    none: list[Named | None] = [None]
    squares = by_shape.get((width, width), [])
    vectors = by_shape.get((width,), [])
    for packed in by_shape.get((3 * width, width), []):
        for out, out_bias, in_bias in product(squares, vectors or none, by_shape.get((3 * width,), none)):
            yield _state({"in_proj_weight": packed, "in_proj_bias": in_bias, "out_proj.weight": out,
                          "out_proj.bias": out_bias}, width)
    if cross:  # the packed matrix split by the exporter: queries (E, E) and keys-values (2E, E)
        for kv, kv_bias in product(by_shape.get((2 * width, width), []), by_shape.get((2 * width,), none)):
            for (q, out), (q_bias, out_bias) in product(_pairs(squares), _pairs(vectors) or [(None, None)]):
                in_bias = None if kv_bias is None or q_bias is None else ("", np.concatenate([q_bias[1], kv_bias[1]]))
                yield _state({"in_proj_weight": ("", np.concatenate([q[1], kv[1]])), "in_proj_bias": in_bias,
                              "out_proj.weight": out, "out_proj.bias": out_bias}, width)


def _pairs(arrays: list[Named]) -> list[tuple[Named, Named]]:
    return [(a, b) for i, a in enumerate(arrays) for j, b in enumerate(arrays) if i != j]


def _state(parts: dict[str, Named | None], width: int) -> State:
    """The block's state from named arrays; a missing bias of the two is zeros (the same arithmetic)."""
    if parts["in_proj_bias"] is None and parts["out_proj.bias"] is None:
        parts = {k: v for k, v in parts.items() if "bias" not in k}
    zeros = {"in_proj_bias": np.zeros(3 * width, np.float32), "out_proj.bias": np.zeros(width, np.float32)}
    state = {k: torch.from_numpy(np.array(v[1] if v is not None else zeros[k])) for k, v in parts.items()}
    return state, {k: v[0] for k, v in parts.items() if v is not None and v[0]}


def _run(values: dict[str, np.ndarray], query: str, memory: str | None, width: int, heads: int, causal: bool,
         state: dict[str, torch.Tensor]) -> torch.Tensor | None:
    layer = torch.nn.MultiheadAttention(width, heads, bias="in_proj_bias" in state, batch_first=True).eval()
    layer.load_state_dict({k: v.float() for k, v in state.items()})
    x = torch.from_numpy(values[query]).float()
    keys = torch.from_numpy(values[memory]).float() if memory else x
    mask = torch.nn.Transformer.generate_square_subsequent_mask(x.size(1)) if causal else None
    with torch.no_grad():
        return layer(x, keys, keys, attn_mask=mask, need_weights=False)[0]
