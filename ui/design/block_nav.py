"""The breadcrumb shown while a block is open: ``resnet18 › layer2 › BasicBlock``, each part a way back up, a
choice of which copy's shapes to show for a repeated block, and who else an edit here changes."""

from __future__ import annotations

import streamlit as st

from builder.graph import Graph
from ui.common import state
from ui.common.block_view import crumbs

COPY_KEY = "block_copy"


def users(design: Graph, name: str) -> list[str]:
    """Where the definition ``name`` is used: ``["layer1 ×2", "layer2 ×2", "Stage › block"]``."""
    found = [f"{n.id} ×{n.repeat}" if n.repeat > 1 else n.id for n in design.nodes if n.type == name]
    for definition in design.definitions.values():
        found += [f"{definition.name} › {n.id}" for n in definition.graph.nodes if n.type == name]
    return found


def render_breadcrumb() -> None:
    """Nothing when the canvas shows the design itself."""
    steps = state.open_steps()
    if not steps:
        return
    design = state.graph()
    words = crumbs(design, steps)
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="breadcrumb"):
        st.button(words[0], key="crumb_0", type="tertiary", on_click=state.close_to, args=(0,),
                  icon=":material/arrow_upward:", help="back to the whole design")
        for depth, step in enumerate(steps):
            st.markdown("›")
            st.button(words[1 + 2 * depth], key=f"crumb_i{depth}", type="tertiary", on_click=state.close_to,
                      args=(depth,), help=f"back to where ‘{step.instance}’ is used")
            st.markdown("›")
            if depth < len(steps) - 1:
                st.button(step.definition, key=f"crumb_d{depth}", type="tertiary", on_click=state.close_to,
                          args=(depth + 1,))
            else:
                st.markdown(f"**{step.definition}**")
        _copy_picker()
        st.button("Close block", key="crumb_close", on_click=state.close_to, args=(len(steps) - 1,),
                  icon=":material/close_fullscreen:", help="back up one level")
    name = steps[-1].definition
    st.caption(f"Inside {name}: an edit here changes every use of it ({', '.join(users(design, name))}); "
               "shapes are those of the copy shown.")


def _copy_picker() -> None:
    """A repeated block's copies see different shapes (ResNet's strided first copy): pick the one shown."""
    steps = state.open_steps()
    scope = state.graph() if len(steps) == 1 else state.graph().definitions[steps[-2].definition].graph
    node = next((n for n in scope.nodes if n.id == steps[-1].instance), None)
    if node is None or node.repeat < 2:
        return
    st.session_state[COPY_KEY] = steps[-1].copy
    st.selectbox("Copy", list(range(node.repeat)), key=COPY_KEY, format_func=lambda k: f"copy {k + 1} of {node.repeat}",
                 label_visibility="collapsed", width=150, on_change=_pick_copy)


def _pick_copy() -> None:
    state.show_copy(int(st.session_state[COPY_KEY]))
