"""The inspector for the selected node: doc, shapes and costs, issues with one-click fixes, a widget per
parameter, inputs and their ports for multi-input blocks, rename and delete. A block made of blocks adds ×N,
Open, Ungroup and what is inside it; several nodes selected together get "Group into a block".

Inside an open block every edit goes through ``state.edit`` like outside it: ``ui.common.state`` writes it into the
block's definition."""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.block_edits import promote_param, set_repeat
from builder.blocks import block_for
from builder.catalog import BlockSpec
from builder.edits import (
    delete,
    disconnect,
    rename_node,
    reorder_inputs,
    set_edge_port,
    set_edge_source_port,
    set_trainable,
)
from builder.fix_links import unread_params
from builder.graph import PORT, Edge, Graph, Node
from builder.group_edits import group, ungroup_report
from builder.project_defs import MAX_REPEAT
from builder.refs import is_ref
from builder.validate import Issue, NodeInfo, Severity
from ui.common import state
from ui.common.block_view import inside_rows, set_param_ref
from ui.common.fragments import edit_and_redraw
from ui.common.style import human_count, short_shape
from ui.design.canvas_view import output_names, source_handle
from ui.design.param_widgets import inferred_line, param_widget
from ui.train.look_inside import render_look_inside

AUTO_PORT = "(auto)"
GROUP_NAME = "group_name"


def _inputs_text(info: NodeInfo) -> str:
    parts = []
    for port, spec in info.inputs.items():
        specs = spec if isinstance(spec, list) else [spec]
        shapes = ", ".join(short_shape(s) for s in specs)
        parts.append(shapes if len(info.inputs) == 1 else f"{port}: {shapes}")
    return "; ".join(parts) or "—"


def _outputs_text(info: NodeInfo) -> str:
    """The output shape; for a block with several outputs, each by name (``output 7×16 · h 16 · c 16``)."""
    if not info.outputs:
        return f"**`{short_shape(info.output)}`**"
    return " · ".join(f"{name} **`{short_shape(spec)}`**" for name, spec in info.outputs.items())


def _facts(info: NodeInfo) -> None:
    st.markdown(
        f"In `{_inputs_text(info)}` → Out {_outputs_text(info)}  \n"
        f"{'≥ ' if info.partial else ''}{info.param_count:,} params · {human_count(info.macs)} MACs per sample"
    )
    if info.partial:
        st.caption("Partial count: layers waiting for a fix inside this block have no size yet.")
    if info.blocked_by:
        st.caption(f"Waiting for ‘{info.blocked_by}’: fix that block first.")


def _health(node_id: str, graph: Graph) -> None:
    """The last run's training-health warnings on this node, with their fixes (``ui.train.health_view``); loaded only
    once a run exists, so the page starts without torch."""
    if st.session_state.get(state.TRAIN_RUN) is None:
        return
    from ui.train.health_view import render_node_health

    render_node_health(node_id, graph)


def _issues(node: Node, info: NodeInfo) -> None:
    for k, issue in enumerate(info.issues):
        show = st.error if issue.severity is Severity.ERROR else st.warning
        show(issue.message)
        if issue.fix:  # one found inside a block is fixed in its definition, which then opens at the layer
            st.button(f"Fix: {issue.fix.label}", key=f"fix_{node.id}_{k}", type="primary",
                      on_click=state.fix_issue, args=(issue,))
        elif _deeper(node, issue):
            st.button("Show it inside the block", key=f"show_{node.id}_{k}", on_click=state.reveal,
                      args=(None, issue.inner))


def _deeper(node: Node, issue: Issue) -> bool:
    return bool(issue.inner) and issue.inner != state.view().flat_id(node.id)


def _params(node: Node, block: BlockSpec, info: NodeInfo) -> None:
    if not block.params:
        st.caption("This block has no parameters.")
        return
    for spec in block.params:
        if spec.inferred and node.params.get(spec.name) is None:
            st.markdown(inferred_line(spec, info.params.get(spec.name)))
        else:
            param_widget(node.id, spec, node.params.get(spec.name, spec.default), info.params.get(spec.name))


def _links(node: Node, block: BlockSpec) -> None:
    """Inside a block: which settings follow the block's parameters, and a way back for a link that was cut (a
    number typed over ``$heads`` leaves the block's heads read by no layer: a later change of it would do nothing)."""
    definition = state.open_definition()
    if definition is None or not block.params:
        return
    linked = [p.name for p in block.params if is_ref(node.params.get(p.name))]
    unread = unread_params(state.graph(), definition.name)
    st.caption("Linked to the block: " + ", ".join(f"{n} ← {node.params[n]}" for n in linked) if linked
               else "No setting of this layer follows the block's parameters: its numbers are the same in every copy.")
    for spec in block.params:
        if is_ref(node.params.get(spec.name)) or spec.inferred:
            continue
        for name in unread:
            if name in spec.name:  # num_heads ↔ heads, out_channels ↔ channels: a likely pair
                st.warning(f"{definition.name}'s parameter {name} is read by no layer: {spec.name} here is a fixed "
                           f"number, so changing {name} on the block changes nothing.")
                st.button(f"Link {spec.name} to ${name} again", key=f"link_{node.id}_{spec.name}",
                          on_click=state.edit, args=(set_param_ref, node.id, spec.name, f"${name}", definition),
                          icon=":material/link:")


def _promotable(node: Node, block: BlockSpec) -> list[str]:
    """Settings of a layer inside a block that could become the block's parameters: set, not yet following one."""
    return [p.name for p in block.params
            if not p.inferred and node.params.get(p.name, p.default) is not None and not is_ref(node.params.get(p.name))]


def _promote_form(node: Node, block: BlockSpec) -> None:
    """Inside a block: turn one of this layer's settings into a parameter of the block, so copies can differ."""
    definition = state.open_definition()
    names = _promotable(node, block)
    if definition is None or not names:
        return
    with st.expander(f"Make a setting a parameter of {definition.name}"):
        st.caption(f"Every copy of {definition.name} keeps its value for now; then each copy can set its own on "
                   "the design's level (this layer reads it as $name).")
        chosen = st.selectbox("Setting", names, key=f"promote_pick_{node.id}")
        st.text_input("Name in the block", placeholder=chosen, key=f"promote_name_{node.id}")
        st.button("Make it a block parameter", key=f"promote_{node.id}", on_click=_promote,
                  args=(definition.name, node.id))


def _promote(definition: str, node_id: str) -> None:
    chosen = st.session_state.get(f"promote_pick_{node_id}")
    as_name = str(st.session_state.get(f"promote_name_{node_id}", "")).strip()
    state.edit_design(promote_param, definition, node_id, chosen, as_name)


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


def _set_port(source: str, target: str, key: str, old: str | None) -> None:
    choice = st.session_state[key]
    state.edit(set_edge_port, source, target, None if choice == AUTO_PORT else choice, old_port=old)


def _edge_key(edge: Edge) -> str:
    """Widget keys per edge: an LSTM's h and c may both feed one block."""
    return f"{edge.target}_{edge.source}" + (f"_{edge.source_port}" if edge.source_port is not None else "")


def _from(edge: Edge) -> str:
    return f"‘{edge.source}’" + (f" ({edge.source_port})" if edge.source_port is not None else "")


def _cut(column: Any, edge: Edge) -> None:
    column.button("✕", key=f"cut_{_edge_key(edge)}", on_click=state.edit, args=(delete, [], [edge]),
                  help="remove this edge")


def _set_output(edge: Edge, key: str) -> None:
    state.edit(set_edge_source_port, edge, st.session_state[key])


def _output_choice(column: Any, edge: Edge, graph: Graph) -> None:
    """Which output of a block with several the edge reads (an LSTM's output, h or c)."""
    source = graph.node(edge.source)
    names = output_names(source)
    if not names:
        return
    key = f"reads_{_edge_key(edge)}"
    st.session_state[key] = source_handle(graph, edge)
    column.selectbox("reads output", names, key=key, on_change=_set_output, args=(edge, key),
                     help="which of the block's outputs this edge carries")


def _named_inputs(node: Node, block: BlockSpec) -> None:
    options = [AUTO_PORT, *(p.name for p in block.ports)]
    graph = state.view_graph()
    for edge in graph.in_edges(node.id):
        key = f"port_{_edge_key(edge)}"
        st.session_state[key] = edge.port or AUTO_PORT
        cols = st.columns([3, 3, 1], vertical_alignment="bottom")
        cols[0].markdown(f"from {_from(edge)}")
        cols[1].selectbox("port", options, key=key, label_visibility="collapsed", on_change=_set_port,
                          args=(edge.source, node.id, key, edge.port))
        _cut(cols[2], edge)
        _output_choice(st, edge, graph)


def _inputs(node: Node, block: BlockSpec, info: NodeInfo) -> None:
    if not block.ports:
        return
    variadic = block.ports[0].variadic
    if not variadic and len(block.ports) < 2:
        graph = state.view_graph()
        for edge in graph.in_edges(node.id):  # one port: a way to cut the edge, and to pick a source's output
            cols = st.columns([4, 1], vertical_alignment="center")
            cols[0].caption(f"Input from {_from(edge)}")
            _cut(cols[1], edge)
            _output_choice(st, edge, graph)
        return
    st.markdown("**Inputs**" + (" (order matters)" if variadic else ""))
    if variadic:
        _variadic_inputs(node, [e.source for e in state.view_graph().in_edges(node.id)] if not info.sources
                         else info.sources[block.ports[0].name])
    else:
        _named_inputs(node, block)
        st.caption(" · ".join(f"{p.name}: {p.doc}" for p in block.ports if p.doc))


def _rename(node: Node) -> None:
    key = f"rename_{node.id}"
    cols = st.columns([3, 2], vertical_alignment="bottom")
    new_id = cols[0].text_input("Rename", value=node.id, key=key)
    cols[1].button("Rename", key=f"do_{key}", disabled=new_id == node.id, on_click=_do_rename, args=(node.id, key))


def _trainable(node: Node, info: NodeInfo) -> None:
    """The freeze switch, on the design's own nodes and block instances that have weights (inside an open block
    an edit would change every copy: freeze the instance instead)."""
    if not info.param_count or state.open_steps():
        return
    key = f"trainable_{node.id}"
    st.session_state[key] = node.trainable
    st.toggle("Trainable", key=key, on_change=_set_trainable, args=(node.id, key),
              help="Off: frozen. Its weights keep their values while the rest of the model trains (fine-tuning); "
                   "the summary counts them as frozen and the code sets requires_grad_(False) on them.")


def _set_trainable(node_id: str, key: str) -> None:
    state.edit(set_trainable, node_id, bool(st.session_state[key]), key=f"trainable:{node_id}")


def _do_rename(old: str, key: str) -> None:
    new_id = st.session_state[key].strip()
    state.edit(rename_node, old, new_id)
    if state.view_graph().has_node(new_id):
        state.select(new_id)


# ---- blocks made of blocks ------------------------------------------------------------------------------------


def _block_tools(node: Node) -> None:
    """Open, Ungroup, ×N and what is inside an instance of a block definition."""
    definition = state.view_graph().definitions[node.type]
    left, right = st.columns(2)
    left.button("Open", key=f"block_open_{node.id}", on_click=state.open_block, args=(node.id,), type="primary",
                icon=":material/open_in_full:", width="stretch",
                help="see and edit its inside (or double-click the node); an edit there changes every copy")
    right.button("Ungroup", key=f"ungroup_{node.id}", on_click=_ungroup, args=(node.id,),
                 icon=":material/call_split:", width="stretch",
                 help="replace it by its layers, one copy per repeat (the block stays for its other uses)")
    key = f"repeat_{node.id}"
    st.session_state[key] = node.repeat
    st.number_input("Repeat ×N (copies in a chain)", min_value=1, max_value=MAX_REPEAT, step=1, key=key,
                    on_change=_set_repeat, args=(node.id, key))
    first_only = [p.name for p in definition.params if p.first_only]
    if first_only and node.repeat > 1:
        st.caption(f"{', '.join(first_only)}: only the first copy takes the value set here; the others use "
                   "the default (ResNet's strided first block).")
    rows = inside_rows(state.graph(), state.result(), state.open_steps(), node.id)
    st.markdown("**Inside** (first copy)  \n" + "  \n".join(rows))


def _ungroup(node_id: str) -> None:
    """Ungroup, and say which layers could not keep their names (their ids were taken meanwhile): their weights
    now load under the new names."""
    notes: list[str] = []

    def edit(graph: Graph, instance: str) -> Graph:
        done = ungroup_report(graph, instance)
        notes.append(done.note())
        return done.graph

    state.edit(edit, node_id)
    if any(notes):
        state.flash("warning", " ".join(notes))


def _set_repeat(node_id: str, key: str) -> None:
    state.edit(set_repeat, node_id, int(st.session_state[key]), key=f"repeat:{node_id}")


def _group_form(ids: list[str]) -> None:
    """Several nodes selected together: make them a block of their own, or delete them."""
    st.markdown(f"#### {len(ids)} nodes selected")
    st.caption(", ".join(f"‘{i}’" for i in ids))
    st.session_state.setdefault(GROUP_NAME, "MyBlock")
    st.text_input("Block name", key=GROUP_NAME, help="its class name in the code, kept as typed (ResMLP); other text is made one (my block → MyBlock)")
    st.button("Group into a block", key="group_do", type="primary", on_click=_group, args=(ids,),
              icon=":material/select_all:", help="its inputs are the edges entering the selection")
    st.button(f"Delete {len(ids)} nodes", key="group_delete", on_click=edit_and_redraw, args=(delete, ids),
              icon=":material/delete:")
    st.caption("Shift+click adds or removes a node; Shift+drag on the canvas selects a box.")


def _group(ids: list[str]) -> None:
    """Group; a name that can't be a class name as typed (``my block``) is made one, and the user is told."""
    typed = str(st.session_state.get(GROUP_NAME, "")).strip()
    instance = state.edit(group, ids, typed)
    made = state.view_graph().node(instance).type if instance and state.view_graph().has_node(instance) else typed
    if made != typed:
        state.flash("info", f"‘{typed}’ is not a class name; the block is called {made}")


def _port(node: Node, info: NodeInfo) -> None:
    st.markdown(f"#### {node.id} · input of the block")
    st.caption("Where a tensor from outside enters the block; its shape is that of the copy shown.")
    _facts(info)


def render_inspector() -> None:
    node_id = state.selected()
    if node_id is None and len(state.selection()) > 1:
        _group_form(state.selection())
        return
    if node_id is None:
        st.markdown("#### Inspector")
        st.caption("Click a node on the canvas (or an issue below) to see and edit it here. Double-click a block "
                   "with a double border to open it; Shift+click several nodes to group them into a block.")
        return
    graph = state.view_graph()
    node = graph.node(node_id)
    info = state.view_result().nodes[node_id]
    if node.type == PORT:
        _port(node, info)
        return
    block = block_for(graph, node.type)
    repeat = f" ×{node.repeat}" if node.repeat > 1 else ""
    st.markdown(f"#### {node.id} · {block.type}{repeat}")
    st.caption(block.doc)
    if node_id in state.view().off:
        st.info(f"This copy leaves ‘{node.id}’ out: {state.view().off[node_id]}. Pick another copy above.")
    _facts(info)
    _trainable(node, info)
    _issues(node, info)
    _health(node.id, graph)
    if node.type in graph.definitions:
        _block_tools(node)
    render_look_inside(state.view().flat_id(node.id))  # the trained model's output at this node (ui.train.look_inside)
    _params(node, block, info)
    _links(node, block)
    _promote_form(node, block)
    _inputs(node, block, info)
    with st.expander("Rename"):
        _rename(node)
    # The same edit as Backspace on the canvas (builder.edits.delete): one input and one output are bridged.
    st.button(f"Delete ‘{node.id}’", key=f"delete_{node.id}", on_click=edit_and_redraw, args=(delete, [node.id]),
              icon=":material/delete:", help="remove this block; a block in a chain is bridged over")
