"""Auto-layout: every node placed, layered left to right, no overlaps, stable, inputs at the left."""

from __future__ import annotations

import pytest

from builder.graph import Edge, Graph, Node
from builder.layout import NODE_H, NODE_W, STEP_X, STEP_Y, auto_layout, free_spot, needs_layout, overlaps
from builder.templates import load_template, template_names


def no_overlap(graph: Graph) -> bool:
    spots = [n.pos for n in graph.nodes]
    return all(not overlaps(p, spots[:i] + spots[i + 1:]) for i, p in enumerate(spots))


@pytest.mark.parametrize("name", template_names())
def test_every_template_lays_out_cleanly(name):
    graph = load_template(name)
    assert needs_layout(graph)
    placed = auto_layout(graph)
    assert not needs_layout(placed)
    assert no_overlap(placed)
    for edge in placed.edges:  # data flows left to right
        assert placed.node(edge.source).pos[0] < placed.node(edge.target).pos[0]
    for node in placed.inputs():
        assert node.pos[0] == 0.0
    assert auto_layout(graph) == placed  # stable
    assert auto_layout(placed) == placed
    assert [n.params for n in placed.nodes] == [n.params for n in graph.nodes]


def test_layers_follow_the_longest_path_and_spread_evenly():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "Linear"), Node("c", "ReLU"),
                    Node("add", "Add")),
              (Edge("x", "a"), Edge("x", "b"), Edge("b", "c"), Edge("a", "add"), Edge("c", "add")))
    placed = {n.id: n.pos for n in auto_layout(g).nodes}
    assert placed["x"][0] == 0 and placed["a"][0] == placed["b"][0] == STEP_X
    assert placed["c"][0] == 2 * STEP_X and placed["add"][0] == 3 * STEP_X  # longest path, not shortest
    assert abs(placed["a"][1] - placed["b"][1]) == STEP_Y
    assert STEP_X >= NODE_W + 40 and STEP_Y >= NODE_H + 20  # room for streamlit-flow nodes and edge labels


def test_a_late_input_still_sits_at_the_left():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "Linear"), Node("y", "Input"),
                    Node("add", "Add")),
              (Edge("x", "a"), Edge("a", "b"), Edge("b", "add"), Edge("y", "add")))
    placed = {n.id: n.pos for n in auto_layout(g).nodes}
    assert placed["y"][0] == 0 and placed["add"][0] == 3 * STEP_X


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
