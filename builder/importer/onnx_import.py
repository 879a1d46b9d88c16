"""An ONNX file → a design. Only the onnx package reads the file: nothing in it runs as Python, so this path is
safe on a shared (classroom) server. onnxruntime runs the graph once to verify the import.

Shapes come from ONNX shape inference with the batch fixed, so a reshape is whatever the graph really produces.
Weights come from the initializers, keyed by design node (``conv1.weight``); an op with no block becomes a visible
Unsupported node naming the op and the ONNX node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from builder.catalog.unsupported import describe
from builder.graph import Edge, Graph, Node
from builder.importer.onnx_ops import HANDLERS
from builder.importer.report import ImportFailure, ImportResult, Problem, unique_id

MAX_ID = 60
ONNX_BATCH = 3  # the batch shapes are inferred at; verification uses another where the file allows it


@dataclass(frozen=True)
class Tensor:
    node: str
    shape: tuple[int, ...]  # batch first; () when shape inference could not tell


@dataclass(frozen=True)
class Const:
    value: np.ndarray | None  # None: a size computed from shapes (Shape → Gather → Concat), read off inference


@dataclass
class Reader:
    shapes: dict[str, tuple[int, ...]]
    consumers: dict[str, int]  # value name -> how many ops read it
    nodes: list[list[Any]] = field(default_factory=list)  # [id, type, params, meta], params still mutable
    edges: list[Edge] = field(default_factory=list)
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    made_by: dict[str, str] = field(default_factory=dict)  # node id -> ONNX op that made it (MatMul bias folding)
    op: onnx.NodeProto | None = None

    def add(self, type_name: str, params: dict[str, Any], inputs: list[tuple[Tensor, str | None]],
            weights: dict[str, np.ndarray | None] | None = None, name: str | None = None) -> Tensor:
        node_id = self._new_id(name or _id_from(self.op.name, self.op.op_type))
        meta = {"source": f"ONNX {self.op.name or self.op.op_type}"[:120]}
        self.nodes.append([node_id, type_name, {k: v for k, v in params.items() if v is not None}, meta])
        self.edges.extend(Edge(t.node, node_id, port) for t, port in inputs)
        kept = {k: v for k, v in (weights or {}).items() if v is not None}
        if kept:
            self.weights[node_id] = kept
        self.made_by[node_id] = self.op.op_type
        return Tensor(node_id, self.shapes.get(self.op.output[0], ()))

    def unsupported(self, note: str, inputs: list[Tensor]) -> Tensor:
        where = self.op.name or f"an unnamed {self.op.op_type} node"
        params = {"op": f"ONNX {self.op.op_type}", "where": where[:120], "note": note[:480]}
        tensor = self.add("Unsupported", params, list(zip(inputs[:3], ("x", "y", "z"))))
        self.problems.append(Problem(params["op"], params["where"], describe(params)))
        return tensor

    def params_of(self, node_id: str) -> dict[str, Any]:
        return next(n[2] for n in self.nodes if n[0] == node_id)

    def _new_id(self, base: str) -> str:
        return unique_id(base, self.ids, MAX_ID)


def _id_from(name: str, op_type: str) -> str:
    """'/layer1/layer1.0/conv1/Conv' → 'layer1.0.conv1' (torch's module path); '/Relu_2' → 'relu_2'."""
    parts = [p for p in name.split("/") if p]
    path = ""
    for part in parts[:-1]:
        path = part if path and part.startswith(path + ".") or not path else f"{path}.{part}"
    last = re.sub(r"\W", "_", parts[-1] if parts else op_type).lower().strip("_") or "node"
    if path and op_type not in _LAYER_OPS:  # an operation inside a module's forward: 'layer1.0.add'
        return re.sub(r"[^\w.]", "_", f"{path}.{last}")
    return re.sub(r"[^\w.]", "_", path) if path else last


_LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "LSTM", "GRU", "RNN"}


def load(data: bytes) -> onnx.ModelProto:
    """Parse an ONNX file's bytes (no external data files: a model must carry its own weights)."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError and friends: the bytes are not an ONNX model
        raise ImportFailure("an ONNX file", "", f"it can't be read as ONNX ({type(err).__name__})",
                            "export it with torch.onnx.export and upload the .onnx file") from None
    if not model.graph.node:
        raise ImportFailure("an ONNX file", "", "the graph has no operations", "check that this is the model file")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ImportFailure("an ONNX file", "", "its weights are in separate files (external data)",
                            "export with the weights inside the file (models under 2 GB)")
    return model


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights]


def fixed_batch(model: onnx.ModelProto) -> int | None:
    """The batch size the file bakes in, or None when its first dimension is free."""
    dims = [v.type.tensor_type.shape.dim for v in _graph_inputs(model)]
    values = {d[0].dim_value for d in dims if d and d[0].HasField("dim_value")}
    return values.pop() if len(values) == 1 else None


def _shapes(model: onnx.ModelProto, batch: int) -> dict[str, tuple[int, ...]]:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in _graph_inputs(fixed):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch
    try:
        inferred = shape_inference.infer_shapes(fixed, data_prop=True)
    except Exception as err:  # onnx raises InferenceError for a graph that contradicts itself
        raise ImportFailure("an ONNX file", "", f"its shapes don't add up ({str(err).splitlines()[0][:200]})",
                            "check the file with onnx.checker.check_model") from None
    shapes: dict[str, tuple[int, ...]] = {}
    graph = inferred.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def translate(model: onnx.ModelProto) -> tuple[Graph, Reader]:
    batch = fixed_batch(model) or ONNX_BATCH
    graph = model.graph
    consumers: dict[str, int] = {}
    for op in graph.node:
        for name in op.input:
            consumers[name] = consumers.get(name, 0) + 1
    reader = Reader(_shapes(model, batch), consumers)
    env: dict[str, Tensor | Const] = {t.name: Const(numpy_helper.to_array(t)) for t in graph.initializer}
    for value in _graph_inputs(model):
        env[value.name] = _input(reader, value, batch)
    for op in graph.node:
        reader.op = op
        args = [env.get(name, Const(None)) if name else None for name in op.input]
        result = _translate_op(reader, op, args)
        for k, name in enumerate(op.output):
            env[name] = result if k == 0 else Const(None)
    outputs = [env.get(v.name) for v in graph.output]
    _outputs(reader, outputs)
    nodes = tuple(Node(i, t, p, meta=m) for i, t, p, m in reader.nodes)
    name = re.sub(r"\W", "_", graph.name or "onnx_model")[:40] or "onnx_model"
    return Graph(name=name, nodes=nodes, edges=tuple(reader.edges)), reader


def _input(reader: Reader, value: onnx.ValueInfoProto, batch: int) -> Tensor:
    tensor_type = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor_type.shape.dim]
    if len(dims) < 2 or min(dims[1:]) < 1:
        raise ImportFailure("an ONNX input", value.name, f"its shape {dims} has no fixed size per sample",
                            "export with fixed sizes except the batch (dynamic_axes only on dimension 0)")
    integer = tensor_type.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    node_id = reader._new_id(re.sub(r"\W", "_", value.name) or "x")
    reader.nodes.append([node_id, "Input", {"shape": dims[1:], "dtype": "long" if integer else "float"}, {}])
    return Tensor(node_id, (batch, *dims[1:]))


def _translate_op(reader: Reader, op: onnx.NodeProto, args: list[Any]) -> Tensor | Const:
    tensors = [a for a in args if isinstance(a, Tensor)]
    if op.op_type in ("Shape", "Size"):
        return Const(None)  # a size of a tensor: what reads it (Reshape) takes its result from shape inference
    if not tensors:  # sizes and constants: no design node (Reshape reads its result off shape inference)
        if op.op_type == "Constant":
            return Const(numpy_helper.to_array(op.attribute[0].t)) if op.attribute[0].name == "value" else Const(None)
        if op.op_type == "Identity":
            return args[0]
        return Const(None)
    handler = HANDLERS.get(op.op_type)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in op.attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    try:
        result = handler(reader, args, attrs) if handler else None
    except (ValueError, TypeError, IndexError, KeyError) as err:
        return reader.unsupported(f"its settings could not be read ({err})", tensors)
    if result is None:
        return reader.unsupported("this ONNX operation (with these settings) has no LayerLab block", tensors)
    if isinstance(result, str):
        return reader.unsupported(result, tensors)
    return result


def _outputs(reader: Reader, outputs: list[Any]) -> None:
    tensors = [o for o in outputs if isinstance(o, Tensor)]
    sources = {e.source for e in reader.edges}
    sinks = [n[0] for n in reader.nodes if n[0] not in sources and n[1] != "Input"]
    if sinks != [t.node for t in tensors]:
        for k, value in enumerate(tensors, start=1):
            reader.op = onnx.helper.make_node("Identity", [], [""], name="output")
            reader.add("Identity", {}, [(value, None)], name=f"output_{k}" if len(tensors) > 1 else "output")


def import_onnx(data: bytes, verify: bool = True) -> ImportResult:
    """The design of the ONNX model in ``data``; raises ImportFailure when the file can't be read at all."""
    model = load(data)
    graph, reader = translate(model)
    state = {f"{node}.{key}": value for node, arrays in reader.weights.items() for key, value in arrays.items()}
    count = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    result = ImportResult(graph, reader.problems, {n: n for n in reader.weights}, "onnx", count)
    result.state = state
    if verify:
        from builder.importer.onnx_verify import verify_onnx

        result.verification = verify_onnx(graph, data, state, fixed_batch(model))
    return result
