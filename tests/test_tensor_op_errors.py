"""What a tensor op says when it can't run, and the one-click fixes; tensors without a batch dimension meeting
layers; the shape oracle missing."""

from __future__ import annotations

import pytest

import codegen  # noqa: F401  (the shape oracle)
from builder.catalog.oracle import get_oracle, set_oracle
from builder.edits import apply_issue_fix
from builder.graph import Edge, Graph, Node
from builder.validate import validate


def _graph(*nodes: Node, edges: tuple[Edge, ...]) -> Graph:
    return Graph("t", tuple(nodes), edges)


def _errors(graph: Graph, node: str) -> list:
    return [i for i in validate(graph).nodes[node].issues if i.severity.value == "error"]


def test_a_dim_out_of_range_names_the_op_the_dim_and_the_shape_and_offers_the_last_dim():
    graph = _graph(Node("x", "Input", {"shape": [64, 8]}), Node("total", "sum", {"dim": [3]}),
                   edges=(Edge("x", "total"),))
    [issue] = _errors(graph, "total")
    assert issue.message == "sum: dim 3 is out of range for (N, 64, 8) (it has 3 dimensions: -3..2)"
    fixed = apply_issue_fix(graph, issue)
    assert fixed.node("total").params["dim"] == [-1]
    assert str(validate(fixed).nodes["total"].output) == "(N, 64)"


def test_a_broadcast_that_fails_offers_unsqueeze_until_it_fits():
    """The SE gate drawn without reshaping s: (N, 64, 8, 8) * (N, 64)."""
    graph = _graph(Node("x", "Input", {"shape": [64, 8, 8]}), Node("pool", "mean", {"dim": [2, 3]}),
                   Node("gate", "mul", {}),
                   edges=(Edge("x", "pool"), Edge("x", "gate", "x"), Edge("pool", "gate", "y")))
    [issue] = _errors(graph, "gate")
    assert issue.message == ("mul: x (N, 64, 8, 8) and y (N, 64) don't broadcast: size 8 of x meets 64 of y in the "
                             "last dimension (sizes lined up from the end must be equal or 1)")
    assert issue.edge == ("pool", "gate")
    once = apply_issue_fix(graph, issue)
    [again] = _errors(once, "gate")
    twice = apply_issue_fix(once, again)
    result = validate(twice)
    assert result.valid, [i.message for i in result.issues]
    assert str(result.nodes["gate"].output) == "(N, 64, 8, 8)"
    assert [n.type for n in twice.nodes].count("unsqueeze") == 2


def test_torch_refusals_come_back_in_words_with_the_shapes():
    graph = _graph(Node("a", "Input", {"shape": [3, 5]}), Node("b", "Input", {"shape": [4, 2]}),
                   Node("prod", "matmul", {}), edges=(Edge("a", "prod", "x"), Edge("b", "prod", "y")))
    [issue] = _errors(graph, "prod")
    assert issue.message.startswith("matmul: torch refuses x (N, 3, 5), y (N, 4, 2): ")


def test_an_op_that_folds_the_batch_away_is_refused():
    graph = _graph(Node("x", "Input", {"shape": [4]}), Node("v", "view", {"shape": [-1], "keep_batch": False}),
                   edges=(Edge("x", "v"),))
    [issue] = _errors(graph, "v")
    assert "mixes the batch dimension" in issue.message


def test_bad_index_text_is_named():
    graph = _graph(Node("x", "Input", {"shape": [4]}), Node("i", "index", {"index": ":, foo"}),
                   edges=(Edge("x", "i"),))
    [issue] = _errors(graph, "i")
    assert issue.message == "index: ‘foo’ in ‘:, foo’ is not a whole number, a slice, ‘...’, None or a list of numbers"


def test_row_wise_layers_take_a_tensor_without_a_batch_and_others_say_why_not():
    table = Node("table", "Parameter", {"shape": [5, 8]})
    graph = _graph(table, Node("proj", "Linear", {"out_features": 3}), Node("act", "GELU", {}),
                   Node("norm", "LayerNorm", {}), Node("conv", "Conv1d", {"out_channels": 2, "kernel_size": 1}),
                   edges=(Edge("table", "proj"), Edge("proj", "act"), Edge("act", "norm"), Edge("table", "conv")))
    result = validate(graph)
    assert [str(result.nodes[n].output) for n in ("proj", "act", "norm")] == ["(5, 3)", "(5, 3)", "(5, 3)"]
    assert result.nodes["proj"].param_count == 8 * 3 + 3
    [issue] = _errors(graph, "conv")
    assert issue.message.startswith("Conv1d needs a batch dimension, but its input (5, 8) has none")


@pytest.mark.parametrize("layer,params,expected", [
    ("Linear", {"out_features": 3}, "(3,)"), ("LayerNorm", {}, "(8,)"), ("GELU", {}, "(8,)")])
def test_a_single_vector_without_a_batch_is_one_row(layer, params, expected):
    """torch's Linear on a (8,) tensor gives (3,): the vector is one row, not eight."""
    graph = _graph(Node("gamma", "Parameter", {"shape": [8]}), Node("layer", layer, params),
                   edges=(Edge("gamma", "layer"),))
    assert str(validate(graph).nodes["layer"].output) == expected


def test_batched_layers_are_unchanged():
    graph = _graph(Node("x", "Input", {"shape": [8]}), Node("proj", "Linear", {"out_features": 3}),
                   edges=(Edge("x", "proj"),))
    assert str(validate(graph).nodes["proj"].output) == "(N, 3)"


def test_without_the_oracle_an_op_says_so_in_words():
    oracle = get_oracle()
    set_oracle(None)
    try:
        graph = _graph(Node("x", "Input", {"shape": [4]}), Node("e", "exp", {}), edges=(Edge("x", "e"),))
        [issue] = _errors(graph, "e")
    finally:
        set_oracle(oracle)
    assert issue.message.startswith("exp: the shape of a tensor op comes from torch, which this program has not loaded")


@pytest.mark.parametrize("fill,expected", [("causal_mask", "(4, 4)"), ("zeros", "(4, 4)")])
def test_a_buffer_is_counted_as_no_parameters(fill, expected):
    graph = _graph(Node("x", "Input", {"shape": [4, 4]}), Node("mask", "Buffer", {"shape": [4, 4], "fill": fill}),
                   Node("masked", "mul", {}), edges=(Edge("x", "masked", "x"), Edge("mask", "masked", "y")))
    result = validate(graph)
    assert result.valid and str(result.nodes["mask"].output) == expected and result.total_params == 0


def test_a_buffer_of_listed_values_needs_one_per_entry_and_numbers_only():
    graph = _graph(Node("x", "Input", {"shape": [2, 3]}),
                   Node("table", "Buffer", {"shape": [2, 3], "fill": "values", "values": [0.0, 0.5, 1.0]}),
                   Node("added", "add", {}), edges=(Edge("x", "added", "x"), Edge("table", "added", "y")))
    [issue] = _errors(graph, "table")
    assert issue.message == "fill 'values' needs one value per entry of shape (2, 3): 6, not 3"
    from builder.catalog import get_block
    from builder.params import ParamError

    with pytest.raises(ParamError, match="must be a number"):
        get_block("Buffer").param("values").check([0.0, "1"])
    with pytest.raises(ParamError, match="between 0 and 16384 numbers, not 16385"):
        get_block("Buffer").param("values").check([0.0] * 16385)


def test_the_inspector_shows_a_buffers_values_as_a_count() -> None:
    """Thousands of numbers an import carried are no text field: the inspector says how many, and the first few."""
    from app_helpers import start_app

    from builder.share import encode_share

    graph = _graph(Node("x", "Input", {"shape": [2, 3]}),
                   Node("table", "Buffer", {"shape": [2, 3], "fill": "values", "persistent": False,
                                            "values": [0.0, 0.5, 1.0, -1.0, 2.5, 3.0]}),
                   Node("added", "add", {}), edges=(Edge("x", "added", "x"), Edge("table", "added", "y")))
    at = start_app({"design": encode_share(graph)}, "Build")
    at.session_state["canvas"] = {"id": "pick-1", "kind": "select", "node": "table"}
    at.run()
    assert not at.exception
    assert any(c.value == "values: 6 numbers (0.0, 0.5, 1.0, -1.0, …)" for c in at.caption), \
        [c.value for c in at.caption]
