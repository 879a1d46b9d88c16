"""The functional forms of layers, whose weights are tensors from elsewhere in the design (a Parameter node):
``F.layer_norm``, ``F.linear``, ``F.conv2d``, and ``F.interpolate``, ``F.pad``, ``F.scaled_dot_product_attention``."""

from __future__ import annotations

from builder.catalog.oracle import In, OpCall
from builder.catalog.registry import Example, Inputs, Port, Resolved
from builder.catalog.tensor_ops import F, OpDef, X, function, register_op
from builder.params import Bool, Choice, Float, Int, Ints


def W(shape: tuple[int, ...]) -> F:
    """A weight: a tensor without a batch dimension (a Parameter node in a design)."""
    return F(shape, batched=False)


def _optional(name: str, inputs: Inputs):
    return In(name) if name in inputs else None


def _layer_norm(p: Resolved, inputs: Inputs) -> OpCall:
    shape = tuple(p["normalized_shape"] or (inputs["x"].shape[-1] if inputs["x"].shape else 1,))
    weight, bias = _optional("weight", inputs), _optional("bias", inputs)
    args = [X, shape]
    if weight is not None or bias is not None:
        args += [weight, bias]
    return function("F.layer_norm", *args, eps=None if p["eps"] == 1e-5 else p["eps"])


register_op(OpDef(
    "layer_norm", "F.layer_norm: normalises the last dimensions, scaled by a weight tensor and shifted by a bias",
    _layer_norm,
    (Example({}, {"x": F((4, 6)), "weight": W((6,)), "bias": W((6,))}), Example({}, {"x": F((3, 5))}),
     Example({"normalized_shape": [3, 5]}, {"x": F((3, 5))})),
    params=(Ints("normalized_shape", None, "The normalised trailing sizes (empty: the last dimension)", lo=1,
                 hi=1_000_000, optional=True, min_len=1, max_len=4),
            Float("eps", 1e-5, "Added to the variance", lo=0, hi=1)),
    ports=(Port("x"), Port("weight", "scale, the normalised shape", optional=True),
           Port("bias", "shift, the normalised shape", optional=True)),
    aliases=("F.layer_norm", "functional"),
))
register_op(OpDef(
    "linear", "F.linear: x @ weightᵀ + bias, the weight a (out, in) tensor",
    lambda p, i: function("F.linear", X, In("weight"), _optional("bias", i)),
    (Example({}, {"x": F((4,)), "weight": W((3, 4)), "bias": W((3,))}), Example({}, {"x": F((5, 4)), "weight": W((2, 4))})),
    ports=(Port("x"), Port("weight", "(out_features, in_features)"), Port("bias", "(out_features,)", optional=True)),
    aliases=("F.linear", "functional"),
))


def _conv2d(p: Resolved, inputs: Inputs) -> OpCall:
    return function("F.conv2d", X, In("weight"), _optional("bias", inputs),
                    stride=p["stride"] if p["stride"] != 1 else None, padding=p["padding"] or None,
                    dilation=p["dilation"] if p["dilation"] != 1 else None,
                    groups=p["groups"] if p["groups"] != 1 else None)


register_op(OpDef(
    "conv2d", "F.conv2d: a 2-D convolution whose kernel is a (out, in/groups, kH, kW) tensor",
    _conv2d,
    (Example({}, {"x": F((3, 8, 8)), "weight": W((4, 3, 3, 3))}),
     Example({"padding": 1, "stride": 2}, {"x": F((3, 8, 8)), "weight": W((4, 3, 3, 3)), "bias": W((4,))})),
    params=(Int("stride", 1, "Step of the kernel", lo=1, hi=64), Int("padding", 0, "Zeros added each side", lo=0, hi=64),
            Int("dilation", 1, "Spacing of the kernel", lo=1, hi=64), Int("groups", 1, "Channel groups", lo=1, hi=4096)),
    ports=(Port("x"), Port("weight", "(out, in/groups, kH, kW)"), Port("bias", "(out,)", optional=True)),
    aliases=("F.conv2d", "functional", "convolution"),
))

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def _interpolate(p: Resolved, inputs: Inputs) -> OpCall:
    size = tuple(p["size"]) if p["size"] else None
    scale = None if size else p["scale_factor"]
    align = p["align_corners"] if p["mode"] in ("linear", "bilinear", "bicubic", "trilinear") else None
    return function("F.interpolate", X, size=size, scale_factor=scale, mode=p["mode"] if p["mode"] != "nearest" else None,
                    align_corners=align)


register_op(OpDef(
    "interpolate", "F.interpolate: resized to a size or by a factor; align_corners for the linear modes",
    _interpolate,
    (Example({}, {"x": F((3, 4, 4))}), Example({"mode": "bilinear", "align_corners": True}, {"x": F((3, 4, 4))}),
     Example({"size": [6], "mode": "linear"}, {"x": F((2, 5))}), Example({"mode": "bicubic"}, {"x": F((1, 3, 3))})),
    params=(Float("scale_factor", 2.0, "Factor to resize by (unless size is given)", lo=0.01, hi=64, key=True),
            Ints("size", None, "Output size per spatial dimension (empty: use the factor)", lo=1, hi=100_000,
                 optional=True, min_len=1, max_len=3),
            Choice("mode", "nearest", _MODES, "How new values are computed", key=True),
            Bool("align_corners", False, "Linear modes: corner pixels of input and output line up")),
    aliases=("F.interpolate", "upsample", "resize"),
))
register_op(OpDef(
    "pad", "F.pad: sizes added at the ends of the last dimensions (left, right, top, bottom, …)",
    lambda p, i: function("F.pad", X, tuple(p["pad"]), mode=p["mode"] if p["mode"] != "constant" else None,
                          value=p["value"] if p["mode"] == "constant" and p["value"] else None),
    (Example({"pad": [1, 1]}, {"x": F((3, 4))}), Example({"pad": [1, 2, 0, 1], "value": 0.5}, {"x": F((2, 4, 4))}),
     Example({"pad": [1, 1, 1, 1], "mode": "reflect"}, {"x": F((2, 4, 4))})),
    params=(Ints("pad", [1, 1], "Pairs of sizes, last dimension first: (left, right, top, bottom, …)", lo=0,
                 hi=10_000, min_len=2, max_len=6, key=True),
            Choice("mode", "constant", ("constant", "reflect", "replicate", "circular"), "What fills the border",
                   key=True),
            Float("value", 0.0, "The fill value of constant padding", lo=-1e9, hi=1e9)),
    aliases=("F.pad", "border"),
))


def _attention(p: Resolved, inputs: Inputs) -> OpCall:
    return function("F.scaled_dot_product_attention", In("q"), In("k"), In("v"), is_causal=p["is_causal"] or None,
                    scale=p["scale"])


register_op(OpDef(
    "scaled_dot_product_attention", "F.scaled_dot_product_attention: softmax(q kᵀ / √d) v, causal if asked "
                                    "(q, k, v shaped (N, heads, T, d))",
    _attention,
    (Example({}, {"q": F((2, 5, 4)), "k": F((2, 5, 4)), "v": F((2, 5, 4))}),
     Example({"is_causal": True}, {"q": F((5, 8)), "k": F((5, 8)), "v": F((5, 3))})),
    params=(Bool("is_causal", False, "Each position attends only to itself and earlier ones", key=True),
            Float("scale", None, "Scale of the scores (empty: 1/√d)", lo=0, hi=100, optional=True)),
    ports=(Port("q", "queries"), Port("k", "keys"), Port("v", "values")),
    aliases=("F.scaled_dot_product_attention", "sdpa", "attention", "flash"),
))
