"""A flat import → a design with blocks made of blocks, keyed like the original module.

Each block-shaped submodule becomes an instance of a definition (one per class and structure, see
``grouping``); a container of identical blocks chained one after another (``layer2 = nn.Sequential(block, block)``)
becomes one instance with ``repeat: N``, the first copy differing through ``first_only`` parameters (ResNet's
strided first block with its downsample). Node ids are attribute names, so an expanded node's path —
``layer2.0.downsample.0`` — is the original's module path and the generated module loads the original's state dict.
Where an id can't be the path (a layer of an inlined nn.ModuleDict or nn.ModuleList, a name that is no identifier),
the node keeps the path in ``meta.module_path`` and the generated code builds the containers (``codegen.paths``).

Repeats and definitions depend on each other (a stage that is a repeat is no longer a use of its container's
class), so grouping runs again with the repeats it found until they stop changing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from builder.graph import MODULE_PATH, PORT, BlockParam, Container, Definition, Edge, Graph, Node
from importer.grouping import Group, Pass, finalize
from importer.pieces import unpack_crossing_pieces
from importer.scopes import Builder, Item, LocalEdge, Use, mark_inline, scope_tree
from importer.translate import Context

MAX_PASSES = 4


@dataclass
class Hierarchy:
    graph: Graph
    flat_ids: dict[str, str]  # expanded node id -> the flat import's node id
    notes: list[str]  # uses of one class that became separate definitions, and why


def build_hierarchy(flat: Graph, ctx: Context) -> Hierarchy:
    """The design of ``flat`` with the module tree as blocks; the flat design itself when there is no tree."""
    flat = unpack_crossing_pieces(flat, ctx)  # a chunk's piece entering a submodule: that submodule stays a block
    root = scope_tree(flat, ctx)
    mark_inline(root, flat)
    builder = Builder(flat, ctx)
    top = builder.build(root)
    uses = sorted((u for path, u in builder.uses.items() if path), key=lambda u: -u.scope.depth)
    repeats: set[str] = set()
    run, first_only = _run(uses, repeats), {}
    for _ in range(MAX_PASSES):
        found, first_only = decide_repeats(uses, run)
        if set(found) == repeats:
            break
        repeats = set(found)
        run = _run(uses, repeats)
    else:  # not settled: no repeats, which is always consistent
        run, first_only = _run(uses, set()), {}
    moved: dict[str, dict[str, Any]] = {}  # per definition, the first_only parameters' defaults before the move
    for group in run.groups:
        before = {p.name: p.param.default for p in group.params}
        group.params = [_first_only(p, first_only.get(id(group), {})) for p in group.params]
        moved[group.name] = {p.name: before[p.name] for p in group.params if p.param.default != before[p.name]}
    definitions = {g.name: _definition(g, run, moved) for g in run.groups}
    nodes = [_node(item, {k: v for k, v in item.params.items()}, run, concrete=True) for item in top.items]
    graph = Graph(flat.name, tuple(nodes), _edges(top.edges, [i.id for i in top.items]), definitions=definitions)
    flat_ids: dict[str, str] = {}
    _walk(top, "", run, flat_ids)
    return Hierarchy(graph, flat_ids, [split.note() for split in run.splits])


def _run(uses: list[Use], repeats: set[str]) -> Pass:
    run = Pass({})
    taken: set[str] = set()
    for use in uses:  # deepest first: a use's children are grouped before it
        if use.scope.path in repeats:
            copy = use.item("0").child
            run.repeats[use.scope.path] = (run.group_of[copy.scope.path], len(use.items) - 1)
        else:
            run.assign(use, taken)
    for group in run.groups:
        finalize(group, run)
    return run


def decide_repeats(uses: list[Use], run: Pass) -> tuple[dict[str, Group], dict[int, dict[str, Any]]]:
    """Containers that can be one repeated instance, and per block the first_only parameters' later values."""
    candidates: dict[int, list[tuple[Use, list[dict[str, Any]]]]] = {}
    groups: dict[int, Group] = {}
    for use in uses:
        found = _repeat_of(use, run)
        if found is not None:
            group, values = found
            groups[id(group)] = group
            candidates.setdefault(id(group), []).append((use, values))
    decided: dict[str, Group] = {}
    first_only: dict[int, dict[str, Any]] = {}
    for key, found in candidates.items():
        kept, later = _consistent(found)
        decided.update({use.scope.path: groups[key] for use, _ in kept})
        if kept:
            first_only[key] = later
    return decided, first_only


def _repeat_of(use: Use, run: Pass) -> tuple[Group, list[dict[str, Any]]] | None:
    """(block, each copy's values) when ``use`` is blocks 0, 1, … of one kind, each feeding the next."""
    body = [i for i in use.items if i.type != PORT]
    ports = [i.id for i in use.items if i.type == PORT]
    if len(body) < 2 or [i.id for i in body] != [str(k) for k in range(len(body))] or len(ports) != 1:
        return None
    if any(i.child is None or i.child.scope.path in run.repeats for i in body):
        return None
    kinds = {id(run.group_of[i.child.scope.path]) for i in body}
    group = run.group_of[body[0].child.scope.path]
    if len(kinds) != 1 or len(group.ports) != 1 or use.output != body[-1].id:
        return None
    port = group.ports[0]
    chain = {(ports[0], "0", port, None)} | {(str(k - 1), str(k), port, None) for k in range(1, len(body))}
    if use.edges != chain:
        return None
    values = [group.values[id(i.child)] for i in body]
    return (group, values) if all(v == values[1] for v in values[2:]) else None


def _consistent(found: list[tuple[Use, list[dict[str, Any]]]]) -> tuple[list[tuple[Use, Any]], dict[str, Any]]:
    """The repeats that agree on what later copies fall back to; a disagreeing one stays separate copies."""
    kept = list(found)
    while True:
        differ = {p for _, v in kept for p in v[0] if v[0][p] != v[1][p]}
        later: dict[str, Any] = {}
        agree = [(u, v) for u, v in kept if all(later.setdefault(p, v[1][p]) == v[1][p] for p in differ)]
        if len(agree) == len(kept):
            return kept, later
        kept = agree


def _first_only(param: BlockParam, later: dict[str, Any]) -> BlockParam:
    if param.name not in later:
        return param
    return BlockParam(replace(param.param, default=later[param.name]), first_only=True)


def _definition(group: Group, run: Pass, moved: dict[str, dict[str, Any]]) -> Definition:
    nodes = []
    for item_id in group.order:
        item = group.items[item_id]
        node = _node(item, _restored(item, group.inner.get(item_id, {}), run, moved), run, concrete=False)
        nodes.append(replace(node, when=group.flags.get(item_id)) if item_id in group.flags else node)
    graph = Graph(group.name, tuple(nodes), _edges(group.edges, group.order))
    module = group.members[0].scope
    doc = f"Imported from the model's ‘{module.path}’" + (f" ({len(group.members)} uses)" if len(group.members) > 1 else "")
    container = Container.SEQUENTIAL if group.sequential else Container.MODULE
    return Definition(group.name, graph, tuple(group.params), group.output, container, doc + ".")


def _restored(item: Item, params: dict[str, Any], run: Pass, moved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An inner instance's settings, with the values it left out because they were its block's default before a
    repeat made that parameter first_only with the later copies' value (GoogLeNet: BasicConv2d's kernel_size 1
    left out, then the default became 3 and every 1 × 1 convolution a 3 × 3 one)."""
    if item.child is None:
        return params
    path = item.child.scope.path
    group = run.repeats[path][0] if path in run.repeats else run.group_of[path]
    return {**moved.get(group.name, {}), **params}


def _node(item: Item, params: dict[str, Any], run: Pass, concrete: bool) -> Node:
    """A design node for an item: a layer, a Port, or an instance (with the use's own values when concrete)."""
    meta = {**item.meta, MODULE_PATH: item.path} if item.path else item.meta
    if item.child is None:
        return Node(item.id, item.type, params, meta=meta)
    path = item.child.scope.path
    group, count = run.repeats[path] if path in run.repeats else (run.group_of[path], 1)
    if concrete:
        use = item.child.item("0").child if count > 1 else item.child
        defaults = group.defaults()
        params = {k: v for k, v in group.values[id(use)].items() if v != defaults[k]}
    return Node(item.id, group.name, params, meta=meta, repeat=count)


def _edges(edges: set[LocalEdge], order: list[str]) -> tuple[Edge, ...]:
    rank = {item_id: k for k, item_id in enumerate(order)}
    ordered = sorted(edges, key=lambda e: (rank[e[1]], e[2] or "", rank[e[0]]))
    return tuple(Edge(s, t, p, sp) for s, t, p, sp in ordered)


def _walk(use: Use, prefix: str, run: Pass, out: dict[str, str]) -> None:
    """Expanded id -> flat id, following builder.blocks.expand's naming (``layer2.0.conv1``)."""
    for item in use.items:
        if item.type == PORT:
            continue
        if item.child is None:
            out[prefix + item.id] = item.flat or ""
        elif item.child.scope.path in run.repeats:
            for copy in (i for i in item.child.items if i.type != PORT):
                _walk(copy.child, f"{prefix}{item.id}.{copy.id}.", run, out)
        else:
            _walk(item.child, f"{prefix}{item.id}.", run, out)


__all__ = ["Hierarchy", "build_hierarchy", "Context"]
