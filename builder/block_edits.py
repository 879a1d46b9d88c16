"""Edits of blocks made of blocks: add one from the library, edit inside a definition, make an inner setting a
block parameter, fix inside (group and ungroup are ``builder.group_edits``).

Like ``builder.edits`` these are pure: each returns a new design. An edit inside a block changes the definition,
so every instance of it follows — the point of a block.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from builder.blocks import SEP, block_for, expand
from builder.edits import EditError, add_node, apply_fix, set_param
from builder.fix_links import FOLLOW_PARAM, SET_BLOCK_PARAM
from builder.graph import BlockParam, Definition, Graph
from builder.library import add_library_block, library_names
from builder.params import Param, ParamError
from builder.project_defs import MAX_REPEAT
from builder.refs import is_ref
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
