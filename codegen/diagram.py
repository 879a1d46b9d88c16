"""A picture of a design for slides, handouts and papers: SVG and PNG drawn from the graph, not the canvas.

``scene(graph)`` places one box per node (name, type, key parameters, output shape, parameter count) and one
arrow per edge where the canvas's layered drawing puts them (``builder.layout.place``); ``to_svg`` and
``to_png`` draw that one scene, so the two formats always agree. The PNG is drawn with Pillow (already a
dependency: no browser, no system cairo) at twice its size and scaled down, which smooths lines and text.
A node whose type is a block definition (blocks made of blocks) is drawn as one box with a double border.
Nothing here imports streamlit; colours and number formats come from ``ui.style`` (a pure module) so the
picture matches the canvas.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from builder.catalog import Category, get_block, has_block
from builder.graph import Edge, Graph, Node
from builder.layout import NODE_H, NODE_W, Route, place
from builder.validate import NodeInfo, ValidationResult, validate
from ui.style import CATEGORY_COLOURS, ERROR_BORDER, human_count

BOX_W = 200.0  # the canvas's layout is for its smaller nodes: positions and routes are scaled to these boxes
BOX_H = 100.0
SCALE_X = BOX_W / NODE_W
SCALE_Y = BOX_H / NODE_H
PAD = 8.0  # inside a box
MARGIN = 24.0  # around the picture
TITLE_H = 34.0
PNG_WIDTH = 1920  # readable on a projector and at A4 (about 230 dpi over 21 cm)
MAX_PNG_PIXELS = 40_000_000  # a huge design is drawn smaller rather than exhausting memory
SANS = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"  # DejaVu first: the PNG measures text with it
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
INK, MUTED, EDGE_INK = "#0f172a", "#64748b", "#94a3b8"
BLOCK_COLOUR = "#334155"

Point = tuple[float, float]


@dataclass(frozen=True)
class Text:
    text: str
    size: float
    colour: str = INK
    bold: bool = False
    mono: bool = False


@dataclass(frozen=True)
class Box:
    node: str
    x: float
    y: float
    lines: tuple[Text, ...]
    colour: str  # the border: the block's category colour, red when the node has an error
    collapsed: bool = False  # a block made of blocks, drawn as one box

    @property
    def right(self) -> float:
        return self.x + BOX_W

    @property
    def bottom(self) -> float:
        return self.y + BOX_H

    @property
    def middle(self) -> float:
        return self.y + BOX_H / 2


@dataclass(frozen=True)
class Arrow:
    points: tuple[Point, ...]  # a polyline ending at the target's left side
    label: str = ""  # the port, for blocks with several inputs


@dataclass(frozen=True)
class Scene:
    title: str
    subtitle: str
    width: float
    height: float
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]


# -- the scene ------------------------------------------------------------------------------------------------
def scene(graph: Graph, result: ValidationResult | None = None) -> Scene:
    """Boxes and arrows where the canvas's layered drawing puts them (``builder.layout.place``), scaled from the
    canvas's node size to the diagram's; positions the user dragged are ignored, so the picture is tidy."""
    result = result or validate(graph)
    drawing = place(graph.with_nodes(replace(n, pos=None) for n in graph.nodes))
    spots = [*drawing.positions.values(), *(p for r in drawing.routes.values() for p in r.points)]
    left, top = min((p[0] for p in spots), default=0.0), min((p[1] for p in spots), default=0.0)

    def at(point: Point) -> Point:
        return (MARGIN + (point[0] - left) * SCALE_X, MARGIN + TITLE_H + (point[1] - top) * SCALE_Y)

    boxes = {n.id: _box(n, result.nodes[n.id], *at(drawing.positions[n.id]), graph) for n in graph.nodes}
    arrows = tuple(_arrow(e, boxes, drawing.routes.get(e.key), at, result) for e in graph.edges
                   if e.source in boxes and e.target in boxes and e.source != e.target)
    width = max([b.right for b in boxes.values()] + [x for a in arrows for x, _ in a.points], default=BOX_W)
    height = max([b.bottom for b in boxes.values()] + [y for a in arrows for _, y in a.points], default=BOX_H)
    errors = len(result.errors)
    subtitle = f"{result.total_params:,} parameters · {len(graph.nodes)} blocks"
    if errors:
        subtitle += f" · {errors} issue{'s' if errors != 1 else ''} to fix"
    return Scene(graph.name or "model", subtitle, max(width + MARGIN, 360.0), height + MARGIN,
                 tuple(boxes.values()), arrows)


def _arrow(edge: Edge, boxes: dict[str, Box], route: Route | None, at: Callable[[Point], Point],
           result: ValidationResult) -> Arrow:
    """The layered drawing's route for the edge; a straight line down when it has none."""
    if route is not None:
        points = tuple(at(p) for p in route.points)
    else:
        source, target = boxes[edge.source], boxes[edge.target]
        points = ((source.x + BOX_W / 2, source.bottom), (target.x + BOX_W / 2, target.y))
    return Arrow(points, _port_label(edge, result))


def _box(node: Node, info: NodeInfo, x: float, y: float, graph: Graph) -> Box:
    collapsed = _is_definition(node, graph)
    category = Category.BLOCKS if collapsed else get_block(node.type).category
    colour = CATEGORY_COLOURS.get(category, BLOCK_COLOUR)
    kind = f"{node.type} (block)" if collapsed else node.type
    lines = [Text(node.id, 14, bold=True), Text(kind, 12, colour=colour, bold=True)]
    params = "" if collapsed else _key_params(node, info)
    lines.append(Text(params, 11, colour=MUTED))
    lines.append(Text(str(info.output) if info.output else "shape unknown", 13, bold=True, mono=True))
    lines.append(Text(f"{human_count(info.param_count)} params" if info.param_count else "no parameters", 11,
                      colour=MUTED))
    has_error = any(i.severity.value == "error" for i in info.issues)
    return Box(node.id, x, y, tuple(_fitted(t) for t in lines), ERROR_BORDER if has_error else colour, collapsed)


def _is_definition(node: Node, graph: Graph) -> bool:
    """A node standing for a block made of blocks (``Graph.definitions``, format version 2)."""
    return node.type in (getattr(graph, "definitions", None) or {}) or not has_block(node.type)


def _key_params(node: Node, info: NodeInfo) -> str:
    """The catalog's key parameters as keyword arguments, e.g. "out_channels=16, kernel_size=3"."""
    block = get_block(node.type)
    params = info.params or {**block.defaults(), **node.params}
    parts = []
    for spec in block.params:
        value = params.get(spec.name)
        if spec.key and value is not None:
            text = "×".join(str(v) for v in value) if isinstance(value, (list, tuple)) else f"{value:g}" \
                if isinstance(value, float) else str(value)
            parts.append(f"{spec.name}={text}")
    return ", ".join(parts)


def _fitted(line: Text) -> Text:
    """The line shortened with "…" until it fits inside a box."""
    room = BOX_W - 2 * PAD
    text = line.text
    if _font(line.size, line.bold, line.mono).getlength(text) <= room:
        return line
    while text and _font(line.size, line.bold, line.mono).getlength(text + "…") > room:
        text = text[:-1]
    return Text(text.rstrip(", ") + "…", line.size, line.colour, line.bold, line.mono)


def _port_label(edge: Edge, result: ValidationResult) -> str:
    """The input an edge feeds where its block takes several, after the output it reads where the source has
    several ("h", "h → memory")."""
    label = _input_label(edge, result)
    if edge.source_port is None:
        return label
    return f"{edge.source_port} → {label}" if label else edge.source_port


def _input_label(edge: Edge, result: ValidationResult) -> str:
    info = result.nodes.get(edge.target)
    if info is None or not info.sources:
        return ""
    if len(info.sources) > 1:
        return next((port for port, srcs in info.sources.items() if edge.source in srcs), "")
    (srcs,) = info.sources.values()
    return f"#{srcs.index(edge.source) + 1}" if len(srcs) > 1 and edge.source in srcs else ""


# -- arrows ---------------------------------------------------------------------------------------------------
def _arrow_head(points: tuple[Point, ...], size: float = 8.0) -> tuple[Point, Point, Point]:
    (x0, y0), (x1, y1) = points[-2], points[-1]
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-6)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    return ((x1, y1), (x1 - size * ux - size / 2 * uy, y1 - size * uy + size / 2 * ux),
            (x1 - size * ux + size / 2 * uy, y1 - size * uy - size / 2 * ux))


# -- SVG ------------------------------------------------------------------------------------------------------
def to_svg(picture: Scene) -> str:
    """A standalone SVG: every style inline (no CSS that a slide program could drop), text as text."""
    w, h = picture.width, picture.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'viewBox="0 0 {w:.0f} {h:.0f}" font-family="{SANS}">',
           f"<title>{escape(picture.title)}</title>",
           f'<rect width="{w:.0f}" height="{h:.0f}" fill="white"/>',
           _svg_text(MARGIN, MARGIN + 4, Text(picture.title, 18, bold=True)),
           _svg_text(MARGIN + _font(18, True, False).getlength(picture.title) + 12, MARGIN + 4,
                     Text(picture.subtitle, 12, colour=MUTED))]
    for arrow in picture.arrows:
        path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(arrow.points))
        out.append(f'<path d="{path}" fill="none" stroke="{EDGE_INK}" stroke-width="1.6" stroke-linejoin="round"/>')
        head = " ".join(f"{x:.1f},{y:.1f}" for x, y in _arrow_head(arrow.points))
        out.append(f'<polygon points="{head}" fill="{EDGE_INK}"/>')
        if arrow.label:
            x, y = arrow.points[-1]
            out.append(_svg_text(x - 6, y - 14, Text(arrow.label, 10, colour=MUTED), anchor="end"))
    for box in picture.boxes:
        out.append(f'<g id="{escape(_svg_id(box.node))}">')
        out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{BOX_W:.0f}" height="{BOX_H:.0f}" rx="8" '
                   f'fill="white" stroke="{box.colour}" stroke-width="2"/>')
        if box.collapsed:
            out.append(f'<rect x="{box.x + 4:.1f}" y="{box.y + 4:.1f}" width="{BOX_W - 8:.0f}" '
                       f'height="{BOX_H - 8:.0f}" rx="6" fill="none" stroke="{box.colour}" stroke-width="1"/>')
        for line, (x, y) in zip(box.lines, _line_positions(box)):
            out.append(_svg_text(x, y, line))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_id(node_id: str) -> str:
    return "node-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in node_id)


def _svg_text(x: float, y: float, line: Text, anchor: str = "start") -> str:
    attrs = [f'x="{x:.1f}"', f'y="{y + line.size:.1f}"', f'font-size="{line.size:g}"', f'fill="{line.colour}"']
    if line.bold:
        attrs.append('font-weight="bold"')
    if line.mono:
        attrs.append(f'font-family="{MONO}"')
    if anchor != "start":
        attrs.append(f'text-anchor="{anchor}"')
    return f"<text {' '.join(attrs)}>{escape(line.text)}</text>"


def _line_positions(box: Box) -> list[Point]:
    """Top-left corner of each line of text inside the box."""
    positions, y = [], box.y + PAD
    for line in box.lines:
        positions.append((box.x + PAD, y))
        y += line.size * 1.35
    return positions


# -- PNG ------------------------------------------------------------------------------------------------------
def to_png(picture: Scene, width: int = PNG_WIDTH) -> bytes:
    """The scene as a PNG ``width`` pixels wide (smaller for a design so big it would exceed the pixel cap)."""
    if width < 100:
        raise ValueError(f"a PNG narrower than 100 px is unreadable: width={width}")
    zoom = width / picture.width
    zoom = min(zoom, (MAX_PNG_PIXELS / (picture.width * picture.height)) ** 0.5)
    supersample = 2  # drawn twice as large, then scaled down: smooth lines and edges without anti-aliasing
    k = zoom * supersample
    image = Image.new("RGB", (round(picture.width * k), round(picture.height * k)), "white")
    draw = ImageDraw.Draw(image)
    _png_text(draw, MARGIN, MARGIN + 4, Text(picture.title, 18, bold=True), k)
    _png_text(draw, MARGIN + _font(18, True, False).getlength(picture.title) + 12, MARGIN + 4,
              Text(picture.subtitle, 12, colour=MUTED), k)
    for arrow in picture.arrows:
        draw.line([(x * k, y * k) for x, y in arrow.points], fill=EDGE_INK, width=max(1, round(1.6 * k)),
                  joint="curve")
        draw.polygon([(x * k, y * k) for x, y in _arrow_head(arrow.points)], fill=EDGE_INK)
        if arrow.label:
            x, y = arrow.points[-1]
            label = Text(arrow.label, 10, colour=MUTED)
            _png_text(draw, x - 6 - _font(10, False, False).getlength(arrow.label), y - 14, label, k)
    for box in picture.boxes:
        draw.rounded_rectangle([box.x * k, box.y * k, box.right * k, box.bottom * k], radius=8 * k, fill="white",
                               outline=box.colour, width=max(1, round(2 * k)))
        if box.collapsed:
            draw.rounded_rectangle([(box.x + 4) * k, (box.y + 4) * k, (box.right - 4) * k, (box.bottom - 4) * k],
                                   radius=6 * k, outline=box.colour, width=max(1, round(k)))
        for line, (x, y) in zip(box.lines, _line_positions(box)):
            _png_text(draw, x, y, line, k)
    final = image.resize((round(picture.width * zoom), round(picture.height * zoom)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    final.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _png_text(draw: ImageDraw.ImageDraw, x: float, y: float, line: Text, k: float) -> None:
    # SVG places text by its baseline (y + size); Pillow's "ls" anchor is the same left-baseline point.
    draw.text((x * k, (y + line.size) * k), line.text, fill=line.colour,
              font=_font(line.size * k, line.bold, line.mono), anchor="ls")


@cache
def _font(size: float, bold: bool, mono: bool) -> ImageFont.FreeTypeFont:
    """DejaVu (what the SVG asks for first) when the system has it, else Pillow's own scalable font."""
    name = "DejaVuSansMono" if mono else "DejaVuSans"
    try:
        return ImageFont.truetype(f"{name}{'-Bold' if bold else ''}.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


# -- entry points ---------------------------------------------------------------------------------------------
def diagram_svg(graph: Graph, result: ValidationResult | None = None) -> str:
    """The design as an SVG document."""
    return to_svg(scene(graph, result))


def diagram_png(graph: Graph, result: ValidationResult | None = None, width: int = PNG_WIDTH) -> bytes:
    """The design as PNG bytes, ``width`` pixels wide."""
    return to_png(scene(graph, result), width)


__all__ = ["Arrow", "Box", "Scene", "Text", "diagram_png", "diagram_svg", "scene", "to_png", "to_svg"]
