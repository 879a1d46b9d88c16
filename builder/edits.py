"""Pure graph edits: each takes a Graph and returns a new one, or raises EditError with a message for the user.

The UI's handlers are one-line calls to these functions, so everything a click can do is tested here without
a browser. Edits check what the project format checks (ids, ports, parameter values); shape problems are
left to ``builder.validate``, which reports them with fixes that ``apply_fix`` applies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from builder.blocks import block_for
from builder.catalog import Fix, get_block, has_block
from builder.catalog.registry import BlockSpec
from builder.graph import PORT, Edge, Graph, Node
from builder.params import ParamError
from builder.project import MAX_ID_LENGTH, port_problem
from builder.settings import settings


class EditError(ValueError):
    """An edit that was refused; the message says why, naming the node or edge."""


# ---- ids and lookups ---------------------------------------------------------------------------------------


def _base_name(type_name: str) -> str:
    """Snake case that keeps acronyms whole: MultiheadAttention -> multihead_attention, ReLU -> relu."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", type_name).lower()


def new_node_id(graph: Graph, type_name: str) -> str:
    """A readable id not used yet: the type in snake case and the first free number ("conv2d_1")."""
    used = set(graph.node_ids)
    base = _base_name(type_name)[: MAX_ID_LENGTH - 6] or "node"
    n = 1
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"


def _node(graph: Graph, node_id: str) -> Node:
    for node in graph.nodes:
        if node.id == node_id:
            return node
    raise EditError(f"there is no node ‘{node_id}’")


def _block(type_name: str, graph: Graph | None = None) -> BlockSpec:
    """A catalog block, or one of the design's block definitions (``builder.blocks``) seen as a block."""
    if graph is not None and isinstance(type_name, str) and (type_name in graph.definitions or type_name == PORT):
        return block_for(graph, type_name)
    if not isinstance(type_name, str) or not has_block(type_name):
        raise EditError(f"unknown block type {type_name!r}")
    return get_block(type_name)


def _checked_params(block: BlockSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        out[name] = _checked_value(block, name, value)
    return out


def _known_param(block: BlockSpec, name: str) -> None:
    if name not in block.param_names:
        known = ", ".join(block.param_names) or "none"
        raise EditError(f"{block.type} has no parameter {name!r}; its parameters: {known}")


def _checked_value(block: BlockSpec, name: str, value: Any) -> Any:
    _known_param(block, name)
    try:
        return block.param(name).check(value)
    except ParamError as err:
        raise EditError(f"{block.type} {err}") from None


def _check_pos(pos: Any) -> tuple[float, float]:
    ok = (isinstance(pos, (list, tuple)) and len(pos) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pos))
    if not ok:
        raise EditError(f"a position must be two finite numbers (x, y), not {pos!r}")
    return (float(pos[0]), float(pos[1]))


# ---- nodes --------------------------------------------------------------------------------------------------


def add_node(graph: Graph, type_name: str, after: str | None = None, params: Mapping[str, Any] | None = None,
             pos: tuple[float, float] | None = None) -> tuple[Graph, str]:
    """Add a block; with ``after``, wire it after that node and move that node's outgoing edges onto it."""
    block = _block(type_name, graph)
    limit = settings().max_nodes  # LAYERLAB_MAX_NODES: a classroom server may set it lower
    if len(graph.nodes) >= limit:
        raise EditError(f"the graph already has {len(graph.nodes)} nodes; the limit is {limit} (setting max_nodes)")
    node_id = new_node_id(graph, type_name)
    node = Node(node_id, type_name, _checked_params(block, params))
    anchor = _node(graph, after) if after is not None else None
    if block.is_source:  # an Input is never wired after anything
        anchor = None
    # No position: the layered layout places it (builder.layout.place), next to what it is wired to.
    spot = _check_pos(pos) if pos is not None else None
    graph = graph.with_nodes([*graph.nodes, replace(node, pos=spot)])
    if anchor is not None:
        # what read the anchor's main output now reads the new node; edges from its other outputs stay
        moved = [Edge(node_id, e.target, e.port) if e.source == anchor.id and e.source_port is None else e
                 for e in graph.edges]
        graph = graph.with_edges([*moved, Edge(anchor.id, node_id)])
    return graph, node_id


def remove_node(graph: Graph, node_id: str) -> Graph:
    """Delete a node and its edges; a node in the middle of a chain (one edge in, one out) is bridged over."""
    _node(graph, node_id)
    ins, outs = graph.in_edges(node_id), graph.out_edges(node_id)
    bridge = None
    if len(ins) == 1 and len(outs) == 1:
        # the input port is the downstream node's, the output the upstream node's
        bridge = Edge(ins[0].source, outs[0].target, outs[0].port, ins[0].source_port)
        others = [e for e in graph.edges if node_id not in e.key]
        if bridge.source == bridge.target or _has_edge(others, bridge):
            bridge = None
    edges: list[Edge] = []
    for e in graph.edges:
        if bridge is not None and e == outs[0]:
            edges.append(bridge)  # where the old edge was, so input order is kept
        elif node_id not in e.key:
            edges.append(e)
    return replace(graph, nodes=tuple(n for n in graph.nodes if n.id != node_id), edges=tuple(edges))


def delete(graph: Graph, nodes: list[str] = (), edges: list[tuple[str, str] | Edge] = ()) -> Graph:
    """What every delete does (keys, menus, inspector): edges removed, then nodes with ``remove_node``'s bridge.

    An edge given as (source, target) removes every edge between them; an ``Edge`` only itself (an LSTM's h and c
    may both feed one block). One call is one undo step. Ids that are already gone are skipped: a second click on
    a vanished node is harmless.
    """
    for item in edges:
        if isinstance(item, Edge):
            graph = graph.with_edges(e for e in graph.edges if e != item)
            continue
        source, target = item
        if any(e.key == (source, target) for e in graph.edges):
            graph = disconnect(graph, source, target)
    for node_id in nodes:
        if graph.has_node(node_id):
            graph = remove_node(graph, node_id)
    return graph


def _has_edge(edges: list[Edge] | tuple[Edge, ...], edge: Edge) -> bool:
    """A duplicate is the same source, target and port, or an unnamed port where the pair is already joined,
    reading the same output of the source."""
    return any(e.key == edge.key and e.source_port == edge.source_port and (e.port == edge.port or edge.port is None)
               for e in edges)


def set_param(graph: Graph, node_id: str, name: str, value: Any) -> Graph:
    """Set one parameter (checked against the catalog); None puts it back to its default or to 'infer'."""
    node = _node(graph, node_id)
    block = _block(node.type, graph)
    if value is None:
        _known_param(block, name)
        return graph.replace_node(node.with_params(**{name: None}))
    checked = _checked_value(block, name, value)
    params = dict(node.params)
    params[name] = checked
    return graph.replace_node(replace(node, params=params))


def set_trainable(graph: Graph, node_id: str, trainable: bool) -> Graph:
    """Freeze a node (or a whole block instance) of the design, or let it train again."""
    node = _node(graph, node_id)
    if not isinstance(trainable, bool):
        raise EditError(f"trainable must be true or false, not {trainable!r}")
    return graph.replace_node(replace(node, trainable=trainable))


def rename_node(graph: Graph, old: str, new: str) -> Graph:
    """Give a node a new id and carry its edges along."""
    node = _node(graph, old)
    new = new.strip() if isinstance(new, str) else new  # stray spaces typed into the name field
    if new == old:
        return graph
    if not isinstance(new, str) or not new.strip() or len(new) > MAX_ID_LENGTH:
        raise EditError(f"a node id must be non-empty text of at most {MAX_ID_LENGTH} characters, not {new!r}")
    if graph.has_node(new):
        raise EditError(f"the id ‘{new}’ is already used by another node")
    edges = [replace(e, source=new if e.source == old else e.source, target=new if e.target == old else e.target)
             for e in graph.edges]
    nodes = [replace(node, id=new) if n.id == old else n for n in graph.nodes]
    return replace(graph, nodes=tuple(nodes), edges=tuple(edges))


def move_node(graph: Graph, node_id: str, pos: tuple[float, float]) -> Graph:
    node = _node(graph, node_id)
    spot = _check_pos(pos)
    return graph if node.pos == spot else graph.replace_node(replace(node, pos=spot))


def move_nodes(graph: Graph, positions: Mapping[str, Any]) -> Graph:
    """Pin dragged nodes where the user put them (unknown ids are skipped: the node may just have been deleted)."""
    for node_id, pos in positions.items():
        if graph.has_node(node_id):
            graph = move_node(graph, node_id, pos)
    return graph


def unpin_all(graph: Graph) -> Graph:
    """Forget every hand-placed position: the whole design goes back to the layered layout."""
    return graph.with_nodes(replace(n, pos=None) if n.pos is not None else n for n in graph.nodes)


# ---- edges --------------------------------------------------------------------------------------------------


def connect(graph: Graph, source: str, target: str, port: str | None = None,
            source_port: str | None = None) -> Graph:
    """Add an edge, from the output ``source_port`` of a block with several (None: its main output).
    Cycles are allowed here: validation reports them with a one-click fix."""
    snode = _node(graph, source)
    tnode = _node(graph, target)
    if source == target:
        raise EditError(f"‘{source}’ can't feed itself")
    block = _block(tnode.type, graph)
    if block.is_source:
        raise EditError(f"‘{target}’ is an {tnode.type}: data enters there, nothing can feed it")
    source_port = _source_port(graph, snode, source_port)
    edge = Edge(source, target, port, source_port)
    if _has_edge(graph.edges, edge):
        where = f" on port '{port}'" if port is not None else ""
        raise EditError(f"‘{source}’ already feeds ‘{target}’{where}")
    if port is not None:
        _check_port(graph, block, target, port)
    return graph.with_edges([*graph.edges, edge])


def _source_port(graph: Graph, node: Node, source_port: str | None) -> str | None:
    """The output an edge reads, checked: None for the main one (naming the main output stores None too, so files
    keep ``source_port`` only where it says something)."""
    if source_port is None:
        return None
    block = _block(node.type, graph)
    if block.outputs is None:
        raise EditError(f"‘{node.id}’ has one output; it has no output '{source_port}'")
    outputs = block.outputs({**block.defaults(), **node.params})
    if source_port not in outputs.names:
        raise EditError(f"‘{node.id}’ has no output '{source_port}'; its outputs: {', '.join(outputs.names)}")
    return None if source_port == outputs.main else source_port


def _check_port(graph: Graph, block: BlockSpec, target: str, port: Any, ignore: Edge | None = None) -> None:
    problem = port_problem(block, port)
    if problem:
        raise EditError(f"‘{target}’: {problem}")
    for e in graph.in_edges(target):
        if e is not ignore and e.port == port:
            raise EditError(f"port '{port}' of ‘{target}’ is already fed by ‘{e.source}’")


def disconnect(graph: Graph, source: str, target: str) -> Graph:
    """Remove every edge from ``source`` to ``target``."""
    edges = [e for e in graph.edges if e.key != (source, target)]
    if len(edges) == len(graph.edges):
        raise EditError(f"there is no edge from ‘{source}’ to ‘{target}’")
    return graph.with_edges(edges)


_ANY = object()


def set_edge_port(graph: Graph, source: str, target: str, port: str | None, *, old_port: Any = _ANY) -> Graph:
    """Choose which input of ``target`` the edge from ``source`` feeds (None: the next free one)."""
    matches = [e for e in graph.edges if e.key == (source, target) and (old_port is _ANY or e.port == old_port)]
    if not matches:
        raise EditError(f"there is no edge from ‘{source}’ to ‘{target}’")
    if len(matches) > 1:
        raise EditError(f"‘{source}’ feeds ‘{target}’ {len(matches)} times; say which edge (by its current port)")
    edge = matches[0]
    if port is not None:
        _check_port(graph, _block(graph.node(target).type, graph), target, port, ignore=edge)
    new = replace(edge, port=port)
    return graph.with_edges(new if e is edge else e for e in graph.edges)


def set_edge_source_port(graph: Graph, edge: Edge, source_port: str | None) -> Graph:
    """Choose which output of its source ``edge`` carries (None or the main output's name: the main output)."""
    if edge not in graph.edges:
        raise EditError(f"there is no edge from ‘{edge.source}’ to ‘{edge.target}’")
    new = replace(edge, source_port=_source_port(graph, _node(graph, edge.source), source_port))
    if new != edge and new in graph.edges:
        raise EditError(f"‘{edge.source}’ already feeds ‘{edge.target}’ from that output")
    return graph.with_edges(new if e == edge else e for e in graph.edges)


def reorder_inputs(graph: Graph, target: str, ordered_sources: list[str]) -> Graph:
    """Number the inputs of a variadic block (Add, Concat, Multiply) "1", "2", … in the given order."""
    node = _node(graph, target)
    block = _block(node.type, graph)
    if not block.ports or not block.ports[0].variadic:
        raise EditError(f"‘{target}’ is a {node.type}; only blocks with numbered inputs (Add, Concat) can be reordered")
    ins = graph.in_edges(target)
    if sorted(e.source for e in ins) != sorted(ordered_sources):
        have = ", ".join(f"‘{e.source}’" for e in ins) or "nothing"
        raise EditError(f"the new order must list each input of ‘{target}’ once; it is fed by {have}")
    remaining = list(ins)
    numbered: dict[int, Edge] = {}  # id(old edge) -> new edge
    for number, source in enumerate(ordered_sources, start=1):
        old = next(e for e in remaining if e.source == source)
        remaining.remove(old)
        numbered[id(old)] = replace(old, port=str(number))
    return graph.with_edges(numbered.get(id(e), e) for e in graph.edges)


def insert_before(graph: Graph, node_id: str, type_name: str, params: Mapping[str, Any] | None = None,
                  source: str | None = None) -> tuple[Graph, str]:
    """Put a new block on the edge ``source`` → ``node_id`` (the node's only input when ``source`` is None)."""
    node = _node(graph, node_id)
    block = _block(type_name, graph)
    if block.is_source:
        raise EditError(f"an {type_name} can't be inserted on an edge: it takes no input")
    if _block(node.type, graph).is_source:
        raise EditError(f"‘{node_id}’ is an {node.type}: nothing comes before it")
    ins = graph.in_edges(node_id)
    if source is not None:
        ins = [e for e in ins if e.source == source]
        if not ins:
            raise EditError(f"there is no edge from ‘{source}’ to ‘{node_id}’")
    if len(ins) > 1:
        names = ", ".join(f"‘{e.source}’" for e in ins)
        raise EditError(f"‘{node_id}’ has several inputs ({names}); choose the edge to insert {type_name} on")
    new_id = new_node_id(graph, type_name)
    new = Node(new_id, type_name, _checked_params(block, params))
    graph = graph.with_nodes([*graph.nodes, new])
    if not ins:
        return graph.with_edges([*graph.edges, Edge(new_id, node_id)]), new_id
    old = ins[0]
    edges = [Edge(new_id, node_id, old.port) if e is old else e for e in graph.edges]
    return graph.with_edges([*edges, Edge(old.source, new_id, source_port=old.source_port)]), new_id


# ---- fixes --------------------------------------------------------------------------------------------------


def apply_fix(graph: Graph, node_id: str | None, fix: Fix, edge: tuple[str, str] | None = None) -> Graph:
    """Apply a one-click fix from a validation issue; ``edge`` is the issue's edge, if it names one."""
    try:
        return _apply(graph, node_id, fix.action, dict(fix.args), edge)
    except KeyError as err:  # a fix without the arguments its action needs: a catalog bug, shown politely
        raise EditError(f"the fix ‘{fix.label}’ lacks its {err} argument") from None


def _apply(graph: Graph, node_id: str | None, action: str, args: dict[str, Any],
           edge: tuple[str, str] | None) -> Graph:
    if action == "add_node":
        return add_node(graph, args["type"], params=args.get("params"))[0]
    if action == "remove_edge":
        return disconnect(graph, args["source"], args["target"])
    target = args.get("node", node_id)
    if target is None:
        raise EditError(f"the fix ‘{action}’ needs a node to act on")
    if action == "set_param":
        return set_param(graph, target, args["name"], args.get("value"))
    if action == "insert_before":
        source = edge[0] if edge is not None and edge[1] == target else args.get("source")
        return insert_before(graph, target, args["type"], args.get("params"), source=source)[0]
    if action == "set_input_dtype":
        return set_param(graph, _feeding_input(graph, target), "dtype", args["dtype"])
    raise EditError(f"unknown fix action {action!r}")


def apply_issue_fix(graph: Graph, issue: Any) -> Graph:
    """Apply ``issue.fix`` (a builder.validate.Issue), on the edge the issue names."""
    if issue.fix is None:
        raise EditError("this issue has no automatic fix")
    return apply_fix(graph, issue.node, issue.fix, edge=issue.edge)


def _feeding_input(graph: Graph, node_id: str) -> str:
    """Walk up the main input ('x' or unnamed port first) until an Input block."""
    seen: set[str] = set()
    current = node_id
    while current not in seen:
        seen.add(current)
        node = _node(graph, current)
        if node.type == "Input":
            return current
        ins = sorted(graph.in_edges(current), key=lambda e: e.port not in (None, "x", "1"))
        if not ins:
            break
        current = ins[0].source
    raise EditError(f"no Input feeds ‘{node_id}’: connect one first")
