"""Blocks made of blocks: expanding instances of definitions into the flat graph that validation and torch see.

Every instance is replaced by copies of its definition's nodes, their ids prefixed with the instance's path —
``layer2.0.conv1`` for the first copy of a repeated instance ``layer2``, ``encoder.lstm`` for a single one. These are
exactly the names PyTorch gives the generated module's parameters (state-dict keys), so one path names a layer in
the canvas, in validation messages and in a checkpoint.

Repeats: the first copy takes the instance's parameter values; later copies take the same values except for the
parameters marked ``first_only``, which go back to their defaults (ResNet's strided first block with its
downsample shortcut, then ``stride=1`` blocks). Copies are chained on the definition's first input; any other input
(a decoder's ``memory``) feeds every copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from builder.catalog import get_block, has_block
from builder.catalog.registry import BlockSpec, Category, Port
from builder.graph import PORT, Definition, Edge, Graph, Node
from builder.params import ParamError
from builder.ports import PortProblem, assign_ports
from builder.refs import RefError, resolve_params

SEP = "."  # joins a path into a flat id, as PyTorch joins module names into state-dict keys


@dataclass(frozen=True)
class Use:
    """One copy of a definition in the expanded design: where it sits and the parameter values it has."""

    definition: str
    prefix: str  # flat-id prefix of its nodes, e.g. "layer2.0."
    values: Mapping[str, Any]
    instance: str  # flat id of the instance node (without the copy index), e.g. "layer2"
    index: int  # copy number within the instance's repeat
    port_sources: Mapping[str, str]  # input port -> flat id feeding it
    output: str  # flat id of the node whose value leaves this copy


@dataclass(frozen=True)
class Placement:
    """Where a flat node came from."""

    top: str  # the top-level node it belongs to (itself for a plain node)
    definition: str | None  # the definition whose graph holds it; None at the top level
    inner: str  # its id in that graph
    path: tuple[str, ...]  # readable path: ("layer2[0]", "conv1")

    @property
    def label(self) -> str:
        return " › ".join(self.path)


@dataclass
class Expansion:
    flat: Graph
    origin: dict[str, Placement]  # flat id -> where it came from
    outputs: dict[str, str]  # top-level node id -> flat id of its value
    uses: list[Use] = field(default_factory=list)  # every copy of every definition, outer before inner
    problems: dict[str, list[str]] = field(default_factory=dict)  # top-level node id -> messages

    def uses_of(self, definition: str) -> list[Use]:
        return [u for u in self.uses if u.definition == definition]


def _no_rule(*_: Any) -> Any:
    raise NotImplementedError("a block definition is expanded before validation and codegen")


_SPECS: dict[int, tuple[Definition, BlockSpec]] = {}


def definition_spec(definition: Definition) -> BlockSpec:
    """A definition seen as a block: its parameters and input ports, for port checks, widgets and the palette."""
    cached = _SPECS.get(id(definition))
    if cached is not None and cached[0] is definition:  # definitions are immutable: identity is enough
        return cached[1]
    ports = tuple(Port(name) for name in definition.inputs)
    spec = BlockSpec(definition.name, Category.BLOCKS, definition.doc or f"the block {definition.name}",
                     tuple(p.param for p in definition.params), infer=_no_rule, emit=_no_rule, ports=ports)
    if len(_SPECS) > 1024:
        _SPECS.clear()
    _SPECS[id(definition)] = (definition, spec)
    return spec


PORT_SPEC = BlockSpec(PORT, Category.INPUT, "An input of the block: where a tensor from outside enters it.", (),
                      infer=_no_rule, emit=_no_rule, ports=())


def block_for(graph: Graph, type_name: str) -> BlockSpec:
    """The catalog block, the definition named ``type_name``, or a block's input Port."""
    if type_name in graph.definitions:
        return definition_spec(graph.definitions[type_name])
    if type_name == PORT:
        return PORT_SPEC
    return get_block(type_name)


def is_instance(graph: Graph, node: Node) -> bool:
    return node.type in graph.definitions


def definition_order(definitions: Mapping[str, Definition]) -> list[str] | list[list[str]]:
    """Definitions, each after the ones it uses; or, when one uses itself, the cycle as a list of lists."""
    deps = nx.DiGraph()
    deps.add_nodes_from(definitions)
    for name, definition in definitions.items():
        for node in definition.graph.nodes:
            if node.type in definitions:
                deps.add_edge(name, node.type)
    try:
        cycle = nx.find_cycle(deps)
    except nx.NetworkXNoCycle:
        return list(reversed(list(nx.topological_sort(deps))))
    return [[u for u, _ in cycle]]


def expand(graph: Graph) -> Expansion:
    """The flat graph of ``graph``: plain nodes kept, instances replaced by their definitions' nodes."""
    expansion = Expansion(Graph(), {}, {})
    writer = _Writer(graph.definitions, expansion)
    out_of = writer.scope(graph, prefix="", values={}, inputs={}, top=None, path=(), definition=None)
    expansion.outputs = {n.id: out_of[n.id] for n in graph.nodes if out_of.get(n.id)}
    expansion.flat = Graph(graph.name, tuple(writer.nodes), tuple(writer.edges), graph.description, graph.meta)
    return expansion


class _Writer:
    def __init__(self, definitions: Mapping[str, Definition], expansion: Expansion) -> None:
        self.definitions = definitions
        self.expansion = expansion
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []

    def scope(self, graph: Graph, prefix: str, values: Mapping[str, Any], inputs: Mapping[str, str],
              top: str | None, path: tuple[str, ...], definition: str | None) -> dict[str, str | None]:
        """Place every node of one graph (the design, or one copy of a definition); node id -> flat output id."""
        out_of: dict[str, str | None] = {}
        order, in_edges = _scope_plan(graph)
        for node in order:
            owner = top or node.id
            edges = in_edges[node.id]
            if any(out_of.get(e.source) is None for e in edges):
                out_of[node.id] = None  # something upstream failed; it has said why
                continue
            wrong = next((e for e in edges if e.source_port is not None and not _plain_node(graph, self.definitions,
                                                                                             e.source)), None)
            if wrong is not None:
                self._problem(owner, f"{' › '.join((*path, node.id))}: the edge from ‘{wrong.source}’ reads its output "
                                     f"'{wrong.source_port}', but ‘{wrong.source}’ is a block's input or a block, "
                                     "which has only its main output")
                out_of[node.id] = None
                continue
            if node.type == PORT:
                out_of[node.id] = inputs.get(node.id)
            elif node.when is not None and not values.get(node.when):
                out_of[node.id] = out_of[edges[0].source] if len(edges) == 1 else None
            elif node.type in self.definitions:
                out_of[node.id] = self.instance(node, edges, out_of, prefix, values, owner, path)
            else:
                out_of[node.id] = self.plain(node, edges, out_of, prefix, values, owner, path, definition)
        return out_of

    def plain(self, node: Node, edges: list[Edge], out_of: Mapping[str, str | None], prefix: str,
              values: Mapping[str, Any], owner: str, path: tuple[str, ...], definition: str | None) -> str | None:
        flat_id = prefix + node.id
        try:
            params = resolve_params(node.params, values) if values else dict(node.params)
            if values:
                params = _checked(node.type, params)
        except (RefError, ParamError, KeyError, TypeError) as err:
            self._problem(owner, f"{' › '.join((*path, node.id))}: {_reason(err)}")
            return None
        self.nodes.append(Node(flat_id, node.type, params, node.pos if not prefix else None, node.meta))
        # An edge may read another output of a plain node (an LSTM's h): the flat edge keeps it. (A node that is
        # an instance or a Port has only its main output; ``instance`` refuses an edge naming another.)
        self.edges.extend(Edge(out_of[e.source], flat_id, e.port, e.source_port) for e in edges)
        self.expansion.origin[flat_id] = Placement(owner, definition, node.id, (*path, node.id))
        return flat_id

    def instance(self, node: Node, edges: list[Edge], out_of: Mapping[str, str | None], prefix: str,
                 values: Mapping[str, Any], owner: str, path: tuple[str, ...]) -> str | None:
        definition = self.definitions[node.type]
        where = " › ".join((*path, node.id))
        named = next((e for e in edges if e.source_port is not None), None)
        if named is not None:
            self._problem(owner, f"{where}: the edge from ‘{named.source}’ reads its output '{named.source_port}', but "
                                 "a block's input takes a node's main output only; use that output inside the block")
            return None
        assigned = assign_ports(definition_spec(definition), edges)
        if isinstance(assigned, PortProblem):
            self._problem(owner, f"{where}: {assigned.message}")
            return None
        sources = {port: out_of[found[0].source] for port, found in assigned.items()}
        try:
            given = resolve_params(node.params, values) if values else dict(node.params)
            base = {**definition.defaults(), **_checked_definition(definition, given)}
        except (RefError, ParamError, KeyError, TypeError) as err:
            self._problem(owner, f"{where}: {_reason(err)}")
            return None
        first_port = definition.inputs[0] if definition.inputs else None
        output: str | None = None
        for k in range(max(1, node.repeat)):
            copy_values = base if k == 0 else {**base, **{p.name: p.param.default for p in definition.params
                                                           if p.first_only}}
            copy_sources = dict(sources)
            if k and first_port is not None:
                copy_sources[first_port] = output
            indexed = node.repeat > 1
            copy_prefix = f"{prefix}{node.id}{SEP}{k}{SEP}" if indexed else f"{prefix}{node.id}{SEP}"
            copy_path = (*path, f"{node.id}[{k}]" if indexed else node.id)
            use_at = len(self.expansion.uses)
            inner = self.scope(definition.graph, copy_prefix, copy_values, copy_sources, owner, copy_path,
                               definition.name)
            output = inner.get(definition.output)
            if output is None:
                if not self.expansion.problems.get(owner):
                    self._problem(owner, f"{where}: the block's output ‘{definition.output}’ has no value")
                return None
            self.expansion.uses.insert(use_at, Use(definition.name, copy_prefix, copy_values, prefix + node.id, k,
                                                   copy_sources, output))
        return output

    def _problem(self, owner: str, message: str) -> None:
        self.expansion.problems.setdefault(owner, []).append(message)


_PLANS: dict[int, tuple[Graph, list[Node], dict[str, list[Edge]]]] = {}


def _scope_plan(graph: Graph) -> tuple[list[Node], dict[str, list[Edge]]]:
    """A graph's nodes in order and their incoming edges, computed once per (immutable) graph: a definition's
    graph is walked once per copy, and a 300-layer design has dozens of copies."""
    cached = _PLANS.get(id(graph))
    if cached is not None and cached[0] is graph:
        return cached[1], cached[2]
    by_id = {n.id: n for n in graph.nodes}
    in_edges: dict[str, list[Edge]] = {n.id: [] for n in graph.nodes}
    for edge in graph.edges:
        in_edges[edge.target].append(edge)
    order = [by_id[node_id] for node_id in drawing_order(graph)]
    if len(_PLANS) > 4096:
        _PLANS.clear()
    _PLANS[id(graph)] = (graph, order, in_edges)
    return order, in_edges


def _plain_node(graph: Graph, definitions: Mapping[str, Definition], node_id: str) -> bool:
    """A catalog layer (the only kind of node with several outputs), not a Port or an instance of a block."""
    node = graph.node(node_id)
    return node.type != PORT and node.type not in definitions


def digraph(graph: Graph) -> nx.DiGraph:
    """The design's data flow as a networkx graph: one node per block, one edge per tensor."""
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.node_ids)
    dag.add_edges_from(e.key for e in graph.edges)
    return dag


def drawing_order(graph: Graph) -> list[str]:
    """Sources first, ties in the order the user drew; on a cycle, plain node order (validation reports it)."""
    position = {node_id: k for k, node_id in enumerate(graph.node_ids)}
    try:
        return list(nx.lexicographical_topological_sort(digraph(graph), key=position.__getitem__))
    except nx.NetworkXUnfeasible:
        return graph.node_ids


def _checked(type_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Parameter values computed from references, checked against the block's ranges like typed ones."""
    if not has_block(type_name):
        raise KeyError(type_name)
    block = get_block(type_name)
    return {name: block.param(name).check(value) for name, value in params.items()}


def _checked_definition(definition: Definition, params: dict[str, Any]) -> dict[str, Any]:
    return {name: definition.param(name).param.check(value) for name, value in params.items()}


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"{err.args[0]!r} is not a parameter here"
    return str(err)


def unused_output(definition: Definition) -> list[str]:
    """Inner nodes whose value goes nowhere (not the output, feeding nothing): they would become extra outputs."""
    sources = {e.source for e in definition.graph.edges}
    return [n.id for n in definition.graph.nodes
            if n.id not in sources and n.id != definition.output and n.type != PORT]

