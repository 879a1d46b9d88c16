"""Live validation: topology through networkx, then shapes in topological order with closed-form rules.

``validate(graph)`` returns every node's output shape (or why it has none), its parameter count and its
issues. It raises only on programmer errors; every user mistake becomes an ``Issue`` naming its node.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import networkx as nx

from builder.blocks import Expansion, block_for, expand
from builder.catalog import BlockError, Fix, TensorSpec, get_block
from builder.catalog.registry import BlockSpec, Resolved
from builder.graph import Edge, Graph, Node
from builder.ports import PortProblem, assign_ports
from builder.settings import settings

# The default of LAYERLAB_MAX_PARAMS: a design above the limit in force (builder.settings) is refused here,
# from closed-form counts, before any tensor is allocated.
MAX_PARAMS = 1_000_000_000
MAX_ACTIVATION_VALUES = 2**31 - 1  # per sample, per tensor: beyond torch's int32 indexing on many kernels


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    node: str | None  # None for graph-level issues (no Input, model too large)
    message: str
    code: str = "shape"  # shape | cycle | no_input | unconnected | ports | size | unused
    severity: Severity = Severity.ERROR
    edge: tuple[str, str] | None = None
    fix: Fix | None = None
    inner: str | None = None  # inside a block: the flat id of the inner node at fault ("layer2.0.conv1")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "message": self.message, "code": self.code,
                               "severity": self.severity.value}
        if self.inner:
            out["inner"] = self.inner
        if self.edge:
            out["edge"] = {"source": self.edge[0], "target": self.edge[1]}
        if self.fix:
            out["fix"] = {"label": self.fix.label, "action": self.fix.action, "args": dict(self.fix.args)}
        return out


@dataclass
class NodeInfo:
    id: str
    type: str
    output: TensorSpec | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # port -> TensorSpec or list for variadic ports
    sources: dict[str, list[str]] = field(default_factory=dict)  # port -> source node ids, in order
    params: Resolved = field(default_factory=dict)  # defaults filled and inferred sizes resolved
    param_count: int = 0
    macs: int = 0
    issues: list[Issue] = field(default_factory=list)
    blocked_by: str | None = None  # the upstream node whose problem stops this one

    @property
    def ok(self) -> bool:
        return self.output is not None


@dataclass
class ValidationResult:
    graph: Graph
    nodes: dict[str, NodeInfo]
    issues: list[Issue]
    order: list[str]  # topological order of the nodes that have a shape
    # Designs with blocks made of blocks: the expanded design and its validation (what codegen and torch see).
    flat: ValidationResult | None = None
    expansion: Expansion | None = None

    @property
    def leaves(self) -> ValidationResult:
        """The result over plain layers only: the flat one for a design with blocks, else this one."""
        return self.flat or self

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(info.param_count for info in self.nodes.values())

    def edge_shape(self, edge: Edge) -> TensorSpec | None:
        info = self.nodes.get(edge.source)
        return info.output if info else None

    def outputs(self) -> list[str]:
        return [n.id for n in self.graph.sinks()]


def validate(graph: Graph, max_params: int | None = None) -> ValidationResult:
    """Check topology and shapes of the whole graph; ``max_params`` defaults to the setting.

    A design with blocks made of blocks is expanded (``builder.blocks``) and its flat form validated; every inner
    problem is then shown on the instance that holds it, naming its path."""
    if not graph.definitions:
        return _validate_flat(graph, max_params)
    expansion = expand(graph)
    flat = _validate_flat(expansion.flat, max_params)
    return _fold(graph, expansion, flat)


def _validate_flat(graph: Graph, max_params: int | None = None) -> ValidationResult:
    limits = settings()
    max_params = limits.max_params if max_params is None else max_params
    infos = {n.id: NodeInfo(n.id, n.type) for n in graph.nodes}
    issues: list[Issue] = []
    if len(infos) > limits.max_nodes:  # checked first: the rest of the work grows with the graph
        issues.append(Issue(None, f"the graph has {len(infos):,} blocks; the limit is {limits.max_nodes:,} "
                                  "(LAYERLAB_MAX_NODES)", code="size"))
        return ValidationResult(graph, infos, issues, [])
    dag = _digraph(graph)
    on_cycle = _report_cycles(dag, infos)
    _report_topology(graph, dag, infos, issues)
    # One pass over the edges instead of graph.node()/in_edges() per node: those are O(N) each (O(N²) in all).
    by_id = {n.id: n for n in graph.nodes}
    in_edges: dict[str, list[Edge]] = {node_id: [] for node_id in by_id}
    for edge in graph.edges:
        in_edges[edge.target].append(edge)
    order: list[str] = []
    for node_id in _topological_order(graph, dag, on_cycle):
        if _infer_node(by_id[node_id], in_edges[node_id], infos):
            order.append(node_id)
    _report_size(infos, issues, max_params)
    node_issues = [i for n in graph.nodes for i in infos[n.id].issues]
    return ValidationResult(graph, infos, issues + node_issues, order)


def _topological_order(graph: Graph, dag: nx.DiGraph, on_cycle: set[str]) -> list[str]:
    """The nodes off every cycle, sources first; ties broken by node order, so generated code and tables
    follow the order the user drew."""
    position = {node_id: k for k, node_id in enumerate(graph.node_ids)}
    if on_cycle:
        # A real copy: sorting through a subgraph *view* filters every neighbour lookup (3x slower).
        dag = dag.subgraph(n for n in dag.nodes if n not in on_cycle).copy()
    return list(nx.lexicographical_topological_sort(dag, key=position.__getitem__))


def _digraph(graph: Graph) -> nx.DiGraph:
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.node_ids)
    dag.add_edges_from(e.key for e in graph.edges)
    return dag


def _report_cycles(dag: nx.DiGraph, infos: dict[str, NodeInfo]) -> set[str]:
    on_cycle: set[str] = set()
    for component in nx.strongly_connected_components(dag):
        if len(component) == 1:
            (only,) = component
            if not dag.has_edge(only, only):
                continue
        cycle = _cycle_path(dag, component, list(infos))
        path = " → ".join(f"‘{n}’" for n in [*cycle, cycle[0]])
        for node_id in component:
            infos[node_id].issues.append(Issue(
                node_id, f"this block is on a cycle: {path}; data must flow one way, so remove one of these edges",
                code="cycle", edge=(cycle[-1], cycle[0]),
                fix=Fix(f"remove the edge ‘{cycle[-1]}’ → ‘{cycle[0]}’", "remove_edge",
                        {"source": cycle[-1], "target": cycle[0]})))
        on_cycle |= component
    return on_cycle


def _cycle_path(dag: nx.DiGraph, component: set[str], node_order: list[str]) -> list[str]:
    """One cycle through ``component``, starting at its node drawn first: the same message on every run
    (a subgraph view would iterate the component set, whose order changes with string hashing)."""
    sub = nx.DiGraph()
    sub.add_nodes_from(n for n in node_order if n in component)
    sub.add_edges_from((u, v) for u in sub for v in dag.succ[u] if v in component)
    cycle = [u for u, _ in nx.find_cycle(sub, source=next(iter(sub)))]
    rank = {n: k for k, n in enumerate(sub)}
    first = min(range(len(cycle)), key=lambda k: rank[cycle[k]])
    return cycle[first:] + cycle[:first]


def _report_topology(graph: Graph, dag: nx.DiGraph, infos: dict[str, NodeInfo], issues: list[Issue]) -> None:
    inputs = [n.id for n in graph.inputs()]
    if not inputs:
        issues.append(Issue(None, "the graph has no Input block: add one to say what data goes in",
                            code="no_input", fix=Fix("add an Input", "add_node", {"type": "Input"})))
    for node in graph.nodes:
        if node.type == "Input":
            if not dag.succ[node.id]:  # adjacency lookups: degree views cost a few µs each
                infos[node.id].issues.append(Issue(node.id, "this Input feeds nothing: connect it to a block",
                                                   code="unused", severity=Severity.WARNING))
        elif not dag.pred[node.id]:
            infos[node.id].issues.append(Issue(
                node.id, f"{node.type} has no input: drag an edge into it from the block that should feed it",
                code="unconnected"))
    if graph.nodes and not graph.sinks():
        issues.append(Issue(None, "the graph has no output: add a block after the Input", code="no_output"))


def _infer_node(node: Node, in_edges: list[Edge], infos: dict[str, NodeInfo]) -> bool:
    """Fill ``infos[node.id]``; True when the node has an output shape."""
    info = infos[node.id]
    block = get_block(node.type)
    params: Resolved = {**_defaults(block), **node.params}
    info.params = params
    if info.issues and any(i.severity is Severity.ERROR for i in info.issues):
        return False
    if block.is_source:
        return _apply_rule(block, node, params, {}, info, {})
    assigned = assign_ports(block, in_edges)
    if isinstance(assigned, PortProblem):
        info.issues.append(Issue(node.id, assigned.message, code="ports", edge=assigned.edge, fix=assigned.fix))
        return False
    info.sources = {port: [e.source for e in edges] for port, edges in assigned.items()}
    blocker = _blocker(info.sources, infos)
    if blocker:
        info.blocked_by = blocker
        return False
    specs = {
        port: [infos[s].output for s in srcs] if block.ports[0].variadic else infos[srcs[0]].output
        for port, srcs in info.sources.items()
    }
    return _apply_rule(block, node, params, specs, info, info.sources)


_DEFAULTS: dict[str, Resolved] = {}


def _defaults(block: BlockSpec) -> Resolved:
    """The block's defaults, built once per block type; callers copy it (rules fill inferred sizes in place)."""
    cached = _DEFAULTS.get(block.type)
    if cached is None:
        cached = _DEFAULTS[block.type] = block.defaults()
    return cached


def _blocker(sources: dict[str, list[str]], infos: dict[str, NodeInfo]) -> str | None:
    for srcs in sources.values():
        for s in srcs:
            upstream = infos[s]
            if upstream.output is None:
                return upstream.blocked_by or s
    return None


def _apply_rule(block: BlockSpec, node: Node, params: Resolved, specs: dict[str, Any], info: NodeInfo,
                sources: dict[str, list[str]]) -> bool:
    info.inputs = specs
    try:
        out = block.infer(params, specs)
    except BlockError as err:
        info.issues.append(_issue_from(node, err, sources))
        return False
    info.output = out
    info.param_count = block.count(params, specs)
    info.macs = block.macs(params, specs, out)
    if out.numel > MAX_ACTIVATION_VALUES:
        info.issues.append(Issue(node.id, f"the output {out} holds {out.numel:,} values per sample, too many for "
                                          "one tensor: shrink the layer sizes", code="size"))
    if block.advise:
        for message, fix in block.advise(params, specs):
            info.issues.append(Issue(node.id, message, code="advice", severity=Severity.WARNING, fix=fix))
    return True


def _issue_from(node: Node, err: BlockError, sources: dict[str, list[str]]) -> Issue:
    port = err.port
    src = None
    if port is not None:
        key = port if port in sources else None
        if key is None and port.isdigit() and "inputs" in sources and int(port) <= len(sources["inputs"]):
            src = sources["inputs"][int(port) - 1]
        elif key is not None:
            src = sources[key][0]
    if src is None and len(sources) == 1:
        only = next(iter(sources.values()))
        src = only[0] if len(only) == 1 else None
    message = err.message.replace("{from}", f"from ‘{src}’" if src else "").replace("  ", " ").strip()
    return Issue(node.id, message, edge=(src, node.id) if src else None, fix=err.fix)


def _report_size(infos: dict[str, NodeInfo], issues: list[Issue], max_params: int) -> None:
    total = sum(i.param_count for i in infos.values())
    if total > max_params:
        biggest = max(infos.values(), key=lambda i: i.param_count)
        issues.append(Issue(
            None, f"the model has {human_count(total)} parameters ({total:,}); the limit is {human_count(max_params)}. "
                  f"The largest block is ‘{biggest.id}’ with {human_count(biggest.param_count)}",
            code="size"))


def human_count(n: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def _fold(graph: Graph, expansion: Expansion, flat: ValidationResult) -> ValidationResult:
    """The design-level result: plain nodes as validated, each instance summing the copies inside it."""
    infos = {n.id: NodeInfo(n.id, n.type) for n in graph.nodes}
    members: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for flat_id, place in expansion.origin.items():
        members[place.top].append(flat_id)
    for node in graph.nodes:
        info = infos[node.id]
        if node.type not in graph.definitions:
            if node.id in flat.nodes:  # absent when an instance upstream could not be expanded
                infos[node.id] = _renamed(flat.nodes[node.id], expansion)
            continue
        inner = [flat.nodes[f] for f in members[node.id]]
        info.param_count = sum(i.param_count for i in inner)
        info.macs = sum(i.macs for i in inner)
        info.params = {**graph.definitions[node.type].defaults(), **node.params}
        output = expansion.outputs.get(node.id)
        info.output = flat.nodes[output].output if output in flat.nodes else None
        for message in expansion.problems.get(node.id, []):
            info.issues.append(Issue(node.id, message, code="block"))
        for item in inner:
            for issue in item.issues:
                info.issues.append(_inside(node.id, expansion.origin[item.id].label, issue))
        _fold_sources(graph, node, info, infos)
    _fold_blockers(graph, expansion, flat, infos)
    _mark_blocked(graph, expansion, infos)
    order = [n for n in _top_order(graph) if infos[n].output is not None]
    graph_issues = [i for i in flat.issues if i.node is None or i.node not in flat.nodes]
    node_issues = [i for n in graph.nodes for i in infos[n.id].issues]
    return ValidationResult(graph, infos, graph_issues + node_issues, order, flat=flat, expansion=expansion)


def _renamed(info: NodeInfo, expansion: Expansion) -> NodeInfo:
    """A plain node's result in the design's terms: an instance's inner output id (``layer4.1.relu2``) in its
    sources and messages becomes the instance's id (``layer4``)."""
    tops = {flat_id: top for top, flat_id in expansion.outputs.items() if flat_id != top}
    if not tops:
        return info
    sources = {port: [tops.get(s, s) for s in srcs] for port, srcs in info.sources.items()}
    issues = []
    for issue in info.issues:
        message = issue.message
        for flat_id, top in tops.items():
            message = message.replace(f"‘{flat_id}’", f"‘{top}’")
        edge = issue.edge and (tops.get(issue.edge[0], issue.edge[0]), issue.edge[1])
        issues.append(replace(issue, message=message, edge=edge))
    return replace(info, sources=sources, issues=issues)


def _fold_blockers(graph: Graph, expansion: Expansion, flat: ValidationResult, infos: dict[str, NodeInfo]) -> None:
    """``blocked_by`` in the design's terms: the top-level node (an instance, say) whose problem stops this one."""
    def top(flat_id: str | None) -> str | None:
        place = expansion.origin.get(flat_id) if flat_id else None
        return place.top if place else flat_id

    for node in graph.nodes:
        info = infos[node.id]
        if info.output is not None or any(i.severity is Severity.ERROR for i in info.issues):
            info.blocked_by = None if info.output is not None else info.blocked_by
            continue
        members = [f for f, place in expansion.origin.items() if place.top == node.id]
        blockers = [top(flat.nodes[f].blocked_by) for f in members if flat.nodes[f].blocked_by]
        blockers = [b for b in blockers if b != node.id] or ([top(info.blocked_by)] if info.blocked_by else [])
        info.blocked_by = blockers[0] if blockers else None


def _inside(instance: str, label: str, issue: Issue) -> Issue:
    """An inner layer's issue on its instance; ``inner`` and ``edge`` keep the flat ids (``layer2.0.conv1``) that
    ``builder.block_edits.fix_inside`` turns back into the block's own ids."""
    return Issue(instance, f"{label}: {issue.message}", code=issue.code, severity=issue.severity, edge=issue.edge,
                 fix=issue.fix, inner=issue.node)


def _fold_sources(graph: Graph, node: Node, info: NodeInfo, infos: dict[str, NodeInfo]) -> None:
    assigned = assign_ports(block_for(graph, node.type), graph.in_edges(node.id))
    if isinstance(assigned, PortProblem):
        return  # the expansion reported it
    info.sources = {port: [e.source for e in edges] for port, edges in assigned.items()}
    info.inputs = {port: infos[srcs[0]].output for port, srcs in info.sources.items()}


def _mark_blocked(graph: Graph, expansion: Expansion, infos: dict[str, NodeInfo]) -> None:
    """Nodes after a broken instance: say which instance stops them instead of a confusing second error."""
    dag = _digraph(graph)
    for node_id in expansion.problems:
        for later in nx.descendants(dag, node_id):
            info = infos[later]
            info.issues = [i for i in info.issues if i.code not in ("unconnected", "ports")]
            if info.output is None and info.blocked_by is None:
                info.blocked_by = node_id


def _top_order(graph: Graph) -> list[str]:
    dag = _digraph(graph)
    position = {node_id: k for k, node_id in enumerate(graph.node_ids)}
    try:
        return list(nx.lexicographical_topological_sort(dag, key=position.__getitem__))
    except nx.NetworkXUnfeasible:
        return []
