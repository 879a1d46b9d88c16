"""Uses of submodules → block definitions: which uses share one definition, and the parameters it needs.

Uses of one class (or plain containers) share a definition when their local graphs are the same but for
*optional* items: an item some uses lack, with one input that flows straight on where it is missing (ResNet's
``downsample`` shortcut). Such an item gets ``when: <flag>``. Settings that differ between uses become the
definition's parameters: equal columns of values share one parameter, a column that is a whole multiple of
another is a formula (``"$out_channels * 4"``). A setting that can't be a parameter (a None, a note) must be equal.

Uses of one class that can't share a definition (a layer of another type, a setting that can't be a parameter)
found definitions of their own; each such split is kept as a ``Split`` with the reason, for the import report.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from typing import Any

from builder.catalog import get_block, has_block
from builder.catalog.registry import Category
from builder.graph import PORT, BlockParam
from builder.params import Kind, Param
from importer.scopes import Item, LocalEdge, Use

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
_PARAMETRIC = (Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.CHOICE, Kind.INTS, Kind.INT_OR_TUPLE)


@dataclass
class Group:
    """Uses that become one definition."""

    key: str
    name: str
    members: list[Use]
    order: list[str]  # item ids of the union, in order
    items: dict[str, Item]  # a representative of each item
    edges: set[LocalEdge]
    ports: list[str]
    output: str
    params: list[BlockParam] = field(default_factory=list)
    inner: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> its params in the definition
    flags: dict[str, str] = field(default_factory=dict)  # optional item id -> the bool parameter deciding it
    values: dict[int, dict[str, Any]] = field(default_factory=dict)  # id(member) -> its parameter values
    done: bool = False

    @property
    def sequential(self) -> bool:
        """A plain chain of numbered layers in an nn.Sequential: written as one (keys 0, 1, 2 as the original's)."""
        first = self.members[0]
        body = [i for i in self.order if self.items[i].type != PORT]
        chain = {(self.ports[0] if self.ports else "", body[0] if body else "")} | set(zip(body, body[1:]))
        return (all(m.sequential for m in self.members) and len(self.ports) == 1 and not self.flags
                and body == [str(k) for k in range(len(body))] and {(s, t) for s, t, *_ in self.edges} == chain
                and first.output == body[-1] and all(_chains(self.items[i]) for i in body))

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.param.default for p in self.params}


@dataclass
class Split:
    """A use of a user's class that got a definition of its own, and why it couldn't share ``apart_from``'s."""

    use: Use
    group: Group
    apart_from: Group
    reason: str

    def note(self) -> str:
        return (f"‘{self.use.scope.path}’ ({self.use.name}) is its own block definition {self.group.name}, apart from "
                f"{self.apart_from.name}: {self.reason}")


@dataclass
class Pass:
    """One grouping of every use, given which containers are repeats of one block."""

    repeats: dict[str, tuple[Group, int]]  # scope path -> (group of its copies, count)
    groups: list[Group] = field(default_factory=list)
    group_of: dict[str, Group] = field(default_factory=dict)  # scope path -> its group
    splits: list[Split] = field(default_factory=list)  # uses of a class that one definition couldn't serve

    def item_type(self, item: Item) -> tuple[Any, ...]:
        if item.child is None:
            return (item.type,)
        path = item.child.scope.path
        if path in self.repeats:
            group, count = self.repeats[path]
            return ("repeat", id(group), count)
        return ("block", id(self.group_of[path]))

    def assign(self, use: Use, taken: set[str]) -> None:
        refused: list[tuple[Group, str]] = []
        for group in self.groups:
            if group.key != use.key:
                continue
            reason = self._merge(group, use)
            if not reason:
                self.group_of[use.scope.path] = group
                return
            refused.append((group, reason))
        name = unique_class(use.name, taken)
        group = Group(use.key, name, [use], [i.id for i in use.items], use.structure(), set(use.edges),
                      [i.id for i in use.items if i.type == PORT], use.output)
        self.groups.append(group)
        self.group_of[use.scope.path] = group
        if refused and use.key != "container":  # plain containers differ by nature; a class's copies are news
            self.splits.append(Split(use, group, *refused[0]))

    def _kind(self, item: Item) -> str:
        """What an item is, in words: ``a Conv2d``, ``block BasicConv2d2``, ``3 × block Layer``."""
        if item.child is None:
            return f"a {item.type}"
        path = item.child.scope.path
        if path in self.repeats:
            group, count = self.repeats[path]
            return f"{count} × block {group.name}"
        return f"block {self.group_of[path].name}"

    def _merge(self, group: Group, use: Use) -> str:
        """Add ``use`` to ``group``: '' when it joined, else why one definition can't serve both."""
        ports = [i.id for i in use.items if i.type == PORT]
        if ports != group.ports or use.output != group.output:
            return "it takes or returns other tensors"
        mine = use.structure()
        for item_id, item in mine.items():
            other = group.items.get(item_id)
            if other is None:
                continue
            if self.item_type(other) != self.item_type(item):
                return f"its ‘{item_id}’ is {self._kind(item)} where the other has {self._kind(other)}"
            if other.path != item.path:  # one class can't keep both module paths (state-dict keys)
                return f"its ‘{item_id}’ has the module path {item.path or item_id!r} where the other has " \
                       f"{other.path or item_id!r}"
            fixed = _fixed_difference(other, item)
            if fixed:
                return f"its ‘{item_id}’ has {fixed}, a setting that can't be a block parameter"
        if set(mine) <= set(group.items):  # the richer graph is the union; the other bypasses what it lacks
            items, edges = group.items, group.edges
        elif set(group.items) <= set(mine):
            items, edges = {**mine, **group.items}, use.edges
        else:
            return "each has layers the other lacks"
        members = [*group.members, use]
        if not all(_bypasses(edges, set(m.structure()), m.edges, group.ports, group.output) for m in members):
            return "its layers are connected differently"
        group.order = _merge_order(group.order, [i.id for i in use.items])
        group.items, group.edges, group.members = items, edges, members
        return ""


_NOT_IN_SEQUENTIAL = {"RNN", "LSTM", "GRU", "MultiheadAttention", "TransformerDecoderLayer", "Bilinear"}


def _chains(item: Item) -> bool:
    """A layer nn.Sequential can hold: a torch.nn module called on one tensor (or a block)."""
    if item.child is not None:
        return True
    block = get_block(item.type) if has_block(item.type) else None
    return block is not None and bool(block.torch_class) and item.type not in _NOT_IN_SEQUENTIAL


def _fixed_difference(a: Item, b: Item) -> str:
    """'' when the settings that can't become parameters agree, else the first that differs (``bias=None vs 0``)."""
    if a.child is not None or a.type == PORT:
        return ""
    block = get_block(a.type) if has_block(a.type) else None
    for key in sorted(set(a.params) | set(b.params)):
        va, vb = a.params.get(key, MISSING), b.params.get(key, MISSING)
        if va != vb and not _parametric(block, key, va, vb):
            return f"{key}={vb!r} where the other has {va!r}"
    return ""


def _parametric(block: Any, key: str, *values: Any) -> bool:
    if block is None or key not in block.param_names:
        return False
    if not _has_module(block.type):
        return False  # written into forward() or the tensor's value: uses that differ need definitions of their own
    spec = block.param(key)
    return spec.kind in _PARAMETRIC and not spec.inferred and all(v is not None for v in values)


@functools.cache
def _has_module(block_type: str) -> bool:
    """Whether the block is a module made in __init__ (its settings can be constructor arguments), not a line of
    forward() (Reshape, the tensor ops) or a tensor's value (Parameter, Buffer)."""
    block = get_block(block_type)
    if block.category in (Category.TENSOR_OPS, Category.TENSORS):
        return False
    try:
        return block.emit(block.defaults(), {}).init is not None
    except Exception:  # noqa: BLE001 — a block that needs its inputs to emit: as before, a module
        return True


def _bypasses(edges: set[LocalEdge], present: set[str], own: set[LocalEdge], ports: list[str], output: str) -> bool:
    """Whether the union's edges, with the items this use lacks bypassed, are exactly its own."""
    feeds: dict[str, list[str]] = {}
    for source, target, *_ in edges:
        feeds.setdefault(target, []).append(source)
    got: set[LocalEdge] = set()
    for source, target, port, source_port in edges:
        if target not in present:
            continue
        seen = 0
        while source not in present:
            if source in ports or source == output or len(feeds.get(source, [])) != 1 or seen > len(edges):
                return False
            source, seen = feeds[source][0], seen + 1
        got.add((source, target, port, source_port))
    return got == own


def _merge_order(base: list[str], other: list[str]) -> list[str]:
    order = list(base)
    for k, item_id in enumerate(other):
        if item_id in order:
            continue
        before = next((other[j] for j in range(k - 1, -1, -1) if other[j] in order), None)
        order.insert(order.index(before) + 1 if before is not None else 0, item_id)
    return order


def unique_class(wanted: str, taken: set[str]) -> str:
    base = re.sub(r"[^0-9A-Za-z_]", "", wanted).lstrip("_")[:40] or "Block"
    if not base[0].isupper():
        base = "Block" + base if not base[0].isalpha() else base[0].upper() + base[1:]
    name, k = base, 2
    while name in taken or has_block(name) or name in (PORT, "Input"):
        name = f"{base}{k}"
        k += 1
    taken.add(name)
    return name


# --- parameters --------------------------------------------------------------------------------------------


@dataclass
class _Column:
    name: str
    key: str  # the inner setting it started from: only the same setting shares it (stride with stride)
    spec: Param
    values: list[Any]  # per member; MISSING where the item is absent


def finalize(group: Group, run: Pass) -> None:
    """The definition's parameters, each inner setting as a literal or a reference, and each member's values."""
    if group.done:
        return
    group.done = True
    columns: list[_Column] = []
    names: set[str] = set()
    for item_id in group.order:
        item = group.items[item_id]
        if item.type == PORT:
            continue
        present = [m.structure().get(item_id) for m in group.members]
        group.inner[item_id] = {}
        for key, spec, values in _settings(item, present, run):
            defined = [v for v in values if v is not MISSING]
            if all(v == defined[0] for v in defined):
                if _explicit(item, present, key, defined[0], spec):
                    group.inner[item_id][key] = defined[0]
                continue
            group.inner[item_id][key] = _reference(columns, names, key, spec, values)
        if any(p is None for p in present):
            flag = _identifier(item_id, names)
            columns.append(_Column(flag, "", Param(flag, Kind.BOOL, True, doc=f"include {item_id}"),
                                   [p is not None for p in present]))
            group.flags[item_id] = flag
    group.params = [BlockParam(replace(c.spec, default=next(v for v in c.values if v is not MISSING)))
                    for c in columns]
    for k, member in enumerate(group.members):
        group.values[id(member)] = {c.name: c.values[k] if c.values[k] is not MISSING else p.param.default
                                    for c, p in zip(columns, group.params)}


def _settings(item: Item, present: list[Item | None], run: Pass) -> list[tuple[str, Param, list[Any]]]:
    """(key, spec, value per member) for every setting of an item."""
    if item.child is None:
        block = get_block(item.type) if has_block(item.type) else None
        keys = list(dict.fromkeys(k for p in present if p is not None for k in p.params))
        out = []
        for key in keys:
            spec = block.param(key) if block is not None and key in block.param_names else Param(key, Kind.TEXT, None)
            out.append((key, spec, [MISSING if p is None else p.params.get(key, spec.default) for p in present]))
        return out
    child = _child_group(item, run)
    finalize(child, run)
    return [(p.name, p.param, [MISSING if m is None else child.values[id(_first_copy(m, run))][p.name]
                               for m in present]) for p in child.params]


def _child_group(item: Item, run: Pass) -> Group:
    path = item.child.scope.path
    return run.repeats[path][0] if path in run.repeats else run.group_of[path]


def _first_copy(item: Item, run: Pass) -> Use:
    """The use whose values an instance item takes: the block itself, or a repeat's first copy."""
    use = item.child
    if use.scope.path in run.repeats:
        return use.item("0").child
    return use


def _explicit(item: Item, present: list[Item | None], key: str, value: Any, spec: Param) -> bool:
    if item.child is None:
        return any(p is not None and key in p.params for p in present)
    return value != spec.default


def _reference(columns: list[_Column], names: set[str], key: str, spec: Param, values: list[Any]) -> str:
    """``$name`` of a column these values fit (filling its gaps), ``$name * k``, or a new column."""
    for column in columns:
        if column.key == key and column.spec.kind == spec.kind and _fits(column.values, values):
            column.values = [v if v is not MISSING else c for c, v in zip(column.values, values)]
            return f"${column.name}"
    if spec.kind is Kind.INT:
        for column in (c for c in columns if c.key == key):
            factor = _factor(column, values)
            if factor is not None:
                return f"${column.name} * {factor}"
    name = _identifier(key, names)
    columns.append(_Column(name, key, replace(spec, name=name, inferred=False, optional=False, key=False), list(values)))
    return f"${name}"


def _fits(a: list[Any], b: list[Any]) -> bool:
    return all(x is MISSING or y is MISSING or x == y for x, y in zip(a, b))


def _factor(column: _Column, values: list[Any]) -> int | None:
    if column.spec.kind is not Kind.INT:
        return None
    pairs = [(c, v) for c, v in zip(column.values, values) if v is not MISSING]
    if not pairs or any(c is MISSING or not c for c, _ in pairs) or pairs[0][1] % pairs[0][0]:
        return None
    factor = pairs[0][1] // pairs[0][0]
    return factor if factor >= 2 and all(v == c * factor for c, v in pairs) else None


def _identifier(text: str, names: set[str]) -> str:
    base = re.sub(r"\W", "_", text).strip("_") or "p"
    base = f"has_{base}" if base[0].isdigit() else base
    name, k = base, 2
    while name in names:
        name = f"{base}{k}"
        k += 1
    names.add(name)
    return name
