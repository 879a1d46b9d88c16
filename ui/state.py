"""Per-session state: the undo history (whose current entry is the graph), the selection and flash messages.

Everything user-specific lives in ``st.session_state``; nothing here is cached across sessions. UI handlers
call ``edit(func, *args)`` with a pure function from ``builder.edits``: one line per handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from builder.edits import EditError, add_node
from builder.graph import Graph
from builder.history import History
from builder.share import ShareError, decode_share
from builder.validate import ValidationResult, validate

HISTORY = "ll_history"
SELECTED = "ll_selected"
FLASH = "ll_flash"
RESULT = "ll_result"
SHARE_PARAM = "design"


def blank_graph() -> Graph:
    graph, _ = add_node(Graph(name="my_model"), "Input")
    return graph


def _initial_graph() -> Graph:
    """The design from a share link in the URL when there is one, else a blank canvas."""
    text = st.query_params.get(SHARE_PARAM)
    if not text:
        return blank_graph()
    try:
        return decode_share(text)
    except ShareError as err:
        flash("error", f"This share link could not be opened: {err}. Starting from a blank canvas.")
        return blank_graph()


def bootstrap() -> None:
    """Create the session's history once; later runs find it in session_state."""
    if HISTORY not in st.session_state:
        history = History()
        history.push(_initial_graph())
        st.session_state[HISTORY] = history
        st.session_state[SELECTED] = None


def history() -> History:
    return st.session_state[HISTORY]


def graph() -> Graph:
    return history().current


def result() -> ValidationResult:
    """Validation of the current graph, computed once per graph (graphs are immutable, so identity is enough)."""
    cached = st.session_state.get(RESULT)
    current = graph()
    if cached is None or cached[0] is not current:
        cached = (current, validate(current))
        st.session_state[RESULT] = cached
    return cached[1]


def selected() -> str | None:
    node_id = st.session_state.get(SELECTED)
    return node_id if node_id and graph().has_node(node_id) else None


def select(node_id: str | None) -> None:
    st.session_state[SELECTED] = node_id


def commit(new: Graph, key: str | None = None) -> bool:
    """Make ``new`` the current graph as one undo step; False when nothing changed."""
    if new == graph():
        return False
    history().push(new, key=key)
    return True


def edit(func: Callable[..., Any], *args: Any, key: str | None = None, **kwargs: Any) -> Any:
    """Apply a pure edit to the current graph; an EditError becomes a message, never a traceback.

    Edits that return (graph, new_id) select the new node, so Conv → ReLU → Pool is three palette clicks.
    """
    try:
        out = func(graph(), *args, **kwargs)
    except EditError as err:
        flash("error", str(err))
        return None
    new, new_id = out if isinstance(out, tuple) else (out, None)
    commit(new, key=key)
    if new_id is not None:
        select(new_id)
    return new_id


def replace_graph(new: Graph) -> None:
    """A whole new design (template, upload, blank): undoable like any edit. Nodes without a position follow
    the layered layout (builder.layout.place)."""
    commit(new)
    select(None)


def undo() -> None:
    history().undo()


def redo() -> None:
    history().redo()


def flash(kind: str, text: str) -> None:
    """A message shown once at the top of the next run ("error", "warning", "success", "info")."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flashes() -> None:
    """Problems stay on the page until the next action; good news is a toast, so the canvas doesn't move down."""
    for kind, text in st.session_state.pop(FLASH, []):
        if kind in ("success", "info"):
            st.toast(text, icon="✅" if kind == "success" else "ℹ️")
        else:
            getattr(st, kind)(text)
