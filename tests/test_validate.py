"""Live validation: exact messages, the node and edge they name, the fix they offer, and what is blocked."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import codegen  # noqa: F401 - op blocks' shapes come from torch through codegen's oracle (templates use them)
from builder.catalog import Fix, TensorSpec
from builder.graph import Edge, Graph, Node
from builder.project import load_project
from builder.templates import load_template, template_names
from builder.validate import MAX_PARAMS, Severity, validate

ROOT = Path(__file__).resolve().parent.parent


def graph(nodes: list[tuple], edges: list[tuple]) -> Graph:
    """Nodes as (id, type[, params]) and edges as (source, target[, port])."""
    return Graph("t", tuple(Node(*n) for n in nodes), tuple(Edge(*e) for e in edges))


def only_issue(result, node: str | None):
    found = [i for i in result.issues if i.node == node]
    assert len(found) == 1, [i.message for i in result.issues]
    return found[0]


FLAT_CONV = {
    "layerlab": 1, "name": "flat_conv",
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [1, 28, 28]}},
              {"id": "flat", "type": "Flatten"},
              {"id": "conv", "type": "Conv2d", "params": {"out_channels": 8, "kernel_size": 3}}],
    "edges": [{"source": "x", "target": "flat"}, {"source": "flat", "target": "conv"}],
}


@pytest.mark.parametrize("name", template_names())
def test_every_template_validates_with_no_issue(name):
    result = validate(load_template(name))
    assert result.issues == []
    assert result.valid
    assert sorted(result.order) == sorted(n.id for n in result.graph.nodes)


def test_flatten_then_conv2d_is_an_issue_on_the_conv_node():
    result = validate(load_project(FLAT_CONV))
    assert not result.valid
    issue = only_issue(result, "conv")
    assert issue.message == "Conv2d expects (N, C, H, W); it receives (N, 784) from ‘flat’"
    assert issue.code == "shape" and issue.severity is Severity.ERROR
    assert issue.edge == ("flat", "conv")
    assert issue.fix == Fix("insert Reshape to (1, 28, 28)", "insert_before",
                            {"type": "Reshape", "params": {"shape": [1, 28, 28]}})
    assert result.nodes["flat"].output == TensorSpec((784,))
    assert result.nodes["conv"].output is None
    assert result.order == ["x", "flat"]


def test_flatten_then_conv2d_through_the_cli(tmp_path):
    path = tmp_path / "flat_conv.json"
    path.write_text(json.dumps(FLAT_CONV), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "cli", "validate", str(path), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert [(i["node"], i["code"]) for i in report["issues"]] == [("conv", "shape")]
    assert report["issues"][0]["message"] == "Conv2d expects (N, C, H, W); it receives (N, 784) from ‘flat’"
    assert report["issues"][0]["edge"] == {"source": "flat", "target": "conv"}
    assert report["issues"][0]["fix"]["action"] == "insert_before"


def test_a_cycle_is_named_node_by_node_on_every_node_of_it():
    g = graph([("x", "Input", {"shape": [4]}), ("a", "Linear", {"out_features": 4}), ("b", "ReLU"),
               ("c", "Linear", {"out_features": 4}), ("d", "Add"), ("e", "Linear", {"out_features": 2})],
              [("x", "d"), ("d", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("c", "e")])
    result = validate(g)
    path = "‘a’ → ‘b’ → ‘c’ → ‘d’ → ‘a’"
    for node in "abcd":
        issue = only_issue(result, node)
        assert issue.message == f"this block is on a cycle: {path}; data must flow one way, so remove one of these edges"
        assert issue.code == "cycle"
        assert issue.fix == Fix("remove the edge ‘d’ → ‘a’", "remove_edge", {"source": "d", "target": "a"})
    # downstream of the cycle: blocked, no repeated message
    assert result.nodes["e"].blocked_by == "c"
    assert result.nodes["e"].issues == []
    assert result.order == ["x"]


def test_a_self_loop_is_a_cycle():
    result = validate(graph([("x", "Input", {"shape": [4]}), ("r", "ReLU")], [("x", "r"), ("r", "r")]))
    issue = only_issue(result, "r")
    assert issue.message.startswith("this block is on a cycle: ‘r’ → ‘r’;")


def test_a_cycle_is_reported_once_not_also_as_no_output():
    # Input → a → b → a: no block is a sink, because of the cycle; the cycle issue alone says why.
    result = validate(graph([("x", "Input", {"shape": [4]}), ("a", "ReLU"), ("b", "Tanh")],
                            [("x", "a"), ("a", "b"), ("b", "a")]))
    assert sorted(i.code for i in result.issues) == ["cycle", "cycle"]
    assert not any(i.code == "no_output" for i in result.issues)
    # without the cycle there is an end again, and no design-level issue
    assert validate(graph([("x", "Input", {"shape": [4]}), ("a", "ReLU"), ("b", "Tanh")],
                          [("x", "a"), ("a", "b")])).issues == []


def test_cycle_message_is_the_same_whatever_the_hash_seed():
    # A small cycle in a larger graph: networkx subgraph views iterate such a component as a set.
    code = ("from builder.graph import Graph, Node, Edge; from builder.validate import validate;"
            "ids = [f'n{k}' for k in range(12)];"
            "g = Graph('g', tuple(Node(i, 'ReLU') for i in ids + [f'z{k}' for k in range(40)]),"
            " tuple(Edge(a, b) for a, b in zip(ids, ids[1:] + ids[:1])) + (Edge('n5', 'n2'),));"
            "print(validate(g).nodes['n0'].issues[0].message)")
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3", "4")}
    assert len(outputs) == 1
    assert outputs.pop().startswith("this block is on a cycle: ‘n0’ →")


def test_no_input():
    result = validate(graph([("fc", "Linear", {"out_features": 2})], []))
    issue = only_issue(result, None)
    assert issue.message == "the graph has no Input block: add one to say what data goes in"
    assert issue.code == "no_input"
    assert issue.fix == Fix("add an Input", "add_node", {"type": "Input"})
    assert only_issue(result, "fc").code == "unconnected"


def test_unconnected_node_and_unused_input():
    result = validate(graph([("x", "Input", {"shape": [4]}), ("fc", "Linear", {"out_features": 2}), ("r", "ReLU"),
                             ("spare", "Input", {"shape": [3]})], [("x", "fc")]))
    issue = only_issue(result, "r")
    assert issue.message == "ReLU has no input: drag an edge into it from the block that should feed it"
    assert issue.code == "unconnected" and issue.severity is Severity.ERROR
    unused = only_issue(result, "spare")
    assert (unused.message, unused.severity) == ("this Input feeds nothing: connect it to a block", Severity.WARNING)
    assert result.nodes["fc"].output == TensorSpec((2,))


def test_too_many_inputs_offers_to_remove_the_extra_edge():
    result = validate(graph([("x", "Input", {"shape": [4]}), ("y", "Input", {"shape": [4]}),
                             ("fc", "Linear", {"out_features": 2})], [("x", "fc"), ("y", "fc")]))
    issue = only_issue(result, "fc")
    assert issue.message == "Linear takes one input but receives 2: from ‘x’, ‘y’"
    assert issue.code == "ports" and issue.edge == ("y", "fc")
    assert issue.fix == Fix("remove the edge from ‘y’", "remove_edge", {"source": "y", "target": "fc"})


def test_two_edges_on_one_port():
    result = validate(graph([("x", "Input", {"shape": [5, 16]}), ("y", "Input", {"shape": [5, 16]}),
                             ("d", "TransformerDecoderLayer", {"dim_feedforward": 32})],
                            [("x", "d", "tgt"), ("y", "d", "tgt")]))
    issue = only_issue(result, "d")
    assert issue.message == ("TransformerDecoderLayer receives two edges on port 'tgt' (from ‘x’ and ‘y’); "
                             "one port takes one input")
    assert issue.edge == ("y", "d")


def test_missing_required_port():
    result = validate(graph([("x", "Input", {"shape": [5, 16]}), ("d", "TransformerDecoderLayer", {"dim_feedforward": 32})],
                            [("x", "d", "tgt")]))
    issue = only_issue(result, "d")
    assert issue.message == "TransformerDecoderLayer needs an input on port 'memory' (the encoder output (N, S, E))"
    assert issue.code == "ports"


def test_add_with_one_input():
    result = validate(graph([("x", "Input", {"shape": [4]}), ("s", "Add")], [("x", "s")]))
    assert only_issue(result, "s").message == "Add needs at least two inputs; it has 1"


def test_add_shape_mismatch_offers_a_projection():
    result = validate(graph([("x", "Input", {"shape": [3, 8, 8]}), ("c", "Conv2d", {"out_channels": 16, "padding": 1}),
                             ("s", "Add")], [("x", "c"), ("c", "s", "1"), ("x", "s", "2")]))
    issue = only_issue(result, "s")
    assert issue.message == "Add needs equal shapes: input 1 (N, 16, 8, 8), input 2 (N, 3, 8, 8)"
    assert issue.edge == ("x", "s")
    assert issue.fix == Fix("insert a 1×1 Conv2d to 16 channels", "insert_before",
                            {"type": "Conv2d", "params": {"out_channels": 16, "kernel_size": 1}})
    flat = validate(graph([("x", "Input", {"shape": [8]}), ("fc", "Linear", {"out_features": 4}), ("s", "Add")],
                          [("x", "fc"), ("fc", "s"), ("x", "s")]))
    assert only_issue(flat, "s").fix == Fix("insert Linear to 4 features", "insert_before",
                                            {"type": "Linear", "params": {"out_features": 4}})


def test_num_heads_must_divide_the_embedding():
    result = validate(graph([("x", "Input", {"shape": [5, 64]}), ("m", "MultiheadAttention", {"num_heads": 5})],
                            [("x", "m")]))
    issue = only_issue(result, "m")
    assert issue.message == "embed_dim=64 must be divisible by num_heads=5"
    assert issue.fix == Fix("set num_heads to 4 (a divisor of 64)", "set_param", {"name": "num_heads", "value": 4})
    assert 64 % issue.fix.args["value"] == 0


def test_contradicted_inferred_size_offers_to_infer_it_and_blocks_downstream():
    result = validate(graph([("x", "Input", {"shape": [64]}), ("fc", "Linear", {"out_features": 4, "in_features": 5}),
                             ("r", "ReLU"), ("out", "Linear", {"out_features": 2})],
                            [("x", "fc"), ("fc", "r"), ("r", "out")]))
    issue = only_issue(result, "fc")
    assert issue.message == ("in_features=5 but the input has 64 features in its last dimension from ‘x’; "
                             "leave in_features empty to infer it")
    assert issue.fix == Fix("infer in_features (64)", "set_param", {"name": "in_features", "value": None})
    assert len(result.issues) == 1  # nothing repeated downstream
    for node in ("r", "out"):
        info = result.nodes[node]
        assert (info.blocked_by, info.output, info.issues) == ("fc", None, [])
    assert result.nodes["x"].blocked_by is None


def test_inferred_sizes_are_filled_in():
    result = validate(graph([("x", "Input", {"shape": [3, 32, 32]}), ("c", "Conv2d", {"out_channels": 8}),
                             ("f", "Flatten"), ("fc", "Linear", {"out_features": 10})],
                            [("x", "c"), ("c", "f"), ("f", "fc")]))
    assert result.nodes["c"].params["in_channels"] == 3
    assert result.nodes["fc"].params["in_features"] == 8 * 30 * 30
    assert result.nodes["fc"].param_count == 8 * 30 * 30 * 10 + 10


def test_embedding_fed_floats_offers_long_input():
    result = validate(graph([("x", "Input", {"shape": [10]}), ("e", "Embedding")], [("x", "e")]))
    issue = only_issue(result, "e")
    assert issue.message == "Embedding needs token ids (long integers) but receives float values from ‘x’"
    assert issue.fix == Fix("make the Input token ids (long)", "set_input_dtype", {"dtype": "long"})


def test_token_ids_into_linear_offer_an_embedding():
    result = validate(graph([("x", "Input", {"shape": [10], "dtype": "long"}), ("fc", "Linear", {"out_features": 2})],
                            [("x", "fc")]))
    issue = only_issue(result, "fc")
    assert issue.message == ("Linear needs float values but receives token ids from ‘x’; "
                             "token ids go into an Embedding first")
    assert issue.fix.args["type"] == "Embedding"


def test_ten_billion_parameters_are_refused_with_a_size_message():
    result = validate(graph([("x", "Input", {"shape": [100_000]}), ("fc", "Linear", {"out_features": 100_000})],
                            [("x", "fc")]))
    assert not result.valid
    issue = only_issue(result, None)
    assert issue.code == "size"
    assert issue.message == ("the model has 10.0 B parameters (10,000,100,000); the limit is 1.0 B. "
                             "The largest block is ‘fc’ with 10.0 B")
    assert result.total_params == 10_000_100_000 > MAX_PARAMS


def test_several_inputs_and_outputs():
    result = validate(graph([("a", "Input", {"shape": [4]}), ("b", "Input", {"shape": [6]}), ("cat", "Concat"),
                             ("head1", "Linear", {"out_features": 3}), ("head2", "Linear", {"out_features": 1})],
                            [("a", "cat", "1"), ("b", "cat", "2"), ("cat", "head1"), ("cat", "head2")]))
    assert result.valid and result.issues == []
    assert result.nodes["cat"].output == TensorSpec((10,))
    assert result.nodes["cat"].sources == {"inputs": ["a", "b"]}
    assert result.outputs() == ["head1", "head2"]
    assert result.order == ["a", "b", "cat", "head1", "head2"]
    assert result.total_params == (10 * 3 + 3) + (10 * 1 + 1)


def test_port_numbers_set_the_concat_order():
    result = validate(graph([("a", "Input", {"shape": [4]}), ("b", "Input", {"shape": [6]}), ("cat", "Concat")],
                            [("a", "cat", "2"), ("b", "cat", "1")]))
    assert result.nodes["cat"].sources == {"inputs": ["b", "a"]}


def test_order_follows_the_drawing_order_between_independent_branches():
    result = validate(graph([("x", "Input", {"shape": [4]}), ("right", "ReLU"), ("left", "Tanh"), ("s", "Add")],
                            [("x", "left"), ("x", "right"), ("left", "s"), ("right", "s")]))
    assert result.order == ["x", "right", "left", "s"]


def test_validation_is_pure_and_repeatable():
    g = load_template("resnet_mini")
    first, second = validate(g), validate(g)
    assert {k: (v.output, v.param_count) for k, v in first.nodes.items()} == {
        k: (v.output, v.param_count) for k, v in second.nodes.items()}
    assert all("in_channels" not in n.params for n in g.nodes if n.type == "Conv2d")  # the graph is untouched


def test_the_benchmark_graphs_are_valid_and_realistic():
    spec = importlib.util.spec_from_file_location("bench_validate", ROOT / "bench" / "bench_validate.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for size in (100, 500):
        g = bench.realistic_graph(size)
        result = validate(g)
        assert len(g.nodes) == size and result.valid, [i.message for i in result.issues]
        types = {n.type for n in g.nodes}
        assert {"Conv2d", "MaxPool2d", "Linear", "Add", "LSTM", "MultiheadAttention", "Concat"} <= types


def test_a_layer_after_a_full_reduction_says_so_instead_of_crashing() -> None:
    """std without a dim leaves one number per sample: the Linear after it gets a message, not an IndexError
    (found by test_fuzz_project's mutated autoencoder)."""
    graph = Graph("reduced", (Node("x", "Input", {"shape": [64]}), Node("s", "std"),
                              Node("fc", "Linear", {"out_features": 8})), (Edge("x", "s"), Edge("s", "fc")))
    result = validate(graph)
    assert [i.node for i in result.errors] == ["fc"]
    assert "Linear needs more dimensions than its input (N) has" in result.errors[0].message
