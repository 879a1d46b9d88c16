"""The diagram's scene: where each box and arrow goes and what it says, measured with the fonts the PNG uses.

Portrait follows the canvas's layered drawing (``builder.layout.place``), top to bottom; landscape runs the layers
left to right, in as many bands as make the picture largest on a 16:9 slide. ``export.diagram`` draws a scene as
SVG or PNG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from PIL import ImageFont

from builder.captions import key_params, short_shape
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
    labels = [shape_spot(a)[0] + font(10, False, True).getlength(a.shape) for a in arrows if a.shape]
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
    room = BOX_W - 2 * PAD - (font(14, True, False).getlength(badge) + 6 if badge else 0)
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
    face = font(line.size, line.bold, line.mono)
    for part in line.text.split(" · ") if line.text else []:
        joined = f"{rows[-1]} · {part}" if rows[-1] else part
        if face.getlength(joined) <= room or len(rows) == most:
            rows[-1] = joined
        elif not rows[-1]:  # one setting wider than the box (a tensor op's expression): break after its commas
            rows[-1:] = _broken(part, face, room, most - len(rows) + 1)
        else:
            rows.append(part)
    rows += [""] * (most - len(rows))
    return [Text(r, line.size, line.colour, line.bold, line.mono) for r in rows]


def _broken(text: str, face: ImageFont.FreeTypeFont, room: float, most: int) -> list[str]:
    """``text`` over at most ``most`` rows, broken after ", " where it is too wide (the last row takes the rest)."""
    rows = [""]
    for piece in text.split(", "):
        joined = f"{rows[-1]}, {piece}" if rows[-1] else piece
        if face.getlength(joined + ",") <= room or not rows[-1] or len(rows) == most:
            rows[-1] = joined
        else:
            rows[-1] += ","
            rows.append(piece)
    return rows


def _fitted(line: Text, room: float = BOX_W - 2 * PAD) -> Text:
    """The line shortened with "…" until it fits inside a box (names only: settings wrap instead)."""
    text = line.text
    if font(line.size, line.bold, line.mono).getlength(text) <= room:
        return line
    while text and font(line.size, line.bold, line.mono).getlength(text + "…") > room:
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


def shape_spot(arrow: Arrow) -> Point:
    """Where an arrow's shape label starts: beside its first segment, right of a line going down, above one
    going across."""
    (x0, y0), (x1, _) = arrow.points[0], arrow.points[1]
    return (x0 + 5, y0 + 2) if abs(x1 - x0) < 0.5 else (x0 + 4, y0 - 13)


@cache
def font(size: float, bold: bool, mono: bool) -> ImageFont.FreeTypeFont:
    """DejaVu (what the SVG asks for first) when the system has it, else Pillow's own scalable font."""
    name = "DejaVuSansMono" if mono else "DejaVuSans"
    try:
        return ImageFont.truetype(f"{name}{'-Bold' if bold else ''}.ttf", size)
    except OSError:
        return ImageFont.load_default(size)
