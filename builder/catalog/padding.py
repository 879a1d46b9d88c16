"""Padding layers: zeros, a constant, a mirror (reflection), the edge value (replication) or wrap-around (circular).

torch orders the amounts from the last dimension backwards: (left, right) for a sequence, (left, right, top,
bottom) for an image. One int pads every side by the same amount.
"""

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
from builder.catalog.rules import LAYOUTS, expect_float, expect_rank, module_emission, single
from builder.params import Float, IntOrTuple

F = TensorSpec
MAX_PAD = 4096
_KINDS = {
    "Zero": "Adds zeros around the {what}.",
    "Constant": "Adds a constant value around the {what}.",
    "Reflection": "Pads the {what} with its mirror image (the edge itself not repeated): no artificial borders.",
    "Replication": "Pads the {what} by repeating its edge values.",
    "Circular": "Pads the {what} by wrapping around: the left edge continues from the right one.",
}


def amounts(value: int | list[int], dims: int) -> tuple[int, ...]:
    """(left, right) or (left, right, top, bottom) from an int or a list, as torch reads them."""
    if isinstance(value, int):
        return (value,) * (2 * dims)
    if len(value) != 2 * dims:
        raise BlockError(f"padding={list(value)} must have {2 * dims} entries "
                         f"({'left, right' if dims == 1 else 'left, right, top, bottom'}) or be one number",
                         fix=Fix("pad 1 on every side", "set_param", {"name": "padding", "value": 1}))
    return tuple(value)


def _limit(kind: str, name: str, sizes: tuple[int, ...], pads: tuple[int, ...]) -> None:
    """Reflection needs less padding than the size; circular at most the size (torch's own limits)."""
    for size, (before, after) in zip(reversed(sizes), zip(pads[0::2], pads[1::2])):
        too_far = max(before, after) >= size if kind == "Reflection" else max(before, after) > size
        if kind in ("Reflection", "Circular") and too_far:
            bound = "smaller than" if kind == "Reflection" else "at most"
            raise BlockError(f"{name} padding {max(before, after)} must be {bound} the size {size} it mirrors "
                             "{from}", fix=Fix("pad 1 on every side", "set_param", {"name": "padding", "value": 1}))


def _make(kind: str, dims: int) -> None:
    name = f"{kind}Pad{dims}d"

    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = single(inputs)
        expect_float(name, x)
        expect_rank(name, x, (dims + 2,), LAYOUTS[dims])
        pads = amounts(p["padding"], dims)
        _limit(kind, name, x.shape[1:], pads)
        grown = [size + pads[2 * k] + pads[2 * k + 1] for k, size in enumerate(reversed(x.shape[1:]))]
        return TensorSpec((x.shape[0], *reversed(grown)))

    def emit(p: Resolved, inputs: Inputs):
        padding = p["padding"] if isinstance(p["padding"], int) else tuple(p["padding"])
        if kind == "Constant":
            return module_emission(f"nn.{name}", (padding, p["value"]))
        return module_emission(f"nn.{name}", (padding,))

    params = [IntOrTuple("padding", 1, "Amount on each side: one number, or left, right"
                         + (", top, bottom" if dims == 2 else ""), lo=0, hi=MAX_PAD, max_len=2 * dims, key=True)]
    if kind == "Constant":
        params.append(Float("value", 0.0, "The value added around the input", lo=-1e6, hi=1e6, key=True))
    spatial = (5, 6) if dims == 2 else (7,)
    uneven = [1, 2, 0, 3] if dims == 2 else [2, 1]
    register(BlockSpec(
        type=name,
        category=Category.CONV,
        doc=_KINDS[kind].format(what="image" if dims == 2 else "sequence"),
        params=tuple(params),
        infer=infer,
        emit=emit,
        examples=(Example({"padding": 2} | ({"value": 0.5} if kind == "Constant" else {}), {"x": F((3, *spatial))}),
                  Example({"padding": uneven}, {"x": F((2, *spatial))})),
        torch_class=f"torch.nn.{name}",
        aliases=("padding", "border"),
    ))


for _kind in _KINDS:
    for _dims in (1, 2):
        _make(_kind, _dims)
