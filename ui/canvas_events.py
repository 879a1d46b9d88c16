"""Turning what the canvas sends back into graph edits (no Streamlit here, so it is testable on its own).

The canvas returns its whole state: positions, the nodes and edges it still has, edges the user drew, nodes
made with the pane menu's free text, and the clicked id. ``builder.edits.sync_from_canvas`` applies the
positions and edge/node changes; this module adds the free-text nodes and works out the selection.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from builder.catalog import all_blocks
from builder.edits import EditError, add_node, sync_from_canvas
from builder.graph import Graph

PANE_NODE_PREFIX = "st-flow-node_"  # ids the pane menu's "Create New Node" gives
EDGE_ID = re.compile(r"^st-flow-edge_(.+)-(.+)$")


@dataclass
class CanvasOutcome:
    graph: Graph
    selected: str | None = None  # a node the user clicked, or the target of an edge they drew
    messages: list[str] = field(default_factory=list)  # user mistakes, e.g. an unknown block name
    structural: bool = False  # anything other than positions changed: the other panels must refresh


def match_block_type(text: str) -> str | None:
    """The block type typed into the pane menu: its name or an alias, any case, markup stripped."""
    word = re.sub(r"<[^>]*>|[*_`#]", "", text or "").strip().lower()
    if not word:
        return None
    for block in all_blocks():
        if word == block.type.lower() or word in (a.lower() for a in block.aliases):
            return block.type
    return None


def unknown_block_message(text: str) -> str:
    names = [b.type for b in all_blocks()]
    close = difflib.get_close_matches(text.strip(), names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " Type a block name from the palette, e.g. Conv2d."
    return f"‘{text.strip()[:40]}’ is not a block type, so no node was added.{hint}"


def _strip_positions(graph: Graph) -> Graph:
    return graph.with_nodes(replace(n, pos=None) for n in graph.nodes)


def _pane_nodes(graph: Graph, nodes: list[dict[str, Any]]) -> tuple[Graph, list[str], str | None]:
    """Add a block for every free-text node the pane menu created."""
    messages: list[str] = []
    new_id = None
    for item in nodes:
        node_id = str(item.get("id", ""))
        if not node_id.startswith(PANE_NODE_PREFIX) or graph.has_node(node_id):
            continue
        text = str((item.get("data") or {}).get("content") or "")
        type_name = match_block_type(text)
        if type_name is None:
            messages.append(unknown_block_message(text))
            continue
        position = item.get("position") or {}
        pos = (float(position.get("x", 0.0)), float(position.get("y", 0.0)))
        try:
            graph, new_id = add_node(graph, type_name, pos=pos)
        except EditError as err:
            messages.append(str(err))
    return graph, messages, new_id


def _clicked_node(old: Graph, new: Graph, clicked: str | None) -> str | None:
    """The node to select: a clicked node, or the target of an edge just drawn (where its problem shows).

    A click on an existing edge selects nothing, so the canvas keeps that edge selected for the Delete key.
    """
    if not clicked:
        return None
    if new.has_node(clicked):
        return clicked
    if EDGE_ID.match(clicked):
        for edge in new.edges:  # ids may contain '-', so compare against the real edges
            if clicked == f"st-flow-edge_{edge.source}-{edge.target}" and edge not in old.edges:
                return edge.target
    return None


def apply_canvas_state(graph: Graph, value: dict[str, Any]) -> CanvasOutcome:
    """The graph after the canvas's state ``value`` ({nodes, edges, selectedId}) is applied."""
    nodes = list(value.get("nodes") or [])
    edges = list(value.get("edges") or [])
    messages: list[str] = []
    try:
        synced = sync_from_canvas(graph, nodes, edges)
    except EditError as err:
        synced = graph
        messages.append(str(err))
    synced, pane_messages, new_id = _pane_nodes(synced, nodes)
    messages += pane_messages
    structural = _strip_positions(synced) != _strip_positions(graph)
    selected = new_id or _clicked_node(graph, synced, value.get("selectedId"))
    return CanvasOutcome(synced, selected, messages, structural)
