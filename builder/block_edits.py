"""Edits of blocks made of blocks: add one from the library, edit inside a definition, make an inner setting a
block parameter, group, ungroup, fix inside.

Like ``builder.edits`` these are pure: each returns a new design. An edit inside a block changes the definition,
so every instance of it follows — the point of a block.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from builder.blocks import SEP, block_for, expand
from builder.edits import EditError, add_node, apply_fix, new_node_id, set_param
from builder.fix_links import FOLLOW_PARAM, SET_BLOCK_PARAM
from builder.graph import PORT, BlockParam, Definition, Edge, Graph, Node
from builder.library import add_library_block, library_names
from builder.params import Param, ParamError
from builder.project_defs import MAX_REPEAT
from builder.project_defs import NAME as DEFINITION_NAME
from builder.refs import is_ref, resolve_params
from builder.validate import Issue

Edit = Callable[..., Any]


def add_block(graph: Graph, name: str, after: str | None = None,
              pos: tuple[float, float] | None = None) -> tuple[Graph, str]:
    """Add an instance of the library block ``name`` (its definitions copied in unless the design has them),
    wired after ``after`` like any ``add_node``: one edit, one undo step."""
    if name not in library_names() and name not in graph.definitions:
        raise EditError(f"there is no block named {name!r} in the library or in this design")
    return add_node(add_library_block(graph, name), name, after=after, pos=pos)


def inside(graph: Graph, name: str) -> Graph:
    """The inside of definition ``name`` as a graph that ``builder.edits`` can edit (it knows the definitions)."""
    definition = _definition(graph, name)
    return replace(definition.graph, definitions=graph.definitions)


def edit_inside(graph: Graph, name: str, edit: Edit, *args: Any, **kwargs: Any) -> Any:
    """Apply ``edit`` (any ``builder.edits`` function) inside definition ``name``; returns what ``edit`` returns,
    with the design in place of the inner graph (``(design, new_id)`` for ``add_node``)."""
    out = edit(inside(graph, name), *args, **kwargs)
    inner, extra = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
    definition = _definition(graph, name)
    nodes = inner.nodes
    if definition.output and definition.output not in {n.id for n in nodes}:
        raise EditError(f"‘{definition.output}’ is what {name} returns: connect another node in its place first")
    updated = replace(definition, graph=replace(definition.graph, nodes=nodes, edges=inner.edges))
    design = graph.with_definition(updated)
    return (design, *extra) if extra else design


def set_repeat(graph: Graph, node_id: str, times: Any) -> Graph:
    """Repeat the instance ``node_id`` ×``times`` in a chain (added for the canvas's inspector, issue 10)."""
    node = graph.node(node_id) if graph.has_node(node_id) else None
    if node is None or node.type not in graph.definitions:
        raise EditError(f"only a block made of blocks can be repeated, and ‘{node_id}’ is not one")
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_REPEAT:
        raise EditError(f"repeat must be a whole number from 1 to {MAX_REPEAT}, not {times!r}")
    return graph.replace_node(replace(node, repeat=times))


def promote_param(graph: Graph, name: str, node_id: str, param: str, as_name: str = "") -> Graph:
    """Make the parameter ``param`` of the layer ``node_id`` inside block ``name`` a parameter of the block
    (``as_name``, by default the same name): the block gets it with the layer's value as its default, and the layer
    follows it (``"$as_name"``). Every copy computes what it did; from then on each can set its own value."""
    definition = _definition(graph, name)
    if not definition.graph.has_node(node_id):
        raise EditError(f"{name} has no layer ‘{node_id}’")
    inner = definition.graph.node(node_id)
    spec = next((p for p in block_for(graph, inner.type).params if p.name == param), None)
    if spec is None:
        raise EditError(f"‘{node_id}’ ({inner.type}) has no parameter {param!r}")
    value = inner.params.get(param, spec.default)
    if spec.inferred or value is None:
        raise EditError(f"{param} of ‘{node_id}’ has no value of its own (it follows the input or is unset); "
                        "give it one first")
    if is_ref(value):
        raise EditError(f"{param} of ‘{node_id}’ already follows {name}'s parameters ({value})")
    as_name = as_name.strip() or param
    if not as_name.isidentifier() or keyword.iskeyword(as_name) or len(as_name) > 40:
        raise EditError(f"a block parameter's name must be a short identifier (letters, digits, _), not {as_name!r}")
    if as_name in {p.name for p in definition.params}:
        raise EditError(f"{name} already has a parameter {as_name!r}; pick another name")
    # Only what the project format keeps (builder.project_defs), so the design reads back equal.
    promoted = BlockParam(Param(as_name, spec.kind, value, doc=(spec.doc or f"{param} of {node_id}")[:300],
                                minimum=spec.minimum, maximum=spec.maximum, choices=spec.choices))
    inside_graph = definition.graph.replace_node(inner.with_params(**{param: f"${as_name}"}))
    return graph.with_definition(replace(definition, graph=inside_graph, params=(*definition.params, promoted)))


def _definition(graph: Graph, name: str) -> Definition:
    if name not in graph.definitions:
        raise EditError(f"this design has no block {name!r}")
    return graph.definitions[name]


# ---- group and ungroup --------------------------------------------------------------------------------------


def group(graph: Graph, node_ids: Iterable[str], name: str) -> tuple[Graph, str]:
    """Turn the selected nodes into a new block definition used once where they were.

    Its inputs are the tensors entering the selection (one Port per outside node feeding it); its output is the one
    selected node whose value leaves the selection."""
    selected = [n for n in graph.nodes if n.id in set(node_ids)]
    _check_group(graph, selected, name)
    chosen = {n.id for n in selected}
    entering = [e for e in graph.edges if e.target in chosen and e.source not in chosen]
    leaving = [e for e in graph.edges if e.source in chosen and e.target not in chosen]
    outputs = list(dict.fromkeys(e.source for e in leaving))
    if len(outputs) > 1:
        raise EditError(f"a block has one output, but the selection sends out {_names(outputs)}: "
                        "select so that one node's value leaves it")
    sinks = [n.id for n in selected if not any(e.source == n.id for e in graph.edges if e.target in chosen)]
    output = outputs[0] if outputs else (sinks[-1] if sinks else selected[-1].id)
    sources = list(dict.fromkeys(e.source for e in entering))
    ports = {source: _port_name(k, source, chosen) for k, source in enumerate(sources)}
    inner_nodes = [Node(p, PORT) for p in ports.values()] + [replace(n, pos=n.pos) for n in selected]
    inner_edges = [Edge(ports[e.source], e.target, e.port) for e in entering]
    inner_edges += [e for e in graph.edges if e.source in chosen and e.target in chosen]
    definition = Definition(name, Graph(name, tuple(inner_nodes), tuple(inner_edges)), output=output)
    instance = new_node_id(graph, name)
    kept = [n for n in graph.nodes if n.id not in chosen]
    position = min(k for k, n in enumerate(graph.nodes) if n.id in chosen)
    kept.insert(position, Node(instance, name, pos=_centre(selected)))
    edges = [e for e in graph.edges if e.source not in chosen and e.target not in chosen]
    edges += [Edge(source, instance, ports[source] if len(ports) > 1 else None) for source in sources]
    edges += [Edge(instance, e.target, e.port) for e in leaving]
    return replace(graph, nodes=tuple(kept), edges=tuple(edges)).with_definition(definition), instance


def _check_group(graph: Graph, selected: list[Node], name: str) -> None:
    if not selected:
        raise EditError("select the nodes to group first")
    if not DEFINITION_NAME.match(name):
        raise EditError(f"{name!r} can't name a block: start with a capital letter, then letters, digits or _")
    if name in graph.definitions:
        raise EditError(f"this design already has a block named {name!r}")
    inputs = [n.id for n in selected if n.type == "Input"]
    if inputs:
        raise EditError(f"{_names(inputs)} is where data enters the model; leave Inputs out of a block")


def _port_name(index: int, source: str, taken: set[str]) -> str:
    name = "x" if index == 0 else f"input{index + 1}"
    while name in taken:
        name += "_"
    return name


def _centre(nodes: list[Node]) -> tuple[float, float] | None:
    spots = [n.pos for n in nodes if n.pos is not None]
    if not spots:
        return None
    return (sum(p[0] for p in spots) / len(spots), sum(p[1] for p in spots) / len(spots))


def _names(ids: list[str]) -> str:
    return " and ".join(f"‘{i}’" for i in ids)


def ungroup(graph: Graph, node_id: str) -> Graph:
    """Replace an instance by its definition's nodes (one copy per repeat), parameters written out.

    Blocks inside it stay blocks; the definition stays in the design for its other instances."""
    node = graph.node(node_id)
    if node.type not in graph.definitions:
        raise EditError(f"‘{node_id}’ is a {node.type}, not a block made of blocks")
    definition = graph.definitions[node.type]
    instance_values = {**definition.defaults(), **node.params}
    taken = set(graph.node_ids) - {node_id}
    entering = {e.port or (definition.inputs[0] if definition.inputs else ""): e.source
                for e in graph.in_edges(node_id)}
    if len(definition.inputs) > 1 and any(e.port is None for e in graph.in_edges(node_id)):
        entering = _ports_in_order(graph, node_id, definition)
    new_nodes: list[Node] = []
    new_edges: list[Edge] = []
    feed = dict(entering)
    output = ""
    for k in range(node.repeat):
        values = instance_values if k == 0 else {**instance_values, **{p.name: p.param.default for p in
                                                                       definition.params if p.first_only}}
        prefix = f"{node_id}_{k}_" if node.repeat > 1 else f"{node_id}_"
        output = _copy_inside(definition, values, prefix, feed, taken, new_nodes, new_edges)
        if definition.inputs:
            feed = {**feed, definition.inputs[0]: output}
    at = graph.node_ids.index(node_id)
    nodes = [*graph.nodes[:at], *new_nodes, *graph.nodes[at + 1:]]
    edges = [e for e in graph.edges if e.target != node_id and e.source != node_id] + new_edges
    edges += [Edge(output, e.target, e.port) for e in graph.out_edges(node_id)]
    return replace(graph, nodes=tuple(nodes), edges=tuple(edges))


def _ports_in_order(graph: Graph, node_id: str, definition: Definition) -> dict[str, str]:
    free = [p for p in definition.inputs]
    found = {}
    for edge in graph.in_edges(node_id):
        port = edge.port if edge.port in free else free[0]
        free.remove(port)
        found[port] = edge.source
    return found


def _copy_inside(definition: Definition, values: dict[str, Any], prefix: str, feed: dict[str, str], taken: set[str],
                 nodes: list[Node], edges: list[Edge]) -> str:
    """One copy of ``definition``'s nodes; returns the id holding its output."""
    rename: dict[str, str] = dict(feed)  # inner id -> outer id (ports map to what feeds them)
    for inner in definition.graph.nodes:
        if inner.type == PORT:
            continue
        if inner.when is not None and not values.get(inner.when):
            source = definition.graph.in_edges(inner.id)[0].source
            rename[inner.id] = rename.get(source, source)
            continue
        new_id = _free(prefix + inner.id, taken)
        rename[inner.id] = new_id
        nodes.append(Node(new_id, inner.type, resolve_params(inner.params, values), repeat=inner.repeat))
    order = {n.id: k for k, n in enumerate(definition.graph.nodes)}
    for edge in sorted(definition.graph.edges, key=lambda e: order[e.target]):
        target = definition.graph.node(edge.target)
        if target.when is not None and not values.get(target.when):
            continue  # bypassed: its consumers read its input directly
        edges.append(Edge(rename[edge.source], rename[edge.target], edge.port))
    return rename[definition.output]


def _free(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    taken.add(candidate)
    return candidate


# ---- problems inside blocks ---------------------------------------------------------------------------------


def locate(graph: Graph, flat_id: str) -> tuple[str, str] | None:
    """(definition, inner node id) of a layer inside a block, from its path (``layer2.0.conv1``)."""
    if SEP not in flat_id:
        return None
    place = expand(graph).origin.get(flat_id)
    if place is None or place.definition is None:
        return None
    return place.definition, place.inner


def fix_inside(graph: Graph, issue: Issue) -> tuple[Graph, str]:
    """Apply the fix of a problem found inside a block to the block's definition; returns the design and the block
    to open (the fix edits every instance: that is what a block is)."""
    if issue.fix is None or issue.inner is None:
        raise EditError("this problem has no automatic fix")
    where = locate(graph, issue.inner)
    if where is None:
        raise EditError(f"‘{issue.inner}’ is not inside a block any more")
    name, inner_id = where
    if issue.fix.action == SET_BLOCK_PARAM:  # the layer reads a block parameter: change it, the link stays
        return _set_block_param(graph, **issue.fix.args), name
    if issue.fix.action == FOLLOW_PARAM:  # a number where the block's parameter fits every copy: link it again
        return edit_inside(graph, name, _follow, inner_id, issue.fix.args["name"], issue.fix.args["value"]), name
    prefix = issue.inner[: -len(inner_id)]
    args = {k: (v[len(prefix):] if isinstance(v, str) and v.startswith(prefix) else v) for k, v in issue.fix.args.items()}
    fix = replace(issue.fix, args=args)
    edge = issue.edge and tuple(e[len(prefix):] if e.startswith(prefix) else e for e in issue.edge)
    return edit_inside(graph, name, apply_fix, inner_id, fix, edge=edge), name


def _set_block_param(graph: Graph, scope: str | None, node: str | None, definition: str, name: str,
                     value: Any) -> Graph:
    """Set a block parameter where a copy takes it: an instance's setting (in the design or inside ``scope``), or
    the definition's default (``node`` None), checked like any value typed into that field."""
    if node is None:
        return _set_default(graph, definition, name, value)
    if scope is None:
        return set_param(graph, node, name, value)
    return edit_inside(graph, scope, set_param, node, name, value)


def _set_default(graph: Graph, name: str, param: str, value: Any) -> Graph:
    definition = _definition(graph, name)
    found = next((p for p in definition.params if p.name == param), None)
    if found is None:
        raise EditError(f"{name} has no parameter {param!r}")
    try:
        checked = found.param.check(value)
    except ParamError as err:
        raise EditError(f"{name} {err}") from None
    params = tuple(replace(p, param=replace(p.param, default=checked)) if p is found else p
                   for p in definition.params)
    return graph.with_definition(replace(definition, params=params))


def _follow(graph: Graph, node_id: str, name: str, ref: str) -> Graph:
    """Inside a definition: the layer reads the block parameter again (``$planes``)."""
    if not is_ref(ref) or not graph.has_node(node_id):
        raise EditError(f"‘{node_id}’ can't follow {ref!r} here")
    return graph.replace_node(graph.node(node_id).with_params(**{name: ref}))
