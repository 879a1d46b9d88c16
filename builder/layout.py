"""Where nodes go on the canvas: the layered drawing (``builder.layered``) for every node the user hasn't moved.

A node's ``pos`` is None until the user drags it: such nodes follow the layered layout, which is recomputed after
every edit, so a new block lands in the flow next to what it is wired to and the design stays tidy. A node the
user moved keeps its position ("pinned"); an auto-placed node that would land on a pinned one moves to a free
spot. "Auto-layout" unpins everything (``builder.edits.unpin_all``). Routes (skip connections around blocks,
label spots between layers) are kept only for edges whose two ends are where the layered layout put them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from builder.graph import Graph
from builder.label_spots import apart
from builder.layered import (
    FIT_PADDING,
    LAYER_GAP,
    MAX_NODE_W,
    NODE_GAP,
    NODE_H,
    NODE_W,
    STEP_Y,
    VIEW_H,
    VIEW_W,
    Drawing,
    Route,
    draw,
    fit_zoom,
)

__all__ = ["FIT_PADDING", "NODE_H", "NODE_W", "VIEW_H", "VIEW_W", "Drawing", "Route", "auto_layout", "extent",
           "fit_zoom", "free_spot", "needs_layout", "overlaps", "place"]

Pos = tuple[float, float]
STEP_X = MAX_NODE_W + NODE_GAP * 2


def needs_layout(graph: Graph) -> bool:
    """True when some node follows the layered layout (no position of its own)."""
    return any(n.pos is None for n in graph.nodes)


def place(graph: Graph, label_widths: Mapping[tuple[str, str], float] | None = None,
          node_widths: Mapping[str, float] | None = None) -> Drawing:
    """Every node's position on the canvas: its own if the user placed it, else the layered layout's; no edge
    label on another (``builder.label_spots``). ``node_widths``: the faces' widths (``NODE_W`` where absent)."""
    drawing = draw(graph, label_widths, node_widths)
    pinned = {n.id: n.pos for n in graph.nodes if n.pos is not None}
    if pinned:
        positions = dict(drawing.positions)
        positions.update(pinned)
        used = list(pinned.values())
        for node in graph.nodes:
            if node.pos is None and overlaps(positions[node.id], used):
                positions[node.id] = _free(used, near=positions[node.id])
            if node.pos is None:
                used.append(positions[node.id])
        routes = {key: r for key, r in drawing.routes.items()
                  if positions[key[0]] == r.start and positions[key[1]] == r.end}
        drawing = Drawing(positions, routes, _size(positions, drawing.widths), drawing.widths)
    if not label_widths:
        return drawing
    return replace(drawing, routes=apart(drawing.routes, label_widths, drawing.positions, drawing.widths))


def auto_layout(graph: Graph) -> Graph:
    """The graph with every node at its layered position (for pictures and files that need positions)."""
    positions = draw(graph).positions
    return graph.with_nodes(replace(n, pos=positions[n.id]) for n in graph.nodes)


def _size(spots: Mapping[str, Pos], widths: Mapping[str, float]) -> tuple[float, float]:
    if not spots:
        return (0.0, 0.0)
    left = min(x for x, _ in spots.values())
    right = max(x + widths.get(n, NODE_W) for n, (x, _) in spots.items())
    ys = [y for _, y in spots.values()]
    return (right - left, max(ys) - min(ys) + NODE_H)


def extent(graph: Graph) -> tuple[float, float]:
    """Width and height of the drawing of ``graph`` on the canvas."""
    return place(graph).size


def overlaps(pos: Pos, others: Iterable[Pos]) -> bool:
    """True when a node at ``pos`` would cover (part of) a node at one of ``others`` (as wide as the widest)."""
    return any(abs(pos[0] - o[0]) < MAX_NODE_W + NODE_GAP and abs(pos[1] - o[1]) < NODE_H + LAYER_GAP / 2
               for o in others)


def _free(used: list[Pos], near: Pos) -> Pos:
    """The first spot below ``near`` (then further right) that covers no node."""
    x, y = near
    while True:  # ends: finitely many nodes, and each step moves past one
        for row in range(12):
            spot = (x, y + row * STEP_Y)
            if not overlaps(spot, used):
                return spot
        x += STEP_X


def free_spot(graph: Graph, near: Pos | None = None) -> Pos:
    """A position that overlaps no placed node: below ``near`` if given, else right of the drawing."""
    used = [p for p in place(graph).positions.values()] if graph.nodes else []
    if not used:
        return near or (0.0, 0.0)
    return _free(used, near or (max(p[0] for p in used) + STEP_X, min(p[1] for p in used)))
