"""The header: the status chip ("2 issues · 1.2 M params"), undo/redo, auto-layout, the breadcrumb of an open
block; and the issues list."""

from __future__ import annotations

import html

import streamlit as st

from builder.catalog import Fix
from builder.edits import apply_fix, unpin_all
from builder.graph import Graph
from builder.validate import Severity, ValidationResult
from ui.common import state
from ui.common.style import human_count
from ui.design.block_nav import render_breadcrumb
from ui.design.canvas import request_fit


def is_blank(graph: Graph) -> bool:
    """Only Input blocks so far: nothing is wrong yet, there is just nothing to check."""
    return all(n.type == "Input" for n in graph.nodes)


def chip_text(result: ValidationResult, graph: Graph | None = None) -> str:
    if graph is not None and is_blank(graph):
        return "blank · add a block"  # the issues panel says how
    errors = len(result.errors)
    status = "valid" if errors == 0 else f"{errors} issue{'s' if errors != 1 else ''}"
    if any(info.partial or info.output is None for info in result.nodes.values()):
        return f"{status} · ≥ {human_count(result.total_params)} params (partial)"  # waiting layers count nothing
    return f"{status} · {human_count(result.total_params)} params"


def render_chip(result: ValidationResult, graph: Graph) -> None:
    css = "ll-chip-new" if is_blank(graph) else "ll-chip-ok" if result.valid else "ll-chip-bad"
    text = html.escape(chip_text(result, graph))  # in full on hover, where a narrow window abbreviates it
    st.markdown(f"<span class='ll-chip {css}' title='{text}'>{text}</span>", unsafe_allow_html=True)


def _layout() -> None:
    state.edit(unpin_all)  # every node back in the layered layout, hand-placed ones too
    request_fit()  # a re-layout shows the whole design again, even when it moved only a node or two


def render_header() -> None:
    history = state.history()
    title, chip, undo, redo, layout = st.columns([2.2, 2.1, 1.6, 2.0, 1.4], vertical_alignment="center")
    name = html.escape(f"LayerLab · {state.graph().name}")
    title.markdown(f"<h3 class='ll-title' title='{name}'>{name}</h3>", unsafe_allow_html=True)
    with chip:
        render_chip(state.result(), state.graph())
    undo.button("Undo", key="undo", disabled=not history.can_undo, on_click=state.undo, width="stretch",
                shortcut="Mod+Z", help="undo the last change (Ctrl+Z, also on the canvas)")
    redo.button("Redo", key="redo", disabled=not history.can_redo, on_click=state.redo, width="stretch",
                shortcut="Mod+Shift+Z", help="redo what you undid (Ctrl+Shift+Z or Ctrl+Y)")
    layout.button("Auto-layout", key="auto_layout", on_click=_layout, width="stretch",
                  help="tidy the canvas: data flows down in layers; blocks you moved by hand join the layout")
    render_breadcrumb()  # only while a block is open on the canvas


def render_issues(result: ValidationResult, graph: Graph) -> None:
    """Every issue, one row each; a click selects the node it is about (one inside a block opens the block at
    its layer)."""
    if is_blank(graph):
        st.info("Add a block: click one in the palette on the left (it is wired after the selected node), "
                "or right-click the canvas and type its name.")
        return
    if not result.issues:
        st.success("No issues: every shape fits. The code tab has your PyTorch model.")
        return
    st.markdown(f"**Issues ({len(result.issues)})**")
    for k, issue in enumerate(result.issues):
        icon = "✖" if issue.severity is Severity.ERROR else "⚠"
        if issue.node is None:
            cols = st.columns([5, 2], vertical_alignment="center")
            cols[0].markdown(f"{icon} {issue.message}")
            if issue.fix:
                cols[1].button(issue.fix.label, key=f"gfix_{k}", on_click=_graph_fix, args=(issue.fix,))
            continue
        st.button(f"{icon} ‘{issue.node}’: {issue.message}", key=f"issue_{k}", on_click=state.reveal,
                  args=(issue.node, issue.inner), type="tertiary")


def _graph_fix(fix: Fix) -> None:
    state.edit_design(apply_fix, None, fix)  # a design-level problem (no Input…): the design, whatever is open
