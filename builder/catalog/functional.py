"""More activations, and the blocks that functional code needs: a mean over dimensions, a multiplication by a
constant, Softmin, GLU. Imported models use them for ``x.mean(dim=(2, 3))``, ``x * 0.5``, ``F.hardswish(x)``.
"""

from __future__ import annotations

from builder.catalog.activation import _check_dim, _elementwise, _float_same
from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Category,
    Example,
    Fix,
    Inputs,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.rules import expect_float, inline, single
from builder.params import Bool, Float, Int, Ints

F = TensorSpec

_elementwise("Hardswish", "x·ReLU6(x + 3)/6: a cheap Swish (MobileNetV3).", aliases=("hard swish",))
_elementwise("Hardsigmoid", "ReLU6(x + 3)/6: a cheap sigmoid (MobileNetV3's squeeze-excitation gate).")
_elementwise("Hardtanh", "x clipped to [min_val, max_val].",
             (Float("min_val", -1.0, "Lower bound", lo=-1e6, hi=1e6), Float("max_val", 1.0, "Upper bound", lo=-1e6, hi=1e6)),
             {"min_val": -1.0, "max_val": 1.0}, aliases=("clip", "clamp"))
_elementwise("CELU", "Continuously differentiable ELU: x for x > 0, else alpha·(e^(x/alpha) − 1).",
             (Float("alpha", 1.0, "Saturation value for negative inputs", lo=0.001, hi=100),), {"alpha": 1.0})
_elementwise("LogSigmoid", "log(sigmoid(x)): numerically stable.")
_elementwise("Softsign", "x / (1 + |x|): squashes to (−1, 1) more gently than tanh.")
_elementwise("Tanhshrink", "x − tanh(x).")
_elementwise("Hardshrink", "x where |x| > lambd, else 0.",
             (Float("lambd", 0.5, "Threshold", lo=0, hi=1e6),), {"lambd": 0.5})
_elementwise("Softshrink", "x moved towards 0 by lambd, and 0 within ±lambd (sparse codes).",
             (Float("lambd", 0.5, "Threshold", lo=0, hi=1e6),), {"lambd": 0.5})
_elementwise("Threshold", "x where x > threshold, else value.",
             (Float("threshold", 0.0, "Values at or below it are replaced", lo=-1e6, hi=1e6, key=True),
              Float("value", 0.0, "The replacement", lo=-1e6, hi=1e6, key=True)),
             {"threshold": None, "value": None})  # torch has no defaults for these: always written
_elementwise("Softmin", "softmax(−x) along a dimension: small scores get large probabilities.",
             (Int("dim", -1, "Dimension that sums to 1 (-1 = last)", lo=-4, hi=4, key=True),), {"dim": None},
             infer=_check_dim("Softmin"))
_elementwise("RReLU", "Leaky ReLU whose negative slope is random in [lower, upper] while training, their mean in eval.",
             (Float("lower", 1 / 8, "Lowest slope", lo=0, hi=1), Float("upper", 1 / 3, "Highest slope", lo=0, hi=1)),
             {"lower": 1 / 8, "upper": 1 / 3})


def _glu_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = _check_dim("GLU")(p, inputs)
    axis = p["dim"] % x.rank - 1
    if x.shape[axis] % 2:
        raise BlockError(f"GLU splits dim {p['dim']} in two halves, but it has {x.shape[axis]} entries {{from}}")
    shape = list(x.shape)
    shape[axis] //= 2
    return TensorSpec(tuple(shape))


_elementwise("GLU", "Gated linear unit: splits a dimension in halves a, b and returns a·sigmoid(b).",
             (Int("dim", -1, "Dimension to split (-1 = last)", lo=-4, hi=4, key=True),), {"dim": -1},
             infer=_glu_infer, examples=(Example({}, {"x": F((6,))}), Example({"dim": 1}, {"x": F((4, 3))})))


# --- Mean, Scale ------------------------------------------------------------------------------------------


def _axes(block: str, dims: list[int], x: TensorSpec) -> list[int]:
    """Non-batch dimensions as positive numbers, each once."""
    axes = [d % x.rank if -x.rank <= d < x.rank else None for d in dims]
    if None in axes or 0 in axes or len(set(axes)) != len(axes):
        raise BlockError(f"{block} dims {dims} must name distinct non-batch dimensions of {x} "
                         f"(1..{x.rank - 1}, or -1 for the last) {{from}}",
                         fix=Fix("use the last dimension", "set_param", {"name": "dims", "value": [-1]}))
    return sorted(axes)


def _mean_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("Mean", x)
    axes = _axes("Mean", list(p["dims"]), x)
    shape = [1 if k + 1 in axes else d for k, d in enumerate(x.shape)] if p["keepdim"] else \
        [d for k, d in enumerate(x.shape) if k + 1 not in axes]
    return TensorSpec(tuple(shape))


def _mean_emit(p: Resolved, inputs: Inputs):
    dims = [int(d) for d in p["dims"]]
    dim = str(dims[0]) if len(dims) == 1 else "(" + ", ".join(map(str, dims)) + ")"
    keep = ", keepdim=True" if p["keepdim"] else ""
    return inline(f"{{out}} = {{x}}.mean(dim={dim}{keep})")


register(BlockSpec(
    type="Mean",
    category=Category.POOL,
    doc="Averages over the given dimensions: dims [2, 3] turns (N, C, H, W) into (N, C) (global average pooling).",
    params=(Ints("dims", [-1], "Dimensions to average over (not the batch, 0)", lo=-5, hi=5, min_len=1, max_len=4,
                 key=True),
            Bool("keepdim", False, "Keep the averaged dimensions with size 1")),
    infer=_mean_infer,
    emit=_mean_emit,
    examples=(Example({"dims": [2, 3]}, {"x": F((4, 3, 5))}), Example({"dims": [1], "keepdim": True}, {"x": F((6, 2))}),
              Example({}, {"x": F((7,))})),
    aliases=("average", "reduce", "global average pooling"),
))


def _scale_emit(p: Resolved, inputs: Inputs):
    return inline(f"{{out}} = {{x}} * {float(p['factor'])!r}")


register(BlockSpec(
    type="Scale",
    category=Category.MERGE,
    doc="Multiplies by a constant, e.g. the √d scaling of embeddings in a Transformer.",
    params=(Float("factor", 1.0, "The constant", lo=-1e9, hi=1e9, key=True),),
    infer=_float_same("Scale"),
    emit=_scale_emit,
    examples=(Example({"factor": 0.5}, {"x": F((4, 3))}),),
    aliases=("multiply", "constant", "scale"),
))
