"""Edge labels that never cover each other: a label that would lie on another (the two inputs of an Add arriving
side by side, "128× 128×28×28") moves up or down within its gap, or along it, to the first free spot that covers
no node either. Labels are placed in edge order, so the same drawing always gets the same spots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from builder.layered import LABEL_H, NODE_H, NODE_W, Pos, Route

Box = tuple[float, float, float, float]
SHIFTS_Y = (0.0, -LABEL_H / 2 - 0.5, LABEL_H / 2 + 0.5)  # a gap (36 px) holds two labels one above the other
SHIFTS_X = (0.0, 24.0, -24.0, 48.0, -48.0, 72.0, -72.0, 96.0, -96.0, 120.0, -120.0)


def label_box(at: Pos, width: float, centred: bool) -> Box:
    x, y = at
    left = x - width / 2 if centred else x
    return (left, y - LABEL_H / 2, left + width, y + LABEL_H / 2)


def _hits(a: Box, b: Box) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


class _Grid:
    """Boxes filed by the cells they touch, so a test looks only at its neighbours (300 nodes: 2 ms, not 400)."""

    CELL = 128.0

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], list[Box]] = {}

    def _keys(self, box: Box) -> list[tuple[int, int]]:
        c = self.CELL
        return [(i, j) for i in range(int(box[0] // c), int(box[2] // c) + 1)
                for j in range(int(box[1] // c), int(box[3] // c) + 1)]

    def add(self, box: Box) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)

    def hits(self, box: Box) -> bool:
        return any(_hits(box, other) for key in self._keys(box) for other in self.cells.get(key, ()))


def apart(routes: Mapping[tuple[str, str], Route], label_widths: Mapping[tuple[str, str], float],
          positions: Mapping[str, Pos], node_widths: Mapping[str, float]) -> dict[tuple[str, str], Route]:
    """``routes`` with every label moved off the labels placed before it (and never onto a node)."""
    taken = _Grid()
    for n, (x, y) in positions.items():
        taken.add((x, y, x + node_widths.get(n, NODE_W), y + NODE_H))
    out: dict[tuple[str, str], Route] = {}
    for key, route in routes.items():
        width = label_widths.get(key, 0.0)
        spot = route.label_at
        if width > 0:
            spots = [(spot[0] + dx, spot[1] + dy) for dx in SHIFTS_X for dy in SHIFTS_Y]
            spot = next((p for p in spots if not taken.hits(label_box(p, width, route.label_centred))), spot)
            taken.add(label_box(spot, width, route.label_centred))
        out[key] = route if spot == route.label_at else replace(route, label_at=spot)
    return out
