"""Reductions over dimensions (``x.sum(dim=1)``, ``x.amax(dim=(2, 3))``) and softmax on a dimension."""

from __future__ import annotations

from typing import Any

from builder.catalog.registry import Example, Inputs, Resolved
from builder.catalog.tensor_ops import F, OpDef, X, dim_param, function, method, register_op
from builder.params import Bool, Float, Int, Ints


def dims_value(dims: list[int]) -> Any:
    """``dim=1`` for one dimension, ``dim=(2, 3)`` for several: as a person writes it."""
    return int(dims[0]) if len(dims) == 1 else tuple(int(d) for d in dims)


_DIMS = Ints("dim", [1], "Dimensions to reduce (1 = the first after the batch, -1 = the last)", lo=-8, hi=8,
             min_len=1, max_len=4, key=True)
_KEEPDIM = Bool("keepdim", False, "Keep the reduced dimensions with size 1")
_EXAMPLES = (
    Example({"dim": [1]}, {"x": F((4, 3))}),
    Example({"dim": [2, 3], "keepdim": True}, {"x": F((4, 3, 5))}),
    Example({"dim": [-1]}, {"x": F((2, 3, 5))}),
)


def _reduction(name: str):
    def call(p: Resolved, inputs: Inputs):
        return method(name, dim=dims_value(p["dim"]), keepdim=p["keepdim"] or None)

    return call


for _type, _doc in (
    ("sum", "the sum over dimensions: attention pooling (w * h).sum(dim=1)"),
    ("mean", "the mean over dimensions: global average pooling x.mean(dim=(2, 3))"),
    ("amax", "the largest value over dimensions: global max pooling"),
    ("amin", "the smallest value over dimensions"),
    ("logsumexp", "log Σ exp(x) over dimensions, computed stably"),
):
    register_op(OpDef(_type, _doc, _reduction(_type), _EXAMPLES, params=(_DIMS, _KEEPDIM), dims=("dim",),
                      aliases=(f"torch.{_type}", "reduce", "reduction")))


def _spread(name: str):
    def call(p: Resolved, inputs: Inputs):
        correction = None if p["correction"] == 1 else p["correction"]
        return method(name, dim=dims_value(p["dim"]), correction=correction, keepdim=p["keepdim"] or None)

    return call


for _type, _doc in (("var", "the variance over dimensions"), ("std", "the standard deviation over dimensions")):
    register_op(OpDef(_type, _doc, _spread(_type), (*_EXAMPLES, Example({"correction": 0}, {"x": F((6,))})),
                      params=(_DIMS, _KEEPDIM, Int("correction", 1, "Subtracted from the count (1: unbiased, 0: "
                                                                    "the population's)", lo=0, hi=1)),
                      dims=("dim",), aliases=(f"torch.{_type}", "reduce")))


def _norm(p: Resolved, inputs: Inputs):
    order = None if p["p"] == 2.0 else p["p"]
    return method("norm", p=order, dim=dims_value(p["dim"]), keepdim=p["keepdim"] or None)


register_op(OpDef(
    "norm", "the p-norm over dimensions (2: the Euclidean length)",
    _norm, (*_EXAMPLES, Example({"p": 1.0, "dim": [-1], "keepdim": True}, {"x": F((3, 4))})),
    params=(_DIMS, _KEEPDIM, Float("p", 2.0, "The order of the norm", lo=0.5, hi=100, key=True)),
    dims=("dim",), aliases=("torch.norm", "length", "magnitude"),
))

for _type, _doc in (("softmax", "exp(x) normalised to sum to 1 along a dimension (attention weights)"),
                    ("log_softmax", "log of softmax along a dimension, computed stably")):
    register_op(OpDef(_type, _doc, lambda p, i, t=_type: function(f"F.{t}", X, dim=p["dim"]),
                      (Example({}, {"x": F((4, 3))}), Example({"dim": 1}, {"x": F((3, 5))})),
                      params=(dim_param(),), dims=("dim",), aliases=(f"F.{_type}", "probabilities")))
