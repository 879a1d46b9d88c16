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
    kept_names,
    kept_path,
    scope_source_ports,
    scope_sources,
    shape_comment,
    write_module,
    write_sequential,
)
from codegen.literals import literal
from codegen.naming import Namespace
from codegen.probes import Layer
from codegen.scope import ScopeNode
from codegen.sizes import Size, SizeTracer, layer_for, names_in, substitute, token


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
    plan.tracer = exprs.tracer = _tracer(design, plan, exprs, classes)
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


def _tracer(design: Graph, plan: ClassPlan, exprs: Expressions, classes: Classes) -> SizeTracer:
    graph = plan.definition.graph

    def present(node: Node) -> list[str]:
        return [u.prefix + node.id for u in plan.uses if u.prefix + node.id in exprs.flat.nodes]

    def layer_of(node: Node) -> Layer | None:
        if node.type in design.definitions:
            return None
        found = present(node)
        return layer_for(node, exprs.flat, found[0]) if found else None

    def instance_output(node: Node, dim: int) -> Size | None:
        child = classes.plans.get(node.type)
        if child is None or node.type not in design.definitions:  # absent from every use: its input passes
            edges = graph.in_edges(node.id)
            return plan.tracer.of(edges[0].source, dim) if len(edges) == 1 else None
        copies = exprs.constructed.get(node.id)
        text = child_output(child, dim, copies[-1]) if copies else None
        return Size(text) if text is not None else None

    def main_sources(node: Node) -> dict[str, list[str]]:
        """The sources whose main output feeds ``node``: sizes are traced through main outputs only (an LSTM's h
        has a size of its own); a size read from another output becomes an argument each use passes."""
        ports = scope_source_ports(design, graph, node)
        return {port: [s for k, s in enumerate(srcs) if not ports.get(port) or ports[port][k] is None]
                for port, srcs in scope_sources(design, graph, node).items()}

    return SizeTracer(plan.definition, main_sources, layer_of, instance_output,
                      lambda node: 0 < len(present(node)) < len(plan.uses))


def child_output(child: ClassPlan, dim: int, passed: dict[str, str]) -> str | None:
    """Size ``dim`` of what a child class returns, in the scope that constructs it: the child's own expression
    with its arguments replaced by what that scope passes. None when the child can't say it from its arguments."""
    if child.tracer is None:
        return None
    size = child.tracer.of(child.definition.output, dim)
    if size is None:
        return None
    tokens: dict[str, str] = {}
    for port, d in size.reads:
        arg = next((a for a in child.args if a.reads == (port, d)), None)
        if arg is None:
            return None
        tokens[token(port, d)] = arg.name
    text = substitute(size.text, tokens)
    if not names_in(text) <= set(passed):  # it needs an argument the child's class doesn't take
        return None
    return substitute(text, passed)


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
    passed: list[dict[str, str]] = []
    for k in range(count):
        passed.append(_construct(child, [copies[k] for copies in copies_per_use], node, exprs, passed))
    exprs.constructed[node.id] = passed
    calls = [_call(child, p) for p in passed]
    ports = child.definition.inputs
    loop = count > 1 and len(ports) > 1
    init = _package(calls, count, loop)
    call_args = ", ".join("{" + p + "}" for p in ports)
    outputs = [exprs.flat.nodes[copies[-1].output].output for copies in copies_per_use]
    return ScopeNode(node.id, init, "{out} = {mod}(" + call_args + ")", scope_sources(design, graph, node),
                     shape_comment(outputs), optional=optional, flag=flag, repeat_loop=loop, path=kept_path(node),
                     names=kept_names(node))


def _copies(child: ClassPlan, instance: str) -> list[Use]:
    return sorted((u for u in child.uses if u.instance == instance), key=lambda u: u.index)


def _construct(child: ClassPlan, copies: list[Use], node: Node, exprs: Expressions,
               before: list[dict[str, str]]) -> dict[str, str]:
    """What one copy of an instance passes for each of the child's arguments, by meaning: a size of its input
    traced in this scope (after the first copy of a repeat, the previous copy's output), the instance's setting
    for a parameter, or — where nothing says it — a value this scope is handed in turn."""
    passed: dict[str, str] = {}
    first_port = child.definition.inputs[0] if child.definition.inputs else None
    for arg in child.args:
        values = [_value_of(child, arg, copy) for copy in copies]
        if exprs.plan.top:
            passed[arg.name] = literal(values[0])
        elif arg.reads is not None:
            port, dim = arg.reads
            if before and port == first_port:
                text = child_output(child, dim, before[-1])
            else:
                size = exprs.tracer.entering(node, port, dim) if exprs.tracer else None
                text = exprs.write(size) if size is not None else None
            passed[arg.name] = text if text is not None else exprs.passed(values, node, arg.name)
        else:
            passed[arg.name] = exprs.argument(values, node, arg.param, None, arg.name)
    return passed


def _call(child: ClassPlan, passed: dict[str, str]) -> str:
    """``BasicBlock(64, planes=128, stride=2)``: positional sizes from the input, then changed parameters."""
    positional = [passed[a.name] for a in child.args if a.required]
    keywords = [f"{a.name}={passed[a.name]}" for a in child.args
                if not a.required and passed[a.name] != literal(a.default)]
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
