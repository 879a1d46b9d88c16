"""Arithmetic ops: elementwise with broadcasting (``x * s``), scalar arithmetic (``0.5 * x``), unary math
(``torch.exp(x)``), ``torch.where``, matrix products and ``einsum``."""

from __future__ import annotations

from builder.catalog.oracle import In, OpCall
from builder.catalog.registry import BlockError, Example, Inputs, Port, Resolved
from builder.catalog.tensor_ops import F, OpDef, X, Y, function, method, register_op
from builder.params import Bool, Choice, Float, Text

_TWO = (Port("x", "the left operand"), Port("y", "the right operand; broadcast against x"))
_BROADCAST_EXAMPLES = (
    Example({}, {"x": F((4, 3, 3)), "y": F((4, 1, 1))}),  # a Squeeze-and-Excitation gate
    Example({}, {"x": F((5, 2)), "y": F((2,), batched=False)}),  # a learned scale (a Parameter)
    Example({}, {"x": F((3,)), "y": F((3,))}),
)

for _type, _symbol, _doc in (
    ("add", "+", "x + y, broadcasting sizes of 1 (a position table added to every sample)"),
    ("sub", "-", "x − y, broadcasting sizes of 1"),
    ("mul", "*", "x · y elementwise, broadcasting sizes of 1: a gate (x * s in Squeeze-and-Excitation)"),
    ("div", "/", "x / y elementwise, broadcasting sizes of 1"),
):
    register_op(OpDef(_type, _doc, lambda p, i, s=_symbol: OpCall("operator", s, (X, Y)), _BROADCAST_EXAMPLES,
                      ports=_TWO, broadcast=True, aliases=(_symbol, f"torch.{_type}", "elementwise", "broadcast")))

for _type, _doc in (
    ("pow", "x to the power y, elementwise with broadcasting (torch.pow)"),
    ("maximum", "the larger of x and y, elementwise with broadcasting (torch.maximum)"),
    ("minimum", "the smaller of x and y, elementwise with broadcasting (torch.minimum)"),
):
    register_op(OpDef(_type, _doc, lambda p, i, t=_type: function(f"torch.{t}", X, Y), _BROADCAST_EXAMPLES,
                      ports=_TWO, broadcast=True, aliases=(f"torch.{_type}",)))

_COMPARE = (">", "<", ">=", "<=", "==", "!=")


def _where(p: Resolved, inputs: Inputs) -> OpCall:
    test = OpCall("operator", p["compare"], (In("cond"), float(p["value"])))
    return function("torch.where", test, X, Y)


register_op(OpDef(
    "where", "x where cond passes the test, else y (torch.where): a causal mask, a clipped score",
    _where,
    (Example({}, {"cond": F((4, 3)), "x": F((4, 3)), "y": F((4, 3))}),
     Example({"compare": "==", "value": 0.0}, {"cond": F((3, 3), batched=False), "x": F((2, 3, 3)), "y": F((1,), batched=False)})),
    params=(Choice("compare", ">", _COMPARE, "How cond is tested against the value", key=True),
            Float("value", 0.0, "The value cond is tested against", lo=-1e9, hi=1e9, key=True)),
    ports=(Port("cond", "the tensor tested elementwise"), Port("x", "taken where the test passes"),
           Port("y", "taken elsewhere")),
    aliases=("torch.where", "mask", "select"),
))

_FILLS = {"-inf": float("-inf"), "inf": float("inf")}


def _masked_fill(p: Resolved, inputs: Inputs) -> OpCall:
    test = OpCall("operator", p["compare"], (In("mask"), float(p["value"])))
    fill = _FILLS.get(p["fill"], float(p["fill_value"]))
    return method("masked_fill", test, fill)


register_op(OpDef(
    "masked_fill", "x with a fill wherever mask passes the test (Tensor.masked_fill): scores hidden under a causal "
    "mask, x.masked_fill(mask == 0, -inf)",
    _masked_fill,
    (Example({"compare": ">", "value": 1.0}, {"x": F((2, 4, 4)), "mask": F((4, 4), batched=False)}),
     Example({"fill": "number", "fill_value": -1e9}, {"x": F((4, 3)), "mask": F((4, 3))})),
    params=(Choice("compare", "==", _COMPARE, "How mask is tested against the value", key=True),
            Float("value", 0.0, "The value mask is tested against", lo=-1e9, hi=1e9, key=True),
            # A file holds finite numbers only (JSON has no infinity): the infinities are choices.
            Choice("fill", "-inf", ("-inf", "inf", "number"), "What fills x where the test passes", key=True),
            Float("fill_value", 0.0, "The fill when fill is 'number' (e.g. -1e9)", lo=-1e30, hi=1e30)),
    ports=(Port("x", "the tensor filled"), Port("mask", "the tensor tested elementwise; broadcast against x")),
    aliases=("Tensor.masked_fill", "mask", "causal mask", "-inf"),
))

# --- scalar arithmetic ---------------------------------------------------------------------------------------


def _scalar(p: Resolved, inputs: Inputs) -> OpCall:
    value = float(p["value"])
    args = (value, X) if p["value_first"] else (X, value)
    return OpCall("operator", p["operator"], args)


register_op(OpDef(
    "scalar", "x with a constant: 0.5 * x, x / 8, x ** 2, 1 - x",
    _scalar,
    (Example({"operator": "*", "value": 0.5}, {"x": F((4, 3))}),
     Example({"operator": "/", "value": 8.0}, {"x": F((5,))}),
     Example({"operator": "-", "value": 1.0, "value_first": True}, {"x": F((2, 3))}),
     Example({"operator": "**", "value": 2.0}, {"x": F((3,))})),
    params=(Choice("operator", "*", ("*", "/", "+", "-", "**"), "The operator", key=True),
            Float("value", 1.0, "The constant", lo=-1e9, hi=1e9, key=True),
            Bool("value_first", False, "Write the constant first (1 - x rather than x - 1)")),
    aliases=("constant", "scale", "multiply", "divide", "arithmetic"),
))

# --- unary math ----------------------------------------------------------------------------------------------

_POSITIVE = (Example({}, {"x": F((4, 3))}), Example({}, {"x": F((2, 3, 5))}))
for _type, _doc in (
    ("exp", "e to the power x, elementwise"), ("log", "the natural logarithm, elementwise"),
    ("sqrt", "the square root, elementwise"), ("rsqrt", "1 / √x, elementwise (RMSNorm)"),
    ("abs", "|x|, elementwise"), ("sin", "the sine, elementwise"), ("cos", "the cosine, elementwise"),
):
    register_op(OpDef(_type, _doc, lambda p, i, t=_type: function(f"torch.{t}", X), _POSITIVE,
                      aliases=(f"torch.{_type}", "unary", "math")))

register_op(OpDef("neg", "−x", lambda p, i: OpCall("operator", "-", (X,)), _POSITIVE, aliases=("negate", "minus")))


def _clamp(p: Resolved, inputs: Inputs) -> OpCall:
    if p["min"] is None and p["max"] is None:
        raise BlockError("clamp needs a min, a max or both")
    return method("clamp", min=p["min"], max=p["max"])


register_op(OpDef(
    "clamp", "x limited to [min, max]; either bound may be left empty",
    _clamp,
    (Example({"min": 0.0}, {"x": F((4, 3))}), Example({"min": -1.0, "max": 1.0}, {"x": F((5,))})),
    params=(Float("min", None, "Lower bound (empty: none)", lo=-1e9, hi=1e9, optional=True, key=True),
            Float("max", None, "Upper bound (empty: none)", lo=-1e9, hi=1e9, optional=True, key=True)),
    aliases=("clip", "torch.clamp"),
))

# --- products ------------------------------------------------------------------------------------------------

register_op(OpDef(
    "matmul", "x @ y: matrix product over the last two dimensions, broadcasting the others (attention scores)",
    lambda p, i: OpCall("operator", "@", (X, Y)),
    (Example({}, {"x": F((4, 3, 5)), "y": F((4, 5, 2))}), Example({}, {"x": F((3, 5)), "y": F((5, 2))}),
     Example({}, {"x": F((2, 3, 5)), "y": F((5,), batched=False)})),
    ports=_TWO, aliases=("@", "torch.matmul", "product", "dot"),
))
register_op(OpDef(
    "bmm", "batched matrix product of (N, n, m) and (N, m, p) (torch.bmm)",
    lambda p, i: function("torch.bmm", X, Y),
    (Example({}, {"x": F((3, 5)), "y": F((5, 2))}), Example({}, {"x": F((1, 4)), "y": F((4, 4))})),
    ports=_TWO, aliases=("torch.bmm", "batch matrix multiply"),
))


def _einsum(p: Resolved, inputs: Inputs) -> OpCall:
    equation = p["equation"].replace(" ", "")
    if not equation or not all(c.isalpha() or c in ",.->" for c in equation):
        raise BlockError(f"einsum: ‘{p['equation']}’ is not an equation such as ‘bij,bjk->bik’ (letters, commas, "
                         "‘...’ and one ‘->’)")
    operands = (X, Y) if "y" in inputs else (X,)
    return function("torch.einsum", equation, *operands)


register_op(OpDef(
    "einsum", "Sums products over the indices an equation names (torch.einsum): ‘bhqd,bhkd->bhqk’",
    _einsum,
    (Example({"equation": "bij,bjk->bik"}, {"x": F((3, 5)), "y": F((5, 2))}),
     Example({"equation": "bi,bi->b"}, {"x": F((4,)), "y": F((4,))}),
     Example({"equation": "bij->bji"}, {"x": F((2, 3))})),
    params=(Text("equation", "bij,bjk->bik", "The equation: the batch is the first index of each operand",
                 max_len=64, key=True),),
    ports=(Port("x", "the first operand"), Port("y", "the second operand", optional=True)),
    aliases=("torch.einsum", "einstein"),
))
