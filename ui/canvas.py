"""The canvas: one StreamlitFlowState kept in session_state, mutated when the graph changes, in a fragment.

Rules from ../shared/notes/streamlit-flow.md: the frontend takes Python's state only when its timestamp is
not older than the last one the frontend sent, and it echoes every state it takes. So: rebuild the nodes
and bump the timestamp only when the graph (or selection) changed; handle a returned value only once (by its
timestamp); a position-only change updates the graph without a push and without a full-page rerun.

The view is fitted only when a design is loaded or re-laid out, or the canvas is mounted afresh (opening the Build
tab): the component refits after every push while ``fit_view`` is on, so it is on for a short window only, and
ordinary edits keep the user's zoom and pan.
"""

from __future__ import annotations

import time

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.state import StreamlitFlowState

from builder.layout import VIEW_H
from ui import state
from ui.canvas_events import apply_canvas_state
from ui.canvas_view import edge_id, flow_elements, needs_fit, starts_new_view

CANVAS_KEY = "canvas"
FLOW = "ll_flow"
BUILT_FOR = "ll_flow_built_for"  # (graph, selected) the flow nodes were made from
SEEN = "ll_flow_seen"  # timestamp of the last canvas value handled
PUSHED = "ll_flow_pushed"  # (timestamp, signature) of the last state pushed, until the canvas shows it
FIT_UNTIL = "ll_fit_until"  # ms: fit_view stays on until then (the canvas lays out and fits after a push)
FIT_ASKED = "ll_fit_asked"  # a panel asked for a fit (the auto-layout button)
SHOWN = "ll_flow_shown"  # the graph last pushed (BUILT_FOR is reset to force a push; this is not)
CANVAS_HEIGHT = int(VIEW_H)  # with the header it ends above the bottom of a 1280 x 800 screen
FIT_WINDOW_MS = 3000  # the canvas's echo of a push comes back well within this, even on a busy machine
MIN_ZOOM = 0.25  # a user's own big design can still be seen whole


def _now_ms() -> int:
    return int(time.time() * 1000)


def flow_state() -> StreamlitFlowState:
    """The session's one flow state, brought up to date with the graph (pushed to the frontend if it changed)."""
    graph, result, selected = state.graph(), state.result(), state.selected()
    flow = st.session_state.get(FLOW)
    built = st.session_state.get(BUILT_FOR)
    if flow is not None and built is not None and built[0] is graph and built[1] == selected:
        return flow
    nodes, edges = flow_elements(graph, result, selected)
    if flow is None:
        flow = StreamlitFlowState(nodes=nodes, edges=edges, selected_id=selected, timestamp=_now_ms())
        st.session_state[FLOW] = flow
        st.session_state.setdefault(SEEN, 0)
    else:
        flow.nodes, flow.edges, flow.selected_id = nodes, edges, selected
        # Newer than anything the frontend sent, even if its clock runs ahead of ours.
        flow.timestamp = max(_now_ms(), st.session_state.get(SEEN, 0) + 1)
    if starts_new_view(st.session_state.get(SHOWN), graph):
        _fit_soon()
    else:
        st.session_state[FIT_UNTIL] = 0  # an ordinary edit: the push must not refit, whatever came before
    st.session_state[SHOWN] = graph
    st.session_state[BUILT_FOR] = (graph, selected)
    st.session_state[PUSHED] = (flow.timestamp, signature(flow))
    return flow


def request_fit() -> None:
    """Fit the canvas's view to the design on this run (for auto-layout, which may move only a node or two)."""
    st.session_state[FIT_ASKED] = True


def _fit_soon() -> None:
    st.session_state[FIT_UNTIL] = _now_ms() + FIT_WINDOW_MS


def fit_wanted() -> bool:
    return needs_fit(state.graph()) and _now_ms() < st.session_state.get(FIT_UNTIL, 0)


def signature(flow: StreamlitFlowState) -> tuple:
    """What the canvas shows, ignoring looks: node ids with positions, edge ids."""
    nodes = tuple(sorted((n.id, round(n.position["x"], 1), round(n.position["y"], 1)) for n in flow.nodes))
    return nodes, frozenset(e.id for e in flow.edges)


def is_stale(value: StreamlitFlowState) -> bool:
    """A value the canvas sent before it received our last push (Streamlit may deliver it after the push).

    Applying it would undo the push (a node just added would look deleted). The canvas's echo of the push
    carries exactly the pushed elements; until it arrives, older values that differ are dropped.
    """
    pushed = st.session_state.get(PUSHED)
    if pushed is None:
        return False
    if signature(value) == pushed[1] or value.timestamp >= pushed[0]:
        st.session_state[PUSHED] = None
        return False
    return True


def _positions_only(new_graph) -> None:
    """Keep the flow's copy of the nodes in step with a drag, without pushing anything back."""
    flow = st.session_state[FLOW]
    nodes, edges = flow_elements(new_graph, state.result(), state.selected())
    flow.nodes, flow.edges = nodes, edges
    st.session_state[BUILT_FOR] = (new_graph, state.selected())


def _out_of_step(value: StreamlitFlowState) -> bool:
    """True when the canvas shows elements the graph doesn't have (a refused edge, an unknown free-text node)."""
    graph = state.graph()
    node_ids = {n.id for n in value.nodes}
    edge_ids = {e.id for e in value.edges}
    return node_ids != set(graph.node_ids) or edge_ids != {edge_id(e) for e in graph.edges}


def handle_value(value: StreamlitFlowState) -> bool:
    """Apply one value returned by the canvas; True when the whole page must rerun."""
    st.session_state[SEEN] = value.timestamp
    payload = {"nodes": [n.asdict() for n in value.nodes], "edges": [e.asdict() for e in value.edges],
               "selectedId": value.selected_id}
    outcome = apply_canvas_state(state.graph(), payload)
    for message in outcome.messages:
        state.flash("warning", message)
    could_undo = state.history().can_undo
    if outcome.structural:
        state.commit(outcome.graph)
    elif state.commit(outcome.graph):  # a drag: its own undo step
        _positions_only(outcome.graph)
    first_step = not could_undo and state.history().can_undo  # the Undo button must light up
    if _out_of_step(value):
        st.session_state[BUILT_FOR] = None  # push the graph's view again
    reselect = outcome.selected is not None and outcome.selected != state.selected()
    if reselect:
        state.select(outcome.selected)
    return outcome.structural or reselect or first_step or bool(outcome.messages)


@st.fragment
def render_canvas() -> None:
    """The canvas; canvas events rerun only this fragment unless the rest of the page must change."""
    flow = flow_state()
    # Mounted afresh (a component's state goes when a run doesn't draw it), or asked for by a panel.
    if st.session_state.pop(FIT_ASKED, False) or CANVAS_KEY not in st.session_state:
        _fit_soon()
    # No zoom buttons: they sit on the bottom-left node of a fitted design (scroll zooms; Auto-layout refits).
    value = streamlit_flow(
        CANVAS_KEY, flow, height=CANVAS_HEIGHT, fit_view=fit_wanted(), show_controls=False, show_minimap=False,
        allow_new_edges=True, get_node_on_click=True, get_edge_on_click=True, enable_pane_menu=True,
        enable_node_menu=True, enable_edge_menu=True, hide_watermark=True, min_zoom=MIN_ZOOM,
        style={"border": "1px solid #e2e8f0", "borderRadius": "8px"},
    )
    if value is flow or value.timestamp <= st.session_state.get(SEEN, 0):
        return  # nothing new from the canvas (a stale value is returned on every rerun)
    if is_stale(value):
        st.session_state[SEEN] = value.timestamp
        return
    if handle_value(value) or st.session_state.get(BUILT_FOR) is None:
        st.rerun(scope="app")
