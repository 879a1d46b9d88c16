"""The names a model's own code gives its values, read from the traced line.

torch.fx keeps the operations but not the local variables: ``q, k, v = self.c_attn(x).split(n, dim=2)`` comes out
as ``split``, ``getitem``, ``getitem_1``, ``getitem_2``. Each traced node keeps its source line
(``importer.trace``), so the names are read back from that line's assignment and kept on the design node
(``meta.value_names``); the generated forward then reads ``q``, ``k`` and ``v`` as the original does
(``codegen.forward``). Only a statement on one line with plain names as targets is read: anything else (a return, an
attribute or item target, a statement over several lines) names nothing, and codegen names the value as before.
"""

from __future__ import annotations

import ast
import keyword
from functools import lru_cache
from typing import Any

import torch


@lru_cache(maxsize=2048)  # every node of one line asks: parse each line once
def assigned_names(line: str) -> tuple[str, ...]:
    """The names a one-line assignment binds, in order: ``('x',)`` for ``x = f(x)`` or ``x += y``,
    ``('q', 'k', 'v')`` for ``q, k, v = t.split(…)``, with ``''`` for ``_``; ``()`` for anything else."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:  # part of a statement over several lines, or not code at all
        return ()
    if len(tree.body) != 1:
        return ()
    statement = tree.body[0]
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        target = statement.target
    else:
        return ()
    items = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
    if not items or not all(isinstance(item, ast.Name) for item in items):
        return ()
    return tuple("" if item.id == "_" or keyword.iskeyword(item.id) else item.id for item in items)


def value_names(line: str, value: Any) -> list[str]:
    """The names for a node whose traced ``value`` was assigned on ``line``: one for a tensor assigned to one
    name, one per item for a tuple unpacked into as many names; [] where the line doesn't name it."""
    names = assigned_names(line) if line else ()
    if isinstance(value, torch.Tensor) and len(names) == 1 and names[0]:
        return [names[0]]
    if isinstance(value, (tuple, list)) and len(names) == len(value) > 1 and any(names):
        return list(names)
    return []
