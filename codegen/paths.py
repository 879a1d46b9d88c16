"""Layers kept at the module paths an imported model gave them (a node's ``meta.module_path``), as a person writes
PyTorch: ``self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(…), …))`` read as ``self.transformer.wte(idx)``,
``self.layers = nn.ModuleList([nn.ModuleList([…]), …])`` read as ``self.layers[0][1](x)``, and a name that is no
identifier added by name, ``self.add_module("block1-0", …)`` read as ``self.get_submodule("block1-0")``. So the
original's state dict loads by its own keys.

Every name reaches the source as an identifier that is its own text or through repr(). A path that can't be kept
(its first name is taken in the class, a name the container has already, a layer that is also a container) leaves
its nodes to the attribute their ids make, as for any drawn design.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from builder.graph import module_path_problem
from codegen.naming import Namespace

if TYPE_CHECKING:
    from codegen.scope import ScopeNode  # forward writes with this module's spots

INDENT = "    "
WIDTH = 100  # a container that fits on one line is written on one


@dataclass
class Spot:
    """Where one node's module lives: its path below the class, the expression that reads it, and the lines that
    construct its container (on the first node of that container only)."""

    path: str
    access: str
    init: list[str] = field(default_factory=list)


Tree = dict[str, "Tree | str"]  # name -> a nested container, or a leaf: the node id


def keeps_path(node: ScopeNode) -> bool:
    """A module attribute with a valid path of its own (Parameters, buffers and optional layers keep their ids)."""
    return (bool(node.path) and node.init is not None and not node.buffer and node.forward != "{mod}"
            and not node.optional and module_path_problem(node.path) is None)


class PathPlacer:
    """Places each path-keeping node of one class, a whole container at a time (on its first node)."""

    def __init__(self, nodes: list[ScopeNode], attrs: Namespace) -> None:
        self.nodes = [n for n in nodes if keeps_path(n)]
        self.attrs = attrs
        self.spots: dict[str, Spot] = {}
        self.refused: set[str] = set()  # roots that couldn't be kept

    def spot(self, node: ScopeNode) -> Spot | None:
        if node.id in self.spots:
            return self.spots[node.id]
        if not keeps_path(node):
            return None
        root = node.path.split(".")[0]
        if root in self.refused:
            return None
        members = [n for n in self.nodes if n.path.split(".")[0] == root]
        placed = _place(root, members, self.attrs)
        if placed is None:
            self.refused.add(root)
            return None
        self.spots.update(placed)
        return self.spots[node.id]


def _place(root: str, members: list[ScopeNode], attrs: Namespace) -> dict[str, Spot] | None:
    """Every member's spot below ``root``, the first one carrying the lines; None when the tree can't be built."""
    tree = _tree(members)
    if tree is None or attrs.taken(root) or root.startswith("__"):
        return None
    top = tree[root]
    init = {n.id: n.init or "" for n in members}
    if isinstance(top, dict) and not _buildable(top):
        return None
    attrs.reserve(root)
    named = root.isidentifier() and not keyword.iskeyword(root)
    access = f"self.{root}" if named else f"self.get_submodule({root!r})"  # the source has no getattr
    if isinstance(top, str):
        lines = [f"self.{root} = {init[top]}" if named else f"self.add_module({root!r}, {init[top]})"]
    else:
        head, tail = (f"self.{root} = ", "") if named else (f"self.add_module({root!r}, ", ")")
        lines = _lines(top, init, head, tail, "")
    spots = {node_id: Spot(path, read) for node_id, path, read in _leaves(tree[root], root, access)}
    spots[members[0].id].init = lines
    return spots


def _tree(members: list[ScopeNode]) -> Tree | None:
    """The paths as nested names; None when two nodes share one or a layer is also a container."""
    tree: Tree = {}
    for node in members:
        *inner, last = node.path.split(".")
        level: Tree | str = tree
        for name in inner:
            assert isinstance(level, dict)
            level = level.setdefault(name, {})
            if isinstance(level, str):
                return None
        assert isinstance(level, dict)
        if last in level:
            return None
        level[last] = node.id
    return tree


def _is_list(tree: Tree) -> bool:
    return list(tree) == [str(k) for k in range(len(tree))]


@cache
def _dict_attributes() -> frozenset[str]:
    """Names nn.ModuleDict already has (keys, items, train, …): no key of one, and not read as ``.name``."""
    from torch import nn  # torch only when code is generated

    return frozenset(dir(nn.ModuleDict()))


def _buildable(tree: Tree) -> bool:
    """nn.ModuleList or nn.ModuleDict can hold every name (add_module refuses an attribute's name)."""
    if not _is_list(tree) and any(name in _dict_attributes() for name in tree):
        return False
    return all(_buildable(child) for child in tree.values() if isinstance(child, dict))


def _kwarg(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _parts(tree: Tree) -> tuple[str, str, list[tuple[str, Tree | str]]]:
    """(opening, closing, [(what precedes each entry, entry)]) of the container holding ``tree``."""
    if _is_list(tree):
        return "nn.ModuleList([", "])", [("", child) for child in tree.values()]
    if all(_kwarg(name) for name in tree):  # nanoGPT's nn.ModuleDict(dict(wte=…, wpe=…))
        return "nn.ModuleDict(dict(", "))", [(f"{name}=", child) for name, child in tree.items()]
    return "nn.ModuleDict({", "})", [(f"{name!r}: ", child) for name, child in tree.items()]


def _inline(tree: Tree, init: dict[str, str]) -> str:
    opening, closing, entries = _parts(tree)
    inner = [lead + (init[child] if isinstance(child, str) else _inline(child, init)) for lead, child in entries]
    return opening + ", ".join(inner) + closing


def _lines(tree: Tree, init: dict[str, str], head: str, tail: str, indent: str) -> list[str]:
    """``head`` + the container + ``tail``: on one line when it fits, else one entry a line."""
    one = f"{indent}{head}{_inline(tree, init)}{tail}"
    if len(one) <= WIDTH:
        return [one]
    opening, closing, entries = _parts(tree)
    lines = [f"{indent}{head}{opening}"]
    for lead, child in entries:
        if isinstance(child, str):
            lines.append(f"{indent}{INDENT}{lead}{init[child]},")
        else:
            lines += _lines(child, init, lead, ",", indent + INDENT)
    return [*lines, f"{indent}{closing}{tail}"]


def _leaves(entry: Tree | str, path: str, access: str) -> list[tuple[str, str, str]]:
    """(node id, module path, expression reading it) of every layer below ``entry``."""
    if isinstance(entry, str):
        return [(entry, path, access)]
    found = []
    listed = _is_list(entry)
    for name, child in entry.items():
        if listed:
            read = f"{access}[{name}]"
        elif _kwarg(name) and name not in _dict_attributes():
            read = f"{access}.{name}"
        else:
            read = f"{access}[{name!r}]"
        found += _leaves(child, f"{path}.{name}", read)
    return found
