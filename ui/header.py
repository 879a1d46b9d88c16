"""The header: the status chip ("2 issues · 1.2 M params"), undo/redo, auto-layout; and the issues list."""

from __future__ import annotations

import html

import streamlit as st

from builder.catalog import Fix
from builder.edits import apply_fix
from builder.layout import auto_layout
from builder.validate import Severity, ValidationResult
from ui import state
from ui.canvas import request_fit
from ui.style import human_count


def chip_text(result: ValidationResult) -> str:
    errors = len(result.errors)
    status = "valid" if errors == 0 else f"{errors} issue{'s' if errors != 1 else ''}"
    return f"{status} · {human_count(result.total_params)} params"


def render_chip(result: ValidationResult) -> None:
    css = "ll-chip-ok" if result.valid else "ll-chip-bad"
    st.markdown(f"<span class='ll-chip {css}'>{html.escape(chip_text(result))}</span>", unsafe_allow_html=True)


def _layout() -> None:
    state.edit(auto_layout)
    request_fit()  # a re-layout shows the whole design again, even when it moved only a node or two


def render_header() -> None:
    history = state.history()
    title, chip, undo, redo, layout = st.columns([3.2, 2.2, 1, 1, 1.5], vertical_alignment="center")
    title.markdown(f"### LayerLab · {html.escape(state.graph().name)}")
    with chip:
        render_chip(state.result())
    undo.button("↶ Undo", key="undo", disabled=not history.can_undo, on_click=state.undo,
                use_container_width=True, help="undo the last change")
    redo.button("↷ Redo", key="redo", disabled=not history.can_redo, on_click=state.redo,
                use_container_width=True, help="redo what you undid")
    layout.button("Auto-layout", key="auto_layout", on_click=_layout, use_container_width=True,
                  help="tidy the canvas: inputs at the left, data flowing right")


def render_issues(result: ValidationResult) -> None:
    """Every issue, one row each; a click selects the node it is about."""
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
        st.button(f"{icon} ‘{issue.node}’: {issue.message}", key=f"issue_{k}", on_click=state.select,
                  args=(issue.node,), type="tertiary")


def _graph_fix(fix: Fix) -> None:
    state.edit(apply_fix, None, fix)
