"""Per-session state: the undo history (whose current entry is the graph), the open block, the selection and
flash messages.

Everything user-specific lives in ``st.session_state``; nothing here is cached across sessions. UI handlers
call ``edit(func, *args)`` with a pure function from ``builder.edits``: one line per handler.

Blocks made of blocks: the canvas may show the inside of a block (``open_block``). ``view_graph()`` is then that
inside and ``edit`` applies there, writing the block's definition back into the design (every instance follows),
so the canvas, the inspector and the palette edit inside a block without knowing it. The history always holds the
whole design: undo and redo work the same inside and out. ``graph()``/``result()`` stay the whole design.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from builder.block_edits import edit_inside, fix_inside
from builder.blocks import definition_order
from builder.edits import EditError, add_node, apply_issue_fix
from builder.graph import Definition, Graph
from builder.history import History
from builder.share import ShareError, decode_share
from builder.validate import Issue, ValidationResult, validate
from ui.common.block_view import BlockView, Step, block_view, steps_to, valid_steps

HISTORY = "ll_history"
SELECTED = "ll_selected"
FLASH = "ll_flash"
RESULT = "ll_result"
OPEN = "ll_open"  # the open path: tuple of ui.common.block_view.Step, outermost first; () for the design
SELECTION = "ll_selection"  # several nodes selected together (to group them); SELECTED is the inspector's
TRAIN_RUN = "ll_train_run"  # this session's ActiveRun (ui.train.train_panel.RUN), whose health warnings the nodes show
VIEW = "ll_block_view"  # (design, steps, BlockView): the view of the last run, rebuilt when either changes
SHARE_PARAM = "design"


def blank_graph() -> Graph:
    graph, _ = add_node(Graph(name="my_model"), "Input")
    return graph


def initial_graph() -> Graph:
    """The design from a share link in the URL when there is one, else a blank canvas."""
    text = st.query_params.get(SHARE_PARAM)
    if not text:
        return blank_graph()
    try:
        return decode_share(text)
    except ShareError as err:
        flash("error", f"This share link could not be opened: {err}. Starting from a blank canvas.")
        return blank_graph()


def bootstrap(saved: History | None = None) -> None:
    """Create the session's history once; later runs find it in session_state. ``saved``: the history this
    browser left (ui.project.saved_work, which also puts a new share link's design on top of it)."""
    if HISTORY not in st.session_state:
        if saved is None:
            saved = History()
            saved.push(initial_graph())
            st.session_state[SELECTED] = None
        st.session_state.setdefault(SELECTED, None)
        st.session_state[HISTORY] = saved


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


def open_steps() -> tuple[Step, ...]:
    """The open path, cut where the design no longer has it (undo may remove an open block)."""
    return valid_steps(graph(), st.session_state.get(OPEN, ()))


def view() -> BlockView:
    """What the canvas shows: the design, or the open block's inside with the shapes of the copy opened."""
    design, steps = graph(), open_steps()
    cached = st.session_state.get(VIEW)
    if cached is None or cached[0] is not design or cached[1] != steps:
        cached = (design, steps, block_view(design, result(), steps))
        st.session_state[VIEW] = cached
    return cached[2]


def open_definition() -> Definition | None:
    """The definition whose inside the canvas shows; None at the design's level."""
    steps = open_steps()
    return graph().definitions[steps[-1].definition] if steps else None


def view_graph() -> Graph:
    return view().graph


def view_result() -> ValidationResult:
    return view().result


def selected() -> str | None:
    node_id = st.session_state.get(SELECTED)
    return node_id if node_id and view_graph().has_node(node_id) else None


def selection() -> list[str]:
    """Nodes selected together on the canvas (shift-click, shift-drag), when more than one is."""
    graph = view_graph()
    return [n for n in st.session_state.get(SELECTION, []) if graph.has_node(n)]


def select(node_id: str | None, many: list[str] | tuple[str, ...] = ()) -> None:
    """Select one node (the inspector's), or several together (``many``: the inspector offers to group them)."""
    st.session_state[SELECTED] = node_id
    st.session_state[SELECTION] = list(many) if len(many) > 1 else []


def open_block(node_id: str | None, copy: int = 0) -> None:
    """Show the inside of the block instance ``node_id`` of the current view (double-click, the Open button)."""
    node = view_graph().node(node_id) if node_id and view_graph().has_node(node_id) else None
    if node is None or node.type not in graph().definitions:
        return  # a double-click on a plain layer: nothing to open
    _go((*open_steps(), Step(node_id, node.type, copy)), None)


def close_to(depth: int) -> None:
    """Go back up the breadcrumb to ``depth`` levels (0: the design), selecting the block just left."""
    steps = open_steps()
    left = steps[depth].instance if depth < len(steps) else None
    _go(steps[:depth], left)


def show_copy(copy: int) -> None:
    """Show the shapes of another copy of the open repeated block (``layer2[1]`` instead of ``layer2[0]``)."""
    steps = open_steps()
    if steps:
        _go((*steps[:-1], Step(steps[-1].instance, steps[-1].definition, copy)), selected())


def reveal(node_id: str | None, inner: str | None = None) -> None:
    """Show a node the issues list names: a layer inside a block (``inner``, a flat id) opens its block."""
    found = steps_to(graph(), inner) if inner else None
    if found is not None:
        _go(*found)
    else:
        _go((), node_id)


def _go(steps: tuple[Step, ...], node_id: str | None) -> None:
    st.session_state[OPEN] = tuple(steps)
    select(node_id)


def commit(new: Graph, key: str | None = None) -> bool:
    """Make ``new`` the current graph as one undo step; False when nothing changed."""
    if new == graph():
        return False
    history().push(new, key=key)
    return True


def commit_view(new: Graph, key: str | None = None) -> bool:
    """Make ``new``, an edited copy of ``view_graph()``, current: inside an open block it becomes the block's
    definition (and any block it brought along joins the design's). False when nothing changed or it was refused."""
    steps = open_steps()
    if not steps:
        return commit(new, key=key)
    try:
        design = _write_inside(new, steps[-1].definition)
    except EditError as err:
        flash("error", str(err))
        return False
    return commit(design, key=key)


def _write_inside(inner: Graph, name: str) -> Graph:
    design = graph()
    with_new = replace(design, definitions={**inner.definitions, name: design.definitions[name]})
    out = edit_inside(with_new, name, lambda _inside: inner)
    cycle = definition_order(out.definitions)
    if cycle and isinstance(cycle[0], list):
        raise EditError(f"a block can't contain itself: {' → '.join([*cycle[0], cycle[0][0]])}")
    return out


def edit(func: Callable[..., Any], *args: Any, key: str | None = None, **kwargs: Any) -> Any:
    """Apply a pure edit to what the canvas shows (the design, or the open block's inside); an EditError becomes
    a message, never a traceback.

    Edits that return (graph, new_id) select the new node, so Conv → ReLU → Pool is three palette clicks.
    """
    try:
        out = func(view_graph(), *args, **kwargs)
    except EditError as err:
        flash("error", str(err))
        return None
    new, new_id = out if isinstance(out, tuple) else (out, None)
    commit_view(new, key=key)
    if new_id is not None:
        select(new_id)
    return new_id


def edit_design(func: Callable[..., Any], *args: Any, key: str | None = None, **kwargs: Any) -> Any:
    """Like ``edit``, on the whole design whatever block is open (node ids of the design: the Train tab's fixes)."""
    try:
        out = func(graph(), *args, **kwargs)
    except EditError as err:
        flash("error", str(err))
        return None
    new, new_id = out if isinstance(out, tuple) else (out, None)
    commit(new, key=key)
    return new_id


def fix_issue(issue: Issue) -> None:
    """Apply an issue's fix; one found inside a block (``issue.inner``) edits the block's definition and opens it
    at the faulty layer."""
    if not issue.inner:
        edit(apply_issue_fix, issue)
        return
    flat = next((i for i in result().leaves.issues if i.node == issue.inner and i.code == issue.code
                 and i.fix == issue.fix), issue)
    try:
        design, _block = fix_inside(graph(), replace(flat, inner=issue.inner))
    except EditError as err:
        flash("error", str(err))
        return
    commit(design)
    reveal(None, issue.inner)


def replace_graph(new: Graph) -> None:
    """A whole new design (template, upload, blank): undoable like any edit. Nodes without a position follow
    the layered layout (builder.layout.place)."""
    commit(new)
    _go((), None)


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
            # Material icons come with Streamlit's own font: an emoji needs an emoji font (a missing-glyph box on
            # a machine without one)
            st.toast(text, icon=":material/check_circle:" if kind == "success" else ":material/info:")
        else:
            getattr(st, kind)(text)
