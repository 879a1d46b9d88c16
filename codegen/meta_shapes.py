"""The shape oracle of tensor-op blocks: torch runs the op's call on meta tensors (no data, no memory).

Each batched input is made twice, with batch 2 and with batch 3 (batch ≥ 2: see the shared torch notes); the
output dimension that follows the batch is the output's batch dimension. An output whose only changing size is
its first is batched; one that doesn't change has no batch dimension (``torch.arange(x.size(1))``); any other
change means the op folded the batch into another dimension, which a design can't describe, so it is refused.

The same runs count the call's FLOPs with torch's FlopCounterMode, which reads shapes only: an op block's
multiply-accumulates are what torch counts for it, by the same one mechanism as its shape.

Results are cached by (call, input specs): a 300-layer design re-validated on every edit asks the same questions.
torch is imported on the first question only, so importing codegen stays cheap for the CLI's --help.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from builder.catalog.oracle import (
    ELLIPSIS,
    DeviceOf,
    In,
    InList,
    OpCall,
    OracleError,
    SizeOf,
    Slice,
    set_oracle,
)
from builder.catalog.registry import TensorSpec

_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
              "@": operator.matmul, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
              "==": operator.eq, "!=": operator.ne}
_CACHE_LIMIT = 8192


class MetaOracle:
    def __init__(self) -> None:
        self._cache: dict[Any, Found | OracleError] = {}

    def run(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...]) -> TensorSpec:
        return self._cached(call, inputs, many=False).specs[0]

    def run_all(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...]) -> tuple[TensorSpec, ...]:
        return self._cached(call, inputs, many=True).specs

    def macs(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...], many: bool = False) -> int:
        return self._cached(call, inputs, many).macs

    def _cached(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...], many: bool) -> Found:
        key = (call, inputs, many)
        found = self._cache.get(key)
        if found is None:
            try:
                found = _infer(call, inputs, many)
            except OracleError as err:
                found = err
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        if isinstance(found, OracleError):
            raise OracleError(found.detail)
        return found


Shape = tuple[tuple[int, ...], str]


@dataclass(frozen=True)
class Found:
    """What torch says of one call: its outputs, and the multiply-accumulates per sample its products take as
    torch's FlopCounterMode counts them (half its FLOPs: matmul, bmm, einsum, linear, conv, attention; 0 for
    elementwise and shape ops, which the counter leaves out, as the layers' counts do)."""

    specs: tuple[TensorSpec, ...]
    macs: int


def _infer(call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...], many: bool) -> Found:
    batched = any(spec.batched for _, spec in inputs)
    first, flops2 = _shapes_of(call, inputs, 2, many)
    if not batched:  # computed once per forward: counted as if per sample, as a layer's weights are
        return Found(tuple(TensorSpec(shape, dtype, batched=False) for shape, dtype in first), flops2 // 2)
    second, flops3 = _shapes_of(call, inputs, 3, many)
    if len(first) != len(second):  # unbind or split along the batch: as many pieces as samples
        raise OracleError("the number of pieces follows the batch size; split along a dimension after the batch")
    # Per sample: what one more sample adds (a product of a batch with an unbatched weight grows with the batch).
    return Found(tuple(_batched(a, b) for a, b in zip(first, second)), (flops3 - flops2) // 2)


def _batched(first: Shape, second: Shape) -> TensorSpec:
    """One output from its runs with batch 2 and batch 3."""
    (shape2, dtype), (shape3, _) = first, second
    if shape2 == shape3:
        return TensorSpec(shape2, dtype, batched=False)
    moved = [k for k, (a, b) in enumerate(zip(shape2, shape3)) if a != b]
    if len(shape2) == len(shape3) and moved == [0] and (shape2[0], shape3[0]) == (2, 3):
        return TensorSpec(shape2[1:], dtype)
    raise OracleError("the result mixes the batch dimension into another one (or moves it from the front); "
                      "keep the batch first, e.g. view(x.size(0), -1) rather than view(-1)")


def _shapes_of(call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...], batch: int,
               many: bool) -> tuple[list[Shape], int]:
    """The output's shape and dtype (``many``: the call returns a sequence of tensors, one each), and the FLOPs
    torch counts for the call."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    tensors = {port: _meta(spec, batch) for port, spec in inputs}
    try:
        with FlopCounterMode(display=False) as counter:  # shapes only: it counts meta tensors as real ones
            out = _evaluate(call, tensors)
    except Exception as err:  # noqa: BLE001 — torch raises RuntimeError, IndexError, ValueError, TypeError...
        text = str(err).strip().splitlines()
        raise OracleError(text[0] if text else type(err).__name__) from None
    outs = list(out) if many and isinstance(out, (tuple, list)) else [out]
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise OracleError(f"the call returns {type(out).__name__}, not " + ("tensors" if many else "one tensor"))
    return [(tuple(int(d) for d in o.shape), _dtype_name(o.dtype)) for o in outs], int(counter.get_total_flops())


def _meta(spec: TensorSpec, batch: int) -> Any:
    import torch

    shape = (batch, *spec.shape) if spec.batched else spec.shape
    dtype = {"float": torch.float32, "long": torch.long, "bool": torch.bool}.get(spec.dtype, torch.float32)
    return torch.empty(shape, dtype=dtype, device="meta")


def _dtype_name(dtype: Any) -> str:
    if dtype.is_floating_point or dtype.is_complex:
        return "float"
    return "bool" if str(dtype) == "torch.bool" else "long"


def _evaluate(call: OpCall, tensors: dict[str, Any]) -> Any:
    import torch
    import torch.nn.functional as F

    args = [_value(a, tensors) for a in call.args] if call.style != "index" else [_value(call.args[0], tensors)]
    if call.style == "operator":
        return -args[0] if len(args) == 1 else _OPERATORS[call.name](*args)
    if call.style == "index":  # a tuple inside the index is a list of positions: x[:, [-1], :]
        return args[0][tuple(list(i) if isinstance(i, tuple) else _value(i, tensors) for i in call.args[1])]
    kwargs = {k: _value(v, tensors) for k, v in call.kwargs}
    if call.style == "method":
        return getattr(args[0], call.name)(*args[1:], **kwargs)
    module, _, name = call.name.partition(".")
    func = getattr({"torch": torch, "F": F}[module], name)
    return func(*args, **kwargs)


def _value(value: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(value, In):
        return tensors[value.port]
    if isinstance(value, InList):
        return [tensors[key] for key in value.names()]
    if isinstance(value, SizeOf):
        return tensors[value.port].size(value.dim)
    if isinstance(value, DeviceOf):
        return tensors[value.port].device
    if isinstance(value, OpCall):
        return _evaluate(value, tensors)
    if isinstance(value, Slice):
        return slice(value.start, value.stop, value.step)
    if value == ELLIPSIS and isinstance(value, str):
        return Ellipsis
    if isinstance(value, tuple):
        return tuple(_value(v, tensors) for v in value)
    if isinstance(value, list):
        return [_value(v, tensors) for v in value]
    return value


def register() -> None:
    set_oracle(MetaOracle())
