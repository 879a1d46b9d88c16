"""References from a definition's inner parameters to the definition's own parameters: ``"$planes * 4"``.

A reference is a tiny arithmetic expression over parameter names: numbers, names, ``+ - * //``, unary minus and
parentheses — nothing else parses. The same parsed tree is evaluated here (for validation) and written into the
generated class (for codegen), so both read one definition.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PREFIX = "$"
MAX_LENGTH = 80

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


class RefError(ValueError):
    """A reference that doesn't parse or names something that isn't a parameter."""


@dataclass(frozen=True)
class Ref:
    text: str  # without the "$"
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return _evaluate(self.tree, values)

    def python(self) -> str:
        """The expression as Python source (names are the generated class's constructor arguments)."""
        return ast.unparse(self.tree)


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


@lru_cache(maxsize=4096)
def parse_ref(value: str) -> Ref:
    """Parse ``"$expr"``; raises RefError naming what is not allowed."""
    text = value[len(PREFIX):].strip()
    if not text or len(text) > MAX_LENGTH:
        raise RefError(f"{value!r} is not a parameter reference: write $name or a short formula such as $planes * 4")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise RefError(f"{value!r} does not parse: write $name or a formula with + - * // and numbers") from None
    names = _check(tree, value)
    return Ref(text, tree, frozenset(names))


def _check(tree: ast.AST, value: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise RefError(f"{value!r}: only numbers and parameter names may appear in a formula")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise RefError(f"{value!r}: a formula may use + - * // only")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub):
                raise RefError(f"{value!r}: a formula may use + - * // only")
        elif not isinstance(node, (ast.Load, ast.operator, ast.unaryop)):
            raise RefError(f"{value!r}: a formula may use parameter names, numbers and + - * // only")
    return names


def _evaluate(tree: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Name):
        return values[tree.id]
    if isinstance(tree, ast.UnaryOp):
        return -_evaluate(tree.operand, values)
    if isinstance(tree, ast.BinOp):
        left, right = _evaluate(tree.left, values), _evaluate(tree.right, values)
        if isinstance(tree.op, ast.FloorDiv) and right == 0:
            raise RefError("a formula divides by zero")
        return _BINARY[type(tree.op)](left, right)
    raise RefError(f"unexpected {type(tree).__name__} in a formula")  # _check refused it already


def resolve_params(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every reference replaced by its value under ``values`` (the definition's parameters)."""
    return {name: parse_ref(v).evaluate(values) if is_ref(v) else v for name, v in params.items()}
