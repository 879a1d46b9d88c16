"""Turning one canvas event into one graph edit (no Streamlit here, so it is testable on its own).

The canvas (ui/canvas_frontend) never sends its state, only what the user asked for, one intent per event:
``{"id", "kind": "select" | "delete" | "connect" | "move" | "create" | "undo" | "redo" | "open", ...}``; a
connect from a block with several outputs says which with ``sourcePort`` (the handle's output name).
Every delete, whatever started it (Backspace, Delete, the right-click menu, the inspector), is
``builder.edits.delete``: the same edit, the same bridge over a removed node with one input and one output, one
undo step.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from builder.catalog import all_blocks
from builder.edits import EditError, add_node, connect, delete, move_nodes
from builder.graph import Edge, Graph
from ui.design.canvas_view import edge_id


class Step(Enum):
    """What the history must do besides taking ``CanvasOutcome.graph``."""

    EDIT = "edit"
    UNDO = "undo"
    REDO = "redo"
    OPEN = "open"  # show the inside of the block ``CanvasOutcome.selected`` (a double-click on it)


@dataclass
class CanvasOutcome:
    graph: Graph
    selected: str | None = None  # the node to select afterwards
    messages: list[str] = field(default_factory=list)  # user mistakes, e.g. an unknown block name
    step: Step = Step.EDIT
    key: str | None = None  # history key: consecutive drags of one node are one undo step
    selection: list[str] = field(default_factory=list)  # several nodes selected together (Shift+click or drag)


STILL_PX = 0.5  # a node "moved" less than this (the canvas rounds positions to 0.1 px) did not move


def match_block_type(text: str) -> str | None:
    """The block type typed into the canvas's menu: its name or an alias, any case, markup stripped."""
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


def _edge_keys(graph: Graph, ids: Any) -> list[tuple[str, str] | Edge]:
    """The edges the canvas names; one that reads a named output is that edge alone."""
    by_id = {edge_id(e): e if e.source_port is not None else e.key for e in graph.edges}
    return [by_id[i] for i in ids or () if isinstance(i, str) and i in by_id]


def _names(values: Any) -> list[str]:
    return [v for v in values or () if isinstance(v, str)]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EditError(f"a canvas position must be a number, not {value!r}")
    return float(value)


def apply_event(graph: Graph, selected: str | None, event: Mapping[str, Any],
                drawn: Mapping[str, tuple[float, float]] | None = None) -> CanvasOutcome:
    """The graph after one canvas event. Unknown ids are skipped: the event may refer to something just deleted.
    ``drawn``: where the canvas shows each node now, so that a "move" to the same place is no edit."""
    kind = event.get("kind")
    try:
        if kind == "select":
            node = event.get("node")
            many = [n for n in _names(event.get("nodes")) if graph.has_node(n)]
            return CanvasOutcome(graph, node if isinstance(node, str) and graph.has_node(node) else None,
                                 selection=many)
        if kind == "open":
            node = event.get("node")
            found = node if isinstance(node, str) and graph.has_node(node) else None
            return CanvasOutcome(graph, found, step=Step.OPEN)
        if kind == "delete":
            new = delete(graph, _names(event.get("nodes")), _edge_keys(graph, event.get("edges")))
            return CanvasOutcome(new, selected if selected and new.has_node(selected) else None)
        if kind == "connect":
            port = event.get("sourcePort")  # the handle dragged from, on a block with several outputs
            new = connect(graph, str(event.get("source")), str(event.get("target")),
                          source_port=port if isinstance(port, str) and port else None)
            return CanvasOutcome(new, str(event.get("target")))
        if kind == "move":
            positions = moved(event.get("positions") or {}, drawn or {})
            if not positions:
                return CanvasOutcome(graph, selected)
            new = move_nodes(graph, positions)
            return CanvasOutcome(new, selected, key=f"move:{','.join(sorted(positions))}")
        if kind == "create":
            return _create(graph, selected, event)
        if kind in ("undo", "redo"):
            return CanvasOutcome(graph, selected, step=Step(kind))
    except EditError as err:
        return CanvasOutcome(graph, selected, [str(err)])
    return CanvasOutcome(graph, selected, [f"the canvas sent an event LayerLab doesn't know: {str(kind)[:40]!r}"])


def moved(positions: Mapping[Any, Any], drawn: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """The nodes of a "move" that left the place they are drawn at. React Flow 11 reports a plain click on a node as
    a drag that ends where it began; pinning a laid-out node where the layout already put it would be an undo step
    that changes nothing anyone can see (clicking a selected node did that)."""
    out = {}
    for node_id, pos in positions.items():
        if not isinstance(node_id, str):
            continue
        at = drawn.get(node_id)
        if at is not None and _still(pos, at):
            continue
        out[node_id] = pos
    return out


def _still(pos: Any, at: tuple[float, float]) -> bool:
    """``pos`` is where ``at`` is, to the canvas's rounding (0.1 px)."""
    try:
        return abs(_number(pos[0]) - at[0]) <= STILL_PX and abs(_number(pos[1]) - at[1]) <= STILL_PX
    except (EditError, TypeError, IndexError, KeyError):
        return False  # not a position: move_nodes says what is wrong with it


def _create(graph: Graph, selected: str | None, event: Mapping[str, Any]) -> CanvasOutcome:
    text = str(event.get("text") or "")
    type_name = match_block_type(text)
    if type_name is None:
        return CanvasOutcome(graph, selected, [unknown_block_message(text)])
    new, node_id = add_node(graph, type_name, pos=(_number(event.get("x")), _number(event.get("y"))))
    return CanvasOutcome(new, node_id)
