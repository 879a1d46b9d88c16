"""Where a torch argument and an op block's parameter differ in kind: a short adapter each, written by hand
(importer.op_blocks binds by name everything else). A view's sizes come from the recorded result with the batch
kept first; an index is written back as text; a constant operand is the scalar block's value; a class token
expanded to the batch reads the batch from the input; split and unbind count the pieces the trace recorded.
Whatever an adapter makes is still checked against the recorded result before it is kept."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from builder.catalog.oracle import ELLIPSIS, NEWAXIS, Slice, render_index
from importer.op_blocks import _SYMBOLS, _Operand, _plain, fx_name
from importer.translate import Context, Static, Tensor


def _without_extra(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "__extra__"}


def _strict(ctx: Context, params: dict, ports: dict, *args: Any) -> tuple[dict, dict] | None:
    """No adapter: the arguments bound by name. One the block has no parameter for (interpolate's antialias) is
    left at the block's meaning; if that changes the result, the check refuses the block."""
    return _without_extra(params), ports


def _view(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
    x = ports.get("x")
    if not isinstance(x, Tensor) or not x.batched or not recorded.shape or recorded.shape[0] != x.shape[0]:
        return None
    return {"shape": list(recorded.shape[1:]), "keep_batch": True}, {"x": x}


def _scalar(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
    values = [(k, o) for k, o in enumerate(operands[:2]) if not o.is_tensor]
    if len(operands) < 2 or len(values) != 1 or "x" not in ports:
        return None
    k, operand = values[0]
    value = _plain(operand.value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    symbol = {v: s for s, v in _SYMBOLS.items()}.get(fx_name(ctx.fx_node))
    if symbol is None:
        return None
    return {"operator": symbol, "value": float(value), "value_first": k == 0}, {"x": ports["x"]}


def _index(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
    if len(operands) != 2 or "x" not in ports:
        return None
    index = _plain(operands[1].value)
    items = index if isinstance(index, tuple) else (index,)
    try:
        text = render_index(tuple(_index_item(i) for i in items))
    except (TypeError, ValueError):
        return None
    return {"index": text}, {"x": ports["x"]}


def _index_item(item: Any) -> Any:
    if item is None:
        return NEWAXIS
    if item is Ellipsis:
        return ELLIPSIS
    if isinstance(item, slice):
        parts = (item.start, item.stop, item.step)
        if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
            raise TypeError("a slice of non-integers")
        return Slice(*parts)
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    if isinstance(item, list) and all(isinstance(i, int) for i in item):
        return tuple(item)
    raise TypeError(f"an index item {item!r}")


def _sizes_after(name: str) -> Callable[..., Any]:
    """x.permute(0, 2, 1), x.repeat(1, 2): torch takes the sizes one by one, the block as one list."""
    def adapt(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
        if name not in params or params[name] is None:
            values = [_plain(o.value) for o in operands if not (o.is_tensor or o.is_tensor_list)]
            if len(values) == 1 and isinstance(values[0], (list, tuple)):
                values = list(values[0])
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return None
            params = {**params, name: values, "__extra__": []}
        return _strict(ctx, params, ports)
    return adapt


def _expand(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
    """A class token for every sample: ``cls.expand(x.size(0), -1, -1)`` recorded the batch as a number; the
    block reads it from a batched tensor ('like'), the model's first input."""
    adapted = _sizes_after("sizes")(ctx, {k: v for k, v in params.items() if k != "sizes"}, ports, operands, recorded)
    if adapted is None:
        return None
    params, ports = adapted
    x, sizes = ports.get("x"), params["sizes"]
    batch = ctx.traced.batch
    if isinstance(x, Static) or (isinstance(x, Tensor) and not x.batched):
        like = _first_input(ctx)
        if like is None or not sizes or sizes[0] != batch:
            return None
        return {"sizes": sizes[1:]}, {"x": x, "like": like}
    return params, ports


def _first_input(ctx: Context) -> Tensor | None:
    return next((v for v in ctx.env.values() if isinstance(v, Tensor) and v.batched and
                 any(n.id == v.node and n.type == "Input" for n in ctx.nodes)), None)


def _pieces(count: str, sizes: str | None = None) -> Callable[..., Any]:
    """split / unbind: how many pieces is a parameter (a file names them before shapes are known): the number the
    trace recorded; split's size (torch's split_size_or_sections) is one number or one per piece."""
    def adapt(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
        params = {**_without_extra(params), count: len(recorded)}
        if sizes is not None:
            given = next((_plain(o.value) for o in operands if o.name in ("split_size_or_sections", "split_size",
                                                                            "arg1")), None)
            if given is None:
                return None
            params[sizes] = [int(given)] if isinstance(given, int) else [int(v) for v in given]
        return params, ports
    return adapt


_COMPARISONS = {"eq": "==", "ne": "!=", "gt": ">", "lt": "<", "ge": ">=", "le": "<="}


def _masked_fill(ctx: Context, params: dict, ports: dict, operands: list[_Operand], recorded: Any) -> Any:
    """``att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))``: the block holds the test (== 0) and reads
    the tensor tested (the buffer's slice, made as its own nodes); a mask that is no such test is tested != 0."""
    x, mask = ports.get("x"), ports.get("mask")
    fill = next((_plain(o.value) for o in operands if o.name in ("value", "arg2")), None)
    if isinstance(fill, torch.Tensor) and fill.numel() == 1:
        fill = fill.item()
    if x is None or mask is None or not _number(fill) or math.isnan(fill):
        return None
    compare, value, tested = _comparison(ctx, mask) or ("!=", 0.0, mask)
    fills = {float("-inf"): "-inf", float("inf"): "inf"}
    how = {"fill": fills[fill]} if fill in fills else {"fill": "number", "fill_value": float(fill)}
    return {"compare": compare, "value": value, **how}, {"x": x, "mask": tested}


def _comparison(ctx: Context, mask: Any) -> tuple[str, float, Any] | None:
    """(symbol, number, the tensor compared) where ``mask`` was made by comparing a model tensor with a number."""
    node = mask.node if isinstance(mask, Static) else None
    if node is None or node.op not in ("call_function", "call_method") or len(node.args) != 2 or node.kwargs:
        return None
    symbol = _COMPARISONS.get(fx_name(node))
    left, right = ctx.env.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None, node.args[1]
    if symbol is None or not isinstance(left, (Static, Tensor)) or not _number(right):
        return None
    return symbol, float(right), left


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


ADAPTERS: dict[str, Callable[..., Any]] = {
    "split": _pieces("pieces", "sizes"), "unbind": _pieces("count"),
    "view": _view, "reshape": _view,
    "scalar": _scalar,
    "index": _index,
    "permute": _sizes_after("dims"), "repeat": _sizes_after("repeats"),
    "expand": _expand,
    "masked_fill": _masked_fill,
}


def adapter_for(op_type: str) -> Callable[..., Any]:
    return ADAPTERS.get(op_type, _strict)
