"""Tensors that are part of the model rather than computed from its inputs: a learned Parameter (a class token,
a position table, a LayerScale gamma) and a fixed Buffer (a causal mask, a table of noise).

The node's id is the attribute, so the state-dict name is the one a person would write: a node ``cls_token``
becomes ``self.cls_token = nn.Parameter(torch.zeros(1, 1, 64))``; a node ``mask`` becomes
``self.register_buffer("mask", torch.tril(torch.ones(8, 8)))``. Neither has a batch dimension: ops broadcast it.
"""

from __future__ import annotations

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
    Example,
    Inputs,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.rules import prod
from builder.params import Bool, Choice, Float, Floats, Ints

_SHAPE = Ints("shape", [1, 1, 64], "The whole shape (there is no batch dimension)", lo=1, hi=1_000_000, min_len=1,
              max_len=6, key=True)


def _spec(p: Resolved, inputs: Inputs) -> TensorSpec:
    if prod(p["shape"]) > 2**31 - 1:
        raise BlockError(f"a tensor of shape {tuple(p['shape'])} is too large for one tensor")
    return TensorSpec(tuple(p["shape"]), "float", batched=False)


def _parameter_value(p: Resolved) -> Call:
    shape = tuple(p["shape"])
    if p["init"] == "normal":
        return Call("torch.normal", (0.0, float(p["std"])), {"size": shape})
    if p["init"] == "uniform":
        return Call("nn.init.uniform_", (Call("torch.empty", shape), -float(p["std"]), float(p["std"])))
    return Call(f"torch.{p['init']}", shape)


def _parameter_emit(p: Resolved, inputs: Inputs) -> Emission:
    kwargs = {} if p["trainable"] else {"requires_grad": False}
    return Emission(Call("nn.Parameter", (_parameter_value(p),), kwargs), "{mod}")


register(BlockSpec(
    type="Parameter",
    category=Category.TENSORS,
    doc="A learned tensor of the model: a class token (1, 1, D), a position table (1, T, D), a LayerScale gamma. "
        "Its node id is its name in the state dict.",
    params=(_SHAPE,
            Choice("init", "zeros", ("zeros", "ones", "normal", "uniform"), "Initial values", key=True),
            Float("std", 0.02, "normal: the standard deviation; uniform: values in ±this", lo=0, hi=100),
            Bool("trainable", True, "Learned by the optimizer (off: kept as initialised, still saved)")),
    infer=_spec,
    emit=_parameter_emit,
    count=lambda p, i: prod(p["shape"]) if p["trainable"] else 0,
    ports=(),
    examples=(Example({"shape": [1, 1, 8]}, {}), Example({"shape": [5, 8], "init": "normal"}, {})),
    torch_class="torch.nn.Parameter",
    aliases=("nn.Parameter", "class token", "cls token", "position table", "weight", "learned"),
    unbatched="native",
))


# The most values a Buffer carries in the design (fill 'values'): 64 KiB as float32, about 200 KB of a design's
# text. An imported model's fixed table (SimpleViT's sin-cos positions for 16 patches of 32: 512 values) fits; one
# too large stays an Unsupported node that says so, as a file that could not be shared or read would.
MAX_VALUES = 16_384


def _buffer_value(p: Resolved) -> Call:
    shape = tuple(p["shape"])
    if p["fill"] == "values":
        values = p["values"] or []
        if len(values) != prod(shape):
            raise BlockError(f"fill 'values' needs one value per entry of shape {shape}: {prod(shape)}, not "
                             f"{len(values)}")
        return Call("torch.reshape", (Call("torch.tensor", (tuple(float(v) for v in values),)), shape))
    if p["fill"] == "causal_mask":
        if len(shape) < 2:
            raise BlockError("a causal mask needs two dimensions (T, T)")
        return Call("torch.tril", (Call("torch.ones", shape),))
    return Call({"zeros": "torch.zeros", "ones": "torch.ones", "randn": "torch.randn"}[p["fill"]], shape)


def _buffer_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    _buffer_value(p)  # refuses a mask of one dimension
    return _spec(p, inputs)


register(BlockSpec(
    type="Buffer",
    category=Category.TENSORS,
    doc="A fixed tensor saved with the model but not learned: a causal mask (ones on and below the diagonal), a "
        "table of zeros, ones or seeded noise, or values listed (a table an imported model computed once). Its "
        "node id is its name in the state dict.",
    params=(Ints("shape", [8, 8], "The whole shape (there is no batch dimension)", lo=1, hi=1_000_000, min_len=1,
                 max_len=6, key=True),
            Choice("fill", "causal_mask", ("causal_mask", "zeros", "ones", "randn", "values"), "What it holds: "
                   "'values' holds the numbers listed (an imported model's fixed table)", key=True),
            Bool("persistent", True, "Saved in the state dict"),
            Floats("values", [], "fill 'values': every entry, row by row (written into the generated code)",
                   max_len=MAX_VALUES)),
    infer=_buffer_infer,
    emit=lambda p, i: Emission(_buffer_value(p), "{mod}", buffer="persistent" if p["persistent"] else "transient"),
    ports=(),
    examples=(Example({}, {}), Example({"shape": [4], "fill": "ones"}, {}),
              Example({"shape": [2, 3], "fill": "values", "values": [0.0, 0.5, 1.0, -1.0, 2.5, 3.0],
                       "persistent": False}, {})),
    torch_class="torch.Tensor (register_buffer)",
    aliases=("register_buffer", "constant", "mask", "causal", "tril", "table"),
    unbatched="native",
))
