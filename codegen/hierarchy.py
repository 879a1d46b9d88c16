"""The classes of a design with blocks made of blocks, innermost first, and how each instance is constructed.

An instance becomes one attribute: ``self.layer2 = nn.Sequential(BasicBlock(64, planes=128, stride=2,
downsample=True), BasicBlock(128, planes=128))`` for a repeat, ``self.encoder = LSTMEncoder(...)`` for a single
use, or an ``nn.ModuleList`` looped over in ``forward`` when the repeated block takes a second input (a decoder's
memory). Its module path follows the flat ids, so state-dict keys are the design's paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.blocks import Use, definition_order, drawing_order
from builder.graph import PORT, Container, Graph, Node
from builder.validate import ValidationResult
from codegen.classes import (
    Arg,
    ClassError,
    ClassPlan,
    Expressions,
    catalog_node,
    scope_sources,
    shape_comment,
    write_module,
    write_sequential,
)
from codegen.forward import ScopeNode
from codegen.literals import literal
from codegen.naming import Namespace


@dataclass
class Classes:
    plans: dict[str, ClassPlan] = field(default_factory=dict)  # definition name -> its class, innermost first
    names: Namespace = field(default_factory=Namespace)

    @property
    def code(self) -> list[str]:
        return [line for plan in self.plans.values() for line in plan.code]


def write_classes(graph: Graph, result: ValidationResult, taken: set[str]) -> Classes:
    """A class for every definition the design uses (through its instances), each after those it uses."""
    assert result.flat is not None and result.expansion is not None
    classes = Classes(names=Namespace(set(taken)))
    for name in definition_order(graph.definitions):
        uses = result.expansion.uses_of(name)
        if uses:
            classes.plans[name] = plan_class(graph, graph.definitions[name].name, uses, result.flat, classes)
    return classes


def plan_class(design: Graph, name: str, uses: list[Use], flat: ValidationResult, classes: Classes) -> ClassPlan:
    definition = design.definitions[name]
    plan = ClassPlan(definition, classes.names.create_class(name), uses)
    exprs = Expressions(plan, flat)
    nodes: list[ScopeNode] = []
    alias: dict[str, str] = {}  # a node absent from every use -> the node whose value passes through it
    for node_id in drawing_order(definition.graph):
        node = definition.graph.node(node_id)
        if node.type == PORT:
            continue
        if node.type in design.definitions:
            child = classes.plans.get(node.type)  # none when no use of the design reaches it (`when` off)
            scope_node = instance_node(design, node, exprs, child, definition.graph) if child else None
        else:
            scope_node = catalog_node(plan, node, exprs, design)
        if scope_node is None:
            alias[node.id] = definition.graph.in_edges(node.id)[0].source
            continue
        scope_node.sources = {p: [_resolve(alias, s) for s in srcs] for p, srcs in scope_node.sources.items()}
        nodes.append(scope_node)
    consumers: dict[str, list[str]] = {}
    for node in nodes:
        for srcs in node.sources.values():
            for s in srcs:
                consumers.setdefault(s, []).append(node.id)
    output = _resolve(alias, definition.output)
    order = [p.name for p in definition.params]
    plan.args.sort(key=lambda a: (not a.required, order.index(a.name) if a.name in order else len(order)))
    if definition.container is Container.SEQUENTIAL:
        plan.code = write_sequential(plan, nodes)
    else:
        plan.code = write_module(plan, nodes, consumers, output)
    return plan


def _resolve(alias: dict[str, str], node_id: str) -> str:
    while node_id in alias:
        node_id = alias[node_id]
    return node_id


def instance_node(design: Graph, node: Node, exprs: Expressions, child: ClassPlan, graph: Graph) -> ScopeNode | None:
    """An instance inside a scope (the model, or another block): one attribute constructing its class."""
    outer = exprs.uses
    present = [u for u in outer if _copies(child, u.prefix + node.id)]
    if not present:
        return None
    optional = len(present) < len(outer)
    flag = exprs.param_arg(node.when).name if optional and node.when else ""
    if optional:
        exprs = exprs.subset(present)
    copies_per_use = [_copies(child, u.prefix + node.id) for u in present]
    count = len(copies_per_use[0])
    calls = [_construct(child, [copies[k] for copies in copies_per_use], node, exprs, f"{node.id}[{k}]")
             for k in range(count)]
    ports = child.definition.inputs
    loop = count > 1 and len(ports) > 1
    init = _package(calls, count, loop)
    call_args = ", ".join("{" + p + "}" for p in ports)
    outputs = [exprs.flat.nodes[copies[-1].output].output for copies in copies_per_use]
    return ScopeNode(node.id, init, "{out} = {mod}(" + call_args + ")", scope_sources(design, graph, node),
                     shape_comment(outputs), optional=optional, flag=flag, repeat_loop=loop)


def _copies(child: ClassPlan, instance: str) -> list[Use]:
    return sorted((u for u in child.uses if u.instance == instance), key=lambda u: u.index)


def _construct(child: ClassPlan, copies: list[Use], node: Node, exprs: Expressions, where: str) -> str:
    """``BasicBlock(64, planes=128, stride=2)``: positional sizes from the input, then changed parameters."""
    positional, keywords = [], []
    for arg in child.args:
        values = [_value_of(child, arg, copy) for copy in copies]
        text = exprs.express(values, node, inferred=arg.required, where=f"{where} {arg.name}", param=arg.param)
        if arg.required:
            positional.append(text)
        elif text != literal(arg.default):
            keywords.append(f"{arg.name}={text}")
    return f"{child.class_name}({', '.join(positional + keywords)})"


def _value_of(child: ClassPlan, arg: Arg, copy: Use) -> object:
    index = next(k for k, u in enumerate(child.uses) if u is copy)
    return arg.values[index]


def _package(calls: list[str], count: int, loop: bool) -> str:
    container = "nn.ModuleList" if loop else "nn.Sequential"
    if count == 1:
        return calls[0]
    if len(set(calls)) == 1:
        inner = f"[{calls[0]} for _ in range({count})]"
        return f"{container}({inner})" if loop else f"{container}(*{inner})"
    if len(set(calls[1:])) == 1 and count > 2:
        rest = f"*[{calls[1]} for _ in range({count - 1})]"
        return f"{container}([{calls[0]}, {rest}])" if loop else f"{container}({calls[0]}, {rest})"
    return f"{container}([{', '.join(calls)}])" if loop else f"{container}({', '.join(calls)})"


__all__ = ["ClassError", "Classes", "instance_node", "write_classes"]
