"""One-click fixes for layers inside blocks that keep the links to the block's parameters.

Validation works on the flat design, where ``layer2.0.conv2`` has a number for every setting; its fixes say
"set num_heads to 4". Inside a block that layer may read a block parameter (``$heads``): writing 4 over it would
silently cut the link, so that later setting the block's heads to 8 would change nothing. ``link_fix`` rewrites
such a fix into one that keeps the link:

* the layer reads ``$heads``: the fix sets the block parameter ``heads`` where this copy takes it from — the
  instance the user opened (``encoder``), or, for a later copy of a repeat that takes a ``first_only`` parameter's
  default, the definition's default; through nested blocks it follows the chain up;
* the layer reads a formula of one parameter (``$planes * 4``): the parameter is set so that the formula gives the
  value, when a whole value does; otherwise the label says the formula is replaced by a number;
* the layer holds a plain number where its neighbours read a block parameter that has the wanted value in this
  copy (``conv2`` typed to 96 while ``conv1`` reads ``$planes``, 128 here): the fix restores the link, which fits
  every copy, instead of a number that fits one.

Pure (no Streamlit, no torch); ``builder.block_edits.fix_inside`` applies what this module plans.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from builder.blocks import SEP, Expansion, Use
from builder.catalog import Fix
from builder.graph import Graph, Node
from builder.refs import Ref, RefError, is_ref, parse_ref
from builder.results import Issue

SET_BLOCK_PARAM = "set_block_param"  # args: scope (definition or None for the design), node (None: default)
FOLLOW_PARAM = "follow_param"  # args: name, value ("$planes"): the layer reads the block parameter again
MAX_DEPTH = 16  # nested blocks followed upwards; a deeper chain falls back to the layer's own fix


@dataclass(frozen=True)
class Target:
    """Where a block parameter's value for one copy is set: an instance's own setting, or a definition default."""

    scope: str | None  # the definition holding the instance; None for the design
    node: str | None  # the instance's id in ``scope``; None: the default of ``definition``
    definition: str  # the definition the parameter belongs to
    name: str

    def label(self, value: Any) -> str:
        if self.node is None:
            return f"set {self.definition}'s default {self.name} to {value}"
        return f"set ‘{self.node}’'s {self.name} to {value}"

    def args(self, value: Any) -> dict[str, Any]:
        return {"scope": self.scope, "node": self.node, "definition": self.definition, "name": self.name,
                "value": value}


def link_fix(design: Graph, expansion: Expansion, issue: Issue) -> Issue:
    """``issue`` (a flat one) with a fix that keeps links to block parameters; unchanged where there is none."""
    fix = issue.fix
    if fix is None or fix.action != "set_param" or issue.node is None or fix.args.get("node", issue.node) != issue.node:
        return issue
    place = expansion.origin.get(issue.node)
    if place is None or place.definition is None or place.definition not in design.definitions:
        return issue
    use = _use_of(expansion, issue.node[: -len(place.inner)])
    inner = design.definitions[place.definition].graph.node(place.inner)
    if use is None or inner is None:
        return issue
    name, value = fix.args["name"], fix.args.get("value")
    raw = inner.params.get(name)
    if is_ref(raw):
        better = _through_ref(design, expansion, use, name, raw, value)
    else:
        better = _restored_link(design, place.definition, inner, use, name, value)
    return replace(issue, fix=better) if better is not None else issue


def _use_of(expansion: Expansion, prefix: str) -> Use | None:
    return next((u for u in expansion.uses if u.prefix == prefix), None)


def _through_ref(design: Graph, expansion: Expansion, use: Use, name: str, raw: str, value: Any) -> Fix | None:
    """The layer reads ``raw`` (``$heads``, ``$planes * 4``): set the parameter behind it, or say the formula goes."""
    try:
        ref = parse_ref(raw)
    except RefError:
        return None
    wanted = _solve(ref, value)
    target = _target(design, expansion, use, next(iter(ref.names)), 0) if wanted is not None else None
    if target is None or wanted is None:
        return Fix(f"replace the formula {raw} with the number {value}: set {name} to {value}", "set_param",
                   {"name": name, "value": value})
    return Fix(f"{target.label(wanted[1])} ({name} follows {raw})", SET_BLOCK_PARAM, target.args(wanted[1]))


def _solve(ref: Ref, value: Any) -> tuple[str, Any] | None:
    """(parameter, its value) that makes a one-parameter formula give ``value``: ``$heads`` → 4, ``$planes * 4``
    with 256 → 64. Formulas of + - * with whole numbers are straight lines, so two points give the answer; the
    answer is checked by evaluating the formula, so ``//`` and anything else that misfits gives None."""
    if len(ref.names) != 1 or isinstance(value, bool) or not isinstance(value, int):
        return None
    (param,) = ref.names
    try:
        at0, at1 = ref.evaluate({param: 0}), ref.evaluate({param: 1})
    except (ArithmeticError, TypeError, ValueError):
        return None
    slope = at1 - at0
    if not isinstance(slope, int) or slope == 0 or (value - at0) % slope:
        return None
    guess = (value - at0) // slope
    try:
        return (param, guess) if ref.evaluate({param: guess}) == value else None
    except (ArithmeticError, TypeError, ValueError):
        return None


def _target(design: Graph, expansion: Expansion, use: Use, name: str, depth: int) -> Target | None:
    """Where the copy ``use`` takes its block parameter ``name`` from, following references up nested blocks."""
    definition = design.definitions.get(use.definition)
    spec = next((p for p in definition.params if p.name == name), None) if definition else None
    if spec is None or depth > MAX_DEPTH:
        return None
    if use.index > 0 and spec.first_only:  # a later copy of a repeat takes the default, whatever the instance says
        return Target(None, None, use.definition, name)
    scope, instance = _instance_of(design, expansion, use)
    if instance is None:
        return None
    raw = instance.params.get(name)
    if not is_ref(raw):
        return Target(scope.definition if scope else None, instance.id, use.definition, name)
    try:
        ref = parse_ref(raw)
    except RefError:
        return None
    if scope is None or ref.text.strip() != next(iter(ref.names), None):
        return None  # a formula one level up: not followed further (the plain fix is offered instead)
    return _target(design, expansion, scope, ref.text.strip(), depth + 1)


def _instance_of(design: Graph, expansion: Expansion, use: Use) -> tuple[Use | None, Node | None]:
    """The instance node a copy belongs to, and the copy (``Use``) of the definition holding it (None: the design)."""
    if SEP not in use.instance:
        return None, design.node(use.instance) if design.has_node(use.instance) else None
    outer = next((u for u in expansion.uses if use.instance.startswith(u.prefix)
                  and SEP not in use.instance[len(u.prefix):]), None)
    if outer is None:
        return None, None
    graph = design.definitions[outer.definition].graph
    local = use.instance[len(outer.prefix):]
    return outer, graph.node(local) if graph.has_node(local) else None


def _restored_link(design: Graph, definition: str, inner: Node, use: Use, name: str, value: Any) -> Fix | None:
    """A plain number where the block's other layers read a parameter with the wanted value in this copy: link it."""
    if isinstance(value, bool) or value is None:
        return None
    for other in design.definitions[definition].graph.nodes:
        raw = other.params.get(name)
        if other.id == inner.id or not is_ref(raw):
            continue
        try:
            ref = parse_ref(raw)
        except RefError:
            continue
        if ref.text.strip() in ref.names and use.values.get(ref.text.strip()) == value:
            return Fix(f"set {name} to {raw.strip()} ({value} here), as ‘{other.id}’ does: it then fits every copy",
                       FOLLOW_PARAM, {"name": name, "value": raw.strip()})
    unread = [p for p in unread_params(design, definition) if use.values.get(p) == value]
    if len(unread) == 1:  # a parameter no layer reads any more, with just the value wanted: the cut link
        return Fix(f"set {name} to ${unread[0]} ({value} here): the block's {unread[0]}, which no layer reads now",
                   FOLLOW_PARAM, {"name": name, "value": f"${unread[0]}"})
    return None


def unread_params(design: Graph, definition: str) -> list[str]:
    """The block parameters of ``definition`` that none of its layers reads (a number was typed over ``$heads``)."""
    found = design.definitions.get(definition)
    if found is None:
        return []
    read: set[str] = set()
    for node in found.graph.nodes:
        read |= {node.when} if node.when else set()
        for raw in node.params.values():
            if is_ref(raw):
                try:
                    read |= parse_ref(raw).names
                except RefError:
                    continue
    return [p.name for p in found.params if p.name not in read]
