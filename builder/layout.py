"""Where nodes go on the canvas: a layered auto-layout, free spots for new nodes, and room for inserted ones.

Sizes match streamlit-flow nodes showing a type, a few parameters and a shape (~220 x 110 px). Everything here
is deterministic, so the same graph always lays out the same way and a re-layout doesn't jiggle the canvas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import networkx as nx

from builder.graph import Graph, Node

NODE_W = 220.0
NODE_H = 110.0
LAYER_GAP = 80.0  # between layers: room for the edge's shape label
SIBLING_GAP = 40.0  # between nodes of one layer
STEP_X = NODE_W + LAYER_GAP  # one layer to the right
STEP_Y = NODE_H + SIBLING_GAP  # one row down
DIRECTIONS = ("LR", "TB")

Pos = tuple[float, float]


def needs_layout(graph: Graph) -> bool:
    """True when some node has no position (templates and share links carry none)."""
    return any(n.pos is None for n in graph.nodes)


def auto_layout(graph: Graph, direction: str = "LR") -> Graph:
    """Every node placed in layers by longest path from the inputs; ``direction`` is "LR" or "TB"."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    layers = _layers(graph)
    positions: dict[str, Pos] = {}
    widest = max((len(layer) for layer in layers), default=0)
    for depth, layer in enumerate(layers):
        offset = (widest - len(layer)) / 2  # centre each layer on the widest one
        for index, node_id in enumerate(layer):
            across = offset + index
            if direction == "LR":
                positions[node_id] = (depth * STEP_X, across * STEP_Y)
            else:
                positions[node_id] = (across * (NODE_W + SIBLING_GAP), depth * (NODE_H + LAYER_GAP))
    return graph.with_nodes(_placed(n, positions[n.id]) for n in graph.nodes)


def _placed(node: Node, pos: Pos) -> Node:
    return node if node.pos == pos else replace(node, pos=pos)


def _acyclic(graph: Graph) -> nx.DiGraph:
    """The graph's edges as a DAG: one edge of every cycle is dropped (validation reports the cycle)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.node_ids)
    dag.add_edges_from(e.key for e in graph.edges if e.source != e.target)
    while True:
        try:
            cycle = nx.find_cycle(dag)
        except nx.NetworkXNoCycle:
            return dag
        dag.remove_edge(*cycle[-1][:2])


def _layers(graph: Graph) -> list[list[str]]:
    """Node ids per layer, each layer ordered to keep edges from crossing (barycentre of predecessors)."""
    dag = _acyclic(graph)
    rank = {k: i for i, k in enumerate(graph.node_ids)}
    depth: dict[str, int] = {}
    for node_id in nx.lexicographical_topological_sort(dag, key=rank.__getitem__):
        preds = list(dag.predecessors(node_id))
        depth[node_id] = max((depth[p] + 1 for p in preds), default=0)
    for node in graph.inputs():  # inputs always sit at the left edge
        depth[node.id] = 0
    count = max(depth.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for node_id in graph.node_ids:
        layers[depth[node_id]].append(node_id)
    place: dict[str, float] = {}
    for layer in layers:
        layer.sort(key=lambda n: (_barycentre(dag, n, place, rank), rank[n]))
        place.update((n, float(i)) for i, n in enumerate(layer))
    return layers


def _barycentre(dag: nx.DiGraph, node_id: str, place: dict[str, float], rank: dict[str, int]) -> float:
    placed = [place[p] for p in dag.predecessors(node_id) if p in place]
    return sum(placed) / len(placed) if placed else float(rank[node_id])


def overlaps(pos: Pos, others: Iterable[Pos]) -> bool:
    """True when a node at ``pos`` would cover (part of) a node at one of ``others``."""
    return any(abs(pos[0] - o[0]) < NODE_W + SIBLING_GAP / 2 and abs(pos[1] - o[1]) < NODE_H + SIBLING_GAP / 2
               for o in others)


def taken(graph: Graph, exclude: Iterable[str] = ()) -> list[Pos]:
    skip = set(exclude)
    return [n.pos for n in graph.nodes if n.pos is not None and n.id not in skip]


def free_spot(graph: Graph, near: Pos | None = None) -> Pos:
    """The first position that overlaps no node: below ``near`` if given, else on a grid scanned row by row."""
    used = taken(graph)
    if near is not None:
        x, y = near
        while overlaps((x, y), used):
            y += STEP_Y
        return (x, y)
    if not used:
        return (0.0, 0.0)
    x0 = min(p[0] for p in used)
    y0 = min(p[1] for p in used)
    columns = max(4, int((max(p[0] for p in used) - x0) // STEP_X) + 2)
    row = 0
    while True:  # ends: each row has ``columns`` cells and there are finitely many nodes
        for col in range(columns):
            spot = (x0 + col * STEP_X, y0 + row * STEP_Y)
            if not overlaps(spot, used):
                return spot
        row += 1


def room_after(graph: Graph, anchor: Node) -> tuple[Graph, tuple[float, float]]:
    """The spot right of ``anchor``; when a downstream node sits there, shift the descendants right to open a gap."""
    if anchor.pos is None:
        return graph, free_spot(graph)
    spot = (anchor.pos[0] + STEP_X, anchor.pos[1])
    if not overlaps(spot, taken(graph)):
        return graph, spot
    below = _descendants(graph, anchor.id)
    if below and overlaps(spot, [n.pos for n in graph.nodes if n.id in below and n.pos is not None]):
        graph = _shift(graph, below, STEP_X)
    return graph, free_spot(graph, near=spot)


def _descendants(graph: Graph, node_id: str) -> set[str]:
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.node_ids)
    dag.add_edges_from(e.key for e in graph.edges)
    return nx.descendants(dag, node_id) - {node_id}


def _shift(graph: Graph, ids: set[str], dx: float) -> Graph:
    return graph.with_nodes(
        replace(n, pos=(n.pos[0] + dx, n.pos[1])) if n.id in ids and n.pos is not None else n for n in graph.nodes
    )


def room_before(graph: Graph, node: Node) -> tuple[Graph, tuple[float, float] | None]:
    """The new node takes ``node``'s place; ``node`` and everything after it move one step right."""
    if node.pos is None:
        return graph, None
    moving = _descendants(graph, node.id) | {node.id}
    return _shift(graph, moving, STEP_X), node.pos
