"""The canvas: LayerLab's own Streamlit component (ui/canvas_frontend, React Flow 11) and the event loop around it.

One source of truth: the graph in the undo history. The canvas draws what Python sends; what the user does comes
back as one event (an intent, see ``ui.design.canvas_events``), which ``handle_event`` applies at the very top of the
run, before the header, the inspector or the canvas are drawn, so they all show the result of the same edit in
the same run. The canvas never sends its own state back, so no stale copy of it can bring a deleted node back.

``rev`` tells the canvas when to replace what it shows (it may show an optimistic delete or a dashed new edge until
then); ``fitKey`` when to fit the view (a design was opened or laid out afresh); ``focus`` which node to keep in view.

Speed: the canvas lives in the workspace fragment (ui.common.fragments), and its callback applies the event and reruns
only that fragment and the palette's target line. A new selection is not a new drawing, and in a fragment run a
drawing the canvas holds already is not sent again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components
from streamlit.runtime.scriptrunner import get_script_run_ctx

from builder.catalog import all_blocks
from builder.graph import Graph
from builder.layout import FIT_PADDING, NODE_H, NODE_W
from ui.common import state
from ui.common.fragments import redraw_design
from ui.design.canvas_events import Step, apply_event
from ui.design.canvas_view import canvas_elements, with_health

FRONTEND = Path(__file__).resolve().parents[1] / "canvas_frontend" / "static"
_component = components.declare_component("layerlab_canvas", path=str(FRONTEND))

CANVAS_KEY = "canvas"
HANDLED = "ll_canvas_handled"  # id of the last event applied (a component returns its last value every run)
VIEW = "ll_canvas_view"  # (state.view(), nodes, edges): the elements of the last drawing
REV = "ll_canvas_rev"
SENT = "ll_canvas_sent"  # the rev whose nodes and edges the mounted canvas holds (not sent again)
FIT = "ll_canvas_fit"  # (graph it was fitted for, fit key)
MIN_HEIGHT = 420  # px: the canvas grows to the window's height below it (ui/canvas_frontend)
BELOW = 34  # px left under the canvas for the caption
MIN_ZOOM = 0.2
MINIMAP_FROM = 25  # nodes: a design this big gets a minimap


def handle_event() -> None:
    """Apply the canvas's newest event, once. Call before anything that shows the graph is drawn."""
    event = st.session_state.get(CANVAS_KEY)
    if not isinstance(event, dict) or event.get("id") is None or event.get("id") == st.session_state.get(HANDLED):
        return
    st.session_state[HANDLED] = event["id"]
    if event.get("kind") == "resend":  # the canvas was mounted afresh and holds no drawing: send it all
        forget_drawing()
        return
    # on the open block's inside, or the design; a node "moved" to where it is drawn is no edit (a click)
    outcome = apply_event(state.view_graph(), state.selected(), event, _drawn())
    for message in outcome.messages:
        state.flash("warning", message)
    if outcome.step is Step.UNDO:
        state.undo()
    elif outcome.step is Step.REDO:
        state.redo()
    elif outcome.step is Step.OPEN:
        state.open_block(outcome.selected)
    else:
        state.commit_view(outcome.graph, key=outcome.key)
        state.select(outcome.selected, outcome.selection)
    if event.get("kind") != "select":  # a selection is already shown; anything else may be optimistic (a
        st.session_state[REV] = st.session_state.get(REV, 0) + 1  # refused edge): replace it with Python's


def _drawn() -> dict[str, tuple[float, float]]:
    """Where the last drawing put each node: what the canvas shows while the user acts on it."""
    view = st.session_state.get(VIEW)
    return {n["id"]: (n["x"], n["y"]) for n in view[1]} if view else {}


def _on_canvas_event() -> None:
    """The canvas's callback: apply the event before anything is drawn, then redraw only what shows the design."""
    handle_event()
    redraw_design()


def request_fit() -> None:
    """Fit the view to the design on the next drawing (auto-layout, a design opened)."""
    st.session_state[FIT] = (None, st.session_state.get(FIT, (None, 0))[1] + 1)


def _fit_key(graph: Graph) -> int:
    """Changes when ``graph`` is a different design from the one last fitted (few node ids in common)."""
    fitted, key = st.session_state.get(FIT, (None, 0))
    if fitted is graph:
        return key
    if fitted is None or _new_design(fitted, graph):
        key += 1
    st.session_state[FIT] = (graph, key)
    return key


def _new_design(old: Graph, new: Graph) -> bool:
    before = set(old.node_ids)
    kept = sum(1 for n in new.node_ids if n in before)
    return kept * 2 < len(new.nodes) or kept * 2 < len(old.nodes)


def _elements() -> tuple[list[dict], list[dict], int]:
    """The nodes and edges to draw, rebuilt only when what the canvas shows changed (the design, or the open
    block): a new selection is sent on its own (``selected``), without a new drawing."""
    shown = state.view()  # the open block's inside, or the design; the same object while neither changes
    health = _health_warnings(shown.graph)
    view = st.session_state.get(VIEW)
    if view is None or view[0] is not shown or view[3] != health:
        nodes, edges, _ = canvas_elements(shown.graph, shown.result, shown.off)
        view = (shown, with_health(nodes, health), edges, health)
        st.session_state[VIEW] = view
        st.session_state[REV] = st.session_state.get(REV, 0) + 1
    return view[1], view[2], st.session_state[REV]


def _health_warnings(shown: Graph) -> dict[str, list[tuple[str, str]]]:
    """The session's last run's training-health warnings (dead ReLUs, vanishing gradients…) as (title, sentence)
    for the nodes of the design it trained (``ui.train.health_view.shown_warnings``)."""
    if getattr(st.session_state.get(state.TRAIN_RUN), "health", None) is None:
        return {}  # no run: torch stays unloaded at the page's start
    from training.health import warning_line
    from ui.train.health_view import shown_warnings

    return {node: [warning_line(w) for w in warnings] for node, warnings in shown_warnings(shown).items()}


def _fragment_run() -> bool:
    ctx = get_script_run_ctx()
    return bool(ctx is not None and getattr(ctx, "fragment_ids_this_run", None))


def forget_drawing() -> None:
    """The canvas is not on the page (another tab, a lesson): send the whole drawing when it comes back."""
    st.session_state.pop(SENT, None)


@st.cache_data
def block_names() -> list[str]:
    return sorted(b.type for b in all_blocks())


def render_canvas() -> None:
    """The editable canvas of the current design."""
    nodes, edges, rev = _elements()
    selected = state.selected()
    # In a fragment run a drawing the canvas holds already is not sent again (``None``: keep yours): a click that
    # changes only the selection, the header or the inspector costs no node list. A canvas that lost it asks
    # ("resend"); a full run always sends it.
    held = _fragment_run() and st.session_state.get(SENT) == rev
    st.session_state[SENT] = rev
    _component(
        nodes=None if held else nodes, edges=None if held else edges, rev=rev, selected=selected,
        selection=state.selection(), focus=selected,
        focusKey=f"{rev}:{selected}", fitKey=_fit_key(state.view_graph()), height=MIN_HEIGHT, fill=BELOW,
        minimap=len(nodes) >= MINIMAP_FROM,
        readOnly=False, nodeW=NODE_W, nodeH=NODE_H, minZoom=MIN_ZOOM, fitPadding=FIT_PADDING, blockNames=block_names(),
        key=CANVAS_KEY, default=None, on_change=_on_canvas_event,
    )


def render_read_only_canvas(nodes: list[dict], edges: list[dict], key: str, height: int) -> Any:
    """A canvas to look at (lesson links): pan and zoom, nothing to edit; its events are ignored."""
    return _component(
        nodes=nodes, edges=edges, rev=0, selected=None, focus=None, focusKey=None, fitKey=1, height=height,
        fill=0, minimap=False, readOnly=True, nodeW=NODE_W, nodeH=NODE_H, minZoom=MIN_ZOOM, fitPadding=FIT_PADDING,
        blockNames=[],
        key=key, default=None,
    )
