"""Which parts of the page rerun after an edit, so that a click costs a redraw of what it changed, not the page.

The page is three keyed fragments and the rest (app.py):
- ``WORKSPACE``: header, flashes and the tabs (canvas, issues, inspector, Summary, Code, Train);
- ``PALETTE_TARGET``: the palette's "New blocks go after ‘relu_1’" line (ui/palette.py);
- ``SAVE_BUTTON``: the sidebar's Save project button (ui/project_io.py). A palette click starts as a full run, which
  drops the page's download files before its callback narrows the run: the button must be drawn again to keep one;
- the sidebar's other widgets (about 80 palette buttons, the project box) are drawn by full runs only.

A widget inside the workspace (an inspector field, Undo, an issue) reruns only the workspace, Streamlit's default
for a fragment. Callbacks that change the design or the selection from elsewhere (a canvas event, a palette click)
call ``redraw_design`` to rerun these three, and nothing else. What the sidebar shows of
the design is only its name (the Save button's file name; its bytes are read at click time) and the selection:
``sidebar_stale`` tells the workspace when a change made inside it (a rename, an undone template, an issue
clicked) leaves the sidebar behind, and the workspace then asks for one full run.
"""

from __future__ import annotations

import streamlit as st
from streamlit import config
from streamlit.errors import StreamlitAPIException

from ui.common import state

WORKSPACE = "ll_workspace"
PALETTE_TARGET = "ll_palette_target"
SAVE_BUTTON = "ll_save_button"
SIDEBAR_SHOWS = "ll_sidebar_shows"  # (design name, selected node) as the sidebar last drew them


def _shown() -> tuple[str, str | None]:
    return state.graph().name, state.selected()


def sidebar_drawn() -> None:
    """Call after a full run drew the sidebar."""
    st.session_state[SIDEBAR_SHOWS] = _shown()


def sidebar_stale() -> bool:
    return st.session_state.get(SIDEBAR_SHOWS) != _shown()


def edit_and_redraw(func, *args) -> None:
    """A widget callback in the workspace whose edit also changes the selection (a delete from the inspector): the
    palette's target line shows the selection, so the workspace alone would be stale and ask for a full run, which
    redraws the sidebar's 80 buttons (at 300 nodes that doubled the delete's time). Rerun the three parts instead."""
    state.edit(func, *args)
    redraw_design()


def redraw_design() -> None:
    """From a widget callback: rerun the workspace, the palette line and Save (never the 80 palette buttons)."""
    # AppTest keeps only what the last run drew (the sidebar would vanish from its tree): let it draw it all.
    # It sets this option on streamlit.config, which st.get_option doesn't see.
    if config.get_option("global.appTest"):
        return
    sidebar_drawn()  # its two parts that show the design, the palette line and Save, are redrawn with this run
    try:
        st.rerun([WORKSPACE, PALETTE_TARGET, SAVE_BUTTON])
    except StreamlitAPIException:  # a fragment not drawn yet (the first run of a lesson page): the whole page
        st.rerun(scope="app")
