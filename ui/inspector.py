"""The inspector for the selected node: doc, shapes and costs, issues with one-click fixes, a widget per
parameter, inputs and their ports for multi-input blocks, rename and delete."""

from __future__ import annotations

import streamlit as st

from builder.catalog import BlockSpec, get_block
from builder.edits import apply_issue_fix, delete, disconnect, rename_node, reorder_inputs, set_edge_port
from builder.graph import Node
from builder.validate import NodeInfo, Severity
from ui import state
from ui.look_inside import render_look_inside
from ui.param_widgets import inferred_line, param_widget
from ui.style import human_count, short_shape

AUTO_PORT = "(auto)"


def _inputs_text(info: NodeInfo) -> str:
    parts = []
    for port, spec in info.inputs.items():
        specs = spec if isinstance(spec, list) else [spec]
        shapes = ", ".join(short_shape(s) for s in specs)
        parts.append(shapes if len(info.inputs) == 1 else f"{port}: {shapes}")
    return "; ".join(parts) or "—"


def _facts(info: NodeInfo) -> None:
    st.markdown(
        f"In `{_inputs_text(info)}` → Out **`{short_shape(info.output)}`**  \n"
        f"{info.param_count:,} params · {human_count(info.macs)} MACs per sample"
    )
    if info.blocked_by:
        st.caption(f"Waiting for ‘{info.blocked_by}’: fix that block first.")


def _issues(node: Node, info: NodeInfo) -> None:
    for k, issue in enumerate(info.issues):
        show = st.error if issue.severity is Severity.ERROR else st.warning
        show(issue.message)
        if issue.fix:
            st.button(f"Fix: {issue.fix.label}", key=f"fix_{node.id}_{k}", type="primary",
                      on_click=state.edit, args=(apply_issue_fix, issue))


def _params(node: Node, block: BlockSpec, info: NodeInfo) -> None:
    if not block.params:
        st.caption("This block has no parameters.")
        return
    for spec in block.params:
        if spec.inferred and node.params.get(spec.name) is None:
            st.markdown(inferred_line(spec, info.params.get(spec.name)))
        else:
            param_widget(node.id, spec, node.params.get(spec.name, spec.default))


def _move(node_id: str, sources: list[str], index: int, step: int) -> None:
    order = list(sources)
    order[index], order[index + step] = order[index + step], order[index]
    state.edit(reorder_inputs, node_id, order)


def _variadic_inputs(node: Node, sources: list[str]) -> None:
    for k, source in enumerate(sources):
        st.markdown(f"#{k + 1} ‘{source}’")
        cols = st.columns(3, gap="small")  # three equal buttons stay wide enough for their arrows at 1280 px
        cols[0].button("↑", key=f"up_{node.id}_{source}", disabled=k == 0, on_click=_move,
                       args=(node.id, sources, k, -1), help="move this input earlier")
        cols[1].button("↓", key=f"down_{node.id}_{source}", disabled=k == len(sources) - 1, on_click=_move,
                       args=(node.id, sources, k, 1), help="move this input later")
        cols[2].button("✕", key=f"cut_{node.id}_{source}", on_click=state.edit,
                       args=(disconnect, source, node.id), help="remove this edge")


def _set_port(source: str, target: str, key: str) -> None:
    choice = st.session_state[key]
    state.edit(set_edge_port, source, target, None if choice == AUTO_PORT else choice)


def _named_inputs(node: Node, block: BlockSpec) -> None:
    options = [AUTO_PORT, *(p.name for p in block.ports)]
    for edge in state.graph().in_edges(node.id):
        key = f"port_{node.id}_{edge.source}"
        st.session_state[key] = edge.port or AUTO_PORT
        cols = st.columns([3, 3, 1], vertical_alignment="bottom")
        cols[0].markdown(f"from ‘{edge.source}’")
        cols[1].selectbox("port", options, key=key, label_visibility="collapsed", on_change=_set_port,
                          args=(edge.source, node.id, key))
        cols[2].button("✕", key=f"cut_{node.id}_{edge.source}", on_click=state.edit,
                       args=(disconnect, edge.source, node.id), help="remove this edge")


def _inputs(node: Node, block: BlockSpec, info: NodeInfo) -> None:
    if not block.ports:
        return
    variadic = block.ports[0].variadic
    if not variadic and len(block.ports) < 2:
        for edge in state.graph().in_edges(node.id):  # one port: just a way to cut the edge
            cols = st.columns([4, 1], vertical_alignment="center")
            cols[0].caption(f"Input from ‘{edge.source}’")
            cols[1].button("✕", key=f"cut_{node.id}_{edge.source}", on_click=state.edit,
                           args=(disconnect, edge.source, node.id), help="remove this edge")
        return
    st.markdown("**Inputs**" + (" (order matters)" if variadic else ""))
    if variadic:
        _variadic_inputs(node, [e.source for e in state.graph().in_edges(node.id)] if not info.sources
                         else info.sources[block.ports[0].name])
    else:
        _named_inputs(node, block)
        st.caption(" · ".join(f"{p.name}: {p.doc}" for p in block.ports if p.doc))


def _rename(node: Node) -> None:
    key = f"rename_{node.id}"
    cols = st.columns([3, 2], vertical_alignment="bottom")
    new_id = cols[0].text_input("Rename", value=node.id, key=key)
    cols[1].button("Rename", key=f"do_{key}", disabled=new_id == node.id, on_click=_do_rename, args=(node.id, key))


def _do_rename(old: str, key: str) -> None:
    new_id = st.session_state[key].strip()
    state.edit(rename_node, old, new_id)
    if state.graph().has_node(new_id):
        state.select(new_id)


def render_inspector() -> None:
    node_id = state.selected()
    if node_id is None:
        st.markdown("#### Inspector")
        st.caption("Click a node on the canvas (or an issue below) to see and edit it here.")
        return
    node, block = state.graph().node(node_id), get_block(state.graph().node(node_id).type)
    info = state.result().nodes[node_id]
    st.markdown(f"#### {node.id} · {block.type}")
    st.caption(block.doc)
    _facts(info)
    _issues(node, info)
    render_look_inside(node.id)  # the trained model's output at this node (ui.look_inside)
    _params(node, block, info)
    _inputs(node, block, info)
    with st.expander("Rename"):
        _rename(node)
    # The same edit as Backspace on the canvas (builder.edits.delete): one input and one output are bridged.
    st.button(f"Delete ‘{node.id}’", key=f"delete_{node.id}", on_click=state.edit, args=(delete, [node.id]),
              icon=":material/delete:", help="remove this block; a block in a chain is bridged over")
