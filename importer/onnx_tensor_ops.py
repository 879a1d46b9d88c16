"""ONNX operations read as the tensor-op blocks with settings: a Split is the chunk (equal pieces) or split block
with one output per piece; a Gather of one position on a tensor is ``x[:, 0]`` (the select block); a Slice of a
computed tensor is ``x[:, a:b]``; both are the index block, written as Python indexes. Each returns None or a sentence when its settings have no such
block, so the layer handlers' refusal (naming the ONNX node) stands.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from importer.onnx_ops import _const

if TYPE_CHECKING:
    from importer.onnx_import import Reader


def split(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """``x.chunk(n, dim)`` when the pieces are as torch's chunk cuts them, else ``x.split([a, b], dim)``."""
    from importer.onnx_import import Tensor

    x = args[0]
    rank = len(x.shape)
    if not rank:
        return "a Split of a tensor whose shape could not be inferred has no block"
    axis = int(attrs.get("axis", 0))
    dim = axis % rank
    if dim == 0:
        return "a Split along the batch has no block (the number of pieces would follow the batch size)"
    outputs = list(reader.op.output)
    sizes = _const(args[1]) if len(args) > 1 and args[1] is not None else attrs.get("split")
    if sizes is None:  # num_outputs (opset 18) or an even split: the pieces' sizes from shape inference
        shapes = [reader.shapes.get(name) for name in outputs]
        if any(s is None or len(s) != rank for s in shapes):
            return "a Split whose pieces' sizes could not be inferred has no block"
        sizes = [s[dim] for s in shapes]
    sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
    if len(sizes) != len(outputs) or sum(sizes) != x.shape[dim] or min(sizes) < 1 or len(sizes) > 16:
        return f"a Split into pieces {sizes} of a dimension of {x.shape[dim]} has no block"
    count = len(sizes)
    torch_dim = axis if axis < 0 else dim
    if sizes == _torch_chunk_sizes(x.shape[dim], count):
        added = reader.add("chunk", {"chunks": count, "dim": torch_dim}, [(x, None)])
    else:
        added = reader.add("split", {"sizes": sizes, "pieces": count, "dim": torch_dim}, [(x, None)])
    return [Tensor(added.node, reader.shapes.get(name, ()), port=str(k)) for k, name in enumerate(outputs)]


def _torch_chunk_sizes(size: int, chunks: int) -> list[int]:
    """The sizes torch's ``chunk`` gives: pieces of ceil(size / chunks), the last smaller (maybe fewer pieces)."""
    step = -(-size // chunks)
    return [min(step, size - start) for start in range(0, size, step)]


def select(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """Gather of constant positions of a computed tensor: ``x[:, 0]`` (a class token's output), ``x[:, [-1], :]``
    (nanoGPT's last step)."""
    x, index = args[0], _const(args[1])
    rank = len(x.shape)
    if index is None or np.asarray(index).ndim > 1 or np.asarray(index).size > 16 or not rank:
        return None
    dim = int(attrs.get("axis", 0)) % rank
    if dim == 0:
        return "picking samples of the batch (Gather on axis 0) has no block"
    index = np.asarray(index)  # one position (x[:, 0]) or a list of them, which keeps the dimension (x[:, [-1]])
    picked = str(int(index)) if index.ndim == 0 else "[" + ", ".join(str(int(i)) for i in index) + "]"
    return reader.add("index", {"index": ", ".join([":"] * dim + [picked])}, [(x, None)])


def narrow(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """Slice with constant starts/ends on one axis and step 1: ``x[:, a:b]``."""
    x = args[0]
    rank = len(x.shape)
    starts, ends = (_const(a) if a is not None else None for a in (args[1:3] if len(args) >= 3 else (None, None)))
    axes = _const(args[3]) if len(args) > 3 and args[3] is not None else np.arange(rank if starts is None else
                                                                                     np.asarray(starts).size)
    steps = _const(args[4]) if len(args) > 4 and args[4] is not None else np.ones(np.asarray(axes).size)
    if starts is None or ends is None or axes is None or steps is None or not rank:
        return None
    cuts = [(int(a) % rank, int(s), int(e)) for a, s, e, st in zip(*(np.asarray(v).reshape(-1) for v in
                                                                    (axes, starts, ends, steps)))
            if int(st) == 1]
    if len(cuts) != np.asarray(axes).size:
        return "a Slice with a step other than 1 has no block"
    out = reader.shapes.get(reader.op.output[0])
    cuts = [(d, s, e) for d, s, e in cuts if not (s == 0 and e >= x.shape[d])]  # whole axes: nothing cut
    if not cuts:
        return x
    if len(cuts) != 1 or out is None or cuts[0][0] == 0:
        return None
    dim, start, end = cuts[0]
    start = start + x.shape[dim] if start < 0 else start
    end = start + int(out[dim])  # ONNX clamps ends (INT64_MAX: to the end); the inferred size says where it stops
    stop = "" if end >= x.shape[dim] else str(end)
    return reader.add("index", {"index": ", ".join([":"] * dim + [f"{start or ''}:{stop}"])}, [(x, None)])


def constant_node(reader: Reader, const: Any) -> Any:
    """A float initializer used as a computed tensor's operand (ConvNeXt's layer scale ``gamma * x``, a class token)
    as a Parameter node named by its path in the exported module (``features.1.0.layer_scale``), made once however
    often it is read; None for what no Parameter holds (integers, one value, more than six dimensions)."""
    from importer.onnx_import import Tensor

    value = getattr(const, "value", None)
    origin = getattr(const, "origin", "")
    if value is None or not origin or origin not in reader.initializers or value.size < 2 \
            or not np.issubdtype(value.dtype, np.floating) or not 1 <= value.ndim <= 6:
        return None
    made = reader.constants.get(origin)
    if made is not None:
        return made
    path = origin if re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", origin) and len(origin) <= 60 else None
    added = reader.add("Parameter", {"shape": [int(d) for d in value.shape], "init": "zeros"}, [],
                       {"": np.asarray(value)}, module=path, name=None if path else "parameter")
    reader.constants[origin] = Tensor(added.node, tuple(int(d) for d in value.shape))
    return reader.constants[origin]


def per_sample(reader: Reader, const: Any, like: Any) -> Any:
    """A (1, ...) initializer repeated for every sample of ``like``'s batch (or stored so, a row per sample, all
    alike): its Parameter node, then
    ``cls_token.expand(n, -1, -1)`` (the expand block with ``like`` giving the batch). None for other constants."""
    from importer.onnx_import import Const

    table, value = getattr(const, "expands", None), getattr(const, "value", None)
    if table is None and value is not None and value.ndim >= 2 and like.shape and value.shape[0] == like.shape[0] \
            and np.array_equal(value, np.broadcast_to(value[:1], value.shape)):
        table = value[:1]  # the dynamo exporter, batch fixed, stores the expanded token: one row per sample
    if table is None:
        return None
    parameter = constant_node(reader, Const(table, origin=const.origin))
    if parameter is None:
        return None
    return reader.add("expand", {"sizes": [-1] * (table.ndim - 1)}, [(parameter, "x"), (like, "like")])
