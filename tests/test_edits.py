"""Pure graph edits: every function, its refusals, and one-click fixes checked end to end with validate()."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.catalog import Fix
from builder.edits import (
    EditError,
    add_node,
    apply_fix,
    apply_issue_fix,
    connect,
    delete,
    disconnect,
    insert_before,
    move_node,
    move_nodes,
    new_node_id,
    remove_node,
    rename_node,
    reorder_inputs,
    set_edge_port,
    set_param,
    unpin_all,
)
from builder.graph import Edge, Graph, Node
from builder.layout import overlaps, place
from builder.project import load_project, to_json
from builder.validate import validate


def chain(*types: str, shape: list[int] | None = None) -> Graph:
    """Input → types[0] → types[1] …, ids n0 (the Input), n1, n2, …; positioned in a row."""
    nodes = [Node("n0", "Input", {"shape": shape or [4]}, pos=(0.0, 0.0))]
    nodes += [Node(f"n{i}", t, pos=(300.0 * i, 0.0)) for i, t in enumerate(types, start=1)]
    edges = [Edge(f"n{i}", f"n{i + 1}") for i in range(len(types))]
    return Graph("t", tuple(nodes), tuple(edges))


def keys(graph: Graph) -> list[tuple[str, str, str | None]]:
    return [(e.source, e.target, e.port) for e in graph.edges]


def issue_codes(graph: Graph, node: str) -> list[str]:
    return [i.code for i in validate(graph).issues if i.node == node]


# ---- ids ----------------------------------------------------------------------------------------------------


def test_new_node_id_is_readable_and_unique():
    g = Graph()
    assert new_node_id(g, "Conv2d") == "conv2d_1"
    assert new_node_id(g, "MultiheadAttention") == "multihead_attention_1"
    assert new_node_id(g, "ReLU") == "relu_1"
    assert new_node_id(g, "LeakyReLU") == "leaky_relu_1"
    g, first = add_node(g, "ReLU")
    g, second = add_node(g, "ReLU")
    assert (first, second) == ("relu_1", "relu_2")
    g = remove_node(g, "relu_1")
    assert new_node_id(g, "ReLU") == "relu_1"  # a freed number is reused


# ---- add_node -----------------------------------------------------------------------------------------------


def test_three_clicks_build_a_chain_and_the_result_validates():
    g, x = add_node(Graph(), "Input", params={"shape": [1, 28, 28]})
    g, conv = add_node(g, "Conv2d", after=x, params={"out_channels": 8})
    g, relu = add_node(g, "ReLU", after=conv)
    g, pool = add_node(g, "MaxPool2d", after=relu)
    assert keys(g) == [(x, conv, None), (conv, relu, None), (relu, pool, None)]
    assert g.node(conv).params == {"out_channels": 8}
    assert all(g.node(n).pos is None for n in (x, conv, relu, pool))  # the layered layout places them
    ys = [place(g).positions[n][1] for n in (x, conv, relu, pool)]
    assert ys == sorted(ys) and len(set(ys)) == 4  # one below the other, in data-flow order
    result = validate(g)
    assert result.valid and result.nodes[pool].output.shape == (8, 13, 13)


def test_add_after_a_middle_node_inserts_into_the_chain_and_makes_room():
    g = unpin_all(chain("Linear", "ReLU"))  # as the layered layout draws it
    g, new = add_node(g, "Dropout", after="n1")
    assert keys(g) == [("n0", "n1", None), (new, "n2", None), ("n1", new, None)]
    spots = place(g).positions
    assert spots["n1"][1] < spots[new][1] < spots["n2"][1]  # drawn between its neighbours
    assert not overlaps(spots[new], [p for k, p in spots.items() if k != new])


def test_add_after_keeps_the_downstream_port():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("add", "Add")),
              (Edge("x", "a"), Edge("a", "add", "2"), Edge("x", "add", "1")))
    g, new = add_node(g, "ReLU", after="a")
    assert (new, "add", "2") in keys(g) and ("a", new, None) in keys(g)


def test_add_without_after_lands_on_a_free_spot():
    g = chain("Linear", "ReLU", "Linear")  # hand-placed nodes: new ones must avoid them
    for _ in range(6):
        g, new = add_node(g, "Tanh")
        spots = place(g).positions
        assert not overlaps(spots[new], [p for k, p in spots.items() if k != new])
    assert add_node(Graph(), "ReLU")[0].nodes[0].pos is None
    assert add_node(Graph(), "ReLU", pos=(5, 7))[0].nodes[0].pos == (5.0, 7.0)


def test_an_input_is_never_wired_after_anything():
    g = chain("Linear")
    g, inp = add_node(g, "Input", after="n1")
    assert g.in_edges(inp) == [] and g.out_edges("n1") == []


def test_add_node_refusals():
    g = chain("Linear")
    with pytest.raises(EditError, match="unknown block type 'Conv3d'"):
        add_node(g, "Conv3d")
    with pytest.raises(EditError, match="there is no node ‘nope’"):
        add_node(g, "ReLU", after="nope")
    with pytest.raises(EditError, match="Linear has no parameter 'units'; its parameters: out_features"):
        add_node(g, "Linear", params={"units": 3})
    with pytest.raises(EditError, match="out_features=0 is too small"):
        add_node(g, "Linear", params={"out_features": 0})
    with pytest.raises(EditError, match="position must be two finite numbers"):
        add_node(g, "ReLU", pos=(float("nan"), 0))


# ---- remove_node --------------------------------------------------------------------------------------------


def test_remove_node_bridges_a_chain():
    g = remove_node(chain("Linear", "ReLU", "Linear"), "n2")
    assert [n.id for n in g.nodes] == ["n0", "n1", "n3"]
    assert keys(g) == [("n0", "n1", None), ("n1", "n3", None)]


def test_remove_node_keeps_the_downstream_port_and_drops_branching_edges():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "Linear"), Node("add", "Add")),
              (Edge("x", "a"), Edge("x", "b"), Edge("a", "add", "1"), Edge("b", "add", "2")))
    assert keys(remove_node(g, "b")) == [("x", "a", None), ("a", "add", "1"), ("x", "add", "2")]
    assert keys(remove_node(g, "x")) == [("a", "add", "1"), ("b", "add", "2")]  # two outs: no bridge


def test_remove_node_does_not_bridge_into_a_duplicate():
    g = Graph("t", (Node("x", "Input"), Node("a", "ReLU"), Node("b", "Linear")),
              (Edge("x", "a"), Edge("a", "b"), Edge("x", "b")))
    g2 = remove_node(g, "a")
    assert keys(g2) == [("x", "b", None)]


def test_remove_unknown_node_is_refused():
    with pytest.raises(EditError, match="there is no node ‘ghost’"):
        remove_node(chain("ReLU"), "ghost")


# ---- edges --------------------------------------------------------------------------------------------------


def test_connect_and_its_refusals():
    g = chain("Linear", "ReLU")
    g2 = connect(g, "n0", "n2")
    assert keys(g2)[-1] == ("n0", "n2", None)
    with pytest.raises(EditError, match="‘n1’ can't feed itself"):
        connect(g, "n1", "n1")
    with pytest.raises(EditError, match="‘n0’ already feeds ‘n1’"):
        connect(g, "n0", "n1")
    with pytest.raises(EditError, match="‘n0’ is an Input: data enters there, nothing can feed it"):
        connect(g, "n2", "n0")
    with pytest.raises(EditError, match="there is no node ‘zz’"):
        connect(g, "zz", "n1")
    with pytest.raises(EditError, match="there is no node ‘zz’"):
        connect(g, "n1", "zz")
    with pytest.raises(EditError, match="‘n2’: ReLU has no port 'query'; its ports: x"):
        connect(g, "n0", "n2", port="query")


def test_connect_same_pair_on_two_ports():
    g = Graph("t", (Node("x", "Input", {"shape": [5, 8]}), Node("att", "MultiheadAttention")), ())
    g = connect(connect(g, "x", "att", "x"), "x", "att", "memory")
    assert keys(g) == [("x", "att", "x"), ("x", "att", "memory")]
    with pytest.raises(EditError, match="already feeds ‘att’ on port 'memory'"):
        connect(g, "x", "att", "memory")
    assert validate(g).nodes["att"].output.shape == (5, 8)


def test_disconnect():
    g = disconnect(chain("Linear", "ReLU"), "n1", "n2")
    assert keys(g) == [("n0", "n1", None)]
    with pytest.raises(EditError, match="there is no edge from ‘n2’ to ‘n1’"):
        disconnect(g, "n2", "n1")


def test_set_edge_port():
    g = Graph("t", (Node("src", "Input", {"shape": [5, 8]}), Node("mem", "Input", {"shape": [7, 8]}),
                    Node("dec", "TransformerDecoderLayer", {"nhead": 2})),
              (Edge("src", "dec"), Edge("mem", "dec")))
    g = set_edge_port(set_edge_port(g, "mem", "dec", "memory"), "src", "dec", "tgt")
    assert keys(g) == [("src", "dec", "tgt"), ("mem", "dec", "memory")]
    assert validate(g).nodes["dec"].sources == {"tgt": ["src"], "memory": ["mem"]}
    with pytest.raises(EditError, match="port 'memory' of ‘dec’ is already fed by ‘mem’"):
        set_edge_port(g, "src", "dec", "memory")
    with pytest.raises(EditError, match="TransformerDecoderLayer has no port 'x'; its ports: tgt, memory"):
        set_edge_port(g, "src", "dec", "x")
    with pytest.raises(EditError, match="there is no edge from ‘dec’ to ‘src’"):
        set_edge_port(g, "dec", "src", None)
    assert keys(set_edge_port(g, "src", "dec", None))[0] == ("src", "dec", None)


def test_reorder_inputs_numbers_the_ports():
    g = Graph("t", (Node("x", "Input", {"shape": [2, 3]}), Node("a", "ReLU"), Node("b", "Tanh"),
                    Node("cat", "Concat")),
              (Edge("x", "a"), Edge("x", "b"), Edge("a", "cat"), Edge("b", "cat")))
    g = reorder_inputs(g, "cat", ["b", "a"])
    assert keys(g)[2:] == [("a", "cat", "2"), ("b", "cat", "1")]
    assert validate(g).nodes["cat"].sources == {"inputs": ["b", "a"]}
    with pytest.raises(EditError, match="must list each input of ‘cat’ once; it is fed by ‘a’, ‘b’"):
        reorder_inputs(g, "cat", ["a"])
    with pytest.raises(EditError, match="‘a’ is a ReLU; only blocks with numbered inputs"):
        reorder_inputs(g, "a", ["x"])


def test_reorder_inputs_with_one_source_twice():
    g = Graph("t", (Node("x", "Input", {"shape": [3]}), Node("r", "ReLU"), Node("add", "Add")),
              (Edge("x", "r"), Edge("r", "add"), Edge("x", "add")))
    g = reorder_inputs(g, "add", ["x", "r"])
    assert keys(g)[1:] == [("r", "add", "2"), ("x", "add", "1")]


# ---- params, names, positions -------------------------------------------------------------------------------


def test_set_param_checks_and_resets():
    g = chain("Linear")
    g = set_param(g, "n1", "out_features", 7.0)  # a whole float from a widget becomes an int
    assert g.node("n1").params == {"out_features": 7} and type(g.node("n1").params["out_features"]) is int
    assert validate(g).nodes["n1"].output.shape == (7,)
    assert set_param(g, "n1", "out_features", None).node("n1").params == {}
    with pytest.raises(EditError, match="Linear out_features=-1 is too small: it must be ≥ 1"):
        set_param(g, "n1", "out_features", -1)
    with pytest.raises(EditError, match="Linear bias='yes' must be true or false"):
        set_param(g, "n1", "bias", "yes")
    with pytest.raises(EditError, match="Linear has no parameter 'units'"):
        set_param(g, "n1", "units", None)
    with pytest.raises(EditError, match="there is no node ‘n9’"):
        set_param(g, "n9", "out_features", 3)


def test_rename_node_carries_edges():
    g = rename_node(chain("Linear", "ReLU"), "n1", "hidden")
    assert [n.id for n in g.nodes] == ["n0", "hidden", "n2"]
    assert keys(g) == [("n0", "hidden", None), ("hidden", "n2", None)]
    assert rename_node(g, "hidden", "hidden") is g
    assert rename_node(g, "hidden", " out ").has_node("out")  # stray spaces dropped
    with pytest.raises(EditError, match="already used by another node"):
        rename_node(g, "hidden", "n2")
    with pytest.raises(EditError, match="non-empty text of at most 64 characters"):
        rename_node(g, "hidden", "  ")
    with pytest.raises(EditError, match="non-empty text of at most 64 characters"):
        rename_node(g, "hidden", "x" * 65)
    load_project(to_json(g))  # still a valid project file


def test_move_node():
    g = chain("Linear")
    g2 = move_node(g, "n1", (12, -40.5))
    assert g2.node("n1").pos == (12.0, -40.5)
    assert move_node(g2, "n1", (12, -40.5)) is g2
    with pytest.raises(EditError, match="two finite numbers"):
        move_node(g, "n1", (1, float("inf")))
    with pytest.raises(EditError, match="there is no node"):
        move_node(g, "n7", (1, 1))


# ---- insert_before ------------------------------------------------------------------------------------------


def test_insert_before_on_the_single_input():
    g, new = insert_before(chain("Linear", "ReLU"), "n2", "Dropout", {"p": 0.1})
    assert keys(g) == [("n0", "n1", None), (new, "n2", None), ("n1", new, None)]
    assert g.node(new).pos is None and g.node("n2").pos == (600.0, 0.0)  # hand-placed n2 stays
    assert not overlaps(place(g).positions[new], [n.pos for n in g.nodes if n.pos is not None])
    assert g.node(new).params == {"p": 0.1}


def test_insert_before_refusals():
    g = Graph("t", (Node("x", "Input", {"shape": [3]}), Node("a", "ReLU"), Node("add", "Add")),
              (Edge("x", "a"), Edge("a", "add"), Edge("x", "add")))
    with pytest.raises(EditError, match="‘add’ has several inputs \\(‘a’, ‘x’\\); choose the edge"):
        insert_before(g, "add", "ReLU")
    with pytest.raises(EditError, match="there is no edge from ‘add’ to ‘a’"):
        insert_before(g, "a", "ReLU", source="add")
    with pytest.raises(EditError, match="‘x’ is an Input: nothing comes before it"):
        insert_before(g, "x", "ReLU")
    with pytest.raises(EditError, match="an Input can't be inserted on an edge"):
        insert_before(g, "a", "Input")
    g2, new = insert_before(g, "add", "Tanh", source="x")
    assert (new, "add", None) in keys(g2) and ("x", new, None) in keys(g2)


# ---- apply_fix, end to end with validate ---------------------------------------------------------------------


def _only_issue(graph: Graph, node: str, code: str):
    found = [i for i in validate(graph).issues if i.node == node and i.code == code]
    assert len(found) == 1, validate(graph).issues
    return found[0]


def test_fix_reshape_before_a_conv_on_flat_input():
    g = chain("Conv2d", "Flatten", shape=[784])
    issue = _only_issue(g, "n1", "shape")
    assert issue.fix.action == "insert_before"
    fixed = apply_issue_fix(g, issue)
    result = validate(fixed)
    assert result.valid, result.issues
    assert result.nodes["n1"].output.shape == (16, 26, 26)


def test_fix_flatten_before_linear_on_an_image():
    g = chain("Linear", shape=[1, 8, 8])
    issue = _only_issue(g, "n1", "advice")
    fixed = apply_fix(g, issue.node, issue.fix, edge=issue.edge)
    assert issue_codes(fixed, "n1") == []
    assert validate(fixed).nodes["n1"].params["in_features"] == 64


def test_fix_num_heads_divisor():
    g = Graph("t", (Node("x", "Input", {"shape": [10, 30]}), Node("att", "MultiheadAttention", {"num_heads": 4})),
              (Edge("x", "att"),))
    issue = _only_issue(g, "att", "shape")
    fixed = apply_issue_fix(g, issue)
    assert fixed.node("att").params["num_heads"] == 3
    assert validate(fixed).valid


def test_fix_cycle_by_removing_an_edge():
    g = Graph("t", (Node("x", "Input"), Node("a", "Linear"), Node("b", "ReLU"), Node("c", "Linear"),
                    Node("add", "Add")),
              (Edge("x", "add"), Edge("add", "a"), Edge("a", "b"), Edge("b", "c"), Edge("c", "add")))
    issue = _only_issue(g, "a", "cycle")
    fixed = apply_issue_fix(g, issue)
    assert not [i for i in validate(fixed).issues if i.code == "cycle"]
    assert len(fixed.edges) == 4


def test_fix_embedding_float_input_walks_up_to_the_input():
    g = chain("Identity", "Embedding", shape=[12])
    issue = _only_issue(g, "n2", "shape")
    assert issue.fix.action == "set_input_dtype"
    fixed = apply_issue_fix(g, issue)
    assert fixed.node("n0").params["dtype"] == "long"
    result = validate(fixed)
    assert result.valid and result.nodes["n2"].output.shape == (12, 32)


def test_fix_add_projection_on_the_edge_the_issue_names():
    g = Graph("t", (Node("x", "Input", {"shape": [3, 8, 8]}), Node("c1", "Conv2d", {"out_channels": 8, "padding": 1}),
                    Node("add", "Add")),
              (Edge("x", "c1"), Edge("x", "add"), Edge("c1", "add")))
    issue = _only_issue(g, "add", "shape")
    assert issue.edge == ("c1", "add")
    fixed = apply_issue_fix(g, issue)
    result = validate(fixed)
    assert result.valid, result.issues
    assert result.nodes["add"].output.shape == (3, 8, 8)
    proj = [n for n in fixed.nodes if n.id not in g.node_ids][0]
    assert proj.params == {"out_channels": 3, "kernel_size": 1}
    assert result.nodes["add"].sources["inputs"] == ["x", proj.id]


def test_fix_add_node_and_refusals():
    g = Graph()
    issue = next(i for i in validate(g).issues if i.code == "no_input")
    g = apply_issue_fix(g, issue)
    assert [n.type for n in g.nodes] == ["Input"]
    with pytest.raises(EditError, match="needs a node"):
        apply_fix(g, None, Fix("x", "set_param", {"name": "p", "value": 1}))
    with pytest.raises(EditError, match="unknown fix action 'explode'"):
        apply_fix(g, "input_1", Fix("x", "explode", {}))
    with pytest.raises(EditError, match="the fix ‘x’ lacks its 'name' argument"):
        apply_fix(g, "input_1", Fix("x", "set_param", {"value": 1}))
    with pytest.raises(EditError, match="no Input feeds ‘r’"):
        apply_fix(Graph("t", (Node("r", "ReLU"),)), "r", Fix("x", "set_input_dtype", {"dtype": "long"}))


def test_fix_infer_param_resets_a_wrong_size():
    g = chain("Linear", shape=[6])
    g = set_param(g, "n1", "in_features", 5)
    issue = _only_issue(g, "n1", "shape")
    fixed = apply_issue_fix(g, issue)
    assert "in_features" not in fixed.node("n1").params and validate(fixed).valid


# ---- delete: the one edit behind every way to delete ---------------------------------------------------------


def test_delete_bridges_a_chain_node_removes_edges_and_skips_what_is_gone():
    g = chain("Linear", "ReLU", "Linear")
    one = delete(g, ["n2"])
    assert keys(one) == [("n0", "n1", None), ("n1", "n3", None)]  # n1 → n3 bridged over the removed ReLU
    assert one == remove_node(g, "n2")
    both = delete(g, ["n2", "ghost"], [("n0", "n1"), ("n1", "n9")])
    assert keys(both) == [("n1", "n3", None)] and [n.id for n in both.nodes] == ["n0", "n1", "n3"]
    assert delete(g, []) is g


def test_move_nodes_pins_and_unpin_all_releases():
    g = chain("ReLU")
    moved = move_nodes(g, {"n1": [10, 20], "gone": [1, 2]})
    assert moved.node("n1").pos == (10.0, 20.0)
    assert all(n.pos is None for n in unpin_all(moved).nodes)
    with pytest.raises(EditError, match="position"):
        move_nodes(g, {"n1": ["a", 2]})


def test_node_limit_is_refused():
    from builder.project import MAX_NODES

    g = Graph("t", tuple(Node(f"r{i}", "ReLU") for i in range(MAX_NODES)))
    with pytest.raises(EditError, match=f"the graph already has {MAX_NODES} nodes; the limit is {MAX_NODES}"):
        add_node(g, "ReLU")


# ---- random edit sequences: only EditError, and the result is always a readable project file -----------------

_TYPES = ["Input", "Linear", "ReLU", "Add", "Concat", "Conv2d", "Embedding", "MultiheadAttention", "Flatten"]
_ids = st.integers(0, 8)  # the n-th node of the graph at that moment; 8 names a missing node
_ops = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(_TYPES), st.none() | _ids),
    st.tuples(st.just("add"), st.sampled_from(_TYPES), _ids),
    st.tuples(st.just("add"), st.sampled_from(_TYPES), _ids),
    st.tuples(st.just("remove"), _ids),
    st.tuples(st.just("connect"), _ids, _ids, st.sampled_from([None, "1", "2", "x", "memory", "bad"])),
    st.tuples(st.just("disconnect"), _ids, _ids),
    st.tuples(st.just("port"), _ids, _ids, st.sampled_from([None, "1", "2", "x", "memory"])),
    st.tuples(st.just("param"), _ids, st.sampled_from(["out_features", "dim", "shape", "p"]),
              st.sampled_from([None, 0, 3, -1, 2.5, "x", [1, 2], True])),
    st.tuples(st.just("rename"), _ids, st.sampled_from(["a", "", "input_1", "z" * 70])),
    st.tuples(st.just("insert"), _ids, st.sampled_from(_TYPES), st.none() | _ids),
    st.tuples(st.just("fix")),
)


def _run(graph: Graph, op: tuple) -> Graph:
    kind, *args = op
    ids = graph.node_ids
    args = [(ids[a % len(ids)] if ids and a < 8 else "nope") if isinstance(a, int) and not isinstance(a, bool)
            and kind != "param" else a for a in args]
    if kind == "param":
        args[0] = ids[args[0] % len(ids)] if ids else "nope"
    if kind == "add":
        return add_node(graph, args[0], after=args[1] if ids else None)[0]
    if kind == "insert":
        return insert_before(graph, args[0], args[1], source=args[2])[0]
    if kind == "fix":
        fixable = [i for i in validate(graph).issues if i.fix is not None]
        return apply_issue_fix(graph, fixable[0]) if fixable else graph
    func = {"remove": remove_node, "connect": connect, "disconnect": disconnect, "port": set_edge_port,
            "param": set_param, "rename": rename_node}[kind]
    return func(graph, *args)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ops, max_size=12))
def test_random_edits_keep_a_valid_project(ops):
    graph = Graph("t")
    for op in ops:
        try:
            graph = _run(graph, op)
        except EditError as err:
            assert str(err)
        assert load_project(to_json(graph)) == graph  # every edit result is a readable, equal project file
