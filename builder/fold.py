"""Validation through blocks made of blocks: the flat design's results folded back onto the design's own nodes.

An instance shows what its copies compute — its output is its last copy's, its parameters and multiply-adds their
sum — and every problem of a layer inside it, named by its path (``layer2[0] › conv1: …``). Plain nodes keep their
own results, with an instance's inner ids in their messages replaced by the instance's id.
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from builder.blocks import Expansion, block_for, digraph, drawing_order
from builder.graph import Graph, Node
from builder.ports import PortProblem, assign_ports
from builder.results import Issue, NodeInfo, Severity, ValidationResult


def fold(graph: Graph, expansion: Expansion, flat: ValidationResult) -> ValidationResult:
    """The design-level result: plain nodes as validated, each instance summing the copies inside it."""
    infos = {n.id: NodeInfo(n.id, n.type) for n in graph.nodes}
    members: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for flat_id, place in expansion.origin.items():
        members[place.top].append(flat_id)
    tops = {flat_id: top for top, flat_id in expansion.outputs.items() if flat_id != top}  # inner output -> instance
    for node in graph.nodes:
        info = infos[node.id]
        if node.type not in graph.definitions:
            if node.id in flat.nodes:  # absent when an instance upstream could not be expanded
                infos[node.id] = _renamed(flat.nodes[node.id], tops)
                if infos[node.id].blocked_by:  # its shape is only presumed: it waits, as before a fix
                    infos[node.id] = replace(infos[node.id], output=None, param_count=0, macs=0)
            continue
        inner = [flat.nodes[f] for f in members[node.id]]
        counted = [i for i in inner if i.output is not None and not waiting(expansion, i)]
        info.param_count = sum(i.param_count for i in counted)
        info.macs = sum(i.macs for i in counted)
        info.partial = len(counted) < len(inner)
        info.params = {**graph.definitions[node.type].defaults(), **node.params}
        output = expansion.outputs.get(node.id)
        last = flat.nodes.get(output) if output else None
        info.output = last.output if last is not None and not last.blocked_by else None
        for message in expansion.problems.get(node.id, []):
            info.issues.append(Issue(node.id, message, code="block"))
        for item in inner:
            for issue in item.issues:
                info.issues.append(_inside(node.id, expansion.origin[item.id].label, issue))
        _fold_sources(graph, node, info, infos)
    _fold_blockers(graph, expansion, flat, infos, members)
    _mark_blocked(graph, expansion, infos)
    order = [n for n in drawing_order(graph) if infos[n].output is not None]
    graph_issues = [i for i in flat.issues if i.node is None or i.node not in flat.nodes]
    node_issues = [i for n in graph.nodes for i in infos[n.id].issues]
    return ValidationResult(graph, infos, graph_issues + node_issues, order, flat=flat, expansion=expansion)


def waiting(expansion: Expansion, info: NodeInfo) -> bool:
    """A layer checked with a shape presumed after a faulty layer of its own copy (``validate._blame``): it shows
    that it waits for that layer, and its size is not counted. Copies after that one show their shapes."""
    if info.blocked_by is None or info.output is None:
        return False
    place = expansion.origin.get(info.id)
    prefix = info.id[: -len(place.inner)] if place is not None else ""
    return info.blocked_by.startswith(prefix)


def _renamed(info: NodeInfo, tops: dict[str, str]) -> NodeInfo:
    """A copy of a plain node's result in the design's terms: an instance's inner output id (``layer4.1.relu2``)
    in its sources and messages becomes the instance's id (``layer4``). A copy, so the flat result stays as it is."""
    sources = {port: [tops.get(s, s) for s in srcs] for port, srcs in info.sources.items()}
    issues = []
    for issue in info.issues:
        message = issue.message
        for flat_id, top in tops.items():
            message = message.replace(f"‘{flat_id}’", f"‘{top}’")
        edge = issue.edge and (tops.get(issue.edge[0], issue.edge[0]), issue.edge[1])
        issues.append(replace(issue, message=message, edge=edge))
    return replace(info, sources=sources, issues=issues)


def _fold_blockers(graph: Graph, expansion: Expansion, flat: ValidationResult, infos: dict[str, NodeInfo],
                   members: dict[str, list[str]]) -> None:
    """``blocked_by`` in the design's terms: the top-level node (an instance, say) whose problem stops this one."""
    def top(flat_id: str | None) -> str | None:
        place = expansion.origin.get(flat_id) if flat_id else None
        return place.top if place else flat_id

    for node in graph.nodes:
        info = infos[node.id]
        if info.output is not None or any(i.severity is Severity.ERROR for i in info.issues):
            info.blocked_by = None if info.output is not None else info.blocked_by
            continue
        blockers = [top(flat.nodes[f].blocked_by) for f in members[node.id] if flat.nodes[f].blocked_by]
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
    dag = digraph(graph)
    for node_id in expansion.problems:
        for later in nx.descendants(dag, node_id):
            info = infos[later]
            info.issues = [i for i in info.issues if i.code not in ("unconnected", "ports")]
            if info.output is None and info.blocked_by is None:
                info.blocked_by = node_id
