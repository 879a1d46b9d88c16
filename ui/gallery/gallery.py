"""The template gallery: a card per template (name, description, the layers at a glance) and a blank canvas."""

from __future__ import annotations

from functools import cache

import streamlit as st

from builder.project import ProjectError
from builder.templates import TemplateInfo, list_templates, load_template
from ui.common import state

VIEW_KEY = "view"
BUILD_VIEW = "Build"


@cache
def templates() -> tuple[TemplateInfo, ...]:
    """Shipped templates are the same for every session, so reading them once per process is safe."""
    return tuple(list_templates())


def glance(layers: tuple[str, ...], limit: int = 7) -> str:
    """ "Input → Conv2d → ReLU → … → Linear (11 blocks)" """
    shown = list(layers) if len(layers) <= limit else [*layers[: limit - 2], "…", layers[-1]]
    return " → ".join(shown) + f" ({len(layers)} blocks)"


def open_template(name: str) -> None:
    try:
        state.replace_graph(load_template(name))
    except ProjectError as err:
        state.flash("error", f"The template {name!r} could not be read: " + "; ".join(err.problems))
        return
    state.flash("success", f"Opened the template ‘{name}’. Undo brings back your previous design.")
    st.session_state[VIEW_KEY] = BUILD_VIEW


def open_blank() -> None:
    state.replace_graph(state.blank_graph())
    st.session_state[VIEW_KEY] = BUILD_VIEW


def _card(info: TemplateInfo) -> None:
    from ui.gallery.lesson import (
        render_link_popover,  # here: ui.gallery.lesson imports this module's view names
    )

    with st.container(border=True):
        st.markdown(f"**{info.name}**")
        first = info.description.split(". ")[0].rstrip(".")
        st.caption(first + ".")
        st.markdown(f"<small class='ll-mono'>{glance(info.layers)}</small>", unsafe_allow_html=True)
        left, right = st.columns(2)
        left.button("Open", key=f"open_{info.name}", on_click=open_template, args=(info.name,), width="stretch")
        with right:
            render_link_popover(info.name)


def render_gallery() -> None:
    st.markdown("Start from a ready-made design, or from a blank canvas with one Input. "
                "Opening one replaces the canvas (undo brings the old design back). "
                "Teachers: a card's **Lesson link** opens that design read-only beside its explanation, "
                "with a button that gives each student their own copy.")
    with st.container(border=True):
        st.markdown("**Blank canvas**")
        st.button("Start blank", key="open_blank", on_click=open_blank)
    columns = st.columns(3)
    for k, info in enumerate(templates()):
        with columns[k % 3]:
            _card(info)
