"""Functional code → blocks: ``torch.flatten``, ``x.view(x.size(0), -1)``, ``+``, ``torch.cat``, ``F.relu``,
``permute``, ``mean``, ``x[:, -1]``, ``x * 0.5``, ``softmax``, ``dropout``, pooling, padding, interpolation.

Functions and Tensor methods share one table keyed by name (``torch.relu``, ``F.relu`` and ``x.relu()`` are one
operation). Shapes come from what the trace recorded, so a reshape is whatever the user's code really produced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from importer.modules import size
from importer.op_blocks import map_call
from importer.trace import holds_tensor
from importer.translate import Context, Pending, Static, Tensor, resolve_pending, tensors_in, unwrap


def op_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def op_label(node: fx.Node) -> str:
    """How the user wrote it: Tensor.masked_fill, torch.roll, F.conv2d."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    module = getattr(node.target, "__module__", "") or ""
    name = op_name(node)
    if "functional" in module or module == "torch._C._nn":
        return f"F.{name}"
    return f"{'torch' if module.startswith('torch') else module or 'builtins'}.{name}"


def call_function(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    name = op_name(node).strip("_")  # relu_ is relu, __add__ is add
    if name in ("getitem", "getattr"):
        return _getitem(ctx, node, args) if name == "getitem" else Static(ctx.recorded())
    args, kwargs = resolve_pending(args), resolve_pending(kwargs)
    tensors = tensors_in((args, kwargs))
    if not tensors and not any(isinstance(v, Pending) for v in fx.node.map_aggregate((args, kwargs), lambda v: v)):
        return Static(ctx.recorded(), origin=_origin(args), node=node)  # sizes, constants, masks: not a function of the data
    if not isinstance(ctx.recorded(), torch.Tensor) and not holds_tensor(ctx.recorded()):
        return Static(ctx.recorded())  # x.size(1), x.dim(), x.shape: plain numbers (split's parts are data)
    handler = HANDLERS.get(name) if all(t.batched for t in tensors) else None
    value = handler(ctx, args, kwargs) if handler else None
    if value is None:
        value = map_call(ctx, node, args, kwargs)  # the tensor-op blocks, read through their own descriptions
    if value is None:
        from importer.tensor_nodes import why_not

        return ctx.unsupported(op_label(node), why_not(ctx, _statics((args, kwargs))) or _advice(name), tensors)
    return value


def _statics(values: Any) -> list[Static]:
    found: list[Static] = []
    fx.node.map_aggregate(values, lambda v: found.append(v) if isinstance(v, Static) else None)
    return found


def _origin(args: tuple) -> str | None:
    return next((a.origin for a in args if isinstance(a, Static) and a.origin), None)


_ATTENTION_ADVICE = ("attention written by hand becomes one MultiheadAttention block when its module computes exactly "
                     "what nn.MultiheadAttention does (a packed qkv Linear, heads, softmax(q·kᵀ/√d)·v, an output "
                     "Linear); this one doesn't, so use nn.MultiheadAttention(batch_first=True), or match its "
                     "arithmetic")


def _advice(name: str) -> str:
    return _ATTENTION_ADVICE if name in ("scaled_dot_product_attention", "split", "chunk", "unbind", "matmul", "bmm") \
        else ""


def _arg(args: tuple, kwargs: dict, k: int, name: str, default: Any = None) -> Any:
    value = args[k] if len(args) > k else kwargs.get(name, default)
    return unwrap(value)


# --- shape ------------------------------------------------------------------------------------------------


def reshape_to_recorded(ctx: Context, x: Tensor) -> Any:
    """view / reshape / flatten / (un)squeeze: Flatten, or Reshape to the recorded shape, keeping the batch first."""
    out = tuple(ctx.recorded().shape)
    if not out or out[0] != x.shape[0]:
        return None
    if out == x.shape:
        return x
    if len(out) == 2 and len(x.shape) > 2:
        return ctx.block("Flatten", {}, x)
    if not 2 <= len(out) <= 5:
        return None  # no Reshape block: the view op block (importer.op_blocks) writes x.view(x.size(0), ...)
    return ctx.block("Reshape", {"shape": list(out[1:])}, x)


def _reshape(ctx: Context, args: tuple, kwargs: dict) -> Any:
    return reshape_to_recorded(ctx, args[0]) if isinstance(args[0], Tensor) else None


def _same(ctx: Context, args: tuple, kwargs: dict) -> Any:
    """contiguous(), clone(), float() on a float tensor: the same values."""
    x = args[0]
    return x if isinstance(x, Tensor) and ctx.recorded().dtype == x.dtype else None


def _permute(ctx: Context, args: tuple, kwargs: dict) -> Any:
    x, rank = args[0], len(args[0].shape)
    dims = [unwrap(a) for a in args[1:]] or [unwrap(kwargs.get("dims"))]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = list(dims[0])
    return _permutation(ctx, x, [d % rank for d in dims])


def _transpose(ctx: Context, args: tuple, kwargs: dict) -> Any:
    x, rank = args[0], len(args[0].shape)
    a, b = (_arg(args, kwargs, 1, "dim0") % rank, _arg(args, kwargs, 2, "dim1") % rank)
    order = list(range(rank))
    order[a], order[b] = order[b], order[a]
    return _permutation(ctx, x, order)


def _permutation(ctx: Context, x: Tensor, order: list[int]) -> Any:
    if order == list(range(len(order))):
        return x
    if order[0] != 0:
        ctx.memo["batch_moved"] = True
        return None  # the batch leaves dimension 0 (a time-first layout)
    if len(order) > 5:
        return None  # more than a Permute block holds: the permute op (importer.op_blocks)
    return ctx.block("Permute", {"dims": order[1:]}, x)


def _mean(ctx: Context, args: tuple, kwargs: dict) -> Any:
    x, dim = args[0], _arg(args, kwargs, 1, "dim")
    if dim is None:
        return None
    dims = [dim] if isinstance(dim, int) else list(dim)
    if any(d % len(x.shape) == 0 for d in dims):
        return None
    return ctx.block("Mean", {"dims": dims, "keepdim": bool(_arg(args, kwargs, 2, "keepdim", False))}, x)


def _getitem(ctx: Context, node: fx.Node, args: tuple) -> Any:
    obj, index = args[0], unwrap(args[1])
    if isinstance(obj, Pending):
        if isinstance(index, int):
            return obj.index(index)
        obj = obj.resolve()
    if type(obj).__name__ == "HiddenStates" and index in (0, -1):
        return obj.last
    if isinstance(obj, Static):
        return Static(ctx.recorded(), origin=obj.origin, node=node)
    if isinstance(obj, (tuple, list)):
        return obj[index]
    if isinstance(obj, Tensor):
        if len(obj.shape) == 3 and index == (slice(None), -1) and obj.batched:
            return ctx.block("LastTimeStep", {}, obj)
        value = map_call(ctx, node, args, {})
        if value is not None:
            return value
        return ctx.unsupported(f"indexing {node.meta.get('where', ('', ''))[1] or 'x[...]'}",
                               "only x[:, -1] (the last time step of (N, T, F)) is a block", [obj])
    return Static(ctx.recorded())


# --- arithmetic and merges --------------------------------------------------------------------------------


def _add(ctx: Context, args: tuple, kwargs: dict) -> Any:
    a, b = args[0], args[1]
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape != b.shape:
            return None
        return ctx.out(ctx.add(ctx.fx_node.name, "Add", {}, [(a, "1"), (b, "2")]))
    x, other = (a, b) if isinstance(a, Tensor) else (b, a)
    if isinstance(other, Static) and isinstance(other.value, torch.Tensor):
        from importer.positions import positional_encoding

        return positional_encoding(ctx, x, other)
    return None


def _mul(ctx: Context, args: tuple, kwargs: dict, divide: bool = False) -> Any:
    a, b = args[0], args[1]
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape != b.shape or divide:
            return None
        return ctx.out(ctx.add(ctx.fx_node.name, "Multiply", {}, [(a, "1"), (b, "2")]))
    x, other = (a, b) if isinstance(a, Tensor) else (b, a)
    factor = unwrap(other)
    if isinstance(factor, torch.Tensor) and factor.numel() == 1:
        factor = factor.item()
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or (divide and x is not a):
        return None
    factor = 1.0 / factor if divide else float(factor)
    return ctx.block("Scale", {"factor": factor}, x) if math.isfinite(factor) else None


def _cat(ctx: Context, args: tuple, kwargs: dict) -> Any:
    items, dim = list(_arg(args, kwargs, 0, "tensors")), _arg(args, kwargs, 1, "dim", 0)
    if not all(isinstance(t, Tensor) for t in items) or dim % len(items[0].shape) == 0:
        return None
    if len(items) == 1:
        return items[0]
    inputs = [(t, str(k)) for k, t in enumerate(items, start=1)]
    return ctx.out(ctx.add(ctx.fx_node.name, "Concat", {"dim": dim}, inputs))


# --- layers written as functions --------------------------------------------------------------------------


def _activation(block: str, *names: str, defaults: tuple = ()) -> Callable[[Context, tuple, dict], Any]:
    """F.leaky_relu(x, 0.2) → LeakyReLU(negative_slope=0.2): positional or keyword, in torch's order."""
    def handle(ctx: Context, args: tuple, kwargs: dict) -> Any:
        params = {}
        for k, name in enumerate(names):
            value = _arg(args, kwargs, k + 1, name, defaults[k] if k < len(defaults) else None)
            if value is not None:
                params[name] = value
        return ctx.block(block, params, args[0])
    return handle


def _softmax(block: str) -> Callable[[Context, tuple, dict], Any]:
    def handle(ctx: Context, args: tuple, kwargs: dict) -> Any:
        dim = _arg(args, kwargs, 1, "dim")
        return None if dim is None else ctx.block(block, {"dim": dim}, args[0])
    return handle


def _pool(block: str, dims: int) -> Callable[[Context, tuple, dict], Any]:
    def handle(ctx: Context, args: tuple, kwargs: dict) -> Any:
        x = args[0]
        if len(x.shape) != dims + 2:
            return None
        names = ("kernel_size", "stride", "padding", "dilation" if block.startswith("Max") else "ceil_mode",
                 "ceil_mode" if block.startswith("Max") else "count_include_pad")
        values = {n: _arg(args, kwargs, k + 1, n) for k, n in enumerate(names)}
        if values.get("dilation") not in (None, 1) or values.get("count_include_pad") is False:
            return None
        params = {"kernel_size": size(values["kernel_size"]), "padding": size(values["padding"] or 0),
                  "ceil_mode": bool(values["ceil_mode"])}
        if values["stride"] not in (None, [], ()):
            params["stride"] = size(values["stride"])
        return ctx.block(block, params, x)
    return handle


def _adaptive(block: str) -> Callable[[Context, tuple, dict], Any]:
    def handle(ctx: Context, args: tuple, kwargs: dict) -> Any:
        out = _arg(args, kwargs, 1, "output_size")
        return ctx.block(block, {"output_size": size(out)}, args[0]) if out is not None else None
    return handle


def _interpolate(ctx: Context, args: tuple, kwargs: dict) -> Any:
    factor, mode = _arg(args, kwargs, 2, "scale_factor"), _arg(args, kwargs, 3, "mode", "nearest")
    if isinstance(factor, (tuple, list)):
        factor = factor[0] if len(set(factor)) == 1 else None
    if factor is None or mode not in ("nearest", "bilinear"):
        return None
    corners = {"align_corners": True} if _arg(args, kwargs, 4, "align_corners") and mode == "bilinear" else {}
    return ctx.block("Upsample", {"scale_factor": float(factor), "mode": mode, **corners}, args[0])


_PAD_KINDS = {"constant": "Constant", "reflect": "Reflection", "replicate": "Replication", "circular": "Circular"}


def _pad(ctx: Context, args: tuple, kwargs: dict) -> Any:
    x, pads = args[0], list(_arg(args, kwargs, 1, "pad"))
    mode, value = _arg(args, kwargs, 2, "mode", "constant"), _arg(args, kwargs, 3, "value") or 0.0
    dims = len(x.shape) - 2
    if dims not in (1, 2) or len(pads) != 2 * dims or mode not in _PAD_KINDS or min(pads) < 0:
        return None
    kind = "Zero" if mode == "constant" and value == 0 else _PAD_KINDS[mode]
    params: dict[str, Any] = {"padding": pads[0] if len(set(pads)) == 1 else pads}
    if kind == "Constant":
        params["value"] = float(value)
    return ctx.block(f"{kind}Pad{dims}d", params, x)


def _dropout(block: str) -> Callable[[Context, tuple, dict], Any]:
    def handle(ctx: Context, args: tuple, kwargs: dict) -> Any:
        return ctx.block(block, {"p": float(_arg(args, kwargs, 1, "p", 0.5))}, args[0])
    return handle


HANDLERS: dict[str, Callable[[Context, tuple, dict], Any]] = {
    **{n: _reshape for n in ("view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze")},
    **{n: _same for n in ("contiguous", "clone", "float", "detach")},
    "permute": _permute, "transpose": _transpose, "swapaxes": _transpose,
    "mean": _mean,
    "add": _add, "iadd": _add, "radd": _add,
    "mul": _mul, "imul": _mul, "rmul": _mul, "truediv": lambda c, a, k: _mul(c, a, k, divide=True),
    "div": lambda c, a, k: _mul(c, a, k, divide=True),
    "cat": _cat, "concat": _cat, "concatenate": _cat,
    **{n: _activation(b) for n, b in (("relu", "ReLU"), ("relu6", "ReLU6"), ("silu", "SiLU"), ("mish", "Mish"),
                                      ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("selu", "SELU"),
                                      ("hardswish", "Hardswish"), ("hardsigmoid", "Hardsigmoid"),
                                      ("logsigmoid", "LogSigmoid"), ("softsign", "Softsign"),
                                      ("tanhshrink", "Tanhshrink"))},
    "gelu": lambda c, a, k: c.block("GELU", {"approximate": _arg(a, k, 1, "approximate", "none")}, a[0]),
    "leaky_relu": _activation("LeakyReLU", "negative_slope", defaults=(0.01,)),
    "elu": _activation("ELU", "alpha", defaults=(1.0,)),
    "celu": _activation("CELU", "alpha", defaults=(1.0,)),
    "hardtanh": _activation("Hardtanh", "min_val", "max_val", defaults=(-1.0, 1.0)),
    "softplus": lambda c, a, k: c.block("Softplus", {"beta": float(_arg(a, k, 1, "beta", 1.0))}, a[0])
    if _arg(a, k, 2, "threshold", 20) == 20 else None,
    "glu": _activation("GLU", "dim", defaults=(-1,)),
    "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"), "softmin": _softmax("Softmin"),
    "dropout": _dropout("Dropout"), "dropout1d": _dropout("Dropout1d"), "dropout2d": _dropout("Dropout2d"),
    "alpha_dropout": _dropout("AlphaDropout"),
    "max_pool1d": _pool("MaxPool1d", 1), "max_pool2d": _pool("MaxPool2d", 2),
    "avg_pool1d": _pool("AvgPool1d", 1), "avg_pool2d": _pool("AvgPool2d", 2),
    "adaptive_avg_pool1d": _adaptive("AdaptiveAvgPool1d"), "adaptive_avg_pool2d": _adaptive("AdaptiveAvgPool2d"),
    "adaptive_max_pool1d": _adaptive("AdaptiveMaxPool1d"), "adaptive_max_pool2d": _adaptive("AdaptiveMaxPool2d"),
    "interpolate": _interpolate, "upsample": _interpolate,
    "pad": _pad,
    "stochastic_depth": lambda c, a, k: c.block("StochasticDepth", {"p": float(_arg(a, k, 1, "p")),
                                                                      "mode": _arg(a, k, 2, "mode", "row")}, a[0]),
}
