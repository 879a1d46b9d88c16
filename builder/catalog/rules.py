"""Shape-rule helpers shared by catalog entries: closed-form arithmetic, checks and the messages they raise.

Closed-form rules are ~40x faster than running layers on meta tensors (see shared notes); the registry
tests compare every rule against the real torch module, so speed costs no fidelity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from builder.catalog.registry import BlockError, Call, Emission, Fix, Inputs, Resolved, TensorSpec

LAYOUTS = {0: "(N, F)", 1: "(N, C, L)", 2: "(N, C, H, W)"}  # by number of spatial dims


def single(inputs: Inputs, port: str = "x") -> TensorSpec:
    return inputs[port]


def expect_rank(block: str, spec: TensorSpec, ranks: Sequence[int], layout: str, fix: Fix | None = None) -> None:
    """Raise the standard 'X expects (N, C, H, W); it receives (N, 784) {from}' error if the rank is wrong."""
    if len(spec.shape) + 1 not in ranks:
        raise BlockError(f"{block} expects {layout}; it receives {spec} {{from}}", fix=fix, port="x")


def expect_float(block: str, spec: TensorSpec) -> None:
    if spec.dtype != "float":
        raise BlockError(
            f"{block} needs float values but receives token ids {{from}}; token ids go into an Embedding first",
            fix=Fix("insert Embedding", "insert_before", {"type": "Embedding", "params": {}}),
            port="x",
        )


def resolve(p: Resolved, name: str, actual: int, what: str) -> None:
    """Fill an inferred size, or complain when the user's value contradicts the input."""
    given = p.get(name)
    if given is None:
        p[name] = actual
    elif given != actual:
        raise BlockError(
            f"{name}={given} but the input has {actual} {what} {{from}}; leave {name} empty to infer it",
            fix=Fix(f"infer {name} ({actual})", "set_param", {"name": name, "value": None}),
            port="x",
        )


def as_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise BlockError(f"{name}={list(value)} must have {n} entries (one per spatial dimension)")
    return tuple(value)


def conv_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    return (math.ceil(num / s) if ceil else num // s) + 1


def conv_transpose_out(size: int, k: int, s: int, p: int, op: int, d: int = 1) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def spatial_out(block: str, sizes: Sequence[int], outs: Sequence[int], hint: str) -> tuple[int, ...]:
    if any(o < 1 for o in outs):
        raise BlockError(
            f"{block} would shrink the spatial size {tuple(sizes)} to {tuple(outs)}; {hint} {{from}}",
            fix=Fix("set padding to 1", "set_param", {"name": "padding", "value": 1}),
        )
    return tuple(outs)


def prod(values: Sequence[int]) -> int:
    n = 1
    for v in values:
        n *= v
    return n


def kwargs_unless_default(p: Resolved, torch_defaults: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments whose value differs from torch's default, so generated calls stay short."""
    out: dict[str, Any] = {}
    for name, default in torch_defaults.items():
        value = p.get(name)
        if isinstance(value, list):
            value = tuple(value)
        if value != default:
            out[name] = value
    return out


def module_emission(func: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Emission:
    """The common case: a torch module applied to one input."""
    return Emission(Call(func, args, kwargs or {}), "{out} = {mod}({x})")


def inline(forward: str) -> Emission:
    """A block written as an expression in forward, with no module (Add, Reshape, LastTimeStep)."""
    return Emission(None, forward)


def same_shape(p: Resolved, inputs: Inputs) -> TensorSpec:
    return single(inputs)
