"""What the canvas draws: nodes and edges as plain dicts for ui/canvas_frontend, from (graph, result, selected).

Pure functions. ``node_face`` is the one place that decides what a node shows (three lines: type and name,
parameters or the first issue, output shape and size); the canvas renders its segments as text, never as HTML.
Positions and edge routes come from ``builder.layout.place``, for nodes as wide as their faces (``ui.design.node_size``).
"""

from __future__ import annotations

from typing import Any

from builder.blocks import PORT_SPEC
from builder.captions import key_params
from builder.catalog import get_block, has_block
from builder.catalog.registry import Outputs
from builder.graph import PORT, Edge, Graph, Node
from builder.layout import NODE_W, Drawing, Route, place
from builder.validate import NodeInfo, Severity, ValidationResult
from ui.common.style import CATEGORY_COLOURS, clip, human_count, short_shape
from ui.design.node_size import face_width

BLOCK_COLOUR = "#334155"  # a node made of blocks (format 2), or a type the catalog doesn't know
NOTE_CHARS = 26  # one line of a node at 12 px
LABEL_CHAR_W = 6.7  # px per character of an edge label (11 px monospace)
# Input ports in the words of the block's own documentation; "x" alone is never shown.
PORT_WORDS = {"x": "input", "tgt": "target", "memory": "memory", "state": "state"}
QUERY_PORT_BLOCKS = {"MultiheadAttention"}  # their "x" is the query
ORDERLESS = {"Add", "Multiply"}  # inputs of these can be swapped: no "#1" on their edges
Segment = tuple[str, str] | tuple[str, str, str]  # (css class, text) or (css class, text, hover text)


def status(info: NodeInfo) -> str:
    if any(i.severity is Severity.ERROR for i in info.issues):
        return "error"
    if info.blocked_by:
        return "blocked"
    return "warning" if info.issues else "ok"


def clipped(cls: str, text: str, limit: int) -> Segment:
    """A segment of at most ``limit`` characters; an abbreviated one keeps the whole text as its hover title."""
    short = clip(text, limit)
    return (cls, short) if short == text else (cls, short, text)


def _note(info: NodeInfo) -> Segment | None:
    for severity, cls, mark in ((Severity.ERROR, "ll-err", "✖"), (Severity.WARNING, "ll-warn", "⚠")):
        issue = next((i for i in info.issues if i.severity is severity), None)
        if issue is not None:
            return clipped(cls, f"{mark} {issue.message}", NOTE_CHARS + 2)
    if info.blocked_by:
        return clipped("ll-note", f"waiting for ‘{info.blocked_by}’", NOTE_CHARS + 2)
    return None


def node_face(node: Node, info: NodeInfo, graph: Graph | None = None, off: str | None = None) -> list[list[Segment]]:
    """The three lines a node shows. Extend here (a badge, ×N for a repeated block) and nowhere else.

    ``off``: why the open copy of a block leaves this layer out (a ``when`` switch that is false)."""
    if node.type == PORT:
        return [[("ll-type", "input"), ("ll-id", node.id)], [("ll-note", "enters the block here")],
                [("ll-shape", f"→ {short_shape(info.output)}")]]
    if graph is not None and node.type in graph.definitions:
        return instance_face(node, info, graph)
    title: list[Segment] = [("ll-type", node.type), ("ll-id", node.id), *_frozen_badge(node)]
    if off:
        return [title, [clipped("ll-note", off, NOTE_CHARS + 2)], [("ll-shape", f"→ {short_shape(info.output)}")]]
    middle = _note(info) or ("ll-params", key_params(node, info) or " ")
    last: list[Segment] = [("ll-shape", f"→ {short_shape(info.output)}")]
    if info.param_count:
        last.append(("ll-size", f"{human_count(info.param_count)} params"))
    return [title, [middle], last]


def instance_face(node: Node, info: NodeInfo, graph: Graph) -> list[list[Segment]]:
    """A block made of blocks in 150 px: its name, ×N, a ✖ when a layer inside is wrong and its size; its type and
    own parameters (or the first problem); input → output shape, since a block is read by what it does to it."""
    title: list[Segment] = [("ll-type", node.id)]
    if node.repeat > 1:
        title.append(("ll-badge", f"×{node.repeat}"))
    title += _frozen_badge(node)
    if any(i.inner and i.severity is Severity.ERROR for i in info.issues):
        title.append(("ll-badge-bad", "✖ inside"))
    if info.param_count:  # "≥": layers inside wait for a fix, so their sizes are not counted yet
        title.append(("ll-size", f"{'≥ ' if info.partial else ''}{human_count(info.param_count)}"))
    params = key_params(node, info, graph)
    middle = [_note(info) or ("ll-kind", node.type)]
    if params and middle[0][0] == "ll-kind":
        middle.append(("ll-params", f" · {params}"))
    return [title, middle, [("ll-shape ll-io", f"{_input_shape(info)}→{short_shape(info.output)}")]]


def _frozen_badge(node: Node) -> list[Segment]:
    """'❄ frozen' on a node or block instance switched to not trainable: its weights won't change in training."""
    return [] if node.trainable else [("ll-badge", "❄ frozen")]


def _input_shape(info: NodeInfo) -> str:
    first = next(iter(info.inputs.values()), None)
    first = first[0] if isinstance(first, list) and first else first
    return short_shape(first) if first is not None else "?"


def colour(node: Node) -> str:
    if node.type == PORT:
        return CATEGORY_COLOURS[PORT_SPEC.category]
    return CATEGORY_COLOURS[get_block(node.type).category] if has_block(node.type) else BLOCK_COLOUR


def canvas_node(node: Node, info: NodeInfo, pos: tuple[float, float], graph: Graph | None = None,
                off: str | None = None, face: list[list[Segment]] | None = None,
                width: float | None = None) -> dict[str, Any]:
    """One node for the canvas; ``block`` marks a block made of blocks (double-click opens it), ``w`` a face wider
    than ``NODE_W``; ``outs`` names the outputs of a block with several, one handle each, in the order the call
    returns them."""
    source = node.type == PORT or (has_block(node.type) and get_block(node.type).is_source)
    face = face if face is not None else node_face(node, info, graph, off)
    item = {"id": node.id, "x": round(pos[0], 1), "y": round(pos[1], 1), "lines": face,
            "colour": colour(node), "status": "off" if off else status(info), "in": not source, "out": True}
    if graph is not None and node.type in graph.definitions:
        item["block"] = True
    outputs = _outputs(node, info)
    if outputs is not None:
        item["outs"] = handle_spots(outputs.names, outputs.main)
    if width is not None and width > NODE_W:
        item["w"] = width
    return item


def handle_spots(outputs: tuple[str, ...], main: str | None) -> list[dict[str, Any]]:
    """Where each output's handle sits along the node's bottom edge (percent of its width): the main one at the
    centre, where the layout's routes leave a node, the others in their order to its left and right; with no main
    output, evenly spread."""
    if main is None:
        return [{"id": o, "at": round(100 * (k + 1) / (len(outputs) + 1), 1)} for k, o in enumerate(outputs)]
    m = outputs.index(main)
    before, after = outputs[:m], outputs[m + 1:]
    spots = [{"id": o, "at": round(50 - 38 * (len(before) - k) / len(before), 1)} for k, o in enumerate(before)]
    spots.append({"id": main, "at": 50.0, "main": True})
    spots += [{"id": o, "at": round(50 + 38 * (k + 1) / len(after), 1)} for k, o in enumerate(after)]
    return spots




def _outputs(node: Node, info: NodeInfo | None = None) -> Outputs | None:
    """The outputs of a block with several, for its parameters; None for a block with one (or settings that
    don't say yet, such as a reference to a block parameter still being typed: the node then shows one handle)."""
    if not has_block(node.type) or get_block(node.type).outputs is None:
        return None
    block = get_block(node.type)
    params = info.params if info is not None and info.params else {**block.defaults(), **node.params}
    try:
        return block.outputs(params)
    except (KeyError, TypeError, ValueError):
        return None


def output_names(node: Node, info: NodeInfo | None = None) -> tuple[str, ...]:
    """The outputs of a block with several; () for a block with one."""
    found = _outputs(node, info)
    return found.names if found is not None else ()


def source_handle(graph: Graph, edge: Edge, info: NodeInfo | None = None) -> str | None:
    """The handle an edge leaves from: the output it reads, or the source's main one (None: the only handle)."""
    if edge.source_port is not None:
        return edge.source_port
    found = _outputs(graph.node(edge.source), info)
    return None if found is None else found.main or found.names[0]


def edge_id(edge: Edge) -> str:
    """One edge of the canvas; one that reads a named output says which (an LSTM's h and c into one block)."""
    if edge.source_port is not None:
        return f"e:{edge.source}.{edge.source_port}->{edge.target}"
    return f"e:{edge.source}->{edge.target}"


def port_word(graph: Graph, result: ValidationResult, edge: Edge) -> str | None:
    """Which input an edge feeds, in words, only where its block takes several: "memory", "state", "#2"."""
    target = graph.node(edge.target)
    info = result.nodes.get(edge.target)
    if info is None or len(graph.in_edges(edge.target)) < 2:
        return None
    variadic = has_block(target.type) and bool(get_block(target.type).ports) and get_block(target.type).ports[0].variadic
    for port, sources in info.sources.items():
        if edge.source in sources:
            if variadic:
                return None if target.type in ORDERLESS else f"#{sources.index(edge.source) + 1}"
            if port == "x" and target.type in QUERY_PORT_BLOCKS:
                return "query"
            return PORT_WORDS.get(port, port)
    return PORT_WORDS.get(edge.port, edge.port) if edge.port else None


def edge_label(graph: Graph, result: ValidationResult, edge: Edge) -> str:
    """The shape the edge carries, after the output it reads (an LSTM's "h") and the input it feeds where that
    matters: "memory · 8×64", "h · 16"."""
    shape = short_shape(result.edge_shape(edge))
    word = port_word(graph, result, edge)
    words = [w for w in (edge.source_port, word) if w]
    return f"{' → '.join(words)} · {shape}" if words else shape


def canvas_edge(edge: Edge, label: str, bad: bool, route: Route | None, handle: str | None = None) -> dict[str, Any]:
    """``handle``: the output handle it leaves from, on a block with several. The layout routes edges from a node's
    centre, where the main output's handle sits; an edge from another handle is drawn by React Flow from there."""
    item: dict[str, Any] = {"id": edge_id(edge), "s": edge.source, "t": edge.target,
                            "label": f"✖ {label}" if bad else label, "bad": bad}
    if handle is not None:
        item["sh"] = handle
        if edge.source_port is not None:
            route = None
    if route is not None:
        item.update(points=[[round(x, 1), round(y, 1)] for x, y in route.points],
                    labelAt=[round(route.label_at[0], 1), round(route.label_at[1], 1)],
                    centred=route.label_centred, **{"from": list(route.start), "to": list(route.end)})
    return item


def faces(graph: Graph, result: ValidationResult, off: dict[str, str] | None = None) -> dict[str, list[list[Segment]]]:
    off = off or {}
    return {n.id: node_face(n, result.nodes[n.id], graph, off.get(n.id)) for n in graph.nodes}


def drawing(graph: Graph, result: ValidationResult, shown: dict[str, list[list[Segment]]] | None = None
            ) -> tuple[Drawing, dict[tuple[str, str], str]]:
    """The layout for nodes as wide as their faces (``shown``, else computed) and the edges' labels."""
    shown = shown if shown is not None else faces(graph, result)
    labels = {e.key: edge_label(graph, result, e) for e in graph.edges}
    widths = {key: len(text) * LABEL_CHAR_W + 8 for key, text in labels.items()}
    node_widths = {n.id: face_width(shown[n.id], n.type in graph.definitions) for n in graph.nodes}
    return place(graph, widths, node_widths), labels


def canvas_elements(graph: Graph, result: ValidationResult,
                    off: dict[str, str] | None = None) -> tuple[list[dict], list[dict], Drawing]:
    """Every node and edge of the canvas, and the drawing they come from. ``off``: layers the open block's copy
    leaves out (``ui.common.block_view.BlockView.off``)."""
    off = off or {}
    shown = faces(graph, result, off)
    drawn, labels = drawing(graph, result, shown)
    bad = {i.edge for i in result.issues if i.edge and i.severity is Severity.ERROR}
    nodes = [canvas_node(n, result.nodes[n.id], drawn.positions[n.id], graph, off.get(n.id), shown[n.id],
                         drawn.width(n.id)) for n in graph.nodes]
    edges = [canvas_edge(e, edge_label(graph, result, e) if e.source_port else labels[e.key], e.key in bad,
                         drawn.routes.get(e.key), source_handle(graph, e, result.nodes.get(e.source)))
             for e in graph.edges]
    return nodes, edges, drawn


def with_health(nodes: list[dict[str, Any]], health: dict[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """The last run's training-health warnings (``training.health.warning_line``: title, sentence) on their nodes,
    where validation has nothing to say about the node: a warning status and a middle line that fits — the first
    title and how many more — with every full sentence in the line's hover text (the segment's third element),
    since a sentence clipped to one line said nothing. Selecting the node lists them with their fixes."""
    out = []
    for node in nodes:
        notes = health.get(node["id"])
        if notes and node["status"] == "ok":
            more = f" +{len(notes) - 1}" if len(notes) > 1 else ""
            hover = "\n\n".join(f"{title}: {sentence}" for title, sentence in notes)
            lines = list(node["lines"])
            lines[1] = [("ll-warn", f"⚠ {clip(notes[0][0], NOTE_CHARS - len(more))}{more}", hover)]
            node = {**node, "lines": lines, "status": "warning"}
        out.append(node)
    return out
