"""An ONNX file → a design. Only the onnx package reads the file: nothing in it runs as Python, so this path is
safe on a shared (classroom) server. onnxruntime runs the graph: once to see what attention regions compute and the
sizes shape inference can't follow (``onnx_attention``), and once to verify the import.

Ops map to blocks one by one (``onnx_ops``), recurrent layers through their time-first layouts
(``onnx_recurrent``), attention modules as whole regions; the module tree the exporter leaves in op names or
metadata (``onnx_names``) then groups the nodes into blocks made of blocks (``onnx_hierarchy``). Shapes come from
ONNX shape inference with the batch fixed, so a reshape is whatever the graph really produces. Weights come from
the initializers, keyed by design node (``conv1.weight``); an op with no block becomes a visible Unsupported node
naming the op, the ONNX node and, where the file records it, the source line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from builder.catalog.unsupported import describe
from builder.graph import VALUE_NAMES, Edge, Graph, Node
from importer.attention_match import identify
from importer.onnx_attention import Region, find_regions, probe, probe_inputs, region_values
from importer.onnx_external import Beside, attach
from importer.onnx_more_ops import MORE_HANDLERS
from importer.onnx_names import (
    folded_batchnorms,
    model_name,
    module_calls,
    module_classes,
    module_path,
    op_label,
    scoped_module,
    source_line,
    value_names_of,
)
from importer.onnx_ops import HANDLERS
from importer.onnx_patterns import find_gelus, fold
from importer.onnx_recurrent import LAYOUTS, Run, fold_last_steps, layout_op
from importer.onnx_whole import find_wholes, read_whole_layer
from importer.report import ImportFailure, ImportResult, Problem, unique_id

MAX_ID = 60
ONNX_BATCH = 3  # the batch shapes are inferred at; verification uses another where the file allows it


@dataclass(frozen=True)
class Tensor:
    node: str
    shape: tuple[int, ...]  # batch first; () when shape inference could not tell
    port: str | None = None  # which output of its node (a Split's pieces: "0", "1", …); None: the only one


@dataclass(frozen=True)
class Const:
    value: np.ndarray | None  # None: a size computed from shapes (Shape → Gather → Concat), read off inference
    zeros: bool = False  # all zeros, whatever its computed size (ConstantOfShape): a recurrent layer's default state
    whole: np.ndarray | None = None  # the table this is the leading slice of (x + pe[:, :T]: a position table)
    origin: str = ""  # the initializer it comes from ('positions': the parameter's path in the exported module)
    expands: np.ndarray | None = None  # an initializer (1, ...) repeated for every sample: a class token


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
    runs: dict[str, Run] = field(default_factory=dict)  # recurrent block id -> the ops merged into it
    module_of: dict[str, str] = field(default_factory=dict)  # node id -> the torch module path its op ran in
    mismatched: dict[str, str] = field(default_factory=dict)  # attention scope -> why no MultiheadAttention fits
    op: onnx.NodeProto | None = None
    initializers: set[str] = field(default_factory=set)  # names of the file's weights
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class, where the file records them
    call_lines: dict[str, str] = field(default_factory=dict)  # module path -> the line that called it (dynamo)
    constants: dict[str, Tensor] = field(default_factory=dict)
    ops: list[onnx.NodeProto] = field(default_factory=list)  # the graph's ops, in order  # initializer -> the Parameter node made for it

    def add(self, type_name: str, params: dict[str, Any], inputs: list[tuple[Tensor, str | None]],
            weights: dict[str, np.ndarray | None] | None = None, name: str | None = None,
            module: str | None = None) -> Tensor:
        """A design node for the current op (``name``: a fixed id; ``module``: it stands for that whole module)."""
        kept = {k: v for k, v in (weights or {}).items() if v is not None}
        if module is not None:
            node_id = self._new_id(module or "node")
            self.module_of[node_id] = module
        else:
            node_id = self._new_id(name or _id_from(self.op))
            self.module_of[node_id] = module_path(self.op, self.initializers) if not name else ""
        meta: dict[str, Any] = {"source": f"ONNX {self.op.name or self.op.op_type}"[:120]}
        names = value_names_of(self.op)
        for path, line in module_calls(self.op).items():
            self.call_lines.setdefault(path, line)
        if names:
            meta[VALUE_NAMES] = names
        self.nodes.append([node_id, type_name, {k: v for k, v in params.items() if v is not None}, meta])
        self.edges.extend(Edge(t.node, node_id, port, t.port) for t, port in inputs)
        if kept:
            self.weights[node_id] = kept
        self.made_by[node_id] = self.op.op_type
        return Tensor(node_id, self.shapes.get(self.op.output[0], ()))

    def unsupported(self, note: str, inputs: list[Tensor]) -> Tensor:
        where = self.op.name or f"an unnamed {self.op.op_type} node"
        line = source_line(self.op)
        where = f"{line} ({where})" if line else where
        module = scoped_module(self.op)
        scope = next((s for s in self.mismatched if module == s or module.startswith(s + ".")), None)
        if scope is not None and self.op.op_type == "MatMul":
            note += f" (read whole, the attention at {scope} isn't nn.MultiheadAttention: {self.mismatched[scope]})"
        params = {"op": f"ONNX {self.op.op_type}", "where": where[:120], "note": note[:480]}
        tensor = self.add("Unsupported", params, list(zip(inputs[:3], ("x", "y", "z"))))
        self.problems.append(Problem(params["op"], params["where"], describe(params)))
        return tensor

    def params_of(self, node_id: str) -> dict[str, Any]:
        return next(n[2] for n in self.nodes if n[0] == node_id)

    def _new_id(self, base: str) -> str:
        return unique_id(base, self.ids, MAX_ID)


def _id_from(op: onnx.NodeProto) -> str:
    """'layer1.0' + 'add' → 'layer1.0.add' (an op inside a module's forward); 'relu_2' at the top."""
    path = scoped_module(op)
    label = op_label(op)
    return f"{path}.{label}" if path else label


def _name_by_module(reader: Reader) -> None:
    """A module that became one node is named by its path, as in the PyTorch import: 'layer1.0.conv1', 'head'. A
    torch layer without weights called twice (torchvision's ``self.relu``) names its calls 'layer1.0.relu',
    'layer1.0.relu_1' in the module that calls it, where the file records the layer's class."""
    counts: dict[str, int] = {}  # nodes made in each module, its submodules' included
    for path in reader.module_of.values():
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            counts[".".join(parts[:k])] = counts.get(".".join(parts[:k]), 0) + 1
    taken = set(reader.ids)
    renames: dict[str, str] = {}
    for node_id, path in reader.module_of.items():
        if not path or path == node_id or len(path) > MAX_ID:
            continue
        if counts[path] == 1 and path not in taken:
            renames[node_id] = path
        elif _reused_layer(reader.classes.get(path, "")):
            renames[node_id] = unique_id(path, taken, MAX_ID)
            reader.module_of[node_id] = path.rpartition(".")[0]  # a call made by the module that owns the layer
    if not renames:
        return
    for node in reader.nodes:
        node[0] = renames.get(node[0], node[0])
    reader.edges = [Edge(renames.get(e.source, e.source), renames.get(e.target, e.target), e.port, e.source_port)
                    for e in reader.edges]
    reader.weights = {renames.get(k, k): v for k, v in reader.weights.items()}
    reader.module_of = {renames.get(k, k): v for k, v in reader.module_of.items()}


def _reused_layer(qualified_class: str) -> bool:
    """A torch layer class (not a container): its calls are operations of the module that holds it."""
    return qualified_class.startswith("torch.nn.modules.") and ".container." not in qualified_class


def load(data: bytes, beside: Beside | None = None, label: str = "the ONNX file") -> onnx.ModelProto:
    """Parse an ONNX file's bytes, with the weights it keeps in files beside it (``onnx_external``)."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError and friends: the bytes are not an ONNX model
        raise ImportFailure("an ONNX file", "", f"it can't be read as ONNX ({type(err).__name__})",
                            "export it with torch.onnx.export and upload the .onnx file") from None
    if not model.graph.node:
        raise ImportFailure("an ONNX file", "", "the graph has no operations", "check that this is the model file")
    if attach(model, beside, label):
        model.metadata_props.add(key=_ATTACHED, value="1")
    return model


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights]


def fixed_batch(model: onnx.ModelProto) -> int | None:
    """The batch size the file bakes in, or None when its first dimension is free."""
    dims = [v.type.tensor_type.shape.dim for v in _graph_inputs(model)]
    values = {d[0].dim_value for d in dims if d and d[0].HasField("dim_value")}
    return values.pop() if len(values) == 1 else None


def _shapes(model: onnx.ModelProto, batch: int) -> tuple[dict[str, tuple[int, ...]], dict[str, onnx.ValueInfoProto]]:
    """Every value's shape where inference can tell, with the batch fixed at ``batch``; and each value's inferred
    type (what exposing it as an output for onnxruntime needs)."""
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
    return shapes, {v.name: v for v in graph.value_info}


_ATTACHED = "layerlab.external_data_read"  # marks a model whose weights were read in from files beside it
def translate(model: onnx.ModelProto, file_name: str = "") -> tuple[Graph, Reader]:
    batch = fixed_batch(model) or ONNX_BATCH
    graph = model.graph
    consumers: dict[str, int] = {}
    for op in graph.node:
        for name in op.input:
            consumers[name] = consumers.get(name, 0) + 1
    shapes, types = _shapes(model, batch)
    reader = Reader(shapes, consumers, initializers={t.name for t in graph.initializer},
                    classes=module_classes(graph), ops=list(graph.node))
    env: dict[str, Tensor | Const] = {t.name: Const(numpy_helper.to_array(t), origin=t.name) for t in graph.initializer}
    for value in _graph_inputs(model):
        env[value.name] = _input(reader, value, batch)
    regions = find_regions(graph)
    # One onnxruntime run, if anything needs it: the values attention matching compares, and the sizes shape
    # inference could not follow (a reshape to a size computed from a free batch).
    unsized = [name for op in graph.node if op.op_type != "Constant" for name in op.output
               if name and name not in reader.shapes]
    made = {name for op in graph.node if op.op_type != "Constant" for name in op.output}
    computed = [name for op in graph.node if op.op_type in _SIZED_BY for name in op.input[1:] if name in made]
    wanted = region_values(regions) + unsized + computed
    values = probe(model, wanted, probe_inputs(model, batch, _graph_inputs(model)), types) if wanted else {}
    reader.shapes.update({name: tuple(values[name].shape) for name in unsized if name in values})
    starts = {r.first: r for r in regions}
    patterns = find_gelus(graph)
    read_whole: set[int] = {i for p in patterns.values() for i in p.members if i != p.last}
    firsts = {min(p.members): p for p in patterns.values()}
    wholes = find_wholes(graph)
    for index, op in enumerate(graph.node):
        if index in wholes and read_whole_layer(reader, wholes[index], env):
            read_whole |= wholes[index].members
            continue
        if index in firsts and not isinstance(env.get(firsts[index].source), Tensor):  # e.g. a time-first layout
            read_whole -= firsts[index].members  # read op by op after all
            patterns.pop(firsts[index].last)
        if index in read_whole:
            continue
        if index in patterns:
            reader.op = op
            env[op.output[0]] = reader.add(patterns[index].block, {}, [(env[patterns[index].source], None)])
            continue
        if index in starts and _attention(reader, starts[index], env, values):
            read_whole |= {i for i in starts[index].members if graph.node[i].op_type != "Constant"}
            continue
        reader.op = op
        args = [env.get(name, Const(None)) if name else None for name in op.input]
        if op.op_type in _SIZED_BY and args and isinstance(args[0], Tensor):
            args = [_sized(a, values.get(name)) for a, name in zip(args, op.input)]
        result = _translate_op(reader, op, args)
        results = result if isinstance(result, list) else [result]
        for k, name in enumerate(op.output):
            env[name] = results[k] if k < len(results) else Const(None)
    outputs = [env.get(v.name) for v in graph.output]
    _outputs(reader, outputs)
    reader.nodes, reader.edges = fold_last_steps(reader.nodes, reader.edges)
    reader.module_of = {n[0]: reader.module_of.get(n[0], "") for n in reader.nodes}
    _name_by_module(reader)
    nodes = tuple(Node(i, t, p, meta=m) for i, t, p, m in reader.nodes)
    return Graph(name=model_name(model, file_name), nodes=nodes, edges=tuple(reader.edges)), reader


# Ops whose amounts TorchScript computes from shapes (chunk's Slice bounds, a Pad's amounts, a Resize's sizes): the
# amounts are read off one onnxruntime run; verifying at another batch size shows any that follow the batch.
_SIZED_BY = {"Slice", "Pad", "Resize"}


def _sized(arg: Any, value: np.ndarray | None) -> Any:
    if isinstance(arg, Const) and arg.value is None and not arg.zeros and value is not None \
            and np.issubdtype(value.dtype, np.number):
        return Const(value)
    return arg


def _attention(reader: Reader, region: Region, env: dict[str, Any], values: dict[str, np.ndarray]) -> bool:
    """Read a region as one MultiheadAttention when one computes what it computes; False: read it op by op."""
    if any(name not in env or isinstance(env[name], LAYOUTS) for name in region.inputs):
        return False
    tensors = [name for name in region.inputs if isinstance(env[name], Tensor)]
    found = identify(dict(region.weights), tensors, region.output, values)
    if isinstance(found, str):
        reader.mismatched[region.scope] = found
        return False
    reader.op = region.softmax
    inputs = [(env[found.query], "x")] + ([(env[found.memory], "memory")] if found.memory else [])
    added = reader.add("MultiheadAttention", found.params, inputs, found.weights, module=region.scope)
    env[region.output] = Tensor(added.node, reader.shapes.get(region.output, ()))
    return True


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


def _translate_op(reader: Reader, op: onnx.NodeProto, args: list[Any]) -> Any:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in op.attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    attrs = {k: ([x.decode() if isinstance(x, bytes) else x for x in v] if isinstance(v, list) else v)
             for k, v in attrs.items()}
    if op.op_type in ("Shape", "Size"):
        return Const(None)  # a size of a tensor: what reads it (Reshape) takes its result from shape inference
    if any(isinstance(a, LAYOUTS) for a in args):  # a recurrent layer's time-first values
        return _handled(reader, layout_op, args, attrs, [a.source if isinstance(a, LAYOUTS) else a for a in args
                                                         if isinstance(a, (Tensor, *LAYOUTS))])
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not tensors:  # sizes and constants: no design node (Reshape reads its result off shape inference)
        return _constant(reader, op, args, attrs)
    return _handled(reader, _HANDLERS.get(op.op_type), args, attrs, tensors)


_HANDLERS = HANDLERS | MORE_HANDLERS


def _handled(reader: Reader, handler: Any, args: list[Any], attrs: dict[str, Any], tensors: list[Tensor]) -> Any:
    try:
        result = handler(reader, args, attrs) if handler else None
    except (ValueError, TypeError, IndexError, KeyError) as err:
        return reader.unsupported(f"its settings could not be read ({err})", tensors)
    if result is None or isinstance(result, str):  # what no layer block is may still be a tensor-op block
        from importer.onnx_op_blocks import op_block

        result = op_block(reader, args, attrs) or result
    if result is None:
        return reader.unsupported("this ONNX operation (with these settings) has no LayerLab block", tensors)
    if isinstance(result, str):
        return reader.unsupported(result, tensors)
    return result


# Ops that keep an all-zeros input all zeros, whatever sizes they are given.
_KEEPS_ZEROS = {"Slice", "Expand", "Reshape", "Squeeze", "Unsqueeze", "Cast", "Identity", "Tile", "Transpose"}


def _constant(reader: Reader, op: onnx.NodeProto, args: list[Any], attrs: dict[str, Any]) -> Const:
    """An op on constants and sizes only: its value where a design needs it (zeros, a slice of a table)."""
    if op.op_type == "Constant":
        return Const(numpy_helper.to_array(op.attribute[0].t)) if op.attribute[0].name == "value" else Const(None)
    if op.op_type == "Identity":
        return args[0]
    if op.op_type == "ConstantOfShape":
        fill = attrs.get("value")
        value = fold(op, [a.value if isinstance(a, Const) else None for a in args])
        return Const(value, zeros=fill is None or not numpy_helper.to_array(fill).any())
    first = args[0] if args else None
    if op.op_type in ("Expand", "Tile") and isinstance(first, Const) and first.value is not None and first.origin \
            and first.value.ndim >= 2 and first.value.shape[0] == 1:  # cls_token.expand(n, -1, -1); zeros still
        return Const(None, zeros=_all_zeros(first.value), origin=first.origin, expands=first.value)  # read as zeros
    if op.op_type in _KEEPS_ZEROS and isinstance(first, Const) and (first.zeros or _all_zeros(first.value)):
        return Const(None, zeros=True)
    if op.op_type == "Slice" and isinstance(first, Const) and first.value is not None:
        sliced = _leading_slice(reader, op, first, args)
        if sliced.value is not None or sliced.whole is not None:
            return sliced
    values = [a.value if isinstance(a, Const) else None for a in args]
    return Const(fold(op, values))


def _all_zeros(value: np.ndarray | None) -> bool:
    return value is not None and value.size > 0 and not value.any()


def _leading_slice(reader: Reader, op: onnx.NodeProto, first: Const, args: list[Any]) -> Const:
    """``table[:, :T]`` with T taken from the input's size: the first rows, as shape inference sized them."""
    out, table = reader.shapes.get(op.output[0]), first.value
    starts = args[1].value if len(args) > 1 and isinstance(args[1], Const) else None
    steps = args[4].value if len(args) > 4 and isinstance(args[4], Const) else np.ones(1)
    if starts is None or starts.any() or steps is None or (steps != 1).any():
        return Const(None)
    if out is None or len(out) != table.ndim:  # the end is the input's length, which inference couldn't follow
        return Const(None, whole=table, origin=first.origin)
    return Const(table[tuple(slice(0, n) for n in out)], whole=table, origin=first.origin)


def _outputs(reader: Reader, outputs: list[Any]) -> None:
    tensors = [o for o in outputs if isinstance(o, Tensor)]
    sources = {e.source for e in reader.edges}
    sinks = [n[0] for n in reader.nodes if n[0] not in sources and n[1] != "Input"]
    if sinks != [t.node for t in tensors]:
        for k, value in enumerate(tensors, start=1):
            reader.op = onnx.helper.make_node("Identity", [], [""], name="output")
            reader.add("Identity", {}, [(value, None)], name=f"output_{k}" if len(tensors) > 1 else "output")


def import_onnx(data: bytes, verify: bool = True, file_name: str = "", beside: Beside | None = None) -> ImportResult:
    """The design of the ONNX model in ``data``; raises ImportFailure when the file can't be read at all.
    ``file_name`` names the design; ``beside`` reads the files its weights are kept in (``onnx_external``)."""
    from importer.onnx_hierarchy import onnx_hierarchy

    model = load(data, beside, f"‘{file_name}’" if file_name else "the ONNX file")
    if any(p.key == _ATTACHED for p in model.metadata_props):
        data = model.SerializeToString()  # the weights read from beside it, now inside: what onnxruntime checks
    try:
        flat, reader = translate(model, file_name)
        tree = onnx_hierarchy(flat, reader.module_of, reader.classes, reader.call_lines)
    except ImportFailure:
        raise
    except Exception as err:  # noqa: BLE001 — a file this reader trips over: words for the user, never a traceback
        raise ImportFailure("an ONNX file", "", f"LayerLab could not read its graph ({type(err).__name__}: "
                            f"{str(err)[:200]})", "export it with torch.onnx.export, or import the PyTorch "
                            "module instead (layerlab import model.py:Class)") from err
    graph = tree.graph
    # Weights follow the expanded ids (module paths, like the exporting module's state dict).
    weights = {node: reader.weights[old] for node, old in tree.flat_ids.items() if old in reader.weights}
    # A Parameter or Buffer node (key "") is its own state-dict entry.
    state = {f"{node}.{key}" if key else node: value for node, arrays in weights.items() for key, value in arrays.items()}
    count = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    notes = tree.notes + folded_batchnorms(model.graph, reader.initializers)
    result = ImportResult(graph, reader.problems, {n: n for n in weights}, "onnx", count, notes=notes)
    result.state = state
    if verify:
        from importer.onnx_verify import verify_onnx

        result.verification = verify_onnx(graph, data, state, fixed_batch(model))
    return result
