"""More normalisation layers: InstanceNorm1d, LocalResponseNorm (AlexNet) and RMSNorm (LLaMA-style Transformers)."""

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
    LAYOUTS,
    expect_float,
    expect_rank,
    kwargs_unless_default,
    module_emission,
    prod,
    resolve,
    single,
)
from builder.params import Bool, Float, Int, Ints

F = TensorSpec


def _instancenorm1d_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("InstanceNorm1d", x)
    expect_rank("InstanceNorm1d", x, (3,), LAYOUTS[1])
    resolve(p, "num_features", x.shape[0], "channels (dimension 1)")
    return x


register(BlockSpec(
    type="InstanceNorm1d",
    category=Category.NORM,
    doc="Normalises each channel of each sequence on its own.",
    params=(
        Int("num_features", None, "Inferred from the channel dimension", lo=1, hi=1_000_000, inferred=True),
        Bool("affine", False, "Learn a scale and shift"),
        Float("eps", 1e-5, "Added to the variance for stability", lo=0, hi=1),
    ),
    infer=_instancenorm1d_infer,
    emit=lambda p, i: module_emission("nn.InstanceNorm1d", (p["num_features"],),
                                      kwargs_unless_default(p, {"eps": 1e-5, "affine": False})),
    count=lambda p, i: 2 * p["num_features"] if p["affine"] else 0,
    examples=(Example({}, {"x": F((3, 7))}), Example({"affine": True}, {"x": F((4, 5))})),
    torch_class="torch.nn.InstanceNorm1d",
))


def _lrn_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("LocalResponseNorm", x)
    expect_rank("LocalResponseNorm", x, (3, 4, 5), "(N, C, ...)")
    return x


register(BlockSpec(
    type="LocalResponseNorm",
    category=Category.NORM,
    doc="Divides each value by the activity of neighbouring channels (AlexNet's normalisation).",
    params=(
        Int("size", 5, "Number of neighbouring channels", lo=1, hi=10_000, key=True),
        Float("alpha", 1e-4, "Scale of the neighbourhood sum", lo=0, hi=100),
        Float("beta", 0.75, "Exponent", lo=0, hi=100),
        Float("k", 1.0, "Added constant", lo=0, hi=100),
    ),
    infer=_lrn_infer,
    emit=lambda p, i: module_emission("nn.LocalResponseNorm", (p["size"],),
                                      kwargs_unless_default(p, {"alpha": 1e-4, "beta": 0.75, "k": 1.0})),
    examples=(Example({"size": 3}, {"x": F((6, 4, 4))}), Example({"size": 2, "k": 2.0}, {"x": F((5, 7))})),
    torch_class="torch.nn.LocalResponseNorm",
    aliases=("lrn", "alexnet"),
))


def _rmsnorm_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("RMSNorm", x)
    given = p.get("normalized_shape")
    if given is None:
        p["normalized_shape"] = [x.shape[-1]]
    elif tuple(given) != x.shape[len(x.shape) - len(given):]:
        raise BlockError(f"RMSNorm normalized_shape={list(given)} must match the last dimensions of {x} {{from}}",
                         fix=Fix("normalise the last dimension", "set_param", {"name": "normalized_shape", "value": None}))
    return x


def _rmsnorm_emit(p: Resolved, inputs: Inputs):
    shape = p["normalized_shape"]
    kwargs = kwargs_unless_default(p, {"eps": None, "elementwise_affine": True})
    return module_emission("nn.RMSNorm", (tuple(shape) if len(shape) > 1 else shape[0],), kwargs)


register(BlockSpec(
    type="RMSNorm",
    unbatched="rows",
    category=Category.NORM,
    doc="Divides each sample by the root mean square of its last dimension(s), then scales (LLaMA, T5).",
    params=(
        Ints("normalized_shape", None, "Inferred: the last dimension", lo=1, hi=1_000_000, min_len=1, max_len=3,
             inferred=True),
        Float("eps", None, "Added for stability (empty: the dtype's machine epsilon)", lo=0, hi=1, optional=True),
        Bool("elementwise_affine", True, "Learn a scale"),
    ),
    infer=_rmsnorm_infer,
    emit=_rmsnorm_emit,
    count=lambda p, i: prod(p["normalized_shape"]) if p["elementwise_affine"] else 0,
    examples=(Example({}, {"x": F((5, 8))}), Example({"eps": 1e-6, "elementwise_affine": False}, {"x": F((6,))})),
    torch_class="torch.nn.RMSNorm",
    aliases=("root mean square", "llama"),
))
