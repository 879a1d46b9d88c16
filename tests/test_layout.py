"""Auto-layout: every node placed, layered in reading order (rows), no overlaps, stable, inputs first, and every
template fits the ~680 x 600 px canvas at a readable zoom."""

from __future__ import annotations

import pytest

from builder.graph import Edge, Graph, Node
from builder.layout import (
    COL_STEP,
    NODE_H,
    NODE_W,
    ROW_STEP,
    STEP_X,
    STEP_Y,
    VIEW_H,
    VIEW_W,
    auto_layout,
    extent,
    fit_zoom,
    free_spot,
    needs_layout,
    overlaps,
)
from builder.templates import load_template, template_names


def no_overlap(graph: Graph) -> bool:
    spots = [n.pos for n in graph.nodes]
    return all(not overlaps(p, spots[:i] + spots[i + 1:]) for i, p in enumerate(spots))


def reading_key(node: Node) -> tuple[float, float]:
    """Where a node comes when the canvas is read like text: row by row (rows are ROW_STEP apart), left to right."""
    return (node.pos[1] // ROW_STEP, node.pos[0])


@pytest.mark.parametrize("name", template_names())
def test_every_template_lays_out_cleanly(name):
    graph = load_template(name)
    assert needs_layout(graph)
    placed = auto_layout(graph)
    assert not needs_layout(placed)
    assert no_overlap(placed)
    for edge in placed.edges:  # data flows in reading order: right along a row, or on to a later row
        source, target = placed.node(edge.source), placed.node(edge.target)
        assert source.pos[1] < target.pos[1] or source.pos[0] < target.pos[0], edge
    first = min(placed.nodes, key=reading_key)
    assert first.type == "Input" and first.pos == (0.0, 0.0)
    for node in placed.inputs():  # every input starts a row
        assert node.pos[0] == 0.0
    assert min(n.pos[1] for n in placed.nodes) == 0.0
    assert auto_layout(graph) == placed  # stable
    assert auto_layout(placed) == placed
    assert [n.params for n in placed.nodes] == [n.params for n in graph.nodes]


@pytest.mark.parametrize("name", template_names())
def test_every_template_fits_the_canvas_at_a_readable_zoom(name):
    placed = auto_layout(load_template(name))
    width, height = extent(placed)
    assert len(placed.nodes) <= 25
    assert fit_zoom(width, height) >= 0.75, (name, width, height)
    assert width <= VIEW_W / 0.75 and height <= VIEW_H / 0.75


def test_long_chains_wrap_into_full_rows_in_reading_order():
    nodes = [Node("x", "Input")] + [Node(f"n{i}", "ReLU") for i in range(1, 13)]
    edges = [Edge(a.id, b.id) for a, b in zip(nodes, nodes[1:])]
    placed = auto_layout(Graph("chain", tuple(nodes), tuple(edges)))
    order = [n.id for n in sorted(placed.nodes, key=reading_key)]
    assert order == [n.id for n in nodes]  # reads like text
    rows = sorted({n.pos[1] for n in placed.nodes})
    assert rows == [i * ROW_STEP for i in range(len(rows))] and len(rows) > 1
    per_row = [sum(n.pos[1] == y for n in placed.nodes) for y in rows]
    assert per_row == sorted(per_row, reverse=True)  # rows are filled first, a short row comes last
    assert {n.pos[0] for n in placed.nodes} == {i * COL_STEP for i in range(per_row[0])}
    assert fit_zoom(*extent(placed)) >= 1.0  # 13 nodes at 100 %


def test_a_residual_branch_stays_beside_its_main_path():
    placed = auto_layout(load_template("resnet_mini"))
    pos = {n.id: n.pos for n in placed.nodes}
    assert pos["b2_conv1"][0] == pos["b2_down"][0]  # the projection branch sits in the same column
    assert pos["b2_bn1"][0] == pos["b2_down_bn"][0]
    assert abs(pos["b2_conv1"][1] - pos["b2_down"][1]) == ROW_STEP  # stacked right below it
    assert fit_zoom(*extent(placed)) >= 0.75


def test_encoder_decoder_inputs_run_side_by_side():
    placed = auto_layout(load_template("transformer_seq2seq"))
    pos = {n.id: n.pos for n in placed.nodes}
    assert pos["src"] == (0.0, 0.0) and pos["tgt"] == (0.0, ROW_STEP)
    assert pos["src_embed"][1] == pos["src"][1] and pos["tgt_embed"][1] == pos["tgt"][1]  # two parallel rows
    assert pos["decoder"][1] > pos["tgt_pos"][1]


def test_layers_follow_the_longest_path_and_spread_evenly():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "Linear"), Node("c", "ReLU"),
                    Node("add", "Add")),
              (Edge("x", "a"), Edge("x", "b"), Edge("b", "c"), Edge("a", "add"), Edge("c", "add")))
    placed = {n.id: n.pos for n in auto_layout(g).nodes}
    assert placed["x"][0] == 0 and placed["a"][0] == placed["b"][0] == COL_STEP
    assert placed["c"][0] == 2 * COL_STEP  # longest path, not shortest: add comes after c
    assert reading_key(Node("add", "Add", pos=placed["add"])) > reading_key(Node("c", "ReLU", pos=placed["c"]))
    assert abs(placed["a"][1] - placed["b"][1]) == ROW_STEP
    assert COL_STEP >= NODE_W + 40 and ROW_STEP >= NODE_H + 20  # room for the canvas nodes and edge labels


def test_a_late_input_still_sits_at_the_left():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "Linear"), Node("y", "Input"),
                    Node("add", "Add")),
              (Edge("x", "a"), Edge("a", "b"), Edge("b", "add"), Edge("y", "add")))
    placed = {n.id: n.pos for n in auto_layout(g).nodes}
    assert placed["y"][0] == 0 and placed["x"] == (0.0, 0.0)
    assert placed["add"][0] > placed["b"][0] or placed["add"][1] > placed["b"][1]


def test_top_to_bottom_and_bad_direction():
    g = load_template("xor_mlp")
    placed = auto_layout(g, direction="TB")
    for edge in placed.edges:
        assert placed.node(edge.source).pos[1] < placed.node(edge.target).pos[1]
    with pytest.raises(ValueError, match="direction must be one of LR, TB, not 'RL'"):
        auto_layout(g, direction="RL")


def test_cycles_and_loose_nodes_are_still_placed():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "ReLU"), Node("lone", "Tanh")),
              (Edge("x", "a"), Edge("a", "b"), Edge("b", "a"), Edge("b", "b")))
    placed = auto_layout(g)
    assert not needs_layout(placed) and no_overlap(placed)
    assert auto_layout(Graph()) == Graph()


def test_needs_layout_and_free_spot():
    g = Graph("t", (Node("x", "Input", pos=(0, 0)), Node("a", "Linear", pos=(STEP_X, 0))))
    assert not needs_layout(g)
    assert needs_layout(Graph("t", (*g.nodes, Node("b", "ReLU"))))
    spot = free_spot(g)
    assert not overlaps(spot, [n.pos for n in g.nodes])
    assert spot == (2 * STEP_X, 0.0)
    assert free_spot(g, near=(0, 0)) == (0.0, STEP_Y)


# ---- what the canvas does with the layout (pure functions of ui.canvas_view) ---------------------------------


def test_the_view_is_fitted_for_a_new_design_or_a_relayout_not_for_an_edit():
    from builder.edits import add_node, move_node, set_param
    from ui.canvas_view import starts_new_view

    lenet = auto_layout(load_template("lenet5"))
    assert starts_new_view(None, lenet)  # the first design of a session
    assert starts_new_view(lenet, auto_layout(load_template("resnet_mini")))  # a template / an upload
    edited, new = add_node(lenet, "Softmax", after="out")
    assert not starts_new_view(lenet, edited)  # a palette click keeps the user's zoom
    assert not starts_new_view(lenet, set_param(lenet, "c1", "out_channels", 8))
    assert not starts_new_view(lenet, move_node(lenet, "c1", (5.0, 5.0)))  # undo of a drag
    messy = move_node(move_node(lenet, "c1", (900.0, 900.0)), "s2", (0.0, 900.0))
    assert starts_new_view(messy, auto_layout(messy))  # auto-layout moves them back


def test_only_designs_too_big_for_the_canvas_are_fitted():
    from ui.canvas_view import MAX_FIT_ZOOM, needs_fit

    assert needs_fit(auto_layout(load_template("resnet_mini")))
    assert needs_fit(auto_layout(load_template("lenet5")))  # fitted at ~100 %
    tiny = auto_layout(load_template("perceptron"))
    assert fit_zoom(*extent(tiny)) > MAX_FIT_ZOOM and not needs_fit(tiny)  # would be blown up to 160 %
    assert not needs_fit(Graph("one", (Node("x", "Input", pos=(0.0, 0.0)),)))


def test_edges_back_to_a_row_start_run_along_the_gap():
    from ui.canvas_view import NODE_WIDTH, edge_kind

    placed = auto_layout(load_template("lenet5"))
    kinds = {(e.source, e.target): edge_kind(placed, e) for e in placed.edges}
    assert kinds[("x", "c1")] == "default"  # along a row: a curve
    wraps = [k for k, kind in kinds.items() if kind == "smoothstep"]
    assert wraps and all(placed.node(t).pos[1] > placed.node(s).pos[1] for s, t in wraps)
    assert NODE_WIDTH == NODE_W


def test_a_block_added_after_the_end_of_a_wrapped_design_stays_inside_it():
    from builder.edits import add_node

    lenet = auto_layout(load_template("lenet5"))
    width = extent(lenet)[0]
    out = lenet.node("out").pos  # "out" starts the last row
    g, first = add_node(lenet, "ReLU", after="out")
    assert g.node(first).pos == (out[0] + COL_STEP, out[1])  # the next column of its row
    g, second = add_node(g, "Dropout", after=first)
    g, third = add_node(g, "Softmax", after=second)  # the row is full: the next row, in reading order
    assert g.node(second).pos == (out[0] + 2 * COL_STEP, out[1])
    assert g.node(third).pos == (0.0, out[1] + STEP_Y)
    assert extent(g)[0] == width and no_overlap(g)
    one_row, a = add_node(Graph("t", (Node("x", "Input", pos=(0.0, 0.0)),)), "Linear", after="x")
    assert add_node(one_row, "ReLU", after=a)[0].node("relu_1").pos == (2 * STEP_X, 0.0)  # a single row grows
