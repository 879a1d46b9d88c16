"""What a tensor operation is, written once: the call that generated code makes and that shape inference runs.

An op block (``builder.catalog.tensor_ops``) turns its parameters into an ``OpCall``: one torch function, method,
operator or index, with its arguments. ``render`` writes it as Python (``x * s``, ``x.sum(dim=1)``, ``x[:, 0]``);
a ``ShapeOracle`` runs the same call on meta tensors and says what comes out. builder/ never imports torch, so the
oracle is a hook: ``codegen.meta_shapes`` registers the torch-backed one when codegen is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from builder.catalog.registry import TensorSpec


@dataclass(frozen=True)
class In:
    """An argument that is one of the block's inputs (a port name)."""

    port: str


@dataclass(frozen=True)
class InList:
    """A list of a variadic port's inputs, in port order: ``torch.cat([a, b], dim=1)``."""

    port: str
    count: int

    def names(self) -> list[str]:
        """The key of each member (``inputs[0]``), as the oracle and rendering name them."""
        return [f"{self.port}[{k}]" for k in range(self.count)]


@dataclass(frozen=True)
class SizeOf:
    """``x.size(dim)``: a size read from an input at run time (GPT's ``torch.arange(x.size(1))``)."""

    port: str
    dim: int


@dataclass(frozen=True)
class DeviceOf:
    """``x.device``: a new tensor made on the device of an input."""

    port: str


@dataclass(frozen=True)
class Slice:
    start: int | None = None
    stop: int | None = None
    step: int | None = None


ELLIPSIS = "..."  # an Ellipsis inside an index
NEWAXIS = None  # ``x[:, None]``


@dataclass(frozen=True)
class OpCall:
    """One torch call. ``style``: "function" (``torch.mul(x, y)``, ``F.pad(x, ...)``), "method" (``x.sum(dim=1)``;
    the first argument is the tensor), "operator" (``x * s``; ``name`` is the symbol, two arguments, or one for
    unary minus), "index" (``x[:, 0]``; the second argument is the index tuple)."""

    style: str
    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()


class OracleError(Exception):
    """torch refused the call; ``detail`` is torch's own first line (often poor on meta: callers write better)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ShapeOracle(Protocol):
    def run(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...]) -> TensorSpec:
        """The output of ``call`` on tensors of these specs; raises OracleError when torch refuses it."""

    def run_all(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...]) -> tuple[TensorSpec, ...]:
        """The outputs of a call that returns several tensors (``x.chunk(2, dim=1)``), in order."""

    def macs(self, call: OpCall, inputs: tuple[tuple[str, TensorSpec], ...], many: bool = False) -> int:
        """The multiply-accumulates per sample of ``call``'s products, as torch's flop counter counts them."""


_ORACLE: list[ShapeOracle] = []


def set_oracle(oracle: ShapeOracle | None) -> None:
    _ORACLE[:] = [oracle] if oracle is not None else []


def get_oracle() -> ShapeOracle | None:
    return _ORACLE[0] if _ORACLE else None


# ---- rendering ----------------------------------------------------------------------------------------------

_BINARY_PRECEDENCE = {"**": 4, "@": 3, "*": 3, "/": 3, "+": 2, "-": 2, ">": 1, "<": 1, ">=": 1, "<=": 1, "==": 1,
                      "!=": 1}


def render(call: OpCall, names: dict[str, str]) -> str:
    """The Python expression of ``call``; ``names`` maps ports to the variables holding them (or placeholders)."""
    if call.style == "operator":
        if len(call.args) == 1:
            return f"-{_operand(call.args[0], names)}"
        left, right = call.args
        return f"{_operand(left, names)} {call.name} {_operand(right, names)}"
    if call.style == "index":
        return f"{_value(call.args[0], names)}[{render_index(call.args[1])}]"
    args = [_value(a, names) for a in call.args]
    args += [f"{key}={_value(value, names)}" for key, value in call.kwargs]
    if call.style == "method":
        first, *rest = args
        return f"{first}.{call.name}({', '.join(rest)})"
    return f"{call.name}({', '.join(args)})"


def _operand(value: Any, names: dict[str, str]) -> str:
    text = _value(value, names)
    return f"({text})" if isinstance(value, (int, float)) and value < 0 else text


def _value(value: Any, names: dict[str, str]) -> str:
    if isinstance(value, In):
        return names[value.port]
    if isinstance(value, InList):
        return "[" + ", ".join(names[key] for key in value.names()) + "]"
    if isinstance(value, SizeOf):
        return f"{names[value.port]}.size({value.dim})"
    if isinstance(value, DeviceOf):
        return f"{names[value.port]}.device"
    if isinstance(value, OpCall):
        return render(value, names)
    if isinstance(value, tuple):
        items = [_value(v, names) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, names) for v in value) + "]"
    if isinstance(value, float) and value != value:
        raise ValueError("a NaN argument")
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return 'float("inf")' if value > 0 else 'float("-inf")'  # repr() would write inf, not Python
    if isinstance(value, str) and not _safe_text(value):
        raise ValueError(f"unexpected text argument {value!r}")
    return repr(value)


def _safe_text(text: str) -> bool:
    """Strings that reach code are short mode names and einsum equations, never free text."""
    return len(text) <= 64 and all(c.isalnum() or c in "_,.-> " for c in text)


def render_index(index: tuple[Any, ...]) -> str:
    parts = []
    for item in index:
        if item is NEWAXIS:
            parts.append("None")
        elif item == ELLIPSIS:
            parts.append("...")
        elif isinstance(item, Slice):
            text = ("" if item.start is None else str(item.start)) + ":" + ("" if item.stop is None else str(item.stop))
            parts.append(text + (f":{item.step}" if item.step is not None else ""))
        elif isinstance(item, tuple):  # a list of positions keeps the dimension: x[:, [-1], :]
            parts.append("[" + ", ".join(str(i) for i in item) + "]")
        else:
            parts.append(str(int(item)))
    return ", ".join(parts)
