"""Activations, dropout and normalisation: blocks that keep the shape of their input."""

from __future__ import annotations

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
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
from builder.params import Bool, Choice, Float, Int, Ints, Param

F = TensorSpec
_EXAMPLES = (Example({}, {"x": F((6,))}), Example({}, {"x": F((2, 3, 4))}))


def _float_same(block: str):
    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        expect_float(block, x)
        return x

    return infer


def _elementwise(name: str, doc: str, params: tuple[Param, ...] = (), torch_defaults: dict | None = None,
                 aliases: tuple[str, ...] = (), category: Category = Category.ACTIVATION,
                 examples: tuple[Example, ...] = _EXAMPLES, count=None, infer=None) -> None:
    defaults = torch_defaults or {}
    register(
        BlockSpec(
            type=name,
            category=category,
            doc=doc,
            params=params,
            infer=infer or _float_same(name),
            emit=lambda p, i: module_emission(f"nn.{name}", (), kwargs_unless_default(p, defaults)),
            count=count or (lambda p, i: 0),
            examples=examples,
            torch_class=f"torch.nn.{name}",
            aliases=aliases,
            unbatched="rows",
        )
    )


def _check_dim(block: str):
    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        expect_float(block, x)
        if not -x.rank <= p["dim"] < x.rank:
            raise BlockError(f"{block} dim={p['dim']} is outside the {x.rank} dimensions of {x} {{from}}",
                             fix=Fix("use the last dimension", "set_param", {"name": "dim", "value": -1}))
        if p["dim"] in (0, -x.rank):
            raise BlockError(f"{block} dim={p['dim']} would mix samples of the batch; use dim -1 or 1",
                             fix=Fix("use the last dimension", "set_param", {"name": "dim", "value": -1}))
        return x

    return infer


def _check_prelu(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("PReLU", x)
    if p["num_parameters"] != 1 and p["num_parameters"] != x.shape[0]:
        raise BlockError(f"PReLU num_parameters={p['num_parameters']} must be 1 or the {x.shape[0]} channels of {x}",
                         fix=Fix("use one slope", "set_param", {"name": "num_parameters", "value": 1}))
    return x


_elementwise("ReLU", "max(0, x): the default hidden-layer activation.", aliases=("rectifier",))
_elementwise("ReLU6", "min(max(0, x), 6): ReLU capped at 6 (MobileNet).")
_elementwise("LeakyReLU", "x for x > 0, else a small slope times x: keeps gradients alive for negative inputs.",
             (Float("negative_slope", 0.01, "Slope for negative inputs", lo=0, hi=1, key=True),),
             {"negative_slope": 0.01})
_elementwise("PReLU", "Leaky ReLU whose negative slope is learned (one, or one per channel).",
             (Int("num_parameters", 1, "1, or the number of channels (dimension 1)", lo=1, hi=100_000, key=True),
              Float("init", 0.25, "Initial slope", lo=0, hi=1)),
             {"num_parameters": 1, "init": 0.25},
             count=lambda p, i: p["num_parameters"], infer=_check_prelu)
_elementwise("ELU", "x for x > 0, else alpha·(eˣ − 1): smooth and zero-centred.",
             (Float("alpha", 1.0, "Saturation value for negative inputs", lo=0, hi=100),), {"alpha": 1.0})
_elementwise("SELU", "Scaled ELU: self-normalising networks (pair with AlphaDropout).")
_elementwise("GELU", "x·Φ(x): the Transformer activation.",
             (Choice("approximate", "none", ("none", "tanh"), "Exact or tanh approximation"),), {"approximate": "none"})
_elementwise("SiLU", "x·sigmoid(x) (Swish).", aliases=("swish",))
_elementwise("Mish", "x·tanh(softplus(x)).")
_elementwise("Softplus", "log(1 + eˣ): a smooth ReLU.", (Float("beta", 1.0, "Sharpness", lo=0.01, hi=100),), {"beta": 1.0})
_elementwise("Sigmoid", "1 / (1 + e⁻ˣ): squashes to (0, 1); binary outputs and gates.", aliases=("logistic",))
_elementwise("Tanh", "tanh(x): squashes to (−1, 1), zero-centred.")
_elementwise("Softmax", "Turns scores into probabilities that sum to 1 along a dimension. "
             "Leave it out before CrossEntropyLoss, which applies it itself.",
             (Int("dim", -1, "Dimension that sums to 1 (-1 = last)", lo=-4, hi=4, key=True),), {"dim": None},
             infer=_check_dim("Softmax"))
_elementwise("LogSoftmax", "log(softmax(x)) along a dimension; pair with NLLLoss.",
             (Int("dim", -1, "Dimension to normalise (-1 = last)", lo=-4, hi=4, key=True),), {"dim": None},
             infer=_check_dim("LogSoftmax"))


# --- Dropout ---------------------------------------------------------------------------------------------

_P = (Float("p", 0.5, "Probability of zeroing an element during training", lo=0, hi=1, key=True),)


def _make_dropout(name: str, doc: str, ranks: tuple[int, ...] | None, layout: str = "") -> None:
    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        expect_float(name, x)
        if ranks:
            expect_rank(name, x, ranks, layout)
        return x

    ex_shape = {None: (6,), (3,): (3, 5), (4,): (3, 4, 4)}[ranks]
    register(
        BlockSpec(
            type=name,
            category=Category.DROPOUT,
            unbatched="rows" if ranks is None else "refuse",
            doc=doc,
            params=_P,
            infer=infer,
            emit=lambda p, i: module_emission(f"nn.{name}", (), kwargs_unless_default(p, {"p": 0.5})),
            examples=(Example({"p": 0.2}, {"x": F(ex_shape)}),),
            torch_class=f"torch.nn.{name}",
            aliases=("regularization", "regularisation"),
        )
    )


_make_dropout("Dropout", "Randomly zeroes elements while training (scaled so the mean is kept); off in eval.", None)
_make_dropout("Dropout1d", "Zeroes whole channels of a sequence while training.", (3,), LAYOUTS[1])
_make_dropout("Dropout2d", "Zeroes whole feature maps of an image while training.", (4,), LAYOUTS[2])
_make_dropout("AlphaDropout", "Dropout that keeps SELU's self-normalisation.", None)


def _stochastic_depth_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("StochasticDepth", x)
    return x


register(
    BlockSpec(
        type="StochasticDepth",
        category=Category.DROPOUT,
        doc="Drops a residual branch while training: whole samples zeroed ('row') or the whole batch ('batch'), the "
            "rest scaled by 1/(1 − p); nothing in eval (torchvision's StochasticDepth, timm's DropPath).",
        params=(Float("p", 0.1, "Probability of dropping the branch during training", lo=0, hi=1, key=True),
                Choice("mode", "row", ("row", "batch"), "Drop per sample (row) or for the whole batch", key=True)),
        infer=_stochastic_depth_infer,
        emit=lambda p, i: Emission(Call("StochasticDepth", (p["p"], p["mode"])), "{out} = {mod}({x})",
                                   helpers=("StochasticDepth",)),
        examples=(Example({"p": 0.2}, {"x": F((3, 4, 4))}), Example({"mode": "batch"}, {"x": F((6,))})),
        torch_class="torchvision.ops.StochasticDepth",
        aliases=("drop path", "DropPath", "stochastic depth", "regularization"),
    )
)


# --- Normalisation ---------------------------------------------------------------------------------------


def _make_batchnorm(dims: int) -> None:
    name = f"BatchNorm{dims}d"
    layout = "(N, C) or (N, C, L)" if dims == 1 else LAYOUTS[2]

    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        expect_float(name, x)
        expect_rank(name, x, (2, 3) if dims == 1 else (4,), layout)
        resolve(p, "num_features", x.shape[0], "channels (dimension 1)")
        return x

    register(
        BlockSpec(
            type=name,
            category=Category.NORM,
            doc="Normalises each channel over the batch, then scales and shifts it (learned).",
            params=(
                Int("num_features", None, "Inferred from the channel dimension", lo=1, hi=1_000_000, inferred=True),
                Float("momentum", 0.1, "Running-statistics momentum", lo=0, hi=1),
                Float("eps", 1e-5, "Added to the variance for stability", lo=0, hi=1),
                Bool("affine", True, "Learn a scale and shift"),
            ),
            infer=infer,
            emit=lambda p, i: module_emission(f"nn.{name}", (p["num_features"],),
                                              kwargs_unless_default(p, {"eps": 1e-5, "momentum": 0.1, "affine": True})),
            count=lambda p, i: 2 * p["num_features"] if p["affine"] else 0,
            examples=(Example({}, {"x": F((4,) if dims == 1 else (4, 3, 3))}),
                      Example({"affine": False}, {"x": F((4, 5) if dims == 1 else (2, 5, 5))})),
            torch_class=f"torch.nn.{name}",
            aliases=("batch normalization", "bn"),
        )
    )


_make_batchnorm(1)
_make_batchnorm(2)


def _layernorm_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("LayerNorm", x)
    given = p.get("normalized_shape")
    if given is None:
        p["normalized_shape"] = [x.shape[-1]]
    elif tuple(given) != x.shape[len(x.shape) - len(given):]:
        raise BlockError(f"LayerNorm normalized_shape={list(given)} must match the last dimensions of {x} {{from}}",
                         fix=Fix("normalise the last dimension", "set_param", {"name": "normalized_shape", "value": None}))
    return x


register(
    BlockSpec(
        type="LayerNorm",
        unbatched="rows",
        category=Category.NORM,
        doc="Normalises each sample over its last dimension(s), then scales and shifts (Transformers, RNNs).",
        params=(
            Ints("normalized_shape", None, "Inferred: the last dimension", lo=1, hi=1_000_000, min_len=1, max_len=3,
                 inferred=True),
            Float("eps", 1e-5, "Added to the variance for stability", lo=0, hi=1),
            Bool("elementwise_affine", True, "Learn a scale and shift"),
        ),
        infer=_layernorm_infer,
        emit=lambda p, i: module_emission("nn.LayerNorm", (tuple(p["normalized_shape"]) if len(p["normalized_shape"]) > 1
                                                           else p["normalized_shape"][0],),
                                          kwargs_unless_default(p, {"eps": 1e-5, "elementwise_affine": True})),
        count=lambda p, i: 2 * prod(p["normalized_shape"]) if p["elementwise_affine"] else 0,
        examples=(Example({}, {"x": F((5, 8))}), Example({"normalized_shape": [4, 4]}, {"x": F((3, 4, 4))})),
        torch_class="torch.nn.LayerNorm",
        aliases=("layer normalization", "ln"),
    )
)


def _groupnorm_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("GroupNorm", x)
    expect_rank("GroupNorm", x, (3, 4, 5), "(N, C, ...)")
    resolve(p, "num_channels", x.shape[0], "channels (dimension 1)")
    if p["num_channels"] % p["num_groups"]:
        divisors = [g for g in range(p["num_groups"], 0, -1) if p["num_channels"] % g == 0]
        raise BlockError(f"GroupNorm num_groups={p['num_groups']} must divide the {p['num_channels']} channels",
                         fix=Fix(f"set num_groups to {divisors[0]}", "set_param", {"name": "num_groups", "value": divisors[0]}))
    return x


register(
    BlockSpec(
        type="GroupNorm",
        category=Category.NORM,
        doc="Normalises groups of channels within each sample; works with any batch size.",
        params=(
            Int("num_groups", 4, "Number of channel groups (must divide the channels)", lo=1, hi=100_000, key=True),
            Int("num_channels", None, "Inferred from the channel dimension", lo=1, hi=1_000_000, inferred=True),
            Float("eps", 1e-5, "Added to the variance for stability", lo=0, hi=1),
            Bool("affine", True, "Learn a scale and shift"),
        ),
        infer=_groupnorm_infer,
        emit=lambda p, i: module_emission("nn.GroupNorm", (p["num_groups"], p["num_channels"]),
                                          kwargs_unless_default(p, {"eps": 1e-5, "affine": True})),
        count=lambda p, i: 2 * p["num_channels"] if p["affine"] else 0,
        examples=(Example({"num_groups": 2}, {"x": F((4, 3, 3))}),),
        torch_class="torch.nn.GroupNorm",
    )
)


def _instancenorm_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("InstanceNorm2d", x)
    expect_rank("InstanceNorm2d", x, (4,), LAYOUTS[2])
    resolve(p, "num_features", x.shape[0], "channels (dimension 1)")
    return x


register(
    BlockSpec(
        type="InstanceNorm2d",
        category=Category.NORM,
        doc="Normalises each channel of each image on its own (style transfer).",
        params=(
            Int("num_features", None, "Inferred from the channel dimension", lo=1, hi=1_000_000, inferred=True),
            Bool("affine", False, "Learn a scale and shift"),
        ),
        infer=_instancenorm_infer,
        emit=lambda p, i: module_emission("nn.InstanceNorm2d", (p["num_features"],),
                                          kwargs_unless_default(p, {"affine": False})),
        count=lambda p, i: 2 * p["num_features"] if p["affine"] else 0,
        examples=(Example({"affine": True}, {"x": F((3, 4, 4))}),),
        torch_class="torch.nn.InstanceNorm2d",
    )
)
