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
import itertools
import keyword
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import torch
from torch import fx

MAX_LINE = 500  # characters: a line longer than this (an ONNX file's text is anyone's) names nothing


@lru_cache(maxsize=2048)  # every node of one line asks: parse each line once
def assigned_names(line: str) -> tuple[str, ...]:
    """The names a one-line assignment binds, in order: ``('x',)`` for ``x = f(x)`` or ``x += y``,
    ``('q', 'k', 'v')`` for ``q, k, v = t.split(…)``, with ``''`` for ``_``; ``()`` for anything else."""
    if len(line) > MAX_LINE:
        return ()
    try:
        tree = ast.parse(line.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # part of a statement, or not code at all
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


def names_for(line: str, outputs: int) -> list[str]:
    """The names ``line`` gives a value of ``outputs`` outputs: one for one output assigned to one name, one per
    output for as many names unpacked (``q, k, v = ….split(…)``); [] where the line doesn't name it."""
    names = assigned_names(line) if line else ()
    if outputs == len(names) == 1 and names[0]:
        return [names[0]]
    return list(names) if outputs == len(names) > 1 and any(names) else []


def value_names(line: str, value: Any) -> list[str]:
    """The names for a node whose traced ``value`` (a tensor, or a tuple of them) was assigned on ``line``."""
    if isinstance(value, torch.Tensor):
        return names_for(line, 1)
    return names_for(line, len(value)) if isinstance(value, (tuple, list)) and len(value) > 1 else []


def names_per_item(nodes: Iterable[fx.Node], values: Mapping[fx.Node, Any]) -> dict[fx.Node, str]:
    """Names for values a line makes one per item it unpacks (vit-pytorch's
    ``q, k, v = map(lambda t: rearrange(t, …), qkv)``): in a run of consecutive nodes traced on one line whose
    assignment has n names, where exactly n tensors result and nothing is a tuple, the tensors take the names in
    order; a tensor read again within the run (the item map() took from ``qkv``) is no result of the line.
    Anything else (``q, k, v = x.split(…)``: a tuple, read by ``value_names``) names nothing here."""
    named: dict[fx.Node, str] = {}
    for where, run in itertools.groupby(nodes, key=lambda n: n.meta.get("where")):
        targets = assigned_names(where[1]) if where else ()
        if len(targets) < 2:
            continue
        made = [n for n in run if n.op in ("call_module", "call_function", "call_method")]
        if any(isinstance(values.get(n), (tuple, list)) for n in made):
            continue
        inside = set(made)
        tensors = [n for n in made if isinstance(values.get(n), torch.Tensor) and not inside & set(n.users)]
        if len(tensors) == len(targets):
            named.update((n, name) for n, name in zip(tensors, targets) if name)
    return named
