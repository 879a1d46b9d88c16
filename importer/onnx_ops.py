"""ONNX operations → catalog blocks, one handler each: ``handler(reader, args, attrs)`` returns the output Tensor,
None (no block for it) or a sentence saying which setting has no block equivalent.

``args`` are Tensors (made by design nodes) or Consts (initializers, constants); ONNX defaults differ from
torch's in places (MaxPool's stride is 1, BatchNormalization's momentum is torch's 1 - momentum), so every
setting is written out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from importer.onnx_names import SCOPES_KEY
from importer.onnx_recurrent import StateInput, TimeFirst, recurrent
from importer.positions import table_params

if TYPE_CHECKING:
    from importer.onnx_import import Reader, Tensor

Handler = Callable[["Reader", list[Any], dict[str, Any]], Any]


def _const(value: Any) -> np.ndarray | None:
    return getattr(value, "value", None) if value is not None and not hasattr(value, "node") else None


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "node")


def _size(values: list[int] | tuple[int, ...]) -> Any:
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _pads(attrs: dict[str, Any], rank: int) -> Any:
    """ONNX pads are [begin..., end...]; a block pads both sides alike."""
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"auto_pad={attrs['auto_pad']}")
    pads = list(attrs.get("pads", [0] * 2 * rank))
    if pads[:rank] != pads[rank:]:
        raise ValueError(f"uneven padding {pads}")
    return _size(pads[:rank])


def _conv(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    weight, bias = _const(args[1]), _const(args[2]) if len(args) > 2 and args[2] is not None else None
    rank = weight.ndim - 2 if weight is not None else 0
    if rank not in (1, 2):
        return "only 1-D and 2-D convolutions with constant weights are blocks"
    params = {"out_channels": int(weight.shape[0]), "kernel_size": _size(weight.shape[2:]),
              "stride": _size(attrs.get("strides", [1] * rank)), "padding": _pads(attrs, rank),
              "dilation": _size(attrs.get("dilations", [1] * rank)), "groups": int(attrs.get("group", 1)),
              "bias": bias is not None}
    return reader.add(f"Conv{rank}d", params, [(args[0], None)], {"weight": weight, "bias": bias})


def _conv_transpose(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    weight, bias = _const(args[1]), _const(args[2]) if len(args) > 2 and args[2] is not None else None
    rank = weight.ndim - 2 if weight is not None else 0
    if rank not in (1, 2) or "output_shape" in attrs:
        return "only 1-D and 2-D transposed convolutions without output_shape are blocks"
    group = int(attrs.get("group", 1))
    params = {"out_channels": int(weight.shape[1]) * group, "kernel_size": _size(weight.shape[2:]),
              "stride": _size(attrs.get("strides", [1] * rank)), "padding": _pads(attrs, rank),
              "output_padding": _size(attrs.get("output_padding", [0] * rank)),
              "dilation": _size(attrs.get("dilations", [1] * rank)), "groups": group, "bias": bias is not None}
    return reader.add(f"ConvTranspose{rank}d", params, [(args[0], None)], {"weight": weight, "bias": bias})


def _gemm(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    weight = _const(args[1])
    bias = _const(args[2]) if len(args) > 2 and args[2] is not None else None
    if weight is None or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        return "a Gemm with transA, alpha/beta other than 1 or a weight computed in the graph"
    weight = weight if attrs.get("transB", 0) else weight.T
    if bias is not None:
        bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    return reader.add("Linear", {"out_features": int(weight.shape[0]), "bias": bias is not None},
                      [(args[0], None)], {"weight": weight, "bias": bias})


def _matmul(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    weight = _const(args[1])
    if not _is_tensor(args[0]) or weight is None or weight.ndim != 2:
        return "a MatMul of two computed tensors (attention scores) has no block; only x @ W with a constant W"
    return reader.add("Linear", {"out_features": int(weight.shape[1]), "bias": False}, [(args[0], None)],
                      {"weight": weight.T.copy()})


def _binary(block: str, scale: Callable[[float], float] | None = None) -> Handler:
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        a, b = args[0], args[1]
        if _is_tensor(a) and _is_tensor(b):
            if block not in ("Add", "Multiply") or a.shape != b.shape:
                return "two computed inputs of different shapes (broadcasting), or a division, have no block"
            return reader.add(block, {}, [(a, "1"), (b, "2")])
        x, other = (a, _const(b)) if _is_tensor(a) else (b, _const(a))
        table = b if _is_tensor(a) else a
        if block == "Add" and table.whole is not None:
            return _positions(reader, x, other, table.whole, table.origin)
        if block == "Add" and other is not None and len(x.shape) == 3 and other.shape in ((1, *x.shape[1:]), x.shape[1:]):
            return _positions(reader, x, other, other, table.origin)  # the exporter already cut the table to T
        if other is None:
            return None
        if block == "Add":
            return _fold_bias(reader, x, other, reader.op.input[0 if _is_tensor(a) else 1])
        if scale is not None and other.size == 1 and (_is_tensor(a) or block == "Multiply"):
            return reader.add("Scale", {"factor": scale(float(other.reshape(-1)[0]))}, [(x, None)])
        return None
    return handle


def _fold_bias(reader: Reader, x: Tensor, bias: np.ndarray, name: str) -> Any:
    """MatMul then Add of a vector: one Linear with a bias (what torch exports a Linear on 3-D input as)."""
    if reader.made_by.get(x.node) != "MatMul" or bias.ndim != 1 or reader.consumers.get(name) != 1:
        return None
    params = reader.params_of(x.node)
    if params.get("bias") or bias.shape[0] != params["out_features"]:
        return None
    params["bias"] = True
    reader.weights[x.node]["bias"] = bias
    return x


def _positions(reader: Reader, x: Tensor, added: np.ndarray | None, table: np.ndarray, origin: str) -> Any:
    """x + table[:, :T]: a PositionalEncoding (the standard sinusoids recomputed, any other table learned). ``added``
    is None where shape inference couldn't size the slice: then it is the first T rows, T the input's length."""
    if len(x.shape) != 3:
        return None
    if added is None:
        added = table.reshape(-1, table.shape[-1])[: x.shape[1]]
    params = table_params(table, added, x.shape[1], x.shape[2], learned=None)
    if params is None:
        return None
    if params["kind"] == "sinusoidal":
        return reader.add("PositionalEncoding", params, [(x, None)])
    # A learned table keeps its parameter's name ('positions') where the file kept it: the TorchScript exporter
    # names weights by their path; the dynamo one names a sliced table after the op that cut it ('alias').
    by_path = "." in origin or not any(p.key == SCOPES_KEY for p in reader.op.metadata_props)
    name = origin if by_path and re.fullmatch(r"[A-Za-z_][\w.]{0,59}", origin) and origin not in reader.ids else None
    return reader.add("PositionalEncoding", params, [(x, None)], {"pe": table.reshape(1, -1, x.shape[2]).copy()},
                      name=name)


def _simple(block: str, **names: tuple[str, Any]) -> Handler:
    """One block on one tensor; ``names`` maps block params to (ONNX attribute, default)."""
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        params = {param: attrs.get(attr, default) for param, (attr, default) in names.items()}
        return reader.add(block, params, [(args[0], None)])
    return handle


def _hardsigmoid(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    if abs(attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or attrs.get("beta", 0.5) != 0.5:
        return "HardSigmoid with alpha other than 1/6 (torch's Hardsigmoid)"
    return reader.add("Hardsigmoid", {}, [(args[0], None)])


def _clip(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    low = _const(args[1]) if len(args) > 1 and args[1] is not None else attrs.get("min")
    high = _const(args[2]) if len(args) > 2 and args[2] is not None else attrs.get("max")
    if low is None or high is None:
        return "a Clip without both bounds"
    low, high = float(np.asarray(low)), float(np.asarray(high))
    if (low, high) == (0.0, 6.0):
        return reader.add("ReLU6", {}, [(args[0], None)])
    return reader.add("Hardtanh", {"min_val": low, "max_val": high}, [(args[0], None)])


def _batchnorm(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    x = args[0]
    weight, bias, mean, var = (_const(a) for a in args[1:5])
    if any(v is None for v in (weight, bias, mean, var)) or len(x.shape) not in (2, 3, 4):
        return "BatchNormalization needs constant statistics and a 2-D to 4-D input"
    block = "BatchNorm2d" if len(x.shape) == 4 else "BatchNorm1d"
    params = {"eps": float(attrs.get("epsilon", 1e-5)), "momentum": round(1.0 - float(attrs.get("momentum", 0.9)), 6)}
    return reader.add(block, params, [(x, None)],
                      {"weight": weight, "bias": bias, "running_mean": mean, "running_var": var})


def _layernorm(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    x, weight = args[0], _const(args[1])
    bias = _const(args[2]) if len(args) > 2 and args[2] is not None else None
    axis = int(attrs.get("axis", -1)) % max(1, len(x.shape))
    if weight is None or axis == 0 or len(reader.op.output) > 1 and any(reader.op.output[1:]):
        return "a LayerNormalization over the batch, with computed scales, or with its statistics used"
    shape = list(x.shape[axis:])
    weight = np.broadcast_to(weight, shape).copy()
    bias = np.broadcast_to(bias, shape).copy() if bias is not None else np.zeros(shape, dtype=weight.dtype)
    return reader.add("LayerNorm", {"normalized_shape": shape, "eps": float(attrs.get("epsilon", 1e-5))},
                      [(x, None)], {"weight": weight, "bias": bias})


def _pool(kind: str) -> Handler:
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        kernel = list(attrs["kernel_shape"])
        rank = len(kernel)
        if rank not in (1, 2) or any(d != 1 for d in attrs.get("dilations", [1] * rank)):
            return "only 1-D and 2-D pooling without dilation is a block"
        padding = _pads(attrs, rank)
        if kind == "Avg" and padding != 0 and not attrs.get("count_include_pad", 0):
            return "average pooling that leaves the padding out of the count (count_include_pad=False)"
        params = {"kernel_size": _size(kernel), "stride": _size(attrs.get("strides", [1] * rank)),
                  "padding": padding, "ceil_mode": bool(attrs.get("ceil_mode", 0))}
        return reader.add(f"{kind}Pool{rank}d", params, [(args[0], None)])
    return handle


def _global(kind: str) -> Handler:
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        rank = len(args[0].shape) - 2
        if rank not in (1, 2):
            return None
        return reader.add(f"Adaptive{kind}Pool{rank}d", {"output_size": 1}, [(args[0], None)])
    return handle


def _reshape(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """Flatten, Reshape, Squeeze, Unsqueeze: Flatten or a Reshape to the inferred shape, batch kept first."""
    x = args[0]
    out = reader.shapes.get(reader.op.output[0])
    if reader.op.op_type == "Unsqueeze" and len(x.shape) == 2 and out == (1, *x.shape):
        return StateInput(x)  # an initial state (1, N, H) for a recurrent op; nothing else reads it
    if not out or not x.shape or out[0] != x.shape[0]:
        return ("a reshape that moves or merges the batch dimension (or whose shape can't be inferred); keep the "
                "batch first and reshape only the other dimensions, or import the PyTorch module "
                "(layerlab import model.py:Class)")
    if out == x.shape:
        return x
    if len(out) == 2 and len(x.shape) > 2:
        return reader.add("Flatten", {}, [(x, None)])
    if not 2 <= len(out) <= 5:  # more sizes than a Reshape block holds, or none after the batch: the view op
        return reader.add("view", {"shape": list(out[1:]), "keep_batch": True}, [(x, None)])
    return reader.add("Reshape", {"shape": list(out[1:])}, [(x, None)])


def _transpose(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    perm = list(attrs.get("perm", []))
    if perm == [1, 0, 2] and len(args[0].shape) == 3:
        return TimeFirst(args[0])  # what a batch-first recurrent layer reads, time first
    if not perm or perm[0] != 0:
        return ("a transpose that moves the batch dimension (a time-first layout); keep the batch first "
                "(batch_first=True), or import the PyTorch module (layerlab import model.py:Class)")
    if perm == sorted(perm):
        return args[0]
    if len(perm) > 5:  # more dimensions than a Permute block holds: the permute op, batch first
        return reader.add("permute", {"dims": perm}, [(args[0], None)])
    return reader.add("Permute", {"dims": perm[1:]}, [(args[0], None)])


def _concat(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    if len(args) == 1 and _is_tensor(args[0]):
        return args[0]  # torch.cat of one tensor (DenseNet's first layer, as the TorchScript exporter writes it)
    axis = int(attrs.get("axis", 1))
    if not all(_is_tensor(a) for a in args):
        from importer.onnx_tensor_ops import per_sample

        args = [a if _is_tensor(a) else per_sample(reader, a, next(t for t in args if _is_tensor(t))) or a
                for a in args]
    if not all(_is_tensor(a) for a in args) or axis % max(1, len(args[0].shape)) == 0:
        return "a Concat with constants or along the batch"
    return reader.add("Concat", {"dim": axis}, [(a, str(k)) for k, a in enumerate(args, start=1)])


def _reduce_mean(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    axes = attrs.get("axes")
    if axes is None and len(args) > 1:
        axes = _const(args[1])
    if axes is None:
        return None
    rank = len(args[0].shape)
    dims = [int(a) for a in np.asarray(axes).reshape(-1)]
    if any(d % rank == 0 for d in dims):
        return "a mean over the batch"
    return reader.add("Mean", {"dims": dims, "keepdim": bool(attrs.get("keepdims", 1))}, [(args[0], None)])


def _softmax(block: str) -> Handler:
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        return reader.add(block, {"dim": int(attrs.get("axis", -1))}, [(args[0], None)])
    return handle


def _gather(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    if _is_tensor(args[0]):
        from importer.onnx_tensor_ops import select

        picked = _pick_step(reader, args, attrs)
        return select(reader, args, attrs) or picked if isinstance(picked, str) else picked
    table = _const(args[0])
    if table is None or table.ndim != 2 or attrs.get("axis", 0) != 0 or not _is_tensor(args[1]):
        return "only a lookup in a constant (vocabulary, dim) table is a block (Embedding)"
    return reader.add("Embedding", {"num_embeddings": int(table.shape[0]), "embedding_dim": int(table.shape[1])},
                      [(args[1], None)], {"weight": table})


def _pick_step(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """``x[:, -1]`` on an (N, T, F) sequence: LastTimeStep."""
    x, index = args[0], _const(args[1])
    axis = int(attrs.get("axis", 0)) % max(1, len(x.shape))
    if index is None or index.ndim != 0 or axis != 1 or len(x.shape) != 3:
        return "picking entries with Gather has no block except the last time step x[:, -1] of an (N, T, F) sequence"
    if int(index) not in (-1, x.shape[1] - 1):
        return f"picking time step {int(index)} has no block; only the last step (x[:, -1]) has one (LastTimeStep)"
    return reader.add("LastTimeStep", {}, [(x, None)])


def _passthrough(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    return args[0]  # Identity, and Dropout at inference


HANDLERS: dict[str, Handler] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "Add": _binary("Add"), "Mul": _binary("Multiply", lambda f: f), "Div": _binary("Divide", lambda f: 1.0 / f),
    "Relu": _simple("ReLU"), "Sigmoid": _simple("Sigmoid"), "Tanh": _simple("Tanh"), "Softsign": _simple("Softsign"),
    "HardSwish": _simple("Hardswish"), "Mish": _simple("Mish"), "Selu": _simple("SELU"),
    "LeakyRelu": _simple("LeakyReLU", negative_slope=("alpha", 0.01)), "Elu": _simple("ELU", alpha=("alpha", 1.0)),
    "Celu": _simple("CELU", alpha=("alpha", 1.0)), "Gelu": _simple("GELU", approximate=("approximate", "none")),
    "Softplus": _simple("Softplus"), "HardSigmoid": _hardsigmoid, "Clip": _clip,
    "BatchNormalization": _batchnorm, "LayerNormalization": _layernorm, "MaxPool": _pool("Max"), "AveragePool": _pool("Avg"),
    "GlobalAveragePool": _global("Avg"), "GlobalMaxPool": _global("Max"),
    "Flatten": _reshape, "Reshape": _reshape, "Squeeze": _reshape, "Unsqueeze": _reshape,
    "Transpose": _transpose, "Concat": _concat, "ReduceMean": _reduce_mean,
    "Softmax": _softmax("Softmax"), "LogSoftmax": _softmax("LogSoftmax"),
    "Gather": _gather, "Identity": _passthrough, "Dropout": _passthrough,
    "LSTM": recurrent, "GRU": recurrent, "RNN": recurrent,
}
