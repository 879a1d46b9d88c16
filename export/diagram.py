"""A picture of a design for slides, handouts and papers: SVG and PNG drawn from the graph, not the canvas.

``scene(graph, orient=...)`` places one box per node (name, type, ×N for a repeated block, its settings in the
canvas's words, output shape, parameter count) and one arrow per edge, labelled with the shape it carries.
Portrait follows the canvas's layered drawing (``builder.layout.place``), top to bottom; landscape runs the
layers left to right, in as many bands as make the picture largest on a 16:9 slide (the PNG is then exactly
1920×1080). ``to_svg`` and ``to_png`` draw that one scene, so the two formats always agree. The PNG is drawn
with Pillow (already a dependency: no browser, no system cairo) at twice its size and scaled down, which
smooths lines and text. A node whose type is a block definition (blocks made of blocks) is drawn as one box
with a double border. Nothing here imports streamlit; colours and wording come from builder (``palette``,
``captions``) so the picture matches the canvas.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from builder.captions import key_params
from builder.catalog import Category, get_block, has_block
from builder.graph import Edge, Graph, Node
from builder.layout import NODE_H, NODE_W, Route, place
from builder.palette import CATEGORY_COLOURS, ERROR_BORDER
from builder.validate import NodeInfo, ValidationResult, human_count, validate

BOX_W = 200.0  # the canvas's layout is for its smaller nodes: positions and routes are scaled to these boxes
BOX_H = 112.0  # five lines, the settings on two when they need it
SCALE_X = BOX_W / NODE_W
SCALE_Y = BOX_H / NODE_H
PAD = 8.0  # inside a box
MARGIN = 24.0  # around the picture
TITLE_H = 34.0
PNG_WIDTH = 1920  # readable on a projector and at A4 (about 230 dpi over 21 cm)
SLIDE = (1920, 1080)  # landscape: a 16:9 slide; the scene is padded to this ratio and drawn at this size
GAP_X, GAP_Y, BAND_GAP = 84.0, 36.0, 48.0  # landscape: between layers (a shape label fits), lanes, bands
ORIENTS = ("landscape", "portrait")
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
    badge: str = ""  # "×2" for a block repeated in a chain, at the top right

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
    points: tuple[Point, ...]  # a polyline from the source's exit to the target's entry
    label: str = ""  # the port, for blocks with several inputs
    shape: str = ""  # the tensor it carries ("64×56×56"), beside its first segment; once per source


@dataclass(frozen=True)
class Scene:
    title: str
    subtitle: str
    width: float
    height: float
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    orient: str = "portrait"


# -- the scene ------------------------------------------------------------------------------------------------
def scene(graph: Graph, result: ValidationResult | None = None, orient: str = "landscape") -> Scene:
    """Boxes and arrows, top to bottom where the canvas's layered drawing puts them (portrait), or layer by
    layer from left to right (landscape); positions the user dragged are ignored, so the picture is tidy."""
    if orient not in ORIENTS:
        raise ValueError(f"orient must be one of {', '.join(ORIENTS)}, not {orient!r}")
    result = result or validate(graph)
    graph = graph.with_nodes(replace(n, pos=None) for n in graph.nodes)
    made = _portrait(graph, result) if orient == "portrait" else _landscape(graph, result)
    boxes, arrows = made
    labels = [_shape_spot(a)[0] + _font(10, False, True).getlength(a.shape) for a in arrows if a.shape]
    width = max([b.right for b in boxes.values()] + [x for a in arrows for x, _ in a.points] + labels, default=BOX_W)
    height = max([b.bottom for b in boxes.values()] + [y for a in arrows for _, y in a.points], default=BOX_H)
    errors = len(result.errors)
    subtitle = f"{result.total_params:,} parameters · {len(graph.nodes)} blocks"
    if errors:
        subtitle += f" · {errors} issue{'s' if errors != 1 else ''} to fix"
    width, height = max(width + MARGIN, 360.0), height + MARGIN
    if orient == "landscape":  # padded to 16:9, the drawing centred: a slide shows it whole, at its largest
        ratio = SLIDE[0] / SLIDE[1]
        wide, tall = max(width, height * ratio), max(height, width / ratio)
        dx, dy = (wide - width) / 2, (tall - height) / 2
        boxes = {k: replace(b, x=b.x + dx, y=b.y + dy) for k, b in boxes.items()}
        arrows = tuple(replace(a, points=tuple((x + dx, y + dy) for x, y in a.points)) for a in arrows)
        width, height = wide, tall
    return Scene(graph.name or "model", subtitle, width, height, tuple(boxes.values()), arrows, orient)


def _portrait(graph: Graph, result: ValidationResult) -> tuple[dict[str, Box], tuple[Arrow, ...]]:
    drawing = place(graph)
    spots = [*drawing.positions.values(), *(p for r in drawing.routes.values() for p in r.points)]
    left, top = min((p[0] for p in spots), default=0.0), min((p[1] for p in spots), default=0.0)

    def at(point: Point) -> Point:
        return (MARGIN + (point[0] - left) * SCALE_X, MARGIN + TITLE_H + (point[1] - top) * SCALE_Y)

    boxes = {n.id: _box(n, result.nodes[n.id], *at(drawing.positions[n.id]), graph) for n in graph.nodes}
    arrows = [_arrow(e, boxes, drawing.routes.get(e.key), at, result) for e in graph.edges
              if e.source in boxes and e.target in boxes and e.source != e.target]
    return boxes, _shapes_once(arrows, graph, result)


def _ranks(graph: Graph) -> tuple[dict[str, int], dict[str, int]]:
    """Each node's layer (the longest path from an input) and lane (its place within the layer, ordered by
    where its inputs sit, so a chain stays on one line and a branch beside it)."""
    ids = set(graph.node_ids)
    into: dict[str, list[str]] = {n: [] for n in ids}
    for e in graph.edges:
        if e.source in ids and e.target in ids and e.source != e.target:
            into[e.target].append(e.source)
    rank: dict[str, int] = {}
    waiting = {n: len(set(into[n])) for n in graph.node_ids}
    ready = [n for n in graph.node_ids if not waiting[n]]
    out: dict[str, set[str]] = {n: set() for n in ids}
    for target, sources in into.items():
        for source in sources:
            out[source].add(target)
    while len(rank) < len(ids):  # Kahn's order; a node on a cycle (a design with issues) starts one anew
        if not ready:
            ready = [next(n for n in graph.node_ids if n not in rank)]
        node = ready.pop()
        if node in rank:
            continue
        rank[node] = 1 + max((rank[s] for s in into[node] if s in rank), default=-1)
        for target in sorted(out[node]):
            waiting[target] -= 1
            if waiting[target] == 0 and target not in rank:
                ready.append(target)
    lane: dict[str, int] = {}
    for r in range(max(rank.values(), default=-1) + 1):
        layer = [n for n in graph.node_ids if rank[n] == r]
        key = {n: (sum(lane[s] for s in into[n] if s in lane) / max(1, sum(s in lane for s in into[n])))
               for n in layer}
        for k, n in enumerate(sorted(layer, key=lambda n: key[n])):
            lane[n] = k
    return rank, lane


def _landscape(graph: Graph, result: ValidationResult) -> tuple[dict[str, Box], tuple[Arrow, ...]]:
    """Layers left to right; a long design wraps into bands stacked top to bottom, as many as make it largest
    on a 16:9 slide."""
    rank, lane = _ranks(graph)
    layers = max(rank.values(), default=0) + 1
    lanes = max(lane.values(), default=0) + 1
    band_h = lanes * (BOX_H + GAP_Y) - GAP_Y

    def size(bands: int) -> tuple[float, float]:
        per = -(-layers // bands)
        return (2 * MARGIN + GAP_X / 2 + per * (BOX_W + GAP_X),  # the gutters and last labels left and right
                2 * MARGIN + TITLE_H + GAP_Y + bands * (band_h + BAND_GAP) - BAND_GAP)

    def fit(bands: int) -> float:
        w, h = size(bands)
        return min(SLIDE[0] / w, SLIDE[1] / h)

    bands = max(range(1, layers + 1), key=fit)
    per = -(-layers // bands)

    def corner(node: str) -> Point:
        band, column = divmod(rank[node], per)
        return (MARGIN + GAP_X / 2 + column * (BOX_W + GAP_X),
                MARGIN + TITLE_H + GAP_Y + band * (band_h + BAND_GAP) + lane[node] * (BOX_H + GAP_Y))

    boxes = {n.id: _box(n, result.nodes[n.id], *corner(n.id), graph) for n in graph.nodes}
    arrows = []
    drawn = [e for e in graph.edges if e.source in boxes and e.target in boxes and e.source != e.target]
    inputs = {t: [e for e in drawn if e.target == t] for t in {e.target for e in drawn}}
    for e in drawn:
        source, target = boxes[e.source], boxes[e.target]
        k, n = inputs[e.target].index(e), len(inputs[e.target])  # several inputs enter apart, each labelled
        exit_, entry = (source.right, source.middle), (target.x, target.y + BOX_H * (k + 1) / (n + 1))
        out_x, in_x = source.right + GAP_X / 2, target.x - GAP_X / 2
        if rank[e.target] // per != rank[e.source] // per:  # into a later band: down the gutter below
            gutter = source.y - lane[e.source] * (BOX_H + GAP_Y) + band_h + BAND_GAP / 2
            points = (exit_, (out_x, exit_[1]), (out_x, gutter), (in_x, gutter), (in_x, entry[1]), entry)
        elif rank[e.target] == rank[e.source] + 1:  # the next layer: one elbow in the gap between them
            points = (exit_, (in_x, exit_[1]), (in_x, entry[1]), entry)
        else:  # past other layers: along the gap above its lane, so it crosses no box
            above = min(source.y, target.y) - GAP_Y / 2
            points = (exit_, (out_x, exit_[1]), (out_x, above), (in_x, above), (in_x, entry[1]), entry)
        arrows.append(Arrow(_straight(points), _port_label(e, result)))
    return boxes, _shapes_once(arrows, graph, result)


def _straight(points: tuple[Point, ...]) -> tuple[Point, ...]:
    """The polyline without repeated points (an elbow between boxes at the same height is a straight line)."""
    out = [points[0]]
    for p in points[1:]:
        if abs(p[0] - out[-1][0]) > 0.05 or abs(p[1] - out[-1][1]) > 0.05:
            out.append(p)
    return tuple(out)


def _shapes_once(arrows: list[Arrow], graph: Graph, result: ValidationResult) -> tuple[Arrow, ...]:
    """The output shape on the first arrow leaving each node: the arrows of one source share its first segment."""
    sources = [e.source for e in graph.edges if e.source != e.target and e.source in result.nodes
               and e.target in result.nodes]
    seen: set[str] = set()
    out = []
    for source, arrow in zip(sources, arrows, strict=True):
        output = result.nodes[source].output
        shape = short_shape(output) if output is not None and source not in seen else ""
        seen.add(source)
        out.append(replace(arrow, shape=shape))
    return tuple(out)


def short_shape(spec: object) -> str:
    """64×56×56 (the batch left out, as on the canvas's edges); "N ids" for token ids."""
    dims = "×".join(str(d) for d in getattr(spec, "shape", ())) or "scalar"
    return f"{dims} ids" if getattr(spec, "dtype", "") == "long" else dims


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
    kind = node.type  # a block made of blocks says so by its double border
    lines = [Text(node.id, 14, bold=True), Text(kind, 12, colour=colour, bold=True)]
    params = key_params(node, info, graph, set_too=True) if has_block(node.type) or collapsed else ""
    lines += _wrapped(Text(params, 11, colour=MUTED), 2)
    lines.append(Text(str(info.output) if info.output else "shape unknown", 13, bold=True, mono=True))
    lines.append(Text(f"{human_count(info.param_count)} params" if info.param_count else "no parameters", 11,
                      colour=MUTED))
    has_error = any(i.severity.value == "error" for i in info.issues)
    badge = f"×{node.repeat}" if node.repeat > 1 else ""
    room = BOX_W - 2 * PAD - (_font(14, True, False).getlength(badge) + 6 if badge else 0)
    lines[0] = _fitted(lines[0], room)
    return Box(node.id, x, y, tuple(lines[:1] + [_fitted(t) for t in lines[1:]]),
               ERROR_BORDER if has_error else colour, collapsed, badge)


def _is_definition(node: Node, graph: Graph) -> bool:
    """A node standing for a block made of blocks (``Graph.definitions``, format version 2)."""
    return node.type in (getattr(graph, "definitions", None) or {}) or not has_block(node.type)


def _wrapped(line: Text, most: int) -> list[Text]:
    """The settings over at most ``most`` lines, broken at their " · " (never inside one setting); always
    ``most`` lines so every box keeps its rows in the same places."""
    room, rows = BOX_W - 2 * PAD, [""]
    font = _font(line.size, line.bold, line.mono)
    for part in line.text.split(" · ") if line.text else []:
        joined = f"{rows[-1]} · {part}" if rows[-1] else part
        if font.getlength(joined) <= room or not rows[-1] or len(rows) == most:
            rows[-1] = joined
        else:
            rows.append(part)
    rows += [""] * (most - len(rows))
    return [Text(r, line.size, line.colour, line.bold, line.mono) for r in rows]


def _fitted(line: Text, room: float = BOX_W - 2 * PAD) -> Text:
    """The line shortened with "…" until it fits inside a box (names only: settings wrap instead)."""
    text = line.text
    if _font(line.size, line.bold, line.mono).getlength(text) <= room:
        return line
    while text and _font(line.size, line.bold, line.mono).getlength(text + "…") > room:
        text = text[:-1]
    return Text(text.rstrip(", ") + "…", line.size, line.colour, line.bold, line.mono)


def _port_label(edge: Edge, result: ValidationResult) -> str:
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
        if arrow.shape:
            out.append(_svg_text(*_shape_spot(arrow), Text(arrow.shape, 10, colour=MUTED, mono=True)))
    for box in picture.boxes:
        out.append(f'<g id="{escape(_svg_id(box.node))}">')
        out.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{BOX_W:.0f}" height="{BOX_H:.0f}" rx="8" '
                   f'fill="white" stroke="{box.colour}" stroke-width="2"/>')
        if box.collapsed:
            out.append(f'<rect x="{box.x + 4:.1f}" y="{box.y + 4:.1f}" width="{BOX_W - 8:.0f}" '
                       f'height="{BOX_H - 8:.0f}" rx="6" fill="none" stroke="{box.colour}" stroke-width="1"/>')
        for line, (x, y) in zip(box.lines, _line_positions(box)):
            out.append(_svg_text(x, y, line))
        if box.badge:
            out.append(_svg_text(box.right - PAD, box.y + PAD, Text(box.badge, 14, colour=box.colour, bold=True),
                                 anchor="end"))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _shape_spot(arrow: Arrow) -> Point:
    """Where an arrow's shape label starts: beside its first segment, right of a line going down, above one
    going across."""
    (x0, y0), (x1, _) = arrow.points[0], arrow.points[1]
    return (x0 + 5, y0 + 2) if abs(x1 - x0) < 0.5 else (x0 + 4, y0 - 13)


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
        if arrow.shape:
            _png_text(draw, *_shape_spot(arrow), Text(arrow.shape, 10, colour=MUTED, mono=True), k)
    for box in picture.boxes:
        draw.rounded_rectangle([box.x * k, box.y * k, box.right * k, box.bottom * k], radius=8 * k, fill="white",
                               outline=box.colour, width=max(1, round(2 * k)))
        if box.collapsed:
            draw.rounded_rectangle([(box.x + 4) * k, (box.y + 4) * k, (box.right - 4) * k, (box.bottom - 4) * k],
                                   radius=6 * k, outline=box.colour, width=max(1, round(k)))
        for line, (x, y) in zip(box.lines, _line_positions(box)):
            _png_text(draw, x, y, line, k)
        if box.badge:
            badge = Text(box.badge, 14, colour=box.colour, bold=True)
            _png_text(draw, box.right - PAD - _font(14, True, False).getlength(box.badge), box.y + PAD, badge, k)
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
def diagram_svg(graph: Graph, result: ValidationResult | None = None, orient: str = "landscape") -> str:
    """The design as an SVG document (landscape: 16:9)."""
    return to_svg(scene(graph, result, orient))


def diagram_png(graph: Graph, result: ValidationResult | None = None, width: int = PNG_WIDTH,
                orient: str = "landscape") -> bytes:
    """The design as PNG bytes, ``width`` pixels wide (landscape: 1920×1080 at the default width)."""
    return to_png(scene(graph, result, orient), width)


__all__ = ["ORIENTS", "Arrow", "Box", "Scene", "Text", "diagram_png", "diagram_svg", "scene", "to_png", "to_svg"]
