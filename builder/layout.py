"""Where nodes go on the canvas: a layered auto-layout wrapped into rows, free spots for new nodes, room for inserted ones.

A long chain in one row doesn't fit the ~680 x 600 px canvas at a readable zoom, so ``auto_layout`` reads like
text: layers run left to right, and when the row would get too wide the next layers continue on a row below.
The number of rows is picked so the whole design fits the canvas at the largest zoom (up to 100 %). Nodes of one
layer (a residual block's skip branch, an encoder-decoder's two inputs) sit above each other, beside the main path.
Sizes match the canvas's nodes (``ui.canvas_view`` uses ``NODE_W``). Everything here is deterministic, so the
same graph always lays out the same way and a re-layout doesn't jiggle the canvas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import networkx as nx

from builder.graph import Graph, Node

NODE_W = 160.0  # the canvas node's width (px at 100 %)
NODE_H = 80.0  # three lines of text (measured ~70 px in Chromium); a fourth line still leaves a gap
LABEL_GAP = 60.0  # between layers: room for the edge's shape label ("16×10×10" is ~55 px)
SIBLING_GAP = 26.0  # between nodes of one layer, and between rows (an edge label is ~16 px tall)
BAND_GAP = 0.0  # extra room between wrapped rows (none: 23-node resnet_mini must still fit at 75 %)
COL_STEP = NODE_W + LABEL_GAP
ROW_STEP = NODE_H + SIBLING_GAP
STEP_X = 300.0  # a node added after another lands this far right (edits keep plenty of room for labels)
STEP_Y = ROW_STEP  # one row down
VIEW_W = 680.0  # the canvas at 1280 x 800 (ui.canvas uses VIEW_H as its height)
VIEW_H = 600.0
FIT_PADDING = 0.1  # React Flow's fitView padding
BEST_ZOOM = 1.0  # rows are added only while they make the design bigger on screen, up to 100 %
DIRECTIONS = ("LR", "TB")

Pos = tuple[float, float]


def needs_layout(graph: Graph) -> bool:
    """True when some node has no position (templates and share links carry none)."""
    return any(n.pos is None for n in graph.nodes)


def auto_layout(graph: Graph, direction: str = "LR") -> Graph:
    """Every node placed in layers by longest path from the inputs; ``direction`` is "LR" (rows) or "TB"."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    layers = _layers(graph)
    positions = _rows(layers) if direction == "LR" else _columns(layers)
    return graph.with_nodes(_placed(n, positions[n.id]) for n in graph.nodes)


def _rows(layers: list[list[str]]) -> dict[str, Pos]:
    """Layers left to right, wrapped into rows; each layer's nodes stacked in its row."""
    positions: dict[str, Pos] = {}
    top, start = 0.0, 0
    for length in _best_bands([len(layer) for layer in layers]):
        band = layers[start:start + length]
        tallest = max(len(layer) for layer in band)
        for column, layer in enumerate(band):
            offset = (tallest - len(layer)) / 2  # centre each layer on the band's tallest one
            for index, node_id in enumerate(layer):
                positions[node_id] = (column * COL_STEP, top + (offset + index) * ROW_STEP)
        top += tallest * ROW_STEP + BAND_GAP
        start += length
    return positions


def _columns(layers: list[list[str]]) -> dict[str, Pos]:
    """Top to bottom, one layer per row (no wrapping)."""
    widest = max((len(layer) for layer in layers), default=0)
    positions: dict[str, Pos] = {}
    for depth, layer in enumerate(layers):
        offset = (widest - len(layer)) / 2
        for index, node_id in enumerate(layer):
            positions[node_id] = ((offset + index) * COL_STEP, depth * (ROW_STEP + BAND_GAP))
    return positions


def _best_bands(sizes: list[int]) -> list[int]:
    """Layers per row giving the largest zoom (capped at ``BEST_ZOOM``) that shows everything; ties: fewer rows."""
    best: list[int] = [len(sizes)] if sizes else []
    best_key = (-1.0, 0)
    for per_row in range(len(sizes), 0, -1):
        bands = _bands(sizes, per_row)
        width = max(bands) * COL_STEP - LABEL_GAP
        height, start = 0.0, 0
        for length in bands:
            height += max(sizes[start:start + length]) * ROW_STEP + BAND_GAP
            start += length
        key = (round(min(fit_zoom(width, height - SIBLING_GAP - BAND_GAP), BEST_ZOOM), 3), -len(bands))
        if key > best_key:
            best, best_key = bands, key
    return best


def _bands(sizes: list[int], per_row: int) -> list[int]:
    """Split the layers into rows of at most ``per_row``, as few stacked nodes as possible, then fewest rows.

    Cutting between two layers of a residual block's two branches would stack both halves: keep them together.
    """
    cost: list[tuple[int, int]] = [(0, 0)]
    cut: list[int] = [0]
    for end in range(1, len(sizes) + 1):
        options = []
        for begin in range(max(0, end - per_row), end):
            height, count = cost[begin]
            options.append(((height + max(sizes[begin:end]), count + 1), -begin))  # ties: fill rows first
        best_cost, neg_begin = min(options)
        cost.append(best_cost)
        cut.append(-neg_begin)
    lengths, end = [], len(sizes)
    while end > 0:
        lengths.append(end - cut[end])
        end = cut[end]
    return lengths[::-1]


def fit_zoom(width: float, height: float) -> float:
    """The zoom at which React Flow's fitView shows a ``width`` x ``height`` box on the canvas."""
    scale = 1 + FIT_PADDING
    return min(VIEW_W / (max(width, 1.0) * scale), VIEW_H / (max(height, 1.0) * scale))


def extent(graph: Graph) -> tuple[float, float]:
    """Width and height of the box around every placed node (0, 0 when none is placed)."""
    spots = [n.pos for n in graph.nodes if n.pos is not None]
    if not spots:
        return (0.0, 0.0)
    xs, ys = [p[0] for p in spots], [p[1] for p in spots]
    return (max(xs) - min(xs) + NODE_W, max(ys) - min(ys) + NODE_H)


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
    for node in graph.inputs():  # inputs always start the first row
        depth[node.id] = 0
    count = max(depth.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for node_id in graph.node_ids:
        layers[depth[node_id]].append(node_id)
    place: dict[str, float] = {}
    for layer in layers:
        layer.sort(key=lambda n: (_barycentre(dag, n, place, rank), rank[n]))
        place.update((n, float(i)) for i, n in enumerate(layer))
    return [layer for layer in layers if layer]


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
    wrapped = _next_row_spot(graph, anchor, spot)
    if wrapped is not None:
        return graph, wrapped
    if not overlaps(spot, taken(graph)):
        return graph, spot
    below = _descendants(graph, anchor.id)
    if below and overlaps(spot, [n.pos for n in graph.nodes if n.id in below and n.pos is not None]):
        graph = _shift(graph, below, STEP_X)
    return graph, free_spot(graph, near=spot)


def _next_row_spot(graph: Graph, anchor: Node, spot: Pos) -> Pos | None:
    """In a design laid out in rows, a block added after the end of the chain takes the next column of its row,
    or starts the next row when the row is full: ``spot`` would lie past the design's right edge, outside the
    view fitted to the design.
    """
    placed = taken(graph)
    if graph.out_edges(anchor.id) or len({p[1] for p in placed}) < 2:
        return None
    right = max(p[0] for p in placed)
    beside = (anchor.pos[0] + COL_STEP, anchor.pos[1])
    if beside[0] <= right and not overlaps(beside, placed):
        return beside
    if spot[0] <= right:
        return None
    return free_spot(graph, near=(min(p[0] for p in placed), anchor.pos[1] + STEP_Y))


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
