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
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

from builder.graph import Graph
from builder.validate import ValidationResult
from export.diagram_scene import (
    BOX_H,
    BOX_W,
    EDGE_INK,
    MARGIN,
    MAX_PNG_PIXELS,
    MONO,
    MUTED,
    ORIENTS,
    PAD,
    PNG_WIDTH,
    SANS,
    Arrow,
    Box,
    Point,
    Scene,
    Text,
    font,
    scene,
    shape_spot,
)


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
           _svg_text(MARGIN + font(18, True, False).getlength(picture.title) + 12, MARGIN + 4,
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
            out.append(_svg_text(*shape_spot(arrow), Text(arrow.shape, 10, colour=MUTED, mono=True)))
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
    _png_text(draw, MARGIN + font(18, True, False).getlength(picture.title) + 12, MARGIN + 4,
              Text(picture.subtitle, 12, colour=MUTED), k)
    for arrow in picture.arrows:
        draw.line([(x * k, y * k) for x, y in arrow.points], fill=EDGE_INK, width=max(1, round(1.6 * k)),
                  joint="curve")
        draw.polygon([(x * k, y * k) for x, y in _arrow_head(arrow.points)], fill=EDGE_INK)
        if arrow.label:
            x, y = arrow.points[-1]
            label = Text(arrow.label, 10, colour=MUTED)
            _png_text(draw, x - 6 - font(10, False, False).getlength(arrow.label), y - 14, label, k)
        if arrow.shape:
            _png_text(draw, *shape_spot(arrow), Text(arrow.shape, 10, colour=MUTED, mono=True), k)
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
            _png_text(draw, box.right - PAD - font(14, True, False).getlength(box.badge), box.y + PAD, badge, k)
    final = image.resize((round(picture.width * zoom), round(picture.height * zoom)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    final.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _png_text(draw: ImageDraw.ImageDraw, x: float, y: float, line: Text, k: float) -> None:
    # SVG places text by its baseline (y + size); Pillow's "ls" anchor is the same left-baseline point.
    draw.text((x * k, (y + line.size) * k), line.text, fill=line.colour,
              font=font(line.size * k, line.bold, line.mono), anchor="ls")


# -- entry points ---------------------------------------------------------------------------------------------
def diagram_svg(graph: Graph, result: ValidationResult | None = None, orient: str = "landscape") -> str:
    """The design as an SVG document (landscape: 16:9)."""
    return to_svg(scene(graph, result, orient))


def diagram_png(graph: Graph, result: ValidationResult | None = None, width: int = PNG_WIDTH,
                orient: str = "landscape") -> bytes:
    """The design as PNG bytes, ``width`` pixels wide (landscape: 1920×1080 at the default width)."""
    return to_png(scene(graph, result, orient), width)


__all__ = ["ORIENTS", "Arrow", "Box", "Scene", "Text", "diagram_png", "diagram_svg", "scene", "to_png", "to_svg"]
