"""Lesson links for a classroom: ``?lesson=TEMPLATE`` opens a template read-only beside its explanation.

A whole class opens the same link, looks at the same design, and each student presses "Make my own copy" to
get an ordinary, editable design (the ``lesson`` parameter then leaves the address bar). The lesson graph is
kept in this session's state only; the explanation comes from the template's description, a few facts
derived from the graph, and a what-to-look-for text per family of templates in ``assets/lessons/``
(``assets/lessons/TEMPLATE.md`` overrides the family text for one template).
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import streamlit as st

from builder.graph import Graph
from builder.project import ProjectError
from builder.templates import load_template, template_names
from builder.validate import ValidationResult, validate
from training import settings as ts
from ui.common import state
from ui.common.style import human_count, short_shape
from ui.design.canvas import render_read_only_canvas
from ui.design.canvas_view import canvas_elements
from ui.gallery.gallery import BUILD_VIEW, VIEW_KEY

LESSON_PARAM = "lesson"
SEED_PARAM = "seed"  # ?lesson=NAME&seed=N: the seed the students' copies start from
LESSON = "ll_lesson"  # (template name, graph) while this session shows a lesson
LESSON_FLOW = "ll_lesson_flow"  # the read-only canvas's one flow state (a fresh one each run would loop)
LESSON_CANVAS_KEY = "lesson_canvas"
COPY_KEY = "lesson_copy"
LESSON_DIR = Path(__file__).resolve().parents[2] / "assets" / "lessons"
CANVAS_HEIGHT = 520


# ---- pure helpers ------------------------------------------------------------------------------------
def family(graph: Graph, name: str = "") -> str:
    """Which what-to-look-for text suits a design: transformer, recurrent, cnn, autoencoder or mlp."""
    types = {n.type for n in graph.nodes}
    if any(t.startswith("Transformer") or "Attention" in t for t in types):
        return "transformer"
    if types & {"LSTM", "GRU", "RNN"}:
        return "recurrent"
    if any(t.startswith("Conv") for t in types):
        return "cnn"
    if "autoencoder" in name.lower():
        return "autoencoder"
    return "mlp"


def lesson_notes(name: str, graph: Graph) -> str:
    """The Markdown text for a template: its own file if there is one, else its family's ("" if neither)."""
    for stem in (name, family(graph, name)):
        path = LESSON_DIR / f"{stem}.md"
        if stem and path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def facts(graph: Graph, result: ValidationResult) -> list[str]:
    """A few lines derived from the design: size, inputs and the dataset it trains on."""
    lines = [f"{len(graph.nodes)} blocks · {human_count(result.total_params)} parameters"]
    for node in graph.inputs():
        info = result.nodes.get(node.id)
        shape = short_shape(info.output) if info is not None else "?"
        lines.append(f"input ‘{node.id}’: {shape}")
    training = graph.meta.get("training") or {}
    if training.get("dataset"):
        lines.append(f"trains on the built-in dataset ‘{training['dataset']}’")
    if "seed" in training:
        lines.append(f"seed {training['seed']}")
    return lines


def lesson_link(name: str, base: str = "", seed: int | None = None) -> str:
    """``?lesson=NAME`` (``&seed=N`` with a seed), or the full address when the app's address (``base``) is
    known. The seed reaches the student's copy: every student's run then starts from the same weights."""
    base = base.split("?")[0]
    if base and not base.endswith("/"):
        base += "/"
    return f"{base}?{LESSON_PARAM}={name}" + (f"&{SEED_PARAM}={int(seed)}" if seed is not None else "")


def with_seed(graph: Graph, text: str | None) -> tuple[Graph, str | None]:
    """The lesson's design with the link's seed in meta.training, or unchanged with a message when the text is
    no seed (a typed link may hold anything: it is checked like the Train tab's field, never trusted)."""
    if text is None or text == "":
        return graph, None
    try:
        seed = ts.setting("seed").check(text)
    except ts.SettingError:
        spec = ts.setting("seed")
        return graph, (f"The lesson link's seed ‘{text}’ is not a whole number from {int(spec.minimum)} to "
                       f"{int(spec.maximum)}: the lesson uses its own seed.")
    training = {**(graph.meta.get("training") or {}), "seed": seed}
    return replace(graph, meta={**graph.meta, "training": training}), None


def app_base_url() -> str:
    """This app's address as the browser sees it, or "" where Streamlit doesn't know it (AppTest)."""
    try:
        return (st.context.url or "").split("?")[0]
    except Exception:  # st.context.url is missing outside a browser session
        return ""


# ---- session -----------------------------------------------------------------------------------------
def start_from_url() -> None:
    """On a session's first run: enter lesson mode when the address names a lesson.

    An unknown name leaves lesson mode off with a message (the caller shows the gallery)."""
    name = st.query_params.get(LESSON_PARAM)
    if not name:
        return
    if name not in template_names():
        state.flash("error", f"There is no lesson ‘{name}’: a lesson link names a template. "
                             f"Pick one from the gallery below (each card has its lesson link).")
        del st.query_params[LESSON_PARAM]
        return
    try:
        graph = load_template(name)  # the layered layout draws it
    except ProjectError as err:
        state.flash("error", f"The lesson ‘{name}’ could not be read: " + "; ".join(err.problems))
        del st.query_params[LESSON_PARAM]
        return
    graph, problem = with_seed(graph, st.query_params.get(SEED_PARAM))
    if problem:
        state.flash("warning", problem)
    st.session_state[LESSON] = (name, graph)


def active() -> bool:
    return LESSON in st.session_state


def make_copy() -> None:
    """Turn the lesson into this student's own editable design (undo brings back the blank canvas)."""
    name, graph = st.session_state.pop(LESSON)
    st.session_state.pop(LESSON_FLOW, None)
    state.replace_graph(graph)
    for param in (LESSON_PARAM, SEED_PARAM):
        if param in st.query_params:
            del st.query_params[param]
    st.session_state[VIEW_KEY] = BUILD_VIEW
    state.flash("success", f"This is your own copy of ‘{name}’: change anything, it is yours. "
                           "Save it with “Save project” in the sidebar.")


# ---- drawing -----------------------------------------------------------------------------------------
def _read_only_elements(graph: Graph, result: ValidationResult) -> tuple[list[dict], list[dict]]:
    """The canvas's nodes and edges, made once per lesson (the canvas ignores repeats of the same drawing)."""
    cached = st.session_state.get(LESSON_FLOW)
    if cached is None or cached[0] is not graph:
        cached = (graph, *canvas_elements(graph, result)[:2])
        st.session_state[LESSON_FLOW] = cached
    return cached[1], cached[2]


@st.fragment
def render_lesson_canvas(graph: Graph, result: ValidationResult) -> None:
    """The design, to look at: pan and zoom work; nothing the canvas sends back is applied (a fragment, so
    a click on the pane reruns only this)."""
    render_read_only_canvas(*_read_only_elements(graph, result), key=LESSON_CANVAS_KEY, height=CANVAS_HEIGHT)


def render_explanation(name: str, graph: Graph, result: ValidationResult) -> None:
    st.markdown(f"#### Lesson: {html.escape(name)}")
    st.markdown(graph.description or "_This template has no description._")
    st.caption(" · ".join(facts(graph, result)))
    st.button("Make my own copy", key=COPY_KEY, type="primary", icon=":material/content_copy:",
              on_click=make_copy, width="stretch",
              help="an editable copy of this design, just for you; the lesson itself stays as it is")
    notes = lesson_notes(name, graph)
    if notes:
        st.divider()
        st.markdown(notes)


def render_lesson() -> None:
    """The whole lesson page: read-only canvas left, explanation right, the code below."""
    from ui.code.panels import render_code, render_summary

    name, graph = st.session_state[LESSON]
    result = validate(graph)
    st.info("Read-only lesson: look around (scroll to zoom, drag the background to pan). "
            "Press **Make my own copy** to change it.", icon=":material/school:")
    canvas_col, text_col = st.columns([2.2, 1], gap="medium")
    with canvas_col:
        render_lesson_canvas(graph, result)
    with text_col, st.container(height=CANVAS_HEIGHT + 40, border=False, key="lesson_text"):
        render_explanation(name, graph, result)
    # Drawn only once opened: the table and the highlighted code cost a whole class ~3 MB of script per page load.
    layers = st.expander("Layer by layer: shapes and parameters", key="lesson_layers", on_change="rerun")
    if layers.open:
        with layers:
            render_summary(graph, result)
    code = st.expander("The PyTorch code", key="lesson_code", on_change="rerun")
    if code.open:
        with code:
            render_code(graph, result)


def render_link_popover(name: str) -> None:
    """The gallery card's lesson link: the relative link always, the full address when it is known."""
    with st.popover("Lesson link", icon=":material/school:", width="stretch", key=f"lesson_link_{name}"):
        st.caption("Students who open this link see the design read-only, with its explanation and a "
                   "“Make my own copy” button. Copy it with the icon at the right of the box.")
        seed = int(st.number_input("Seed", 0, int(ts.setting("seed").maximum), 0, key=f"lesson_seed_{name}",
                                   help="every student's copy trains from this seed: the same data split, "
                                        "initial weights and curve on every CPU"))
        seed_arg = seed if seed != ts.setting("seed").default else None
        base = app_base_url()
        if base:
            st.code(lesson_link(name, base, seed_arg), language=None, wrap_lines=True)
        st.code(lesson_link(name, seed=seed_arg), language=None)
        st.caption("(append it to the app's address)" if not base else "or append this to any LayerLab address")
