"""Undo/redo: steps, coalescing by key, the redo branch, the step limit, and node moves."""

from __future__ import annotations

import pytest

from builder.edits import add_node, move_node, set_param
from builder.graph import Graph
from builder.history import DEFAULT_LIMIT, History


def start() -> tuple[Graph, str]:
    g, x = add_node(Graph(), "Input")
    g, fc = add_node(g, "Linear", after=x)
    return g, fc


def test_undo_and_redo_walk_the_steps():
    g0, fc = start()
    h = History(g0)
    assert not h.can_undo and not h.can_redo and h.undo() is None and h.redo() is None
    g1 = set_param(g0, fc, "out_features", 8)
    g2, _ = add_node(g1, "ReLU", after=fc)
    h.push(g1)
    h.push(g2)
    assert h.current is g2 and h.steps == 2
    assert h.undo() is g1 and h.undo() is g0 and h.undo() is None
    assert h.current is g0 and h.can_redo
    assert h.redo() is g1 and h.redo() is g2 and h.redo() is None


def test_pushing_after_undo_drops_the_redo_branch():
    g0, fc = start()
    h = History(g0)
    h.push(set_param(g0, fc, "out_features", 8))
    h.undo()
    g_other = set_param(g0, fc, "bias", False)
    h.push(g_other)
    assert not h.can_redo and h.current is g_other and h.undo() is g0


def test_same_key_coalesces_into_one_step():
    g0, fc = start()
    h = History(g0)
    for value in (1, 12, 128):  # typing "128" in one field
        h.push(set_param(g0, fc, "out_features", value), key=f"param:{fc}.out_features")
    assert h.current.node(fc).params["out_features"] == 128
    assert h.steps == 1
    assert h.undo() is g0
    assert h.redo().node(fc).params["out_features"] == 128


def test_a_different_key_or_no_key_starts_a_new_step():
    g0, fc = start()
    h = History(g0)
    g1 = set_param(g0, fc, "out_features", 5)
    h.push(g1, key="param:a")
    g2 = set_param(g1, fc, "bias", False)
    h.push(g2, key="param:b")
    g3 = set_param(g2, fc, "bias", True)
    h.push(g3, key=None)
    g4 = set_param(g3, fc, "bias", False)
    h.push(g4, key=None)  # None never coalesces
    assert h.steps == 4


def test_undo_ends_a_coalescing_run():
    g0, fc = start()
    h = History(g0)
    h.push(set_param(g0, fc, "out_features", 5), key="k")
    h.undo()
    g1 = set_param(g0, fc, "out_features", 6)
    h.push(g1, key="k")
    g2 = set_param(g0, fc, "out_features", 7)
    h.push(g2, key="k")
    assert h.steps == 1 and h.undo() is g0


def test_an_unchanged_graph_is_not_a_step():
    g0, _ = start()
    h = History(g0)
    h.push(g0)
    h.push(Graph(g0.name, g0.nodes, g0.edges, g0.description, g0.meta))  # equal but not the same object
    assert h.steps == 0


def test_node_moves_are_undoable():
    g0, fc = start()
    h = History(g0)
    old = g0.node(fc).pos
    h.push(move_node(g0, fc, (40, 40)))
    h.push(move_node(h.current, fc, (80, 10)))
    assert h.undo().node(fc).pos == (40.0, 40.0)
    assert h.undo().node(fc).pos == old


def test_limit_keeps_the_newest_steps():
    g, fc = start()
    assert DEFAULT_LIMIT >= 200
    h = History(g, limit=200)
    for value in range(1, 251):
        h.push(set_param(g, fc, "out_features", value))
    assert h.steps == 200
    while h.can_undo:
        oldest = h.undo()
    assert oldest.node(fc).params["out_features"] == 50


def test_history_starts_empty_and_resets():
    h = History()
    assert h.current is None and not h.can_undo
    g0, fc = start()
    h.push(g0)
    h.push(set_param(g0, fc, "out_features", 3))
    h.reset(g0)
    assert h.current is g0 and not h.can_undo and not h.can_redo
    with pytest.raises(ValueError, match="limit must be at least 1"):
        History(limit=0)
