"""Tensor operations as blocks: one torch function, method or operator each, its arguments as typed parameters.

An op is declared once as an ``OpDef``: its parameters and a function from their values to the ``OpCall`` it
makes. Everything else derives from that call: the generated line (``x = x * s``), the canvas face (``x * s``),
and the output shape and dtype, which come from running the same call on meta tensors (``ShapeOracle``): one
mechanism for every op, no shape rule each. What torch refuses comes back in words, naming the op, the argument
and the shapes; the common mistakes (a dim out of range, a broadcast that fails) are checked first, with a fix.

An op with several outputs (chunk, split, unbind: ``tensor_ops_multi``) is the same ``OpDef``; the oracle runs its
call for every piece, and each piece is a named output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from builder.catalog.oracle import In, OpCall, OracleError, ShapeOracle, get_oracle, render
from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Category,
    Emission,
    Example,
    Fix,
    Inputs,
    Port,
    Resolved,
    TensorSpec,
    register,
)
from builder.params import Int, Param

F = TensorSpec
X = In("x")
Y = In("y")
CallOf = Callable[[Resolved, Inputs], OpCall]


@dataclass(frozen=True)
class OpDef:
    type: str  # the block type: torch's own name (mul, sum, softmax, view)
    doc: str
    call: CallOf  # the torch call the block makes for these parameter values and connected inputs
    examples: tuple[Example, ...]
    params: tuple[Param, ...] = ()
    ports: tuple[Port, ...] = (Port("x"),)
    dims: tuple[str, ...] = ()  # parameters naming a dimension of x: checked in words before torch runs
    broadcast: bool = False  # x and y broadcast against each other (elementwise ops)
    aliases: tuple[str, ...] = ()


def method(name: str, *args: Any, **kwargs: Any) -> OpCall:
    """``x.name(*args, **kwargs)``; keyword arguments left at None are not written."""
    return OpCall("method", name, (X, *args), _kw(kwargs))


def function(name: str, *args: Any, **kwargs: Any) -> OpCall:
    """``torch.name(*args)`` or ``F.name(*args)``; optional inputs left out at the end are not written."""
    args_list = list(args)
    while args_list and args_list[-1] is None:
        args_list.pop()
    return OpCall("function", name, tuple(args_list), _kw(kwargs))


def _kw(kwargs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items() if v is not None)


def dim_param(default: int = -1, doc: str = "Dimension (1 = the first after the batch, -1 = the last)") -> Param:
    return Int("dim", default, doc, lo=-8, hi=8, key=True)


OPS: dict[str, OpDef] = {}  # block type -> its description: the importer maps torch calls back through these


def register_op(op: OpDef) -> BlockSpec:
    OPS[op.type] = op
    return register(BlockSpec(
        type=op.type,
        category=Category.TENSOR_OPS,
        doc=op.doc,
        params=op.params,
        infer=memoised_infer(op, infer_once),
        emit=_emit(op),
        ports=op.ports,
        examples=op.examples,
        aliases=op.aliases,
        unbatched="native",
        face=face_of(op),
        macs=macs_of(op),
    ))


def macs_of(op: OpDef, many: bool = False) -> Callable[[Resolved, Inputs, Any], int]:
    """The op's multiply-accumulates per sample as torch counts them, from the oracle that gave its shape (0
    where there is none: validation has already said so). Memoised as the shape is: asked on every edit."""
    memo: dict[Any, int] = {}

    def macs(p: Resolved, inputs: Inputs, out: Any) -> int:
        oracle = get_oracle()
        if oracle is None:
            return 0
        key = memo_key(op, p, inputs)
        found = memo.get(key)
        if found is None:
            try:
                found = oracle.macs(op.call(p, inputs), given_specs(op, inputs), many)
            except (BlockError, OracleError):
                found = 0
            if len(memo) > 4096:
                memo.clear()
            memo[key] = found
        return found

    return macs


def memo_key(op: OpDef, p: Resolved, inputs: Inputs) -> Any:
    """What an op's answers depend on: its parameter values and its inputs' specs."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in p.items()), given_specs(op, inputs)


def names_of(op: OpDef, inputs: Inputs, template: bool) -> dict[str, str]:
    """Port -> how code names it: ``{x}`` placeholders for the emission, bare names for the face; a variadic port's
    members as ``{inputs[0]}``, ``{inputs[1]}``... (the face: ``a``, ``b``, ...)."""
    names = {port.name: "{" + port.name + "}" if template else port.name for port in op.ports}
    for port in op.ports:
        if port.variadic:
            for k in range(max(2, len(inputs.get(port.name, ())))):
                names[f"{port.name}[{k}]"] = "{" + f"{port.name}[{k}]" + "}" if template else "abcdefgh"[k % 8]
    return names


def given_specs(op: OpDef, inputs: Inputs) -> tuple[tuple[str, TensorSpec], ...]:
    """The connected inputs as the oracle takes them, a variadic port's members one by one."""
    given: list[tuple[str, TensorSpec]] = []
    for port in op.ports:
        if port.name not in inputs:
            continue
        if port.variadic:
            given += [(f"{port.name}[{k}]", spec) for k, spec in enumerate(inputs[port.name])]
        else:
            given.append((port.name, inputs[port.name]))
    return tuple(given)


def _emit(op: OpDef) -> Callable[[Resolved, Inputs], Emission]:
    def emit(p: Resolved, inputs: Inputs) -> Emission:
        names = names_of(op, inputs, template=True)
        call = op.call(p, inputs)
        imports = ("import torch.nn.functional as F",) if _uses_functional(call) else ()
        return Emission(None, "{out} = " + render(call, names), imports=imports)

    return emit


def _uses_functional(value: Any) -> bool:
    if isinstance(value, OpCall):
        return value.name.startswith("F.") or any(_uses_functional(a) for a in value.args) or \
            any(_uses_functional(v) for _, v in value.kwargs)
    return False


def face_of(op: OpDef) -> Callable[..., str]:
    """The expression on the node: ``x * y``, ``sum(dim=1)``, ``[:, 0]``, ``softmax(x, dim=-1)`` (the receiver x
    and the torch./F. prefixes left out). ``inputs``: the connected ports' specs, when validation has them."""
    def face(p: Resolved, inputs: Inputs | None = None) -> str:
        if not inputs:
            inputs = {port.name: [F((1,))] * 2 if port.variadic else F((1,)) for port in op.ports if not port.optional}
        try:
            call = op.call(p, inputs)
            text = render(call, names_of(op, inputs, template=False))
        except (BlockError, KeyError, TypeError, ValueError, IndexError):
            return op.type
        if call.style in ("method", "index") and call.args and call.args[0] == X:
            return text[1:].lstrip(".")
        return text.removeprefix("torch.").removeprefix("F.")

    return face


Once = Callable[[OpDef, Resolved, Inputs, ShapeOracle], Any]


def memoised_infer(op: OpDef, once: Once) -> Callable[[Resolved, Inputs], Any]:
    """The rule ``once``, memoised by (parameters, input specs): a large design asks the same questions on every
    edit."""
    memo: dict[Any, Any] = {}

    def infer(p: Resolved, inputs: Inputs) -> Any:
        oracle = get_oracle()
        if oracle is None:
            raise BlockError(f"{op.type}: the shape of a tensor op comes from torch, which this program has not "
                             "loaded (import codegen before validating)")
        key = memo_key(op, p, inputs)
        found = memo.get(key)
        if found is None:
            try:
                found = once(op, p, inputs, oracle)
            except BlockError as err:
                found = err
            if len(memo) > 4096:
                memo.clear()
            memo[key] = found
        if isinstance(found, BlockError):
            raise BlockError(found.message, fix=found.fix, port=found.port)
        return found

    return infer


def infer_once(op: OpDef, p: Resolved, inputs: Inputs, oracle: ShapeOracle) -> TensorSpec:
    call = checked_call(op, p, inputs)
    given = given_specs(op, inputs)
    try:
        return oracle.run(call, given)
    except OracleError as err:
        raise BlockError(words(op.type, given, err.detail)) from None


def checked_call(op: OpDef, p: Resolved, inputs: Inputs) -> OpCall:
    """The op's call once the common mistakes (a dim out of range, a failed broadcast) are ruled out in words."""
    call = op.call(p, inputs)  # raises BlockError for an argument it can't make sense of
    first = inputs.get("x", inputs.get("inputs", [None])[0] if "inputs" in inputs else None)
    if op.dims and first is not None:
        _check_dims(op, p, first)
    if op.broadcast and "x" in inputs and "y" in inputs:
        _check_broadcast(op.type, inputs["x"], inputs["y"])
    return call


def words(op: str, given: Sequence[tuple[str, TensorSpec]], detail: str) -> str:
    shapes = ", ".join(f"{port} {spec}" for port, spec in given)
    return f"{op}: torch refuses {shapes}: {detail}"


def _check_dims(op: OpDef, p: Resolved, x: TensorSpec) -> None:
    for name in op.dims:
        value = p.get(name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for dim in values:
            if dim is not None and not -x.rank <= dim < x.rank:
                last = [-1] if isinstance(value, (list, tuple)) else -1
                where = f"{name} {dim}" if name != "dim" else f"dim {dim}"
                fix = None if name == "dims" else Fix("use the last dimension", "set_param",
                                                      {"name": name, "value": last})
                raise BlockError(f"{op.type}: {where} is out of range for {x} (it has {x.rank} dimensions: "
                                 f"{-x.rank}..{x.rank - 1})", fix=fix, port="x")


def _check_broadcast(op: str, x: TensorSpec, y: TensorSpec) -> None:
    """Sizes aligned from the right must be equal or 1; "N" (the batch) meets only N or 1."""
    a, b = x.full_shape, y.full_shape
    for k in range(1, min(len(a), len(b)) + 1):
        da, db = a[-k], b[-k]
        if da == db or da == 1 or db == 1:
            continue
        short, port = (y, "y") if len(b) <= len(a) else (x, "x")
        fix = None
        if len(short.full_shape) < max(len(a), len(b)):
            fix = Fix(f"unsqueeze {port} at the end", "insert_before",
                      {"type": "unsqueeze", "params": {"dim": -1}})
        raise BlockError(f"{op}: x {x} and y {y} don't broadcast: size {da} of x meets {db} of y {_nth(k)} (sizes "
                         "lined up from the end must be equal or 1)", fix=fix, port=port)


def _nth(k: int) -> str:
    if k == 1:
        return "in the last dimension"
    return f"in the {({2: 'second', 3: 'third'}).get(k, f'{k}th')} dimension from the end"
