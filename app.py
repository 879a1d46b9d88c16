"""LayerLab in the browser: `streamlit run app.py` (or `layerlab app`).

Composition only: page config, the session bootstrap and the panels. Graph edits are pure functions in
builder/; the panels live in ui/.
"""

from __future__ import annotations

import streamlit as st

from builder.edits import apply_fix
from ui.code.panels import render_code, render_summary
from ui.common import state
from ui.common.fragments import WORKSPACE, sidebar_drawn, sidebar_stale
from ui.common.gc_tuning import freeze_imports
from ui.common.style import PAGE_CSS
from ui.design.canvas import forget_drawing, handle_event, render_canvas
from ui.design.header import render_header, render_issues
from ui.design.inspector import render_inspector
from ui.design.palette import render_palette
from ui.gallery import lesson
from ui.gallery.gallery import BUILD_VIEW, VIEW_KEY, render_gallery
from ui.project import saved_work
from ui.project.project_io import render_project_io
from ui.train.run_bar import render_run_bar, run_bar_stale

VIEWS = [BUILD_VIEW, "Templates", "Summary", "Code", "Train"]


def render_train_tab() -> None:
    try:
        from ui.train.train_panel import render_train_panel
    except ImportError as err:
        st.info(f"Training is not available in this installation yet ({err}).")
        return
    render_train_panel(
        state.graph(),
        state.result(),
        on_fix=lambda node_id, fix: state.edit_design(apply_fix, node_id, fix),  # design ids, whatever is open
        on_load=lambda graph, _run_id: state.replace_graph(graph),
    )


CANVAS_CAPTION = ("Click a block in the palette to add it after the selected node · drag from a node's bottom dot "
                  "to another node to connect · Delete or Backspace removes what is selected (a block with one "
                  "input and one output is bridged: its neighbours stay connected) · Ctrl+Z undo, Ctrl+Shift+Z "
                  "redo · Esc deselects · right-click for a menu")


def render_build_tab() -> None:
    canvas_col, side_col = st.columns([2.6, 1], gap="small")
    with canvas_col:
        render_canvas()
        st.caption(CANVAS_CAPTION)
    with side_col:
        issues = state.result().issues
        with st.container(height=170 if len(issues) > 3 else "content", border=False, key="issues"):
            render_issues(state.result(), state.graph())
        with st.container(height=520, border=False, key="inspector"):
            render_inspector()


def settings_ok() -> bool:
    """LAYERLAB_* variables or layerlab.toml with a bad value: say which, instead of a traceback on every click."""
    from builder.settings import SettingsError, settings

    try:
        settings()
    except SettingsError as err:
        st.error(f"LayerLab's settings can't be used: {err}. Fix it and restart the app.")
        return False
    return True


def main() -> None:
    st.set_page_config(page_title="LayerLab", page_icon="🧠", layout="wide", initial_sidebar_state="expanded")
    freeze_imports()  # the modules above are never garbage: full collections skip them (ui.gc_tuning)
    if not settings_ok():
        return
    first_run = state.HISTORY not in st.session_state
    if first_run:  # a share link opens on its design; work left here on its tab; a fresh visit on the gallery;
        saved, view = saved_work.restore()  # a lesson link on the lesson
        state.bootstrap(saved)
        st.session_state[VIEW_KEY] = (view if view in VIEWS
                                      else BUILD_VIEW if state.SHARE_PARAM in st.query_params else "Templates")
        lesson.start_from_url()
    st.markdown(PAGE_CSS, unsafe_allow_html=True)
    handle_event()  # the canvas's newest edit first (AppTest sets it directly; a browser's comes in a callback)
    if lesson.active():  # read-only: no palette, no inspector, no tabs until "Make my own copy"
        state.show_flashes()
        lesson.render_lesson()
        forget_drawing()
        return
    render_run_bar()  # first: a Stop click shows its stopped run before anything else is drawn
    with st.sidebar:
        render_palette()
        st.divider()
        render_project_io()
        saved_work.remember_browser()
    sidebar_drawn()
    render_workspace()


@st.fragment(key=WORKSPACE)
def render_workspace() -> None:
    """Header, flashes and tabs: a canvas event, an inspector edit or a palette click reruns only this (and the
    palette's target line), not the sidebar's 80 buttons (ui.common.fragments says what reruns when)."""
    # changed in here, shown outside it (a rename, an issue clicked; a run started or ended): one full run
    if sidebar_stale() or run_bar_stale():
        st.rerun(scope="app")
    saved_work.save()  # the edit that started this run, before anything can interrupt it (a reload)
    render_header()
    with st.container(key="flashes"):  # always there, so the canvas below keeps its place (no remount)
        state.show_flashes()
    build, gallery, summary, code, train = st.tabs(VIEWS, key=VIEW_KEY, on_change="rerun")
    if build.open:
        with build:
            render_build_tab()
    else:  # the canvas leaves the page: it gets the whole drawing when it comes back
        forget_drawing()
    if gallery.open:
        with gallery:
            render_gallery()
    if summary.open:
        with summary:
            render_summary(state.graph(), state.result())
    if code.open:
        with code:
            render_code(state.graph(), state.result())
    if train.open:
        with train:
            render_train_tab()
    saved_work.save()  # what the Train tab's widgets recorded while drawn


main()
