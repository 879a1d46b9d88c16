"""Blocks that join branches: residual Add, Multiply (gating) and Concat."""

from __future__ import annotations

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
from builder.params import Int

F = TensorSpec
_BRANCHES = Port("inputs", "two or more tensors; the edge's port (1, 2, …) sets the order", variadic=True)


def _projection_fix(spec: TensorSpec, width: int) -> Fix | None:
    """An Add whose branches differ only in channels/features: project the odd one with a 1x1 conv or Linear."""
    if len(spec.shape) == 3:
        return Fix(f"insert a 1×1 Conv2d to {width} channels", "insert_before",
                   {"type": "Conv2d", "params": {"out_channels": width, "kernel_size": 1}})
    if len(spec.shape) == 1:
        return Fix(f"insert Linear to {width} features", "insert_before",
                   {"type": "Linear", "params": {"out_features": width}})
    return None


def _elementwise_infer(block: str):
    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        specs: list[TensorSpec] = inputs["inputs"]
        first = specs[0]
        for number, spec in enumerate(specs[1:], start=2):
            if block == "Multiply" and _scales(spec, first):
                continue  # a gate of size 1 along some dimensions scales the whole of them (Squeeze-and-Excitation)
            if spec.shape != first.shape:
                fix = None
                if len(spec.shape) == len(first.shape) and spec.shape[1:] == first.shape[1:]:
                    fix = _projection_fix(spec, first.shape[0])
                raise BlockError(
                    f"{block} needs equal shapes: input 1 {first}, input {number} {spec}",
                    fix=fix, port=str(number),
                )
        return first

    return infer


def _scales(gate: TensorSpec, x: TensorSpec) -> bool:
    """``gate`` broadcasts onto ``x`` without changing its shape: same rank, each size equal or 1."""
    return len(gate.shape) == len(x.shape) and all(g in (1, d) for g, d in zip(gate.shape, x.shape))


def _elementwise_emit(symbol: str):
    def emit(p: Resolved, inputs: Inputs) -> Emission:
        terms = f" {symbol} ".join(f"{{inputs[{k}]}}" for k in range(len(inputs["inputs"])))
        return Emission(None, "{out} = " + terms)

    return emit


for _name, _symbol, _doc in (
    ("Add", "+", "Adds its inputs element-wise: the residual (skip) connection of ResNets and Transformers."),
    ("Multiply", "*", "Multiplies its inputs element-wise: gating, as in GLU, attention masks or Squeeze-and-Excitation "
                      "(a later input of size 1 along a dimension scales all of it)."),
):
    register(
        BlockSpec(
            type=_name,
            category=Category.MERGE,
            doc=_doc,
            params=(),
            ports=(_BRANCHES,),
            infer=_elementwise_infer(_name),
            emit=_elementwise_emit(_symbol),
            examples=(Example({}, {"inputs": [F((4, 3, 3)), F((4, 3, 3))]}),
                      Example({}, {"inputs": [F((5,)), F((5,)), F((5,))]}),
                      *([Example({}, {"inputs": [F((4, 3, 3)), F((4, 1, 1))]})] if _name == "Multiply" else [])),
            aliases=("residual", "skip", "shortcut", "sum") if _name == "Add" else ("gate", "product"),
        )
    )


def _concat_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    specs: list[TensorSpec] = inputs["inputs"]
    rank = specs[0].rank
    dim = p["dim"]
    if not -rank < dim < rank or dim == 0:
        raise BlockError(f"Concat dim={dim} must pick a non-batch dimension of {specs[0]} (1..{rank - 1} or -1)",
                         fix=Fix("join along dimension 1", "set_param", {"name": "dim", "value": 1}))
    axis = (dim % rank) - 1
    total = 0
    for number, spec in enumerate(specs, start=1):
        others = spec.shape[:axis] + spec.shape[axis + 1:]
        expected = specs[0].shape[:axis] + specs[0].shape[axis + 1:]
        if spec.rank != rank or others != expected:
            raise BlockError(
                f"Concat along dim {dim} needs the other dimensions equal: input 1 {specs[0]}, input {number} {spec}",
                port=str(number),
            )
        total += spec.shape[axis]
    shape = list(specs[0].shape)
    shape[axis] = total
    return TensorSpec(tuple(shape), specs[0].dtype)


def _concat_emit(p: Resolved, inputs: Inputs) -> Emission:
    items = ", ".join(f"{{inputs[{k}]}}" for k in range(len(inputs["inputs"])))
    return Emission(None, f"{{out}} = torch.cat([{items}], dim={p['dim']})")


register(
    BlockSpec(
        type="Concat",
        category=Category.MERGE,
        doc="Joins its inputs along a dimension (1 = channels/features), in port order.",
        params=(Int("dim", 1, "Dimension to join along (1 = channels or features, -1 = last)", lo=-4, hi=4, key=True),),
        ports=(_BRANCHES,),
        infer=_concat_infer,
        emit=_concat_emit,
        examples=(Example({}, {"inputs": [F((4, 3, 3)), F((2, 3, 3))]}),
                  Example({"dim": -1}, {"inputs": [F((5, 2)), F((5, 3)), F((5, 1))]})),
        aliases=("concatenate", "join", "merge", "stack"),
    )
)
