"""Live validation: topology through networkx, then shapes in topological order with closed-form rules.

``validate(graph)`` returns every node's output shape (or why it has none), its parameter count and its
issues. It raises only on programmer errors; every user mistake becomes an ``Issue`` naming its node.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from builder.blocks import Expansion, digraph, expand
from builder.catalog import BlockError, Fix, get_block, has_block
from builder.catalog.registry import BlockSpec, Resolved, TensorSpec, main_spec
from builder.fix_links import link_fix
from builder.fold import fold
from builder.graph import SOURCE_TYPES, Edge, Graph, Node
from builder.ports import PortProblem, assign_ports
from builder.results import Issue, NodeInfo, Severity, ValidationResult
from builder.settings import settings

__all__ = ["Issue", "NodeInfo", "Severity", "ValidationResult", "human_count", "validate"]

# The default of LAYERLAB_MAX_PARAMS: a design above the limit in force (builder.settings) is refused here,
# from closed-form counts, before any tensor is allocated.
MAX_PARAMS = 1_000_000_000
MAX_ACTIVATION_VALUES = 2**31 - 1  # per sample, per tensor: beyond torch's int32 indexing on many kernels


def validate(graph: Graph, max_params: int | None = None) -> ValidationResult:
    """Check topology and shapes of the whole graph; ``max_params`` defaults to the setting.

    A design with blocks made of blocks is expanded (``builder.blocks``) and its flat form validated; every inner
    problem is then shown on the instance that holds it, naming its path."""
    if not graph.definitions:
        return _validate_flat(graph, max_params)
    expansion = expand(graph)
    inside = frozenset(f for f, place in expansion.origin.items() if place.definition is not None)
    flat = _validate_flat(expansion.flat, max_params, inside)
    _link_fixes(graph, expansion, flat)
    return fold(graph, expansion, flat)


def _link_fixes(graph: Graph, expansion: Expansion, flat: ValidationResult) -> None:
    """Fixes of layers inside blocks that keep the links to block parameters (``builder.fix_links``), in place:
    the folded design, the opened copy and ``fix_inside`` all read these issues."""
    linked: dict[int, Issue] = {}
    for info in flat.nodes.values():
        for issue in info.issues:
            if issue.fix is not None and issue.fix.action == "set_param":
                linked[id(issue)] = link_fix(graph, expansion, issue)
        if linked:
            info.issues = [linked.get(id(i), i) for i in info.issues]
    flat.issues = [linked.get(id(i), i) for i in flat.issues]


def _validate_flat(graph: Graph, max_params: int | None = None,
                   inside: frozenset[str] = frozenset()) -> ValidationResult:
    """``inside``: the flat ids of layers inside blocks, where a mismatch at a merge is blamed on the layer that
    set the odd size (``_blame``), so each copy of a block shows its own error and later copies are still checked."""
    limits = settings()
    max_params = limits.max_params if max_params is None else max_params
    infos = {n.id: NodeInfo(n.id, n.type) for n in graph.nodes}
    issues: list[Issue] = []
    if len(infos) > limits.max_nodes:  # checked first: the rest of the work grows with the graph
        issues.append(Issue(None, f"the graph has {len(infos):,} blocks; the limit is {limits.max_nodes:,} "
                                  "(LAYERLAB_MAX_NODES)", code="size"))
        return ValidationResult(graph, infos, issues, [])
    dag = digraph(graph)
    on_cycle = _report_cycles(dag, infos)
    _report_topology(graph, dag, infos, issues, bool(on_cycle))
    # One pass over the edges instead of graph.node()/in_edges() per node: those are O(N) each (O(N²) in all).
    by_id = {n.id: n for n in graph.nodes}
    in_edges: dict[str, list[Edge]] = {node_id: [] for node_id in by_id}
    for edge in graph.edges:
        in_edges[edge.target].append(edge)
    order: list[str] = []
    for node_id in _topological_order(graph, dag, on_cycle):
        if _infer_node(by_id[node_id], in_edges[node_id], infos, inside):
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


def _report_topology(graph: Graph, dag: nx.DiGraph, infos: dict[str, NodeInfo], issues: list[Issue],
                     has_cycle: bool = False) -> None:
    inputs = [n.id for n in graph.inputs()]
    if not inputs:
        issues.append(Issue(None, "the graph has no Input block: add one to say what data goes in",
                            code="no_input", fix=Fix("add an Input", "add_node", {"type": "Input"})))
    for node in graph.nodes:
        if node.type in SOURCE_TYPES:
            if not dag.succ[node.id]:  # adjacency lookups: degree views cost a few µs each
                infos[node.id].issues.append(Issue(node.id, f"this {node.type} feeds nothing: connect it to a block",
                                                   code="unused", severity=Severity.WARNING))
        elif not dag.pred[node.id] and not (has_block(node.type) and get_block(node.type).is_source):
            infos[node.id].issues.append(Issue(
                node.id, f"{node.type} has no input: drag an edge into it from the block that should feed it",
                code="unconnected"))
    if graph.nodes and not graph.sinks() and not has_cycle:  # a cycle has no end: its own issue says why
        issues.append(Issue(None, "the graph has no output: add a block after the Input", code="no_output"))


def _infer_node(node: Node, in_edges: list[Edge], infos: dict[str, NodeInfo],
                inside: frozenset[str] = frozenset()) -> bool:
    """Fill ``infos[node.id]``; True when the node has an output shape.

    A node after a blamed layer (``_blame``) is checked with the shape presumed there and keeps ``blocked_by``:
    it says it waits for that layer, while later copies of the block can still show their own shapes."""
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
    if any(e.source_port is not None for e in in_edges):
        info.source_ports = {port: [e.source_port for e in edges] for port, edges in assigned.items()}
    blocker = _blocker(info.sources, infos)
    if blocker:
        info.blocked_by = blocker
        return False
    if not _check_source_ports(node, in_edges, infos, info):
        return False
    specs = {
        port: [infos[s].port_output(sp) for s, sp in zip(srcs, _ports_of(info, port, len(srcs)))]
        if block.ports[0].variadic else infos[srcs[0]].port_output(info.source_port(port))
        for port, srcs in info.sources.items()
    }
    presumed = next((infos[s].blocked_by for srcs in info.sources.values() for s in srcs if infos[s].blocked_by), None)
    if node.id in inside and block.ports[0].variadic and not _accepts(block, params, specs) \
            and _blame(node, specs, info, infos):
        return True
    if not _apply_rule(block, node, params, specs, info, info.sources):
        return False
    info.blocked_by = presumed
    return True


def _ports_of(info: NodeInfo, port: str, count: int) -> list[str | None]:
    return info.source_ports.get(port) or [None] * count


def _check_source_ports(node: Node, in_edges: list[Edge], infos: dict[str, NodeInfo], info: NodeInfo) -> bool:
    """Every edge reads an output its source has: a named one that exists, or the main one where there is one."""
    for edge in in_edges:
        source = infos[edge.source]
        names = list(source.outputs)
        message = None
        if edge.source_port is not None and edge.source_port not in names:
            message = (f"‘{edge.source}’ has no output '{edge.source_port}'; its outputs: {', '.join(names)}" if names
                       else f"‘{edge.source}’ ({source.type}) has one output, so the edge can't read its output "
                            f"'{edge.source_port}'")
        elif edge.source_port is None and names and _has_no_main(source):
            message = f"‘{edge.source}’ has several outputs ({', '.join(names)}): the edge must say which it reads"
        if message is not None:
            info.issues.append(Issue(node.id, f"the edge from ‘{edge.source}’: {message}", code="ports",
                                     edge=edge.key, fix=Fix("remove this edge", "remove_edge",
                                                            {"source": edge.source, "target": edge.target})))
            return False
    return True


def _has_no_main(info: NodeInfo) -> bool:
    block = get_block(info.type)
    return block.outputs is not None and block.outputs(info.params).main is None


def _accepts(block: BlockSpec, params: Resolved, specs: dict[str, Any]) -> bool:
    """The merge's own rule takes these inputs (a Concat of 8 and 6 channels is fine: nothing to blame)."""
    try:
        block.infer(dict(params), specs)
    except BlockError:
        return False
    return True


# Where a layer sets the size a merge disagrees with: channels of an image (first dim), features (last dim).
_SIZE_PARAMS = (("out_channels", 0, 3), ("out_features", -1, 1))


def _blame(node: Node, specs: dict[str, Any], info: NodeInfo, infos: dict[str, NodeInfo]) -> bool:
    """A merge inside a block whose inputs differ in size only, where one input's size was set by one layer of
    the same copy (``conv2`` typed to 96 while the shortcut has 128): the error and its fix go on that layer, the
    merge waits for it and passes on the shortcut's shape (its shallowest input, what the block promises)."""
    sources = info.sources.get("inputs", [])
    shapes = [spec.shape for spec in specs.get("inputs", [])]
    if len(sources) != 2 or len(set(shapes)) != 2:
        return False
    depth = {s: _depth(s, infos, {}) for s in sources}
    short, deep = sorted(sources, key=depth.__getitem__)
    maker = _size_maker(deep, infos)
    want, have = infos[short].output, infos[deep].output
    for param, dim, rank in _SIZE_PARAMS:
        if maker is None or param not in infos[maker].params or len(want.shape) != rank:
            continue
        others = [k for k in range(rank) if k != dim % rank]
        if any(want.shape[k] != have.shape[k] for k in others) or _copy(maker) != _copy(node.id):
            continue
        size, unit, copy = want.shape[dim], "channels" if rank == 3 else "features", _copy(node.id)
        other = f"‘{short[len(copy) + 1:]}’" if short.startswith(copy + ".") else "the block's input"
        infos[maker].issues.append(Issue(
            maker, f"{param}={infos[maker].params[param]} gives {have.shape[dim]} {unit}, but ‘{_short(node.id)}’ "
                   f"adds them to {size} {unit} from {other}: the two must match", code="shape",
            fix=Fix(f"set {param} to {size}", "set_param", {"name": param, "value": size})))
        info.inputs, info.output, info.blocked_by = specs, want, maker
        return True
    return False


def _depth(node_id: str, infos: dict[str, NodeInfo], seen: dict[str, int]) -> int:
    """Layers on the longest path into ``node_id``: the shortcut of a residual block is the shallow input."""
    if node_id not in seen:
        seen[node_id] = 0  # guards a cycle (validation skips nodes on cycles anyway)
        srcs = [s for found in infos[node_id].sources.values() for s in found]
        seen[node_id] = 1 + max((_depth(s, infos, seen) for s in srcs), default=0)
    return seen[node_id]


def _size_maker(node_id: str, infos: dict[str, NodeInfo]) -> str | None:
    """Walk up through layers that keep the shape (BatchNorm, ReLU, Dropout) to the one that changed it."""
    current = node_id
    for _ in range(len(infos)):
        info = infos[current]
        srcs = [s for found in info.sources.values() for s in found]
        if len(srcs) != 1 or infos[srcs[0]].output is None or infos[srcs[0]].output.shape != info.output.shape:
            return current if len(srcs) == 1 else None
        current = srcs[0]
    return None


def _copy(flat_id: str) -> str:
    return flat_id.rsplit(".", 1)[0] if "." in flat_id else ""


def _short(flat_id: str) -> str:
    return flat_id.rsplit(".", 1)[-1]


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
        out = _infer_unbatched(block, params, specs) if _has_unbatched(block, specs) else block.infer(params, specs)
    except BlockError as err:
        info.issues.append(_issue_from(node, err, sources))
        return False
    except IndexError:  # a rule read a dimension its input doesn't have (a Linear after a full reduction)
        shapes = ", ".join(str(s) for s in specs.values())
        err = BlockError(f"{block.type} needs more dimensions than its input {shapes} has: reduce or reshape "
                         "less before it, or keep a feature dimension")
        info.issues.append(_issue_from(node, err, sources))
        return False
    if block.outputs is not None:  # several outputs: each by name, the main one stands for the node
        info.outputs = dict(out)
        out = main_spec(block, params, out)
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


def _has_unbatched(block: BlockSpec, specs: dict[str, Any]) -> bool:
    if block.unbatched == "native":
        return False
    return any(not s.batched for spec in specs.values() for s in (spec if isinstance(spec, list) else [spec]))


def _infer_unbatched(block: BlockSpec, params: Resolved, specs: dict[str, Any]) -> TensorSpec:
    """A layer given a tensor without a batch dimension (positions, a Parameter): a row-wise layer treats the
    leading dimension as its rows, as torch's layer does (an Embedding of (T,) positions gives (T, D)); any
    other layer says why it can't take one."""
    flat = [s for spec in specs.values() for s in (spec if isinstance(spec, list) else [spec])]
    sample = next(s for s in flat if not s.batched)
    if block.unbatched != "rows" or len(flat) != 1 or not sample.shape:
        raise BlockError(f"{block.type} needs a batch dimension, but its input {sample} has none (it is a "
                         "Parameter, a constant or positions, the same for every sample): combine it with a batched "
                         "tensor first (an add or expand op), or use a tensor op")
    port = next(iter(specs))
    # Rows: (T,) positions into an Embedding, a (T, D) table into a Linear. A single float vector (D,) is one row,
    # as torch's Linear or LayerNorm reads it.
    one_row = len(sample.shape) == 1 and sample.dtype != "long"
    rows, rest = ((), sample.shape) if one_row else ((sample.shape[0],), sample.shape[1:])
    try:
        out = block.infer(params, {port: TensorSpec(tuple(rest), sample.dtype)})
    except (IndexError, ValueError, KeyError):
        raise BlockError(f"{block.type} can't take {sample}, a tensor without a batch dimension") from None
    return TensorSpec((*rows, *out.shape), out.dtype, batched=False)


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
