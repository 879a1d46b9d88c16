"""Attention in an ONNX file → one MultiheadAttention block, proven on the file's own numbers.

torch.onnx.export writes an ``nn.MultiheadAttention`` as about 150 ops — reshapes that fold heads into the batch,
two MatMuls of computed tensors, a Softmax — none of which is a block on its own. They all carry the module's scope
(in their names, ``/encoder/layers.0/self_attn/MatMul_1``, or in their metadata: ``builder.importer.onnx_names``),
so a module holding a Softmax and a MatMul of two computed tensors is read as one *region*: its input(s), its one
output and its weights.

Which MultiheadAttention the region is (heads, causal mask, which weight is which, which input is the query) is not
guessed from op patterns: onnxruntime runs the file once with every region's inputs and output exposed, and the
candidate that computes the same output (≤ 1e-4) is the block. A region nothing matches is read op by op, so what has
no block shows up as Unsupported nodes as before. A hand-written attention with the same arithmetic (a packed qkv
Linear, heads, scaled dot product, an output Linear — nanoGPT's) matches too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from builder.importer.onnx_names import scoped_module

MATCH_TOLERANCE = 1e-4  # per region, against onnxruntime; the whole design is then verified at 1e-5


@dataclass(frozen=True)
class Region:
    scope: str  # the module path: 'encoder.layers.0.self_attn'
    members: frozenset[int]  # indices of its ops in the graph (its Constant ops are still read one by one)
    first: int
    inputs: tuple[str, ...]  # values from outside the region (initializers and constants left out)
    output: str
    weights: tuple[tuple[str, np.ndarray], ...]  # constant arrays used inside, oriented as torch's (out, in)
    softmax: onnx.NodeProto  # where the design node says it came from


@dataclass(frozen=True)
class Attention:
    """The MultiheadAttention a region computes."""

    params: dict[str, Any]
    query: str  # the ONNX value of x
    memory: str | None  # the ONNX value of the keys and values, for cross-attention
    weights: dict[str, np.ndarray]


def find_regions(graph: onnx.GraphProto) -> list[Region]:
    """Scopes that compute attention scores, each with one output."""
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    modules = [scoped_module(op) for op in graph.node]
    scopes: dict[str, onnx.NodeProto] = {}
    for op, scope in zip(graph.node, modules):
        if op.op_type == "Softmax" and scope and scope not in scopes:
            scopes[scope] = op
    regions = [_region(graph, scope, softmax, modules, initializers) for scope, softmax in scopes.items()]
    return [r for r in regions if r is not None]


def _region(graph: onnx.GraphProto, scope: str, softmax: onnx.NodeProto, modules: list[str],
            initializers: dict[str, np.ndarray]) -> Region | None:
    members = frozenset(i for i, module in enumerate(modules) if module == scope or module.startswith(scope + "."))
    inside = {name for i in members for name in graph.node[i].output}
    constants = {name for op in graph.node if op.op_type == "Constant" for name in op.output}
    inputs: list[str] = []  # what it computes from: data and sizes, not constants (the exporter puts those anywhere)
    for i in sorted(members):
        for name in graph.node[i].input:
            if name and not {name} & (inside | constants | set(initializers)) and name not in inputs:
                inputs.append(name)
    read_outside = {name for i, op in enumerate(graph.node) if i not in members for name in op.input}
    read_outside |= {v.name for v in graph.output}
    # The exporter shares constants between scopes; those stay constants (the reader still reads them).
    outputs = [name for i in sorted(members) if graph.node[i].op_type != "Constant"
               for name in graph.node[i].output if name in read_outside]
    if len(outputs) != 1 or not _computes_scores(graph, members, initializers):
        return None
    first = min(i for i in members if graph.node[i].op_type != "Constant")
    return Region(scope, members, first, tuple(inputs), outputs[0],
                  tuple(_weights(graph, members, initializers)), softmax)


def _computes_scores(graph: onnx.GraphProto, members: frozenset[int], initializers: dict[str, np.ndarray]) -> bool:
    return any(graph.node[i].op_type == "MatMul" and not set(graph.node[i].input) & set(initializers)
               for i in members)


def _weights(graph: onnx.GraphProto, members: frozenset[int],
             initializers: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Float arrays read inside the region, matrices as torch's (out_features, in_features)."""
    found: dict[str, np.ndarray] = {}
    for i in sorted(members):
        op = graph.node[i]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in op.attribute}
        for k, name in enumerate(op.input):
            array = initializers.get(name)
            if array is None or array.dtype.kind != "f" or array.ndim not in (1, 2) or name in found:
                continue
            transposed = op.op_type == "MatMul" or op.op_type == "Gemm" and k == 1 and not attrs.get("transB", 0)
            found[name] = array.T.copy() if array.ndim == 2 and transposed else array
    return list(found.items())


# --- running the file once ----------------------------------------------------------------------------------


def probe(model: onnx.ModelProto, regions: list[Region], batch: int, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The values of every region's inputs and output on one random batch, from onnxruntime."""
    import onnxruntime

    wanted = list(dict.fromkeys(name for r in regions for name in (*r.inputs, r.output)))
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    known = {v.name for v in exposed.graph.output}
    typed = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for name in wanted:
        if name not in known:
            exposed.graph.output.append(typed.get(name) or onnx.helper.make_empty_tensor_value_info(name))
    session = onnxruntime.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {meta.name: value for meta, value in zip(session.get_inputs(), inputs)}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


# --- which MultiheadAttention -------------------------------------------------------------------------------


def identify(region: Region, tensors: list[str], values: dict[str, np.ndarray]) -> Attention | str:
    """The MultiheadAttention computing ``region`` (``tensors``: its inputs that are design tensors)."""
    if len(tensors) not in (1, 2) or region.output not in values:
        return f"attention with {len(tensors)} computed inputs has no block (one for self-, two for cross-attention)"
    shapes = [values[name].shape for name in tensors]
    if any(len(s) != 3 for s in shapes) or len({s[2] for s in shapes}) != 1 or values[region.output].shape != shapes[0]:
        return "attention over tensors that aren't (N, T, E) sequences of one width has no block"
    width = shapes[0][2]
    orders = [(tensors[0], None)] if len(tensors) == 1 else [(tensors[0], tensors[1]), (tensors[1], tensors[0])]
    expected = torch.from_numpy(values[region.output])
    for (query, memory), heads in product(orders, _divisors(width)):
        for causal in ((False, True) if memory is None else (False,)):
            for weights in _assignments(dict(region.weights), width, cross=memory is not None):
                got = _run(values, query, memory, width, heads, causal, weights)
                if got is not None and got.shape == expected.shape and \
                        float((got - expected).abs().max()) <= MATCH_TOLERANCE * max(1.0, float(expected.abs().max())):
                    params = {"num_heads": heads, "causal": causal, "bias": "in_proj_bias" in weights, "dropout": 0.0}
                    return Attention(params, query, memory, {k: v.numpy() for k, v in weights.items()})
    return ("its weights and arithmetic don't match nn.MultiheadAttention (any head count, with or without a causal "
            "mask)")


def _divisors(width: int) -> list[int]:
    return [h for h in range(1, width + 1) if width % h == 0]


def _assignments(arrays: dict[str, np.ndarray], width: int, cross: bool) -> Iterator[dict[str, torch.Tensor]]:
    """Ways the region's arrays can be MultiheadAttention's in_proj and out_proj (usually one or two)."""
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for array in arrays.values():
        by_shape.setdefault(array.shape, []).append(array)
    squares = by_shape.get((width, width), [])
    vectors = by_shape.get((width,), [])
    packed_biases = by_shape.get((3 * width,), [None])
    out_biases = vectors or [None]
    for packed in by_shape.get((3 * width, width), []):
        for out, out_bias, in_bias in product(squares, out_biases, packed_biases):
            yield _state(packed, in_bias, out, out_bias, width)
    if cross:  # the packed matrix split by the exporter: queries (E, E) and keys-values (2E, E)
        for kv, kv_bias in product(by_shape.get((2 * width, width), []), by_shape.get((2 * width,), [None])):
            for (q, out), (q_bias, out_bias) in product(_pairs(squares), _pairs(vectors) or [(None, None)]):
                in_bias = None if kv_bias is None or q_bias is None else np.concatenate([q_bias, kv_bias])
                yield _state(np.concatenate([q, kv]), in_bias, out, out_bias, width)


def _pairs(arrays: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(a, b) for i, a in enumerate(arrays) for j, b in enumerate(arrays) if i != j]


def _state(in_w: np.ndarray, in_b: np.ndarray | None, out_w: np.ndarray, out_b: np.ndarray | None,
           width: int) -> dict[str, torch.Tensor]:
    state = {"in_proj_weight": torch.from_numpy(np.array(in_w)), "out_proj.weight": torch.from_numpy(np.array(out_w))}
    if in_b is not None or out_b is not None:  # a missing one of the two is zeros: the same arithmetic
        state["in_proj_bias"] = torch.from_numpy(np.array(in_b) if in_b is not None else np.zeros(3 * width, np.float32))
        state["out_proj.bias"] = torch.from_numpy(np.array(out_b) if out_b is not None else np.zeros(width, np.float32))
    return state


def _run(values: dict[str, np.ndarray], query: str, memory: str | None, width: int, heads: int, causal: bool,
         state: dict[str, torch.Tensor]) -> torch.Tensor | None:
    layer = torch.nn.MultiheadAttention(width, heads, bias="in_proj_bias" in state, batch_first=True).eval()
    layer.load_state_dict({k: v.float() for k, v in state.items()})
    x = torch.from_numpy(values[query]).float()
    keys = torch.from_numpy(values[memory]).float() if memory else x
    mask = torch.nn.Transformer.generate_square_subsequent_mask(x.size(1)) if causal else None
    with torch.no_grad():
        return layer(x, keys, keys, attn_mask=mask, need_weights=False)[0]
