"""Input, Linear and the blocks that only move data around: Flatten, Reshape, Permute, Identity."""

from __future__ import annotations

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
from builder.catalog.rules import (
    expect_float,
    inline,
    kwargs_unless_default,
    module_emission,
    prod,
    resolve,
    same_shape,
    single,
)
from builder.params import Bool, Choice, Int, Ints

MAX_DIM = 10_000_000

F = TensorSpec


def _input_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    return TensorSpec(tuple(p["shape"]), p["dtype"])


register(
    BlockSpec(
        type="Input",
        category=Category.INPUT,
        doc="Where data enters: its shape without the batch dimension, and float values or long token ids.",
        params=(
            Ints("shape", [2], "Shape of one sample, without the batch dimension", lo=1, hi=MAX_DIM,
                 min_len=1, max_len=4, key=True),
            Choice("dtype", "float", ("float", "long"), "float for features/images, long for token ids", key=True),
        ),
        ports=(),
        infer=_input_infer,
        emit=lambda p, i: inline(""),
        aliases=("data", "placeholder", "image", "tokens"),
    )
)


def _linear_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("Linear", x)
    resolve(p, "in_features", x.shape[-1], "features in its last dimension")
    return TensorSpec((*x.shape[:-1], p["out_features"]))


def _linear_count(p: Resolved, inputs: Inputs) -> int:
    return p["in_features"] * p["out_features"] + (p["out_features"] if p["bias"] else 0)


def _linear_advice(p: Resolved, inputs: Inputs) -> list[tuple[str, Fix | None]]:
    x = single(inputs)
    if len(x.shape) >= 3:
        return [(f"Linear acts on the last dimension only; it receives the image-like {x}. "
                 "Insert Flatten before it to use every value", Fix("insert Flatten", "insert_before", {"type": "Flatten"}))]
    return []


register(
    BlockSpec(
        type="Linear",
        unbatched="rows",
        category=Category.DENSE,
        doc="Fully connected (Dense) layer: every output is a weighted sum of all inputs in the last dimension.",
        params=(
            Int("out_features", 64, "Number of output features (units)", lo=1, hi=MAX_DIM, key=True),
            Int("in_features", None, "Inferred from the input's last dimension", lo=1, hi=MAX_DIM, inferred=True),
            Bool("bias", True, "Add a learnable bias"),
        ),
        infer=_linear_infer,
        emit=lambda p, i: module_emission(
            "nn.Linear", (p["in_features"], p["out_features"]), kwargs_unless_default(p, {"bias": True})
        ),
        count=_linear_count,
        macs=lambda p, i, o: p["in_features"] * o.numel,
        advise=_linear_advice,
        examples=(
            Example({"out_features": 10}, {"x": F((64,))}),
            Example({"out_features": 3, "bias": False}, {"x": F((5, 7))}),
        ),
        torch_class="torch.nn.Linear",
        aliases=("dense", "fully connected", "fc", "mlp", "perceptron"),
    )
)


def _flatten_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    return TensorSpec((x.numel,), x.dtype)


register(
    BlockSpec(
        type="Flatten",
        category=Category.INPUT,
        doc="Flattens everything but the batch dimension into one: (N, C, H, W) → (N, C·H·W).",
        params=(),
        infer=_flatten_infer,
        emit=lambda p, i: module_emission("nn.Flatten"),
        examples=(Example({}, {"x": F((3, 4, 5))}), Example({}, {"x": F((7,))})),
        torch_class="torch.nn.Flatten",
    )
)


def _reshape_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    target = list(p["shape"])
    if target.count(-1) > 1:
        raise BlockError(f"Reshape shape {target} may contain -1 only once")
    if any(d == 0 or d < -1 for d in target):
        raise BlockError(f"Reshape shape {target} must hold positive sizes (and at most one -1)")
    known = prod([d for d in target if d != -1])
    if -1 in target:
        if x.numel % known:
            raise BlockError(
                f"Reshape cannot fit {x.numel} values per sample into {target}: {x.numel} is not a multiple of {known} {{from}}"
            )
        target[target.index(-1)] = x.numel // known
    elif known != x.numel:
        raise BlockError(
            f"Reshape to {tuple(target)} needs {known} values per sample but the input {x} has {x.numel} {{from}}"
        )
    return TensorSpec(tuple(target), x.dtype)


register(
    BlockSpec(
        type="Reshape",
        category=Category.INPUT,
        doc="Gives each sample a new shape with the same number of values (-1 once to infer a size).",
        params=(Ints("shape", [1, -1], "New shape without the batch dimension", lo=-1, hi=MAX_DIM,
                     min_len=1, max_len=4, key=True),),
        infer=_reshape_infer,
        emit=lambda p, i: inline("{out} = {x}.reshape({x}.size(0), " + ", ".join(str(d) for d in p["shape"]) + ")"),
        examples=(Example({"shape": [1, 8, 8]}, {"x": F((64,))}), Example({"shape": [-1, 1]}, {"x": F((30,))})),
        aliases=("view", "unflatten"),
    )
)


def _permute_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    dims = list(p["dims"])
    if sorted(dims) != list(range(1, x.rank)):
        raise BlockError(
            f"Permute dims {dims} must order the non-batch dimensions 1..{x.rank - 1} of {x}, each once {{from}}",
            fix=Fix("reverse the dimensions", "set_param", {"name": "dims", "value": list(range(x.rank - 1, 0, -1))}),
        )
    return TensorSpec(tuple(x.shape[d - 1] for d in dims), x.dtype)


register(
    BlockSpec(
        type="Permute",
        category=Category.INPUT,
        doc="Reorders dimensions, e.g. dims [2, 1] turns (N, T, F) into (N, F, T) for Conv1d over time.",
        params=(Ints("dims", [2, 1], "New order of dimensions 1..rank-1 (the batch stays first)", lo=1, hi=4,
                     min_len=1, max_len=4, key=True),),
        infer=_permute_infer,
        emit=lambda p, i: inline("{out} = {x}.permute(0, " + ", ".join(str(d) for d in p["dims"]) + ")"),
        examples=(Example({"dims": [2, 1]}, {"x": F((5, 7))}), Example({"dims": [2, 3, 1]}, {"x": F((3, 4, 5))})),
        aliases=("transpose", "swap"),
    )
)

register(
    BlockSpec(
        type="Identity",
        unbatched="rows",
        category=Category.INPUT,
        doc="Passes its input through unchanged; a placeholder or a named tap point.",
        params=(),
        infer=same_shape,
        emit=lambda p, i: module_emission("nn.Identity"),
        examples=(Example({}, {"x": F((4, 4))}),),
        torch_class="torch.nn.Identity",
    )
)
