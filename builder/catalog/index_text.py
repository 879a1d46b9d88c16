"""The text of an index (``:, 0``, ``..., :8``, ``:, [-1], :``) read into plain values, never run as code.

Python's own parser reads it; only whole numbers, slices of them, ``...``, ``None`` and lists of numbers are
accepted. Generated code writes the parsed value back (``codegen`` never sees the user's text).
"""

from __future__ import annotations

import ast
from typing import Any

from builder.catalog.oracle import ELLIPSIS, NEWAXIS, Slice


class IndexError_(ValueError):
    """The text is not an index; the message says which part."""


def parse_index(text: str) -> tuple[Any, ...]:
    if len(text) > 64:
        raise IndexError_("the index is longer than 64 characters")
    try:
        tree = ast.parse(f"x[{text}]", mode="eval")
    except SyntaxError:
        raise IndexError_(f"‘{text}’ is not an index such as ‘:, 0’ or ‘..., :8’") from None
    body = tree.body
    assert isinstance(body, ast.Subscript)
    items = body.slice.elts if isinstance(body.slice, ast.Tuple) else [body.slice]
    return tuple(_item(node, text) for node in items)


def _item(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return ELLIPSIS
    if isinstance(node, ast.Constant) and node.value is None:
        return NEWAXIS
    if isinstance(node, ast.Slice):
        return Slice(*(None if part is None else _number(part, text) for part in (node.lower, node.upper, node.step)))
    if isinstance(node, ast.List):
        if not node.elts:
            raise IndexError_(f"an empty list of positions in ‘{text}’")
        return tuple(_number(e, text) for e in node.elts)
    return _number(node, text)


def _number(node: ast.AST, text: str) -> int:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    raise IndexError_(f"‘{ast.unparse(node)}’ in ‘{text}’ is not a whole number, a slice, ‘...’, None "
                      "or a list of numbers")
