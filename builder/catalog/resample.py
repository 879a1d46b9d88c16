"""Blocks that move values between channels and positions: pixel (un)shuffle, channel shuffle, fold/unfold."""

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
from builder.catalog.rules import LAYOUTS, as_tuple, conv_out, expect_rank, module_emission, prod, single
from builder.params import Int, IntOrTuple

F = TensorSpec


def _image(block: str, x: TensorSpec) -> None:
    expect_rank(block, x, (4,), LAYOUTS[2])


def _pixel_shuffle(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    _image("PixelShuffle", x)
    r = p["upscale_factor"]
    if x.shape[0] % (r * r):
        raise BlockError(f"PixelShuffle upscale_factor={r} needs channels divisible by {r * r}; it receives {x} {{from}}")
    return TensorSpec((x.shape[0] // (r * r), x.shape[1] * r, x.shape[2] * r), x.dtype)


def _pixel_unshuffle(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    _image("PixelUnshuffle", x)
    r = p["downscale_factor"]
    if x.shape[1] % r or x.shape[2] % r:
        raise BlockError(f"PixelUnshuffle downscale_factor={r} needs a height and width divisible by {r}; "
                         f"it receives {x} {{from}}")
    return TensorSpec((x.shape[0] * r * r, x.shape[1] // r, x.shape[2] // r), x.dtype)


def _channel_shuffle(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_rank("ChannelShuffle", x, (3, 4), "(N, C, L) or (N, C, H, W)")
    if x.shape[0] % p["groups"]:
        divisors = [g for g in range(p["groups"], 0, -1) if x.shape[0] % g == 0]
        raise BlockError(f"ChannelShuffle groups={p['groups']} must divide the {x.shape[0]} channels {{from}}",
                         fix=Fix(f"set groups to {divisors[0]}", "set_param", {"name": "groups", "value": divisors[0]}))
    return x


_FACTOR = dict(lo=1, hi=64, key=True)
for _name, _param, _infer, _doc in (
    ("PixelShuffle", Int("upscale_factor", 2, "Each r² channels become an r×r patch", **_FACTOR), _pixel_shuffle,
     "Rearranges (N, C·r², H, W) into (N, C, H·r, W·r): sub-pixel upsampling for super-resolution."),
    ("PixelUnshuffle", Int("downscale_factor", 2, "Each r×r patch becomes r² channels", **_FACTOR), _pixel_unshuffle,
     "Rearranges (N, C, H·r, W·r) into (N, C·r², H, W): the inverse of PixelShuffle."),
    ("ChannelShuffle", Int("groups", 2, "Number of channel groups to interleave", lo=1, hi=100_000, key=True),
     _channel_shuffle, "Interleaves the channels of its groups so grouped convolutions mix information (ShuffleNet)."),
):
    register(BlockSpec(
        type=_name,
        category=Category.CONV,
        doc=_doc,
        params=(_param,),
        infer=_infer,
        emit=lambda p, i, name=_name, param=_param.name: module_emission(f"nn.{name}", (p[param],)),
        examples=(Example({}, {"x": F((8, 4, 6))}), Example({_param.name: 3}, {"x": F((9, 6, 6))})),
        torch_class=f"torch.nn.{_name}",
        aliases=("sub-pixel", "depth to space") if _name.startswith("Pixel") else ("shuffle", "shufflenet"),
    ))


# --- Fold / Unfold ----------------------------------------------------------------------------------------

_WINDOW = (
    IntOrTuple("kernel_size", 2, "Patch size", lo=1, hi=1024, max_len=2, key=True),
    IntOrTuple("dilation", 1, "Spacing between patch taps", lo=1, hi=1024, max_len=2),
    IntOrTuple("padding", 0, "Zeros added on each side", lo=0, hi=1024, max_len=2),
    IntOrTuple("stride", 1, "Step between patches", lo=1, hi=1024, max_len=2),
)
_WINDOW_DEFAULTS = {"dilation": 1, "padding": 0, "stride": 1}


def _blocks_per_dim(p: Resolved, size: tuple[int, ...]) -> list[int]:
    k, d, pad, s = (as_tuple(p[n], 2, n) for n in ("kernel_size", "dilation", "padding", "stride"))
    return [conv_out(n, ki, si, pi, di) for n, ki, si, pi, di in zip(size, k, s, pad, d)]


def _window_kwargs(p: Resolved) -> dict:
    kwargs = {"kernel_size": _literal(p["kernel_size"])}
    kwargs.update({n: _literal(p[n]) for n, default in _WINDOW_DEFAULTS.items() if p[n] != default})
    return kwargs


def _literal(value):
    return tuple(value) if isinstance(value, list) else value


def _unfold_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    _image("Unfold", x)
    blocks = _blocks_per_dim(p, x.shape[1:])
    if any(b < 1 for b in blocks):
        raise BlockError(f"Unfold's patches {p['kernel_size']} do not fit in {x} {{from}}; use a smaller kernel_size")
    return TensorSpec((x.shape[0] * prod(as_tuple(p["kernel_size"], 2, "kernel_size")), prod(blocks)), x.dtype)


def _fold_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_rank("Fold", x, (3,), "(N, C·k·k, L) patches, as Unfold gives")
    size = as_tuple(p["output_size"], 2, "output_size")
    window = prod(as_tuple(p["kernel_size"], 2, "kernel_size"))
    blocks = _blocks_per_dim(p, size)
    if x.shape[0] % window or prod(blocks) != x.shape[1]:
        raise BlockError(f"Fold to {size} with kernel {p['kernel_size']} needs (N, C·{window}, {prod(blocks)}) patches "
                         f"but receives {x} {{from}}")
    return TensorSpec((x.shape[0] // window, *size), x.dtype)


register(BlockSpec(
    type="Unfold",
    category=Category.CONV,
    doc="Cuts every sliding patch out of an image: (N, C, H, W) → (N, C·k·k, number of patches).",
    params=_WINDOW,
    infer=_unfold_infer,
    emit=lambda p, i: module_emission("nn.Unfold", (), _window_kwargs(p)),
    examples=(Example({}, {"x": F((3, 4, 4))}), Example({"kernel_size": 3, "padding": 1, "stride": 2}, {"x": F((2, 5, 6))})),
    torch_class="torch.nn.Unfold",
    aliases=("im2col", "patches"),
))

register(BlockSpec(
    type="Fold",
    category=Category.CONV,
    doc="Sums patches back into an image (N, C·k·k, L) → (N, C, H, W): the inverse of Unfold.",
    params=(IntOrTuple("output_size", 4, "Height and width of the image to rebuild", lo=1, hi=100_000, max_len=2,
                       key=True), *_WINDOW),
    infer=_fold_infer,
    emit=lambda p, i: module_emission("nn.Fold", (), {"output_size": _literal(p["output_size"]), **_window_kwargs(p)}),
    examples=(Example({"output_size": 4, "kernel_size": 2}, {"x": F((12, 9))}),
              Example({"output_size": [4, 6], "kernel_size": 2, "stride": 2}, {"x": F((8, 6))})),
    torch_class="torch.nn.Fold",
    aliases=("col2im", "patches"),
))
