"""Group and ungroup are inverses (issue 18): for every template and every connected selection of 1-3 non-Input
nodes, ungroup(group(...)) gives back the same node ids, settings, positions and edges (each node's inputs in the
same order), and the generated module the same state-dict keys and shapes. Names the user chose are kept."""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import cache

import networkx as nx
import pytest
import torch

from builder.block_edits import set_repeat
from builder.edits import EditError, add_node, rename_node
from builder.graph import Edge, Graph, Node
from builder.group_edits import block_name, group, ungroup, ungroup_report
from builder.layered import STEP_Y
from builder.templates import load_template, template_names
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model

MAX_SELECTION = 3


def _pinned(graph: Graph) -> Graph:
    """Every other node pinned at an awkward float spot (sums of such coordinates round), the rest following the
    layout: both kinds must come back as they were."""
    nodes = [replace(n, pos=(k * 31.7 + 0.1, k * 13.3 - 0.7)) if k % 2 == 0 else n for k, n in enumerate(graph.nodes)]
    return graph.with_nodes(nodes)


def _selections(graph: Graph) -> list[tuple[str, ...]]:
    """Each connected set of 1..MAX_SELECTION non-Input nodes, in node order (deterministic)."""
    links = nx.Graph()
    links.add_nodes_from(n.id for n in graph.nodes if n.type != "Input")
    links.add_edges_from(e.key for e in graph.edges if e.source in links and e.target in links)
    ids = list(links)
    return [chosen for size in range(1, MAX_SELECTION + 1) for chosen in itertools.combinations(ids, size)
            if nx.is_connected(links.subgraph(chosen))]


def _nodes(graph: Graph) -> dict[str, tuple]:
    """Everything a node holds, by id (order is compared separately)."""
    return {n.id: (n.type, dict(n.params), n.pos, dict(n.meta), n.repeat, n.when) for n in graph.nodes}


def _inputs(graph: Graph) -> dict[str, list[tuple[str, str | None]]]:
    """Each node's inputs in order: the canonical order of edges (a Concat reads its inputs in edge order; the
    order of edges into different nodes means nothing)."""
    return {n.id: [(e.source, e.port) for e in graph.in_edges(n.id)] for n in graph.nodes}


def _state_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """The generated module's state-dict keys and shapes (built on the meta device: shapes without weights)."""
    with torch.device("meta"):
        model = build_model(generate_model(graph))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@cache
def _original(name: str) -> tuple[Graph, dict[str, tuple[int, ...]]]:
    graph = _pinned(load_template(name))
    return graph, _state_shapes(graph)


def _groupable(graph: Graph) -> list[tuple[tuple[str, ...], Graph, str]]:
    """(selection, grouped design, instance) for each selection group accepts; the refusals must be the one
    reason a connected selection can't be a block (two values leave it)."""
    out = []
    for chosen in _selections(graph):
        try:
            grouped, instance = group(graph, chosen, "MyBlock")
        except EditError as err:
            assert "a block has one output" in str(err), (chosen, err)
            continue
        out.append((chosen, grouped, instance))
    return out


def _same_order(back: tuple[str, ...], original: tuple[str, ...], chosen: tuple[str, ...]) -> bool:
    """The node order comes back exactly when the selection was contiguous in it. When other nodes sat between
    the selected ones (a merge's second branch: nanogpt_tiny's pos and wpe between wte and x), the block stood
    where its first node was, and ungroup puts its nodes back together there: the other nodes keep their order,
    and so do the selected ones."""
    at = sorted(original.index(n) for n in chosen)
    if at[-1] - at[0] == len(at) - 1:
        return back == original
    inside = set(chosen)
    return ([n for n in back if n not in inside] == [n for n in original if n not in inside]
            and [n for n in back if n in inside] == [n for n in original if n in inside])


@pytest.mark.parametrize("name", template_names())
def test_ungroup_undoes_group_for_every_selection(name: str) -> None:
    graph, shapes = _original(name)
    cases = _groupable(graph)
    assert cases, f"{name}: no selection could be grouped"
    for chosen, grouped, instance in cases:
        done = ungroup_report(grouped, instance)
        back = done.graph
        where = f"{name} {chosen}"
        assert done.renamed == {}, where
        assert _same_order(back.node_ids, graph.node_ids, chosen), where
        assert _nodes(back) == _nodes(graph), where
        assert _inputs(back) == _inputs(graph), where
        assert set(back.edges) == set(graph.edges) and len(back.edges) == len(graph.edges), where
        assert _state_shapes(back) == shapes, where


@pytest.mark.parametrize("name", ["digits_cnn", "resnet18", "unet_small", "transformer_seq2seq"])
def test_the_grouped_module_holds_the_same_weights_under_the_instance(name: str) -> None:
    """While grouped, each selected layer's weights sit under the instance: conv1.weight -> my_block_1.conv1.weight."""
    graph, shapes = _original(name)
    for chosen, grouped, instance in _groupable(graph):
        moved = {(f"{instance}.{k}" if k.split(".")[0] in chosen else k): v for k, v in shapes.items()}
        assert _state_shapes(grouped) == moved, (name, chosen)


def test_a_taken_id_is_renamed_and_reported() -> None:
    """While grouped, the user names another node relu2: ungrouping can't give the block's relu2 its id back."""
    graph = load_template("digits_cnn")
    grouped, instance = group(graph, ["conv2", "relu2"], "ConvRelu")
    grouped, added = add_node(grouped, "ReLU", after="relu3")
    grouped = rename_node(grouped, added, "relu2")
    done = ungroup_report(grouped, instance)
    assert done.renamed == {"relu2": "relu2_2"}
    assert done.graph.has_node("conv2") and done.graph.node("relu2_2").type == "ReLU"
    assert done.note() == "‘relu2’ was renamed ‘relu2_2’ because another node is already called ‘relu2’."
    assert validate(done.graph).total_params == validate(grouped).total_params


def test_the_instance_id_is_free_for_its_layers() -> None:
    """An instance the user renamed fc1 (the id of its own layer) gives that id back to the layer."""
    graph = load_template("digits_mlp")
    grouped, instance = group(graph, ["fc1"], "Hidden")
    done = ungroup_report(rename_node(grouped, instance, "fc1"), "fc1")
    assert done.renamed == {} and done.graph.node_ids == graph.node_ids


def test_repeated_copies_are_named_by_their_module_path() -> None:
    """resnet18's layer1 (BasicBlock ×2): the copies' layers read layer1_0_conv1, layer1_1_conv1 like their
    state-dict keys layer1.0.conv1, layer1.1.conv1; that scheme is no rename to report."""
    graph = load_template("resnet18")
    assert graph.node("layer1").repeat == 2
    done = ungroup_report(graph, "layer1")
    assert done.renamed == {}
    assert {"layer1_0_conv1", "layer1_1_conv1"} <= set(done.graph.node_ids)
    before = _state_shapes(graph)
    after = _state_shapes(done.graph)
    assert {k.replace("layer1.0.", "layer1_0_").replace("layer1.1.", "layer1_1_"): v
            for k, v in before.items()} == after


def test_ungrouped_layers_land_around_a_moved_instance() -> None:
    graph = _pinned(load_template("digits_cnn"))
    grouped, instance = group(graph, ["relu1", "conv2"], "ReluConv")  # relu1 pinned, conv2 following the layout
    x, y = grouped.node(instance).pos
    moved = grouped.replace_node(replace(grouped.node(instance), pos=(x + 100.0, y - 50.0)))
    back = ungroup(moved, instance)
    was = graph.node("relu1").pos
    assert back.node("relu1").pos == pytest.approx((was[0] + 100.0, was[1] - 50.0))
    assert back.node("conv2").pos is None  # it followed the layout before grouping, and does again
    unpinned = grouped.replace_node(replace(grouped.node(instance), pos=None))
    assert ungroup(unpinned, instance).node("relu1").pos is None  # the instance followed the layout: so do they


def test_pinned_copies_of_a_repeat_do_not_sit_on_each_other() -> None:
    """A pinned block repeated ×3, ungrouped: the first copy lands where the layers were, each next one lower by
    the block's height and a layer step, so no two layers share a spot."""
    graph = _pinned(load_template("digits_cnn"))
    grouped, instance = group(graph, ["conv2", "relu2"], "ConvRelu")  # relu2 pinned
    grouped = set_repeat(grouped, instance, 3)
    back = ungroup_report(grouped, instance)
    assert back.renamed == {}
    spots = [back.graph.node(f"{instance}_{k}_relu2").pos for k in range(3)]
    assert spots[0] == graph.node("relu2").pos
    assert spots[1][1] - spots[0][1] == spots[2][1] - spots[1][1] == STEP_Y and len(set(spots)) == 3


@pytest.mark.parametrize("typed", ["ResMLP", "SEBlock", "MyBlock2", "My_Block"])
def test_a_class_name_is_kept_as_typed_in_the_generated_code(typed: str) -> None:
    grouped, instance = group(load_template("digits_mlp"), ["fc1", "relu1"], typed)
    assert grouped.node(instance).type == typed
    code = generate_model(grouped).code
    assert f"class {typed}(nn." in code and f"{typed}(" in code.split(f"class {typed}(")[1]


def test_a_design_named_in_capitals_keeps_them_in_its_class() -> None:
    graph = replace(load_template("digits_mlp"), name="ResMLP")
    assert generate_model(graph).class_name == "ResMLP"


@pytest.mark.parametrize(("typed", "made"), [("my block", "MyBlock"), ("stem", "Stem"), ("2 convs", "Block2Convs"),
                                             ("Résumé net", "ResumeNet"), ("  ResMLP ", "ResMLP")])
def test_text_that_is_no_class_name_is_made_one(typed: str, made: str) -> None:
    assert block_name(typed) == made
    grouped, instance = group(load_template("digits_mlp"), ["fc1"], typed)
    assert grouped.node(instance).type == made and made in grouped.definitions


@pytest.mark.parametrize(("typed", "reason"), [("!!!", "'!!!' can't name a block"), ("None", "Python keyword"),
                                               ("Linear", "built-in block type"), ("Port", "built-in block type")])
def test_names_that_cannot_be_a_block_are_refused(typed: str, reason: str) -> None:
    with pytest.raises(EditError, match=reason):
        group(load_template("digits_mlp"), ["fc1"], typed)


def test_a_selection_with_two_model_outputs_is_refused() -> None:
    """Grouping both heads of a two-output model would drop one output: group says so instead."""
    graph = load_template("digits_mlp")
    two, extra = add_node(graph, "Linear", params={"out_features": 2})
    two = two.with_edges([*two.edges, Edge("relu2", extra)])
    assert [n.id for n in two.sinks()] == ["fc3", extra]
    with pytest.raises(EditError, match="a block has one output"):
        group(two, ["fc3", extra], "Heads")


def test_a_concat_keeps_the_order_of_its_inputs() -> None:
    """cat(b, a) with edge b -> cat listed first: grouping b must not make it cat(a, b) (the channels after a
    Concat would change meaning), and ungrouping gives back the very edges."""
    graph = Graph("cat", (Node("x", "Input", {"shape": [4]}), Node("a", "Linear", {"out_features": 3}),
                          Node("b", "Linear", {"out_features": 5}), Node("cat", "Concat"),
                          Node("head", "Linear", {"out_features": 2})),
                  (Edge("x", "a"), Edge("b", "cat"), Edge("x", "b"), Edge("a", "cat"), Edge("cat", "head")))
    assert validate(graph).valid
    grouped, instance = group(graph, ["b"], "Wide")
    assert [e.source for e in grouped.in_edges("cat")] == [instance, "a"]
    back = ungroup(grouped, instance)
    assert _inputs(back) == _inputs(graph) and _state_shapes(back) == _state_shapes(graph)
