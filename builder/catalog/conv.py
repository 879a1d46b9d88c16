"""Convolutions (1-D, 2-D, transposed) and pooling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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
    as_tuple,
    conv_out,
    conv_transpose_out,
    expect_float,
    expect_rank,
    kwargs_unless_default,
    module_emission,
    prod,
    resolve,
    single,
    spatial_out,
)
from builder.params import Bool, Choice, Float, Int, IntOrTuple

F = TensorSpec
MAX_CH = 100_000


def _reshape_fix(x: TensorSpec, dims: int) -> Fix | None:
    """For a flat (N, F) input into a conv: suggest reshaping to one channel when the size allows it."""
    if len(x.shape) != 1:
        return None
    if dims == 1:
        return Fix(f"insert Reshape to (1, {x.shape[0]})", "insert_before", {"type": "Reshape", "params": {"shape": [1, x.shape[0]]}})
    side = math.isqrt(x.shape[0])
    if side * side == x.shape[0]:
        return Fix(f"insert Reshape to (1, {side}, {side})", "insert_before",
                   {"type": "Reshape", "params": {"shape": [1, side, side]}})
    return None


def _check_spatial_input(block: str, x: TensorSpec, dims: int) -> None:
    expect_float(block, x)
    expect_rank(block, x, (dims + 2,), LAYOUTS[dims], fix=_reshape_fix(x, dims))


# torch's own spelling, the one design files are written with: padding="same" keeps the size (stride 1), "valid"
# adds none. Files of earlier releases said padding_style instead; ``_old_spellings`` reads them the same.
PADDING_WORDS = ("same", "valid")


def _conv_params(transposed: bool) -> tuple:
    if transposed:  # torch's transposed convolutions pad by number only
        padding = IntOrTuple("padding", 0, "Zeros added on each side", lo=0, hi=1024, key=True)
    else:
        padding = IntOrTuple("padding", 0, "Added on each side: a number (or height, width); same keeps the size "
                             "(stride 1), valid adds none", lo=0, hi=1024, key=True, words=PADDING_WORDS)
    params = [
        Int("out_channels", 16, "Number of filters (output channels)", lo=1, hi=MAX_CH, key=True),
        IntOrTuple("kernel_size", 3, "Filter size", lo=1, hi=1024, key=True),
        IntOrTuple("stride", 1, "Step between filter positions", lo=1, hi=1024, key=True),
        padding,
    ]
    if transposed:
        params.append(IntOrTuple("output_padding", 0, "Extra size added on one side of the output", lo=0, hi=1024))
    params += [
        IntOrTuple("dilation", 1, "Spacing between filter taps", lo=1, hi=1024),
        Int("groups", 1, "Split channels into groups (depthwise = in_channels)", lo=1, hi=MAX_CH),
        Bool("bias", True, "Add a learnable bias per output channel"),
        Int("in_channels", None, "Inferred from the input's channel dimension", lo=1, hi=MAX_CH, inferred=True),
    ]
    if not transposed:  # torch's transposed convolutions pad with zeros only
        params.append(Choice("padding_mode", "zeros", ("zeros", "reflect", "replicate", "circular"),
                             "What the padding holds"))
    return tuple(params)


def _old_spellings(params: Mapping[str, Any]) -> dict[str, Any]:
    """``padding_style`` of earlier files in torch's spelling: "same"/"valid" become ``padding`` (a padding number
    beside them was ignored then, so it goes), "explicit" meant the padding number and is dropped."""
    out = dict(params)
    style = out.get("padding_style")
    if style in ("explicit", *PADDING_WORDS):
        del out["padding_style"]
        if style != "explicit":
            out["padding"] = style
    return out


def _make_conv(dims: int, transposed: bool):
    name = f"ConvTranspose{dims}d" if transposed else f"Conv{dims}d"

    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        _check_spatial_input(name, x, dims)
        resolve(p, "in_channels", x.shape[0], "channels (dimension 1)")
        for g_name in ("in_channels", "out_channels"):
            if p[g_name] % p["groups"]:
                raise BlockError(f"{g_name}={p[g_name]} must be divisible by groups={p['groups']}",
                                 fix=Fix("set groups to 1", "set_param", {"name": "groups", "value": 1}))
        word = p["padding"] if isinstance(p["padding"], str) else None  # torch's "same" or "valid"
        k, s, d = (as_tuple(p[n], dims, n) for n in ("kernel_size", "stride", "dilation"))
        pad = (0,) * dims if word else as_tuple(p["padding"], dims, "padding")
        if transposed:
            op = as_tuple(p["output_padding"], dims, "output_padding")
            if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
                raise BlockError(f"output_padding={p['output_padding']} must be smaller than stride or dilation")
            outs = [conv_transpose_out(n, *a) for n, a in zip(x.shape[1:], zip(k, s, pad, op, d))]
        elif word == "same":
            if any(si != 1 for si in s):
                raise BlockError("padding 'same' needs stride 1",
                                 fix=Fix("set stride to 1", "set_param", {"name": "stride", "value": 1}))
            outs = list(x.shape[1:])
        else:  # a number, or "valid" (none)
            outs = [conv_out(n, *a) for n, a in zip(x.shape[1:], zip(k, s, pad, d))]
        hint = "lower the kernel size or stride, or add padding"
        return TensorSpec((p["out_channels"], *spatial_out(name, x.shape[1:], outs, hint)))

    def count(p: Resolved, inputs: Inputs) -> int:
        k = prod(as_tuple(p["kernel_size"], dims, "kernel_size"))
        weights = p["in_channels"] * p["out_channels"] // p["groups"] * k
        return weights + (p["out_channels"] if p["bias"] else 0)

    def macs(p: Resolved, inputs: Inputs, out: TensorSpec) -> int:
        k = prod(as_tuple(p["kernel_size"], dims, "kernel_size"))
        per_output = p["in_channels"] // p["groups"] * k
        if transposed:  # each input position scatters into kernel-size outputs
            return single(inputs).numel * p["out_channels"] // p["groups"] * k
        return out.numel * per_output

    def emit(p: Resolved, inputs: Inputs):
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
        if transposed:
            defaults = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1}
        else:
            defaults["padding_mode"] = "zeros"
        kwargs = {"kernel_size": _literal(p["kernel_size"]), **kwargs_unless_default(p, defaults)}
        return module_emission(f"nn.{name}", (p["in_channels"], p["out_channels"]), kwargs)

    spatial = (8, 8) if dims == 2 else (12,)
    examples = (
        Example({"out_channels": 4, "kernel_size": 3, "padding": 1}, {"x": F((3, *spatial))}),
        Example({"out_channels": 6, "kernel_size": 2, "stride": 2, "groups": 3, "bias": False}, {"x": F((3, *spatial))}),
    )
    if not transposed:
        examples += (
            Example({"out_channels": 2, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
                    {"x": F((3, *spatial))}),
            Example({"out_channels": 2, "kernel_size": 3, "padding": "valid", "padding_mode": "circular"},
                    {"x": F((3, *spatial))}),
        )
    register(
        BlockSpec(
            type=name,
            category=Category.CONV,
            doc=(f"Learned {'upsampling ' if transposed else ''}{dims}-D convolution: slides filters over "
                 f"{'the sequence' if dims == 1 else 'the image'}, one output channel per filter."),
            params=_conv_params(transposed),
            infer=infer,
            emit=emit,
            count=count,
            macs=macs,
            examples=examples,
            torch_class=f"torch.nn.{name}",
            aliases=("convolution", "filter", "deconvolution" if transposed else "kernel"),
            old_spellings=None if transposed else _old_spellings,
        )
    )


def _literal(value):
    return tuple(value) if isinstance(value, list) else value


for _dims, _transposed in ((1, False), (2, False), (1, True), (2, True)):
    _make_conv(_dims, _transposed)


def _make_pool(kind: str, dims: int):
    name = f"{kind}Pool{dims}d"

    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        _check_spatial_input(name, x, dims)
        k = as_tuple(p["kernel_size"], dims, "kernel_size")
        s = as_tuple(p["stride"] if p["stride"] is not None else p["kernel_size"], dims, "stride")
        pad = as_tuple(p["padding"], dims, "padding")
        if any(pi * 2 > ki for pi, ki in zip(pad, k)):
            raise BlockError(f"{name} padding={p['padding']} must be at most half the kernel size {p['kernel_size']}",
                             fix=Fix("set padding to 0", "set_param", {"name": "padding", "value": 0}))
        outs = [conv_out(n, ki, si, pi, 1, p["ceil_mode"]) for n, ki, si, pi in zip(x.shape[1:], k, s, pad)]
        if p["ceil_mode"]:  # torch drops a last window that would start entirely in the right padding
            outs = [o - 1 if (o - 1) * si >= n + pi else o for o, n, si, pi in zip(outs, x.shape[1:], s, pad)]
        hint = f"use a smaller kernel (the input {x} is too small)"
        return TensorSpec((x.shape[0], *spatial_out(name, x.shape[1:], outs, hint)))

    def emit(p: Resolved, inputs: Inputs):
        kwargs = {"kernel_size": _literal(p["kernel_size"])}
        kwargs.update(kwargs_unless_default(p, {"stride": None, "padding": 0, "ceil_mode": False}))
        return module_emission(f"nn.{name}", (), kwargs)

    spatial = (8, 8) if dims == 2 else (12,)
    register(
        BlockSpec(
            type=name,
            category=Category.POOL,
            doc=f"{'Maximum' if kind == 'Max' else 'Average'} over each window: shrinks the "
                f"{'image' if dims == 2 else 'sequence'} and keeps the channels.",
            params=(
                IntOrTuple("kernel_size", 2, "Window size", lo=1, hi=1024, key=True),
                IntOrTuple("stride", None, "Step between windows (empty: the kernel size)", lo=1, hi=1024, optional=True),
                IntOrTuple("padding", 0, "Padding on each side (at most half the kernel)", lo=0, hi=512),
                Bool("ceil_mode", False, "Round the output size up instead of down"),
            ),
            infer=infer,
            emit=emit,
            macs=lambda p, i, o: 0,
            examples=(
                Example({"kernel_size": 2}, {"x": F((3, *spatial))}),
                Example({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, {"x": F((2, *spatial))}),
            ),
            torch_class=f"torch.nn.{name}",
            aliases=("pooling", "downsample", "subsample"),
        )
    )


for _kind in ("Max", "Avg"):
    for _dims in (1, 2):
        _make_pool(_kind, _dims)


def _make_adaptive(kind: str, dims: int):
    name = f"Adaptive{kind}Pool{dims}d"

    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        _check_spatial_input(name, x, dims)
        return TensorSpec((x.shape[0], *as_tuple(p["output_size"], dims, "output_size")))

    register(
        BlockSpec(
            type=name,
            category=Category.POOL,
            doc=f"{kind} pooling to a fixed output size whatever the input size (output_size 1 = global pooling).",
            params=(IntOrTuple("output_size", 1, "Size of the output per channel", lo=1, hi=4096, key=True),),
            infer=infer,
            emit=lambda p, i: module_emission(f"nn.{name}", (_literal(p["output_size"]),)),
            examples=(Example({"output_size": 1}, {"x": F((4, *((5, 6) if dims == 2 else (9,))))}),
                      Example({"output_size": 2}, {"x": F((3, *((8, 8) if dims == 2 else (8,))))})),
            torch_class=f"torch.nn.{name}",
            aliases=("global pooling", "gap"),
        )
    )


for _kind, _dims in (("Avg", 1), ("Avg", 2), ("Max", 1), ("Max", 2)):
    _make_adaptive(_kind, _dims)


def _upsample_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("Upsample", x)
    expect_rank("Upsample", x, (3, 4), "(N, C, L) or (N, C, H, W)")
    if p["mode"] == "bilinear" and x.rank != 4:
        raise BlockError("bilinear upsampling needs (N, C, H, W) {from}",
                         fix=Fix("use nearest", "set_param", {"name": "mode", "value": "nearest"}))
    if p["align_corners"] and p["mode"] != "bilinear":
        raise BlockError("align_corners applies to bilinear upsampling only",
                         fix=Fix("turn align_corners off", "set_param", {"name": "align_corners", "value": False}))
    return TensorSpec((x.shape[0], *(math.floor(n * p["scale_factor"]) for n in x.shape[1:])))


register(
    BlockSpec(
        type="Upsample",
        category=Category.POOL,
        doc="Enlarges the image or sequence by a scale factor (no learned weights).",
        params=(
            Float("scale_factor", 2.0, "How much larger each spatial size gets", lo=0.01, hi=64, key=True),
            Choice("mode", "nearest", ("nearest", "bilinear"), "How new values are filled in"),
            Bool("align_corners", False, "Bilinear only: the corner pixels of input and output line up "
                 "(torch's align_corners=True)"),
        ),
        infer=_upsample_infer,
        emit=lambda p, i: module_emission("nn.Upsample", (), {"scale_factor": p["scale_factor"], "mode": p["mode"],
                                                             **({"align_corners": True} if p["align_corners"] else {})}),
        examples=(Example({"scale_factor": 2.0}, {"x": F((3, 4, 4))}),
                  Example({"scale_factor": 2.0, "mode": "bilinear"}, {"x": F((2, 3, 5))}),
                  Example({"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}, {"x": F((2, 3, 5))})),
        torch_class="torch.nn.Upsample",
        aliases=("interpolate", "resize"),
    )
)
