"""Attention in an ONNX file → one MultiheadAttention block, proven on the file's own numbers.

torch.onnx.export writes an ``nn.MultiheadAttention`` as about 150 ops — reshapes that fold heads into the batch,
two MatMuls of computed tensors, a Softmax — none of which is a block on its own. They all carry the module's scope
(in their names, ``/encoder/layers.0/self_attn/MatMul_1``, or in their metadata: ``importer.onnx_names``),
so a module holding a Softmax and a MatMul of two computed tensors is read as one *region*: its input(s), its one
output and its weights.

Which MultiheadAttention the region is (heads, causal mask, which weight is which, which input is the query) is not
guessed from op patterns: onnxruntime runs the file once with every region's inputs and output exposed, and the
candidate that computes the same output is the block (``importer.attention_match``). A region nothing matches is read op by op, so what has
no block shows up as Unsupported nodes as before. A hand-written attention with the same arithmetic (a packed qkv
Linear, heads, scaled dot product, an output Linear — nanoGPT's) matches too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from importer.onnx_names import SCOPES_KEY, scoped_module


@dataclass(frozen=True)
class Region:
    scope: str  # the module path: 'encoder.layers.0.self_attn'
    members: frozenset[int]  # indices of its ops in the graph (its Constant ops are still read one by one)
    first: int
    inputs: tuple[str, ...]  # values from outside the region (initializers and constants left out)
    output: str
    weights: tuple[tuple[str, np.ndarray], ...]  # constant arrays used inside, oriented as torch's (out, in)
    softmax: onnx.NodeProto  # where the design node says it came from


def find_regions(graph: onnx.GraphProto) -> list[Region]:
    """Scopes that compute attention scores, each with one output."""
    modules = _filled_scopes(graph)
    scopes: dict[str, onnx.NodeProto] = {}
    for op, scope in zip(graph.node, modules):
        if op.op_type == "Softmax" and scope and scope not in scopes:
            scopes[scope] = op
    if not scopes:
        return []
    initializers = {t.name: t for t in graph.initializer}  # read as arrays only where a region uses them
    constants = {name for op in graph.node if op.op_type == "Constant" for name in op.output}
    regions = [_region(graph, scope, softmax, modules, initializers, constants) for scope, softmax in scopes.items()]
    return [r for r in regions if r is not None]


def _filled_scopes(graph: onnx.GraphProto) -> list[str]:
    """Each op's module; an op the exporter's optimizer made without any scope (the dynamo exporter fuses a
    ``qkv.split(...)``'s slices into one Split with no metadata) belongs where everything reading it runs."""
    modules = [scoped_module(op) for op in graph.node]
    if not any(p.key == SCOPES_KEY for op in graph.node for p in op.metadata_props):
        return modules  # TorchScript's file: every op is named by its scope, '' is the model's own forward
    readers: dict[str, set[str]] = {}
    for op, module in zip(graph.node, modules):
        for name in op.input:
            readers.setdefault(name, set()).add(module)
    for k, op in enumerate(graph.node):
        if modules[k] or any(p.key == SCOPES_KEY for p in op.metadata_props):
            continue
        around = set().union(*(readers.get(name, set()) for name in op.output)) if op.output else set()
        if len(around) == 1 and "" not in around:
            modules[k] = around.pop()
    return modules


def _region(graph: onnx.GraphProto, scope: str, softmax: onnx.NodeProto, modules: list[str],
            initializers: dict[str, onnx.TensorProto], constants: set[str]) -> Region | None:
    members = frozenset(i for i, module in enumerate(modules) if module == scope or module.startswith(scope + "."))
    inside = {name for i in members for name in graph.node[i].output}
    not_data = inside | constants | initializers.keys()  # the exporter puts shared constants anywhere
    inputs = list(dict.fromkeys(name for i in sorted(members) for name in graph.node[i].input
                                if name and name not in not_data))  # what it computes from: data and sizes
    read_outside = {name for i, op in enumerate(graph.node) if i not in members for name in op.input}
    read_outside |= {v.name for v in graph.output}
    # The exporter shares constants between scopes; those stay constants (the reader still reads them).
    outputs = [name for i in sorted(members) if graph.node[i].op_type != "Constant"
               for name in graph.node[i].output if name in read_outside]
    if len(outputs) != 1 or not _computes_scores(graph, members, initializers.keys()):
        return None
    first = min(i for i in members if graph.node[i].op_type != "Constant")
    return Region(scope, members, first, tuple(inputs), outputs[0],
                  tuple(_weights(graph, members, initializers)), softmax)


def _computes_scores(graph: onnx.GraphProto, members: frozenset[int], weights: Any) -> bool:
    """A MatMul of two computed tensors (q·kᵀ), not x @ W."""
    return any(graph.node[i].op_type == "MatMul" and not set(graph.node[i].input) & weights for i in members)


def _weights(graph: onnx.GraphProto, members: frozenset[int],
             initializers: dict[str, onnx.TensorProto]) -> list[tuple[str, np.ndarray]]:
    """Float arrays read inside the region, matrices as torch's (out_features, in_features)."""
    found: dict[str, np.ndarray] = {}
    for i in sorted(members):
        op = graph.node[i]
        transpose_b = next((onnx.helper.get_attribute_value(a) for a in op.attribute if a.name == "transB"), 0)
        for k, name in enumerate(op.input):
            if name not in initializers or name in found:
                continue
            array = numpy_helper.to_array(initializers[name])
            if array.dtype.kind != "f" or array.ndim not in (1, 2):
                continue
            transposed = op.op_type == "MatMul" or op.op_type == "Gemm" and k == 1 and not transpose_b
            found[name] = array.T.copy() if array.ndim == 2 and transposed else array
    return list(found.items())


def region_values(regions: list[Region]) -> list[str]:
    """What matching needs to see of each region: its inputs and its output."""
    return list(dict.fromkeys(name for r in regions for name in (*r.inputs, r.output)))


# --- running the file once ----------------------------------------------------------------------------------


def probe(model: onnx.ModelProto, wanted: list[str], inputs: list[np.ndarray],
          types: dict[str, onnx.ValueInfoProto]) -> dict[str, np.ndarray]:
    """The values named ``wanted`` on one random batch, from onnxruntime running the file ({} if it can't);
    ``types``: the values' inferred types, to expose them as outputs."""
    import onnxruntime

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    known = {v.name for v in exposed.graph.output}
    for name in wanted:
        if name not in known:
            exposed.graph.output.append(types.get(name) or onnx.helper.make_empty_tensor_value_info(name))
    try:
        session = onnxruntime.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {meta.name: value for meta, value in zip(session.get_inputs(), inputs)}
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, feeds)))
    except Exception:  # noqa: BLE001 — onnxruntime can't run the file: regions are then read op by op
        return {}


def probe_inputs(model: onnx.ModelProto, batch: int, inputs: list[onnx.ValueInfoProto]) -> list[np.ndarray]:
    """A random batch for the file's inputs; token ids stay below the size of the table that looks them up."""
    tables = {t.name: t.dims[0] for t in model.graph.initializer if len(t.dims) == 2}
    generator = np.random.default_rng(1)
    out = []
    for value in inputs:
        tensor_type = value.type.tensor_type
        shape = [batch] + [d.dim_value for d in tensor_type.shape.dim][1:]
        if tensor_type.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            sizes = [tables[op.input[0]] for op in model.graph.node
                     if op.op_type == "Gather" and op.input[1] == value.name and op.input[0] in tables]
            dtype = np.int64 if tensor_type.elem_type == onnx.TensorProto.INT64 else np.int32
            out.append(generator.integers(0, min(sizes, default=2), shape).astype(dtype))
        else:
            out.append(generator.standard_normal(shape).astype(np.float32))
    return out
