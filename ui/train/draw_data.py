"""Draw your own data: click points of each class onto the plane (or paint a region with the lasso) and train
on them — TensorFlow Playground's first exercise, for any model with a 2-D input.

How a click reaches Python: Streamlit reports plotly *selection* events on data points, never a click on an
empty plane, so the board lays an invisible grid of points (0.05 apart) under the drawing; a click selects the
grid point under the mouse, a lasso selects every grid point inside it. Each event is consumed once: the
chart's key carries a counter that moves on after each event, so the next click starts from an empty
selection (and clicking the same spot twice works). A custom component could read raw coordinates, but it
would need its own front-end build; the grid needs none and snaps points to a readable 0.05 lattice.

The drawing is a ``Drawing`` value kept in plain session state under the data picker's key prefix: it
survives tab switches and reruns, and is forgotten (like every data choice) when another design comes in —
then it starts again from that design's ``dataset_options`` (a share link's points) or the XOR example.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from data.drawn import CLASS_NAMES, PLANE, decode_drawing, drawing_problem, encode_drawing
from ui.train.charts import COLORS
from ui.train.train_state import keep, kept

STEP = 0.05  # grid spacing: a click lands on the nearest multiple
GRID = tuple(round(PLANE[0] + i * STEP, 2) for i in range(round((PLANE[1] - PLANE[0]) / STEP) + 1))
MAX_PAINT = 40  # points one lasso stroke may add: a region is painted, not flooded
HEIGHT = 400
_TOOLS = ("click", "paint")


@dataclass(frozen=True)
class Drawing:
    """Points with their classes; ``strokes`` counts the points each click or lasso added (for Undo)."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    strokes: tuple[int, ...] = ()

    def add(self, points: Iterable[tuple[float, float]], label: int) -> Drawing:
        """The drawing with ``points`` of class ``label`` added; a point already there in that class is not
        added twice (a double click, an overlapping lasso)."""
        seen = set(zip(self.points, self.labels))
        new = []
        for point in points:
            if (point, label) not in seen:
                seen.add((point, label))
                new.append(point)
        if not new:
            return self
        return Drawing((*self.points, *new), (*self.labels, *[label] * len(new)), (*self.strokes, len(new)))

    def undo(self) -> Drawing:
        if not self.strokes:
            return self
        keep_n = len(self.points) - self.strokes[-1]
        return Drawing(self.points[:keep_n], self.labels[:keep_n], self.strokes[:-1])

    def counts(self) -> dict[str, int]:
        """Points per class name, in class order, classes with points only."""
        found = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(CLASS_NAMES))
        return {CLASS_NAMES[c]: int(n) for c, n in enumerate(found) if n}

    def problem(self) -> str | None:
        return drawing_problem(len(self.points), np.asarray(self.labels))

    def options(self) -> dict[str, str]:
        """The ``drawn`` dataset's options: what the run, the script, the history and a share link carry."""
        points, labels = encode_drawing(self.points, self.labels)
        return {"points": points, "labels": labels}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Drawing:
        points, labels = decode_drawing(options.get("points", ""), options.get("labels", ""))
        valid = [(p, c) for p, c in zip(points, labels) if 0 <= c < len(CLASS_NAMES)]
        return cls(tuple(p for p, _ in valid), tuple(c for _, c in valid), (1,) * len(valid))


# ---- pure helpers ------------------------------------------------------------------------------------
def _snap(value: float) -> float:
    return round(round(float(value) / STEP) * STEP, 2)


def clicked(selected: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """Grid points from a selection event: the one clicked, or a lasso's region thinned to a 0.1 lattice and
    at most MAX_PAINT points (evenly spread). Only the grid (trace 0) counts: drawn points aren't targets."""
    points = list(dict.fromkeys((_snap(p["x"]), _snap(p["y"])) for p in selected if p.get("curve_number") == 0))
    if len(points) <= 1:
        return points
    even = [p for p in points if all(round((v - PLANE[0]) / STEP) % 2 == 0 for v in p)] or points[:1]
    if len(even) > MAX_PAINT:
        even = [even[i] for i in np.linspace(0, len(even) - 1, MAX_PAINT).round().astype(int)]
    return even


def board_figure(drawing: Drawing, paint: bool) -> go.Figure:
    """The plane: an invisible grid to click (trace 0), then the drawn points of each class."""
    xs, ys = np.meshgrid(GRID, GRID)
    fig = go.Figure(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", hoverinfo="none", showlegend=False,
                               marker=dict(size=10, opacity=0, color="#000000")))
    labels = np.asarray(drawing.labels, dtype=np.int64)
    xy = np.asarray(drawing.points, dtype=float).reshape(-1, 2)
    for c, name in enumerate(CLASS_NAMES):
        mine = xy[labels == c]
        if len(mine):
            fig.add_trace(go.Scatter(x=mine[:, 0].tolist(), y=mine[:, 1].tolist(), mode="markers", name=name, hoverinfo="skip",
                                     marker=dict(size=10, color=COLORS[c], line=dict(width=1, color="white"))))
    span = [PLANE[0] - 0.1, PLANE[1] + 0.1]
    fig.update_layout(height=HEIGHT, margin=dict(l=30, r=10, t=10, b=30), showlegend=False,
                      dragmode="lasso" if paint else False, hovermode="closest", clickmode="event+select",
                      plot_bgcolor="#fafafa")
    fig.update_xaxes(range=span, fixedrange=True, zeroline=True, zerolinecolor="#dddddd",
                     constrain="domain")  # a square plane: the plot narrows rather than showing more x
    fig.update_yaxes(range=span, fixedrange=True, zeroline=True, zerolinecolor="#dddddd", scaleanchor="x")
    return fig


# ---- session ----------------------------------------------------------------------------------------------
def _drawing(key: str, preset: Mapping[str, Any]) -> Drawing:
    if key not in st.session_state:
        from data.datasets import dataset_info

        st.session_state[key] = Drawing.from_options({**dataset_info("drawn").options, **preset})
    return st.session_state[key]


def _on_select(key: str, chart_key: str, label_key: str) -> None:
    """The chart's callback: add the selected grid points in the chosen class, then move to a fresh chart key."""
    event = st.session_state.get(chart_key)
    selected = list(getattr(getattr(event, "selection", None), "points", None) or [])
    label = st.session_state.get(label_key)
    st.session_state[key] = st.session_state[key].add(clicked(selected), int(label if label is not None else 0))
    st.session_state[f"{key}_n"] = st.session_state.get(f"{key}_n", 0) + 1


def _replace(key: str, drawing: Drawing) -> None:
    st.session_state[key] = drawing


def _undo(key: str) -> None:
    st.session_state[key] = st.session_state[key].undo()


def _example() -> Drawing:
    from data.datasets import dataset_info

    return Drawing.from_options(dataset_info("drawn").options)


# ---- drawing ----------------------------------------------------------------------------------------------
def render_drawing(preset: Mapping[str, Any], key: str) -> dict[str, str] | None:
    """The drawing board; the ``drawn`` dataset's options, or None (with a hint) while the drawing can't train.
    ``preset``: the design's saved options; ``key``: the prefix of this board's state and widgets."""
    drawing = _drawing(key, preset)
    label_key, tool_key = f"{key}_class", f"{key}_tool"
    left, right = st.columns([3, 2])
    given = kept(label_key, 0, list(range(len(CLASS_NAMES))), arg="default")
    with left:
        keep(label_key, st.segmented_control(
            "Class to add", range(len(CLASS_NAMES)), key=label_key, required=True, **given,
            format_func=lambda c: f":{_MARKDOWN_COLOURS[c]}[●] {CLASS_NAMES[c]}",
            help="the class of the next points; 2 classes train a yes/no output, 3 or 4 one output per class"))
    given = kept(tool_key, _TOOLS[0], list(_TOOLS), arg="default")
    with right:
        tool = keep(tool_key, st.segmented_control(
            "Add by", _TOOLS, key=tool_key, required=True, **given,
            format_func=lambda t: {"click": ":material/ads_click: click", "paint": ":material/gesture: paint"}[t],
            help="click: one point where you click; paint: drag a loop to fill it with points"))
    chart_key = f"{key}_board_{st.session_state.get(f'{key}_n', 0)}"
    st.plotly_chart(board_figure(drawing, tool == "paint"), key=chart_key,
                    on_select=partial(_on_select, key, chart_key, label_key),  # plotly_chart takes no args=
                    selection_mode=("points", "lasso"), config={"displayModeBar": False})
    _buttons(key, drawing)
    return _summary(drawing)


_MARKDOWN_COLOURS = ("blue", "orange", "green", "red")  # Streamlit's Markdown colours nearest ui.train.charts.COLORS


def _buttons(key: str, drawing: Drawing) -> None:
    undo, clear, example, _ = st.columns([1, 1, 1.6, 1])
    undo.button("Undo", key=f"{key}_undo", icon=":material/undo:", disabled=not drawing.strokes,
                on_click=_undo, args=(key,), width="stretch")
    clear.button("Clear", key=f"{key}_clear", icon=":material/delete:", disabled=not drawing.points,
                 on_click=_replace, args=(key, Drawing()), width="stretch")
    example.button("XOR example", key=f"{key}_example", icon=":material/restart_alt:",
                   on_click=_replace, args=(key, _example()), width="stretch",
                   help="start again from the 40-point XOR drawing")


def _summary(drawing: Drawing) -> dict[str, str] | None:
    counts = " · ".join(f"{n} {name}" for name, n in drawing.counts().items()) or "no points yet"
    problem = drawing.problem()
    if problem:
        st.info(f"{counts}: {problem[0].upper()}{problem[1:]}.", icon=":material/touch_app:")
        return None
    st.caption(f"{counts} — click to add more; the run trains on these points (split by the seed).")
    return drawing.options()
