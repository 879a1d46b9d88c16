"""The canvas side of blocks made of blocks: what an opened block shows (pure, ui.common.block_view), node faces of
instances, the canvas's open/multi-select events, and the app flows (open, edit inside, group, ungroup, fix inside,
the Blocks palette) through AppTest."""

from __future__ import annotations

from dataclasses import replace

import pytest
from app_helpers import start_app

from builder.block_edits import add_block, inside
from builder.edits import EditError, set_param
from builder.graph import Graph
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.common.block_view import (
    Step,
    block_view,
    crumbs,
    flat_prefix,
    inside_rows,
    set_param_ref,
    steps_to,
    valid_steps,
)
from ui.design.canvas_events import Step as EventStep
from ui.design.canvas_events import apply_event
from ui.design.canvas_view import canvas_elements, node_face
from ui.design.palette import library_matches
from ui.design.param_widgets import parse_fixed

LAYER2 = (Step("layer2", "BasicBlock"),)


@pytest.fixture(scope="module")
def resnet() -> Graph:
    return load_template("resnet18")


def text(lines: list[list[tuple[str, str]]]) -> list[str]:
    return ["".join(segment[1] for segment in line) for line in lines]  # (class, text) or (class, text, hover)


# ---- what an opened block shows -------------------------------------------------------------------------------


def test_an_opened_copy_shows_its_own_shapes(resnet: Graph) -> None:
    result = validate(resnet)
    first = block_view(resnet, result, LAYER2)
    assert first.prefix == "layer2.0."
    shapes = {k: i.output.shape for k, i in first.result.nodes.items()}
    assert shapes["x"] == (64, 8, 8)  # the Port shows what enters this copy
    assert shapes["conv1"] == shapes["relu2"] == (128, 4, 4)
    assert first.result.nodes["conv1"].params["stride"] == 2  # "$stride" resolved for the first copy
    assert first.result.nodes["conv1"].sources == {"x": ["x"]}  # in the inside's terms, not "layer1.1.relu2"
    assert first.result.nodes["downsample"].param_count == 128 * 64 + 2 * 128
    assert not first.off
    second = block_view(resnet, result, (Step("layer2", "BasicBlock", 1),))
    assert second.prefix == "layer2.1."
    assert second.result.nodes["x"].output.shape == (128, 4, 4)
    assert second.off == {"downsample": "off here: downsample is false"}  # first_only: the later copies skip it
    assert second.result.nodes["add"].sources == {"inputs": ["bn2", "x"]}


def test_param_counts_of_the_opened_copy_add_up_to_its_instance(resnet: Graph) -> None:
    result = validate(resnet)
    copies = [block_view(resnet, result, (Step("layer3", "BasicBlock", k),)) for k in range(2)]
    total = sum(i.param_count for view in copies for k, i in view.result.nodes.items() if k not in view.off)
    assert total == result.nodes["layer3"].param_count


def test_nested_blocks_open_and_paths_lead_to_any_layer(resnet: Graph) -> None:
    steps, local = steps_to(resnet, "layer2.0.downsample.conv")
    assert steps == (Step("layer2", "BasicBlock", 0), Step("downsample", "Downsample", 0)) and local == "conv"
    assert flat_prefix(resnet, steps) == "layer2.0.downsample."
    assert crumbs(resnet, steps) == ["resnet18", "layer2", "BasicBlock", "downsample", "Downsample"]
    assert crumbs(resnet, (Step("layer3", "BasicBlock", 1),)) == ["resnet18", "layer3[1]", "BasicBlock"]
    view = block_view(resnet, validate(resnet), steps)
    assert view.result.nodes["conv"].output.shape == (128, 4, 4)
    assert steps_to(resnet, "conv1") == ((), "conv1")
    assert steps_to(resnet, "layer9.0.conv1") is None
    outer = block_view(resnet, validate(resnet), LAYER2)
    assert outer.result.nodes["downsample"].output.shape == (128, 4, 4)  # the nested block folded, like the design


def test_a_path_that_no_longer_exists_is_cut(resnet: Graph) -> None:
    gone = replace(resnet, nodes=tuple(n for n in resnet.nodes if n.id != "layer2"))
    assert valid_steps(gone, LAYER2) == ()
    assert valid_steps(resnet, (Step("layer2", "BasicBlock", 7),)) == (Step("layer2", "BasicBlock", 1),)
    assert valid_steps(resnet, (Step("layer2", "Bottleneck"),)) == ()


def test_an_error_inside_shows_on_the_instance_and_on_the_opened_layer(resnet: Graph) -> None:
    broken = replace(resnet, definitions={**resnet.definitions, "BasicBlock": replace(
        resnet.definitions["BasicBlock"], graph=set_param(inside(resnet, "BasicBlock"), "conv1", "stride", 1))})
    result = validate(broken)
    face = text(node_face(broken.node("layer2"), result.nodes["layer2"], broken))
    assert "✖ inside" in face[0] and face[1].startswith("✖ layer2[0] › add")
    view = block_view(broken, result, LAYER2)
    (issue,) = view.result.nodes["add"].issues
    assert issue.node == "add" and issue.inner == "layer2.0.add" and issue.message.startswith("Add")
    assert view.result.nodes["conv1"].output.shape == (128, 8, 8)


def test_inside_rows_list_the_first_copy(resnet: Graph) -> None:
    rows = inside_rows(resnet, validate(resnet), (), "layer2")
    assert rows[0] == "`conv1` Conv2d → `128×4×4` · 73,728 params"
    assert any(r.startswith("`downsample` Downsample (when downsample)") for r in rows)
    assert inside_rows(resnet, validate(resnet), (), "conv1") == []


def test_a_reference_is_checked_against_the_block_parameters(resnet: Graph) -> None:
    definition = resnet.definitions["BasicBlock"]
    graph = set_param_ref(inside(resnet, "BasicBlock"), "conv2", "out_channels", " $planes ", definition)
    assert graph.node("conv2").params["out_channels"] == "$planes"
    with pytest.raises(EditError, match="no parameter 'plane'; its parameters: downsample, planes, stride"):
        set_param_ref(graph, "conv2", "out_channels", "$plane", definition)
    with pytest.raises(EditError, match="does not parse"):
        set_param_ref(graph, "conv2", "out_channels", "$planes *", definition)


def test_fixed_values_typed_over_a_reference_are_typed() -> None:
    block = load_template("resnet18").definitions["BasicBlock"]
    assert parse_fixed(" 3 ", block.param("planes").param) == 3
    assert parse_fixed("True", block.param("downsample").param) is True
    with pytest.raises(ValueError, match="not a number"):
        parse_fixed("three", block.param("planes").param)


# ---- faces and events ----------------------------------------------------------------------------------------


def test_an_instance_face_reads_name_repeat_shapes_size_and_parameters(resnet: Graph) -> None:
    result = validate(resnet)
    lines = text(node_face(resnet.node("layer2"), result.nodes["layer2"], resnet))
    assert lines == ["layer2×2525.6 K", "BasicBlock · planes 128 · s 2 · downsample", "64×8×8→128×4×4"]
    nodes, _, _ = canvas_elements(resnet, result)
    assert len(nodes) <= 15 and sum(1 for n in nodes if n.get("block")) == 4
    view = block_view(resnet, result, (Step("layer2", "BasicBlock", 1),))
    drawn, _, _ = canvas_elements(view.graph, view.result, view.off)
    port = next(n for n in drawn if n["id"] == "x")
    assert not port["in"] and text(port["lines"])[0] == "inputx"
    assert next(n for n in drawn if n["id"] == "downsample")["status"] == "off"


def test_open_and_multi_select_events(resnet: Graph) -> None:
    opened = apply_event(resnet, None, {"id": "1", "kind": "open", "node": "layer2"})
    assert opened.step is EventStep.OPEN and opened.selected == "layer2" and opened.graph is resnet
    assert apply_event(resnet, None, {"id": "2", "kind": "open", "node": "nope"}).selected is None
    picked = apply_event(resnet, None, {"id": "3", "kind": "select", "node": None, "nodes": ["bn1", "relu", 7, "x9"]})
    assert picked.selected is None and picked.selection == ["bn1", "relu"]


def test_library_blocks_are_found_and_added_after_the_selection() -> None:
    assert [b.name for b in library_matches("resnet bottleneck")] == ["Bottleneck"]
    graph, node_id = add_block(load_template("digits_cnn"), "SqueezeExcitation", after="conv1")
    assert node_id in graph.node_ids and "SqueezeExcitation" in graph.definitions
    assert any(e.source == "conv1" and e.target == node_id for e in graph.edges)
    graph = set_param(graph, node_id, "channels", 16)  # conv1's channels: set on the instance like any parameter
    assert validate(graph).nodes[node_id].output.shape == (16, 8, 8)


# ---- the app: open, edit inside, group, ungroup, fix inside ----------------------------------------------------


def _event(at, kind: str, **data) -> None:
    _event.n = getattr(_event, "n", 0) + 1
    at.session_state["canvas"] = {"id": f"block-ui-{_event.n}", "kind": kind, **data}
    at.run()
    assert not at.exception, at.exception


def _design(at) -> Graph:
    return at.session_state["ll_history"].current


def test_open_edit_inside_and_undo_in_the_app(resnet: Graph) -> None:
    at = start_app({"design": encode_share(resnet)})
    _event(at, "open", node="layer2")
    assert [b.label for b in at.button if (b.key or "").startswith("crumb_")] == ["resnet18", "layer2", "Close block"]
    _event(at, "select", node="conv1")
    field = next(t for t in at.text_input if t.key == "param_conv1_stride")
    assert field.value == "$stride" and field.label == "stride = 2 here"
    field.set_value("1").run()
    assert not at.exception, at.exception
    design = _design(at)
    assert design.definitions["BasicBlock"].graph.node("conv1").params["stride"] == 1  # every instance follows
    assert any(i.inner == "layer2.0.add" for i in validate(design).nodes["layer2"].issues)
    _event(at, "undo")
    assert _design(at).definitions["BasicBlock"] == resnet.definitions["BasicBlock"]
    assert at.session_state["ll_open"] == LAYER2  # undo keeps the block open
    at.button(key="crumb_0").click().run()
    assert at.session_state["ll_open"] == () and at.session_state["ll_selected"] == "layer2"  # the block left


def test_group_and_ungroup_in_the_app() -> None:
    graph = load_template("digits_cnn")
    at = start_app({"design": encode_share(graph)})
    picked = graph.node_ids[1:3]
    _event(at, "select", node=None, nodes=picked)
    at.text_input(key="group_name").set_value("Stem").run()
    at.button(key="group_do").click().run()
    assert not at.exception, at.exception
    design = _design(at)
    assert "Stem" in design.definitions and not set(picked) & set(design.node_ids)
    instance = at.session_state["ll_selected"]
    assert design.node(instance).type == "Stem"
    assert validate(design).total_params == validate(graph).total_params
    at.button(key=f"ungroup_{instance}").click().run()
    assert not at.exception, at.exception
    assert not any(n.type == "Stem" for n in _design(at).nodes)
    assert validate(_design(at)).total_params == validate(graph).total_params
    assert _design(at).node_ids == graph.node_ids  # the layers are back under their own names
    assert not at.warning


def test_the_app_says_which_layer_ungroup_renamed_and_what_a_typed_name_became() -> None:
    graph = load_template("digits_cnn")
    picked = graph.node_ids[1:3]  # conv1, relu1
    at = start_app({"design": encode_share(graph)})
    _event(at, "select", node=None, nodes=picked)
    at.text_input(key="group_name").set_value("conv unit").run()
    at.button(key="group_do").click().run()
    instance = at.session_state["ll_selected"]
    assert _design(at).node(instance).type == "ConvUnit"
    assert any("the block is called ConvUnit" in t.value for t in at.toast)
    _event(at, "select", node="relu3")
    at.text_input(key="rename_relu3").set_value("relu1").run()
    at.button(key="do_rename_relu3").click().run()
    _event(at, "select", node=instance)
    at.button(key=f"ungroup_{instance}").click().run()
    assert not at.exception, at.exception
    assert _design(at).has_node("relu1_2") and _design(at).has_node("conv1")
    assert any("‘relu1’ was renamed ‘relu1_2’" in w.value for w in at.warning)


def test_repeat_and_a_fix_inside_open_the_block(resnet: Graph) -> None:
    at = start_app({"design": encode_share(resnet)})
    _event(at, "select", node="layer1")
    at.number_input(key="repeat_layer1").set_value(3).run()
    assert _design(at).node("layer1").repeat == 3
    at.button(key="block_open_layer1").click().run()
    assert at.session_state["ll_open"] == (Step("layer1", "BasicBlock"),)
    _event(at, "select", node="relu1")
    at.button(key="delete_relu1").click().run()  # an edit inside: a bridged delete, in every instance
    assert not _design(at).definitions["BasicBlock"].graph.has_node("relu1")
    assert not at.exception, at.exception


def test_a_fix_of_a_problem_inside_edits_the_block_and_opens_it_at_the_layer(resnet: Graph) -> None:
    inner = set_param(inside(resnet, "BasicBlock"), "conv2", "groups", 3)  # 64 channels don't split in 3
    broken = replace(resnet, definitions={**resnet.definitions, "BasicBlock": replace(
        resnet.definitions["BasicBlock"], graph=replace(resnet.definitions["BasicBlock"].graph, nodes=inner.nodes))})
    at = start_app({"design": encode_share(broken)})
    _event(at, "select", node="layer1")
    at.button(key="fix_layer1_0").click().run()
    assert not at.exception, at.exception
    assert validate(_design(at)).valid
    assert at.session_state["ll_open"] == (Step("layer1", "BasicBlock"),)
    assert at.session_state["ll_selected"] == "conv2"
