"""Save (download the project JSON), load (upload, with every ProjectError line shown) and share links."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from builder.graph import Graph
from builder.project import ProjectError, load_project, to_json
from builder.settings import settings
from builder.share import ShareError, encode_share
from training.settings import defaults
from ui.common import state
from ui.common.fragments import SAVE_BUTTON
from ui.gallery.gallery import BUILD_VIEW, VIEW_KEY
from ui.project import import_panel
from ui.train.train_state import link_training

UPLOAD_KEY = "project_upload"  # the uploader's container; the widget in it is keyed f"{UPLOAD_KEY}_{n}"
UPLOADS = "ll_uploads"  # files taken so far: after each, a fresh, empty uploader (see _on_upload)
SHARE_SHOWN = "ll_share_link"


def _uploader_key() -> str:
    return f"{UPLOAD_KEY}_{st.session_state.get(UPLOADS, 0)}"


def _on_upload(key: str) -> None:
    upload = st.session_state.get(key)
    if upload is None:
        return
    # The next run draws a fresh uploader: one still holding this file did not hear the same file picked again,
    # so re-opening a file to get back to it after some edits was silently ignored.
    st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1
    data = upload.getvalue()
    if import_panel.handle_upload(upload.name, data):  # a model to import (.onnx, .py), not a project file
        st.session_state[VIEW_KEY] = BUILD_VIEW
        return
    limit = settings().max_file_bytes
    if len(data) > limit:  # load_project refuses it too; this says which file and which setting
        state.flash("error", f"‘{upload.name}’ is {megabytes(len(data))}; project files on this server are "
                             f"limited to {megabytes(limit)} (setting max_file_bytes, LAYERLAB_MAX_FILE_BYTES).")
        return
    try:
        graph = load_project(data)
    except ProjectError as err:
        lines = "\n".join(f"- {p}" for p in err.problems[:12])
        more = f"\n- … and {len(err.problems) - 12} more" if len(err.problems) > 12 else ""
        state.flash("error", f"‘{upload.name}’ is not a LayerLab project it can open:\n{lines}{more}")
        return
    if graph == state.graph():
        state.flash("info", f"‘{upload.name}’ is already open, as the file has it: nothing changed.")
        return
    state.replace_graph(graph)
    state.flash("success", f"Loaded ‘{upload.name}’ ({len(graph.nodes)} blocks).")
    st.session_state[VIEW_KEY] = BUILD_VIEW  # show what was opened


def megabytes(size: int) -> str:
    """A byte count for people: "6.2 MB" (decimal megabytes, as file managers show them), "812 bytes"."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def share_url(link: str) -> str:
    """The full address when Streamlit knows it, else just the query part to append to the app's address."""
    try:
        base = (st.context.url or "").split("?")[0]
    except Exception:  # st.context.url is missing outside a browser session (AppTest)
        base = ""
    return f"{base}?design={link}"


def _with_training(graph: Graph) -> Graph:
    """The design with the Train tab's settings in meta.training (the seed always): the link opens on that run."""
    from ui.train.train_panel import current_settings  # loads torch: only when a link is made

    training = link_training(graph.meta.get("training"), current_settings(graph), defaults())
    return replace(graph, meta={**graph.meta, "training": training})


def _on_share() -> None:
    try:
        link = encode_share(_with_training(state.graph()))
    except ShareError as err:
        state.flash("error", f"This design can't be shared as a link: {err}. Save the project file instead.")
        return
    st.query_params[state.SHARE_PARAM] = link
    st.session_state[SHARE_SHOWN] = share_url(link)


@st.fragment(key=SAVE_BUTTON)  # rerun with the canvas (ui.common.fragments): a palette click must re-register its file
def _save_button() -> None:
    graph, history = state.graph(), state.history()
    # The bytes are made at click time: edits on the canvas rerun only the workspace, not this sidebar.
    st.download_button("Save project", lambda: to_json(history.current), file_name=f"{graph.name or 'model'}.json",
                       icon=":material/save:", mime="application/json", key="save_project", on_click="ignore", use_container_width=True)


def render_project_io() -> None:
    st.markdown("#### Project")
    _save_button()
    key = _uploader_key()
    with st.container(key=UPLOAD_KEY):
        st.file_uploader(import_panel.upload_label(), type=import_panel.upload_types(), key=key,
                         on_change=_on_upload, args=(key,))
    import_panel.render_import_status()
    st.button("Share link", icon=":material/link:", key="share", on_click=_on_share, use_container_width=True,
              help="put the design in the address bar; anyone opening the link gets this design")
    link = st.session_state.get(SHARE_SHOWN)
    if link:
        st.caption(f"Link ready ({len(link):,} characters), also in the address bar:")
        st.code(link, language=None, wrap_lines=True)
