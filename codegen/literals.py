"""Values written into generated code: only validated literals, through ``repr()``, and catalog constructor calls."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from builder.catalog import Call

_FUNC = re.compile(r"^(nn\.)?[A-Z][A-Za-z0-9]*$")
_ONE_LINE = 16  # a tuple longer than this is written _PER_ROW numbers to a line (a hand-drawn design has none)
_PER_ROW = 8
_INDENT = " " * 8  # where __init__'s statements start: every generated class's __init__ is a method
_TENSOR_FUNC = re.compile(r"^(torch|nn\.init)\.[a-z][a-z_]*$")  # inside a Call: nn.Parameter(torch.zeros(1, 64))


def render_call(call: Call, nested: bool = False) -> str:
    """``nn.Conv2d(1, 16, kernel_size=3)``: the callee comes from the catalog, every value through literal() or,
    for a Parameter's value, a nested call of a torch factory (``torch.zeros(1, 1, 64)``)."""
    if not (_FUNC.match(call.func) or (nested and _TENSOR_FUNC.match(call.func))):
        raise ValueError(f"unexpected callee {call.func!r}")
    args = [render_call(a, nested=True) if isinstance(a, Call) else literal(a) for a in call.args]
    for key, value in call.kwargs.items():
        if not key.isidentifier():
            raise ValueError(f"unexpected keyword {key!r}")
        args.append(f"{key}={literal(value)}")
    return f"{call.func}({', '.join(args)})"


def literal(value: Any) -> str:
    """repr() of a validated literal: only None, bool, int, finite float, short str and tuples of them."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"non-finite number {value!r}")
        return repr(value)
    if isinstance(value, str) and len(value) <= 64:
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [literal(v) for v in value]
        if len(items) > _ONE_LINE:  # a Buffer's values: rows of numbers under the line that holds them
            rows = [", ".join(items[k:k + _PER_ROW]) for k in range(0, len(items), _PER_ROW)]
            return "(\n" + "".join(f"{_INDENT}    {row},\n" for row in rows) + f"{_INDENT})"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise ValueError(f"unsupported literal {type(value).__name__}")


@cache
def module_attributes() -> frozenset[str]:
    """Names nn.Module already uses (train, eval, to, ...): a layer may not shadow them."""
    from torch import nn  # torch only when code is generated: the CLI's --help stays instant

    return frozenset(dir(nn.Module()))
