"""Graph lookups go through an index built on first use: the same answers as a scan, in edge order, for every id;
equality, hashing of fields and edits (new graphs) are untouched by it."""

from __future__ import annotations

import pytest

from builder.edits import add_node, delete
from builder.graph import Edge, Graph, Node


def test_lookups_answer_as_a_scan_would_and_leave_equality_alone():
    nodes = (Node("a", "Input"), Node("b", "ReLU"), Node("c", "Tanh"), Node("d", "Add"))
    edges = (Edge("a", "b"), Edge("a", "c"), Edge("c", "d", "2"), Edge("b", "d", "1"))
    graph = Graph(nodes=nodes, edges=edges)
    twin = Graph(nodes=nodes, edges=edges)
    assert graph.node("c") is nodes[2] and graph.has_node("d") and not graph.has_node("zz")
    with pytest.raises(KeyError):
        graph.node("zz")
    for n in graph.node_ids:
        assert graph.in_edges(n) == [e for e in edges if e.target == n]
        assert graph.out_edges(n) == [e for e in edges if e.source == n]
    assert graph == twin  # one has its index built, the other not
    graph.in_edges("d").clear()  # a copy: the index is not exposed
    assert len(graph.in_edges("d")) == 2


def test_a_repeated_id_finds_the_first_node_and_edits_see_their_own_graph():
    graph = Graph(nodes=(Node("a", "Input"), Node("a", "ReLU")))
    assert graph.node("a").type == "Input"
    grown, new = add_node(Graph(), "Input")
    grown.node(new)  # index of the old graph built
    bigger, second = add_node(grown, "ReLU", after=new)
    assert bigger.has_node(second) and not grown.has_node(second)
    assert bigger.out_edges(new)[0].target == second
    assert not delete(bigger, [second]).has_node(second)
