"""Ops with several outputs: ``x.chunk(2, dim=1)``, ``x.split([2, 3], dim=1)``, ``x.unbind(dim=1)``.

Each is an ``OpDef`` like every tensor op (its call renders the code and runs on meta tensors); its pieces are named
outputs "0", "1", … that edges pick (``source_port``), and the code unpacks them as ShuffleNet writes it:
``x1, x2 = x.chunk(2, dim=1)``. There is no main output: every edge says which piece it carries.

A file names the pieces before any shape is known, so how many there are is a parameter (``chunks``, ``pieces``,
``count``); torch's own answer must agree with it, or the node says so in words and offers the number torch gives.
"""

from __future__ import annotations

from collections.abc import Callable

from builder.catalog.oracle import OpCall, OracleError, ShapeOracle, render
from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Category,
    Emission,
    Example,
    Fix,
    Inputs,
    Outputs,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.tensor_ops import (
    OPS,
    F,
    OpDef,
    checked_call,
    dim_param,
    face_of,
    given_specs,
    macs_of,
    memoised_infer,
    method,
    names_of,
    words,
)
from builder.params import Int, Ints

Count = Callable[[Resolved], int]


def register_pieces(op: OpDef, count: Count, count_param: str) -> BlockSpec:
    """An op whose call returns ``count(p)`` tensors; ``count_param`` is the parameter a wrong count is mended
    through."""

    def names(p: Resolved) -> tuple[str, ...]:
        return tuple(str(k) for k in range(count(p)))

    def once(op: OpDef, p: Resolved, inputs: Inputs, oracle: ShapeOracle) -> dict[str, TensorSpec]:
        call = checked_call(op, p, inputs)
        _refuse_the_batch(op, p, inputs["x"])
        given = given_specs(op, inputs)
        try:
            pieces = oracle.run_all(call, given)
        except OracleError as err:
            raise BlockError(words(op.type, given, err.detail)) from None
        expected = count(p)
        if len(pieces) != expected:
            many = "piece" if len(pieces) == 1 else "pieces"
            raise BlockError(
                f"{op.type}: {_text(call)} of x {inputs['x']} gives {len(pieces)} {many}{_sizes(pieces, call)}, "
                f"not {expected}",
                fix=Fix(f"take {len(pieces)} pieces", "set_param", {"name": count_param, "value": len(pieces)}),
                port="x")
        return dict(zip(names(p), pieces))

    memoised = memoised_infer(op, once)
    OPS[op.type] = op  # the importer reads torch calls back through every op's description

    def emit(p: Resolved, inputs: Inputs) -> Emission:
        return Emission(None, "", unpack=names(p), unpacked="{unpack} = " + render(op.call(p, inputs),
                                                                                    names_of(op, inputs, template=True)))

    return register(BlockSpec(
        type=op.type,
        category=Category.TENSOR_OPS,
        doc=op.doc,
        params=op.params,
        infer=lambda p, inputs: dict(memoised(p, inputs)),
        emit=emit,
        ports=op.ports,
        examples=op.examples,
        aliases=op.aliases,
        unbatched="native",
        face=face_of(op),
        macs=macs_of(op, many=True),
        outputs=lambda p: Outputs(names(p)),  # no main output: each edge names its piece
    ))


def _refuse_the_batch(op: OpDef, p: Resolved, x: TensorSpec) -> None:
    """Cutting the batch would make the number of pieces follow the batch size, which no design can wire."""
    if x.batched and p["dim"] in (0, -x.rank):
        fix = Fix("cut the first dimension after the batch", "set_param", {"name": "dim", "value": 1}) \
            if x.rank > 1 else None
        raise BlockError(f"{op.type}: dim {p['dim']} of x {x} is the batch; cut a dimension after it", fix=fix,
                         port="x")


def _text(call: OpCall) -> str:
    return render(call, {"x": "x"}).removeprefix("x.")


def _sizes(pieces: tuple[TensorSpec, ...], call: OpCall) -> str:
    """The pieces' sizes along the dimension cut, `` (3, 3, 1)``; nothing for unbind, whose pieces lose it."""
    dim = dict(call.kwargs).get("dim")
    if call.name == "unbind" or not isinstance(dim, int):
        return ""
    return " (" + ", ".join(str(piece.full_shape[dim]) for piece in pieces) + ")"


_DIM = "The dimension to split (1 = the first after the batch, -1 = the last)"

register_pieces(OpDef(
    "chunk", "x cut into equal pieces along a dimension, each piece an output (ShuffleNet's x1, x2 = "
             "x.chunk(2, dim=1)); the last piece is smaller when the size doesn't divide",
    lambda p, i: method("chunk", p["chunks"], dim=p["dim"]),
    (Example({}, {"x": F((8,))}), Example({"chunks": 3, "dim": -1}, {"x": F((4, 9))}),
     Example({"chunks": 3, "dim": 2}, {"x": F((2, 7))}), Example({"chunks": 2, "dim": 1}, {"x": F((6, 4, 4))})),
    params=(Int("chunks", 2, "How many pieces (each an output)", lo=1, hi=16, key=True), dim_param(1, _DIM)),
    dims=("dim",), aliases=("torch.chunk", "Tensor.chunk", "halves", "separate"),
), lambda p: p["chunks"], "chunks")


def _split_call(p: Resolved, inputs: Inputs) -> OpCall:
    sizes = p["sizes"]
    return method("split", sizes[0] if len(sizes) == 1 else tuple(sizes), dim=p["dim"])


register_pieces(OpDef(
    "split", "x cut along a dimension into pieces of given sizes, each piece an output: one size for pieces of "
             "that size (x.split(4, dim=1); the last may be smaller), several for one piece each "
             "(x.split([2, 6], dim=1))",
    _split_call,
    (Example({"sizes": [4]}, {"x": F((8,))}), Example({"sizes": [3], "pieces": 3, "dim": -1}, {"x": F((4, 7))}),
     Example({"sizes": [2, 6]}, {"x": F((8,))}), Example({"sizes": [1, 2, 1], "dim": -1}, {"x": F((3, 4))})),
    params=(Ints("sizes", [4], "The size of each piece: one number for pieces of that size, several for one piece "
                               "each (they must add up to the dimension's size)", lo=1, hi=1_000_000, min_len=1,
                 max_len=16, key=True),
            Int("pieces", 2, "How many pieces a single size makes (with several sizes, one per size)", lo=1, hi=16),
            dim_param(1, _DIM)),
    dims=("dim",), aliases=("torch.split", "Tensor.split"),
), lambda p: p["pieces"] if len(p["sizes"]) == 1 else len(p["sizes"]), "pieces")

register_pieces(OpDef(
    "unbind", "x taken apart along a dimension, each entry an output without that dimension (r, g, b = "
              "img.unbind(dim=1); q, k, v from a (N, 3, T, C) tensor)",
    lambda p, i: method("unbind", dim=p["dim"]),
    (Example({}, {"x": F((2, 5))}), Example({"count": 3, "dim": -3}, {"x": F((3, 4, 4))}),
     Example({"count": 4, "dim": -1}, {"x": F((6, 4))})),
    params=(Int("count", 2, "How many entries the dimension has (each an output)", lo=1, hi=16, key=True),
            dim_param(1, "The dimension taken apart (1 = the first after the batch, -1 = the last)")),
    dims=("dim",), aliases=("torch.unbind", "Tensor.unbind", "unstack"),
), lambda p: p["count"], "count")
