"""What the canvas shows: streamlit-flow nodes and edges rendered from a graph and its validation result.

Pure functions of (graph, result, selected): node faces carry type, id, key parameters, output shape and
parameter count; issues colour the node; edge labels carry the tensor shape (and the port of multi-input nodes).
"""

from __future__ import annotations

import html
import re
from typing import Any

from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode

from builder.catalog import get_block
from builder.graph import Edge, Graph, Node
from builder.layout import NODE_W, extent, fit_zoom
from builder.validate import NodeInfo, Severity, ValidationResult
from ui.style import (
    BLOCKED_BG,
    CATEGORY_COLOURS,
    ERROR_BG,
    ERROR_BORDER,
    SELECTED_SHADOW,
    WARNING_BORDER,
    clip,
    human_count,
    short_shape,
)

MAX_FIT_ZOOM = 1.3
SMALL = "font-size:11px"  # parameters fit one line of NODE_W at 11 px (a 23-node design is shown at 75 %)
CODE = "font-size:12px"  # the output shape: the line a learner looks for
NODE_WIDTH = int(NODE_W)  # the auto-layout's spacing is tuned to this width
# Short names keep the parameter line of a node under ~30 characters.
SHORT_NAMES = {
    "out_channels": "out", "kernel_size": "k", "stride": "s", "padding": "pad", "out_features": "out",
    "hidden_size": "hidden", "num_layers": "layers", "num_heads": "heads", "nhead": "heads",
    "dim_feedforward": "ff", "num_embeddings": "vocab", "embedding_dim": "dim", "negative_slope": "slope",
    "num_parameters": "n", "num_groups": "groups", "output_size": "size", "scale_factor": "×",
}


def _fmt_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def key_params(node: Node, info: NodeInfo) -> str:
    """The block's key parameters as one short line, e.g. "out 64 · k 3 · s 1"."""
    block = get_block(node.type)
    params = info.params or {**block.defaults(), **node.params}
    parts = []
    for p in block.params:
        if p.key and params.get(p.name) is not None:
            parts.append(f"{SHORT_NAMES.get(p.name, p.name)} {_fmt_value(params[p.name])}")
    return " · ".join(parts)


def _first_error(info: NodeInfo) -> str | None:
    for issue in info.issues:
        if issue.severity is Severity.ERROR:
            return issue.message
    return None


def node_face(node: Node, info: NodeInfo) -> str:
    """Markdown + HTML shown inside the node (streamlit-flow renders raw HTML in `content`)."""
    colour = CATEGORY_COLOURS[get_block(node.type).category]
    # A long type name may break only between its words: TransformerEncoder|Layer.
    title = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "<wbr>", html.escape(node.type))
    lines = [f"<b style='color:{colour}'>{title}</b> "
             f"<span style='color:#64748b'>{html.escape(node.id)}</span>"]
    params = key_params(node, info)
    if params:
        lines.append(f"<small style='{SMALL}'>{html.escape(params)}</small>")
    # Shape and size share a line (three lines keep the node ~70 px tall); it wraps only when it must.
    shape = f"<code style='color:#0f172a;font-weight:600;{CODE}'>→ {html.escape(short_shape(info.output))}</code>"
    if info.param_count:
        shape += f" <small style='{SMALL}'>{human_count(info.param_count)} params</small>"
    lines.append(shape)
    error = _first_error(info)
    if error:
        lines.append(f"<small style='color:{ERROR_BORDER}'>✖ {html.escape(clip(error, 60))}</small>")
    elif info.blocked_by:
        lines.append(f"<small style='color:#64748b'>waiting for ‘{html.escape(info.blocked_by)}’</small>")
    elif any(i.severity is Severity.WARNING for i in info.issues):
        warning = next(i for i in info.issues if i.severity is Severity.WARNING)
        lines.append(f"<small style='color:{WARNING_BORDER}'>⚠ {html.escape(clip(warning.message, 60))}</small>")
    return "<br>".join(lines)


def node_style(node: Node, info: NodeInfo, selected: bool) -> dict[str, Any]:
    colour = CATEGORY_COLOURS[get_block(node.type).category]
    style: dict[str, Any] = {
        "width": f"{NODE_WIDTH}px", "border": f"2px solid {colour}", "borderRadius": "8px",
        "background": "white", "textAlign": "left", "fontSize": "13px", "padding": "5px 6px", "lineHeight": "1.3",
        "overflowWrap": "anywhere",  # never wider than the layout's NODE_W
    }
    if _first_error(info):
        style.update(border=f"2px solid {ERROR_BORDER}", background=ERROR_BG)
    elif info.blocked_by:
        style.update(background=BLOCKED_BG, opacity=0.75, border="2px dashed #94a3b8")
    elif any(i.severity is Severity.WARNING for i in info.issues):
        style.update(border=f"2px solid {WARNING_BORDER}")
    if selected:
        style["boxShadow"] = SELECTED_SHADOW
    return style


def flow_node(node: Node, info: NodeInfo, selected: bool) -> StreamlitFlowNode:
    pos = node.pos or (0.0, 0.0)
    return StreamlitFlowNode(
        id=node.id, pos=(float(pos[0]), float(pos[1])), data={"content": node_face(node, info)},
        node_type="input" if node.type == "Input" else "default",
        source_position="right", target_position="left", selectable=True, connectable=True,
        deletable=True, selected=selected, style=node_style(node, info, selected),
    )


def edge_id(edge: Edge) -> str:
    """The same id the canvas gives an edge the user draws, so a drawn edge keeps its id after a rerun."""
    return f"st-flow-edge_{edge.source}-{edge.target}"


def edge_label(graph: Graph, result: ValidationResult, edge: Edge) -> str:
    """The shape the edge carries; for multi-input targets also which port it feeds: "#1 · 64×8×8"."""
    shape = short_shape(result.edge_shape(edge))
    target = result.nodes.get(edge.target)
    block = get_block(graph.node(edge.target).type)
    if target is None or len(block.ports) < 2 and not (block.ports and block.ports[0].variadic):
        return shape
    for port, sources in target.sources.items():
        if edge.source in sources:
            if block.ports[0].variadic:
                return f"#{sources.index(edge.source) + 1} · {shape}"
            return f"{port} · {shape}"
    return f"{edge.port} · {shape}" if edge.port else shape


def edge_kind(graph: Graph, edge: Edge) -> str:
    """A curve for edges running forward; right-angled steps for one that runs back to the start of a later row.

    A curve from a row's end back to the next row's start loops over both rows; "smoothstep" runs it along
    the gap between the rows instead.
    """
    source, target = graph.node(edge.source).pos, graph.node(edge.target).pos
    if source is None or target is None or target[0] >= source[0] + NODE_W:
        return "default"
    return "smoothstep"


def flow_edge(graph: Graph, result: ValidationResult, edge: Edge, bad: bool) -> StreamlitFlowEdge:
    colour = ERROR_BORDER if bad else "#64748b"
    label = edge_label(graph, result, edge)
    return StreamlitFlowEdge(
        id=edge_id(edge), source=edge.source, target=edge.target, edge_type=edge_kind(graph, edge),
        marker_end={"type": "arrowclosed", "color": colour}, deletable=True, focusable=True,
        label=f"✖ {label}" if bad else label, label_show_bg=True,
        label_style={"fontFamily": "ui-monospace, monospace", "fontSize": "11px", "fill": colour},
        label_bg_style={"fill": "#ffffff", "fillOpacity": 0.9},
        style={"stroke": colour, "strokeWidth": 2 if bad else 1.5},
    )


def flow_elements(graph: Graph, result: ValidationResult, selected: str | None
                  ) -> tuple[list[StreamlitFlowNode], list[StreamlitFlowEdge]]:
    """Every node and edge of the canvas."""
    bad_edges = {i.edge for i in result.issues if i.edge and i.severity is Severity.ERROR}
    nodes = [flow_node(n, result.nodes[n.id], n.id == selected) for n in graph.nodes]
    edges = [flow_edge(graph, result, e, e.key in bad_edges) for e in graph.edges]
    return nodes, edges


def starts_new_view(old: Graph | None, new: Graph) -> bool:
    """True when ``new`` is a different design or a re-layout of ``old``, not an ordinary edit of it.

    The canvas fits its view only then, so an edit keeps the user's zoom and pan. A loaded design (template,
    upload, share link) shares few nodes with the old one; auto-layout keeps nodes and edges but moves several.
    """
    if old is None:
        return True
    before = {n.id: n.pos for n in old.nodes}
    kept = sum(1 for n in new.nodes if n.id in before)
    if kept * 2 < len(new.nodes):
        return True
    moved = sum(1 for n in new.nodes if n.id in before and before[n.id] != n.pos)
    return moved >= 2 and kept == len(old.nodes) == len(new.nodes) and set(old.edges) == set(new.edges)


def needs_fit(graph: Graph) -> bool:
    """A tiny design is not fitted: fitting would zoom it to up to 200 % and push the next block off screen."""
    return len(graph.nodes) >= 2 and fit_zoom(*extent(graph)) < MAX_FIT_ZOOM
