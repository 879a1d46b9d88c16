"""How wide a node's face must be for its text (px at 100 %), so the layout can place nodes of several widths.

An estimate from the text and the CSS class of each segment (ui/canvas_frontend/src/canvas.css): em widths
measured in Chromium with DejaVu Sans, the widest of the common fallback fonts (Linux draws the canvas with it),
so other machines get a little room to spare rather than a cut. A face whose text still doesn't fit at
``MAX_NODE_W`` is abbreviated by the canvas, which then puts the full line in the line's hover title.
"""

from __future__ import annotations

from collections.abc import Sequence

from builder.layered import MAX_NODE_W, NODE_W

# (font size px, average advance in em) per segment class; measured: DejaVu Sans Bold 0.65-0.70 em, Book
# 0.57-0.64 em (digits and "×" the widest), DejaVu Sans Mono 0.602 em.
FONTS = {"ll-type": (13, 0.70), "ll-id": (12, 0.64), "ll-kind": (11, 0.70), "ll-shape": (12, 0.61),
         "ll-io": (11, 0.61), "ll-badge": (11, 0.72), "ll-badge-bad": (11, 0.72)}
DEFAULT_FONT = (11, 0.64)
MARGINS = {"ll-id": 4.0, "ll-size": 6.0, "ll-badge": 12.0, "ll-badge-bad": 12.0}  # margin-left (+ badge padding)
PAD = {False: 2 * 6 + 2 * 2, True: 2 * 4 + 2 * 4}  # padding and border each side: a plain node, a block (double)
SLACK = 4.0  # rounding of the browser's text layout


def segment_width(cls: str, text: str) -> float:
    classes = cls.split()
    size, em = next((FONTS[c] for c in reversed(classes) if c in FONTS), DEFAULT_FONT)
    margin = max((MARGINS.get(c, 0.0) for c in classes), default=0.0)
    return margin + len(text) * size * em


def face_width(lines: Sequence[Sequence[Sequence[str]]], block: bool = False) -> float:
    """The width a node needs for ``lines`` ([css class, text, hover?] segments), between NODE_W and MAX_NODE_W."""
    text = max((sum(segment_width(seg[0], seg[1]) for seg in line) for line in lines), default=0.0)
    return min(max(NODE_W, round(text + PAD[block] + SLACK)), MAX_NODE_W)
