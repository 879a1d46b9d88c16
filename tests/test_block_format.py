"""Format version 2 and the edits of blocks: every mistake named where it is, every edit a real design."""

from __future__ import annotations

import json

import pytest

from builder.block_edits import add_block, edit_inside, fix_inside
from builder.edits import EditError, set_param
from builder.graph import Edge, Graph, Node
from builder.group_edits import group, ungroup
from builder.library import library_design
from builder.project import ProjectError, dump_project, load_project, to_json
from builder.templates import load_template
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "v1_templates"


def problems(data: dict) -> list[str]:
    with pytest.raises(ProjectError) as caught:
        load_project(data)
    return caught.value.problems


def basic() -> dict:
    return json.loads(to_json(load_template("resnet_mini")))


def test_design_without_blocks_is_still_written_as_version_1() -> None:
    graph = load_project((FIXTURES / "digits_cnn.json").read_bytes())
    assert dump_project(graph)["layerlab"] == 1
    assert dump_project(load_template("resnet_mini"))["layerlab"] == 2


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_previous_release_template_opens_validates_and_generates_as_before(path) -> None:
    graph = load_project(path.read_bytes())
    result = validate(graph)
    assert result.valid
    golden = FIXTURES.parent.parent / "golden" / "v1" / f"{path.stem}.py"
    assert generate_model(graph, result).code == golden.read_text(encoding="utf-8")
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    for node in on_disk["nodes"]:
        if node.get("params") == {}:
            del node["params"]
    assert json.loads(to_json(graph)) == on_disk


def test_a_block_that_contains_itself_names_the_cycle() -> None:
    data = basic()
    downsample = data["definitions"]["Downsample"]
    downsample["nodes"].append({"id": "again", "type": "BasicBlock"})
    downsample["edges"].append({"source": "bn", "target": "again"})
    assert any("a block may not contain itself: " in p and "BasicBlock" in p and "Downsample" in p
               for p in problems(data))


def test_references_must_name_parameters_of_the_block() -> None:
    data = basic()
    conv1 = data["definitions"]["BasicBlock"]["nodes"][1]
    conv1["params"]["out_channels"] = "$plane * 2"
    found = problems(data)
    assert found == ["definitions.BasicBlock.nodes[1] ('conv1'): Conv2d out_channels='$plane * 2' names plane, which "
                     "the block does not declare; its parameters: planes, stride, downsample"]
    conv1["params"]["out_channels"] = "$__import__('os')"
    assert "only numbers and parameter names" in problems(data)[0] or "parameter names, numbers" in problems(data)[0]


def test_reference_outside_a_block_and_misplaced_keys_are_refused() -> None:
    data = basic()
    data["nodes"][1]["params"]["out_channels"] = "$planes"
    data["nodes"][1]["repeat"] = 2
    data["nodes"][2]["when"] = "downsample"
    found = problems(data)
    assert any("a $reference is only allowed inside a block definition" in p for p in found)
    assert any("only a block made of blocks can be repeated" in p for p in found)
    assert any("when='downsample' is only allowed inside a block definition" in p for p in found)


def test_inside_a_block_inputs_are_ports_and_when_names_a_flag() -> None:
    data = basic()
    block = data["definitions"]["BasicBlock"]
    block["nodes"][0]["type"] = "Input"
    block["nodes"][1]["when"] = "planes"
    found = problems(data)
    assert any("unknown block type 'Input' (inside a block definition, its inputs are nodes of type 'Port')" in p
               for p in found)
    assert any("when='planes' must name a true/false parameter of the block; it has: downsample" in p for p in found)


def test_a_value_computed_inside_a_block_is_checked_where_it_lands() -> None:
    graph = load_template("resnet_mini")
    graph = graph.replace_node(Node("layer1", "BasicBlock", {"planes": 0}))
    with pytest.raises(ProjectError):
        load_project(json.loads(to_json(graph)))  # planes has minimum 1: refused when read
    data = basic()
    data["definitions"]["BasicBlock"]["nodes"][1]["params"]["out_channels"] = "$planes - 100"
    result = validate(load_project(data))
    issue = next(i for i in result.errors if i.node == "layer1")
    assert issue.message.startswith("layer1 › conv1: out_channels=-84 is too small")


def test_an_error_inside_a_block_shows_on_the_instance_with_its_path() -> None:
    graph = edit_inside(load_template("resnet18"), "BasicBlock", set_param, "conv2", "padding", 0)
    result = validate(graph)
    messages = {i.node: i.message for i in result.errors}
    assert list(messages) == ["layer1"]  # the first instance says it; the ones after it wait for it
    assert messages["layer1"].startswith("layer1[0] › add: Add needs equal shapes")
    assert result.nodes["layer1"].output is None
    assert {result.nodes[n].blocked_by for n in ("layer2", "layer3", "layer4", "fc")} == {"layer1"}


def test_fix_inside_edits_the_definition_and_names_the_block_to_open() -> None:
    graph = load_template("digits_cnn")
    graph, node = add_block(graph, "SqueezeExcitation")
    graph = graph.with_edges([*graph.edges])
    # a block whose first layer sees a flat vector: its fix (insert a Reshape) applies inside the block
    flat_graph = Graph("t", (Node("x", "Input", {"shape": [64]}), Node(node, "SqueezeExcitation")),
                       (Edge("x", node),), definitions=graph.definitions)
    result = validate(flat_graph)
    issue = next(i for i in result.errors if i.fix is not None)
    assert issue.inner and issue.inner.startswith(f"{node}.")
    fixed, opened = fix_inside(flat_graph, issue)
    assert opened == "SqueezeExcitation"
    assert len(fixed.definitions["SqueezeExcitation"].graph.nodes) == len(graph.definitions["SqueezeExcitation"].graph.nodes) + 1


def test_group_and_ungroup_keep_the_model() -> None:
    graph = load_template("digits_cnn")
    ids = [n.id for n in graph.nodes]
    grouped, instance = group(graph, ids[1:4], "ConvUnit")
    assert validate(grouped).total_params == validate(graph).total_params
    assert len(grouped.nodes) == len(graph.nodes) - 2
    assert load_project(to_json(grouped)) == grouped
    back = ungroup(grouped, instance)
    assert validate(back).valid and validate(back).total_params == validate(graph).total_params
    resnet = ungroup(load_template("resnet18"), "layer2")
    assert validate(resnet).total_params == 11_181_642  # 10 classes (CIFAR-10)
    assert sum(1 for n in resnet.nodes if n.type == "BasicBlock") == 3 + 0  # layer1, layer3, layer4 stay blocks
    assert any(n.type == "Downsample" for n in resnet.nodes)  # a block inside stays a block


def test_group_refuses_two_outputs_and_inputs() -> None:
    graph = load_template("resnet_mini")
    with pytest.raises(EditError, match="leave Inputs out of a block"):
        group(graph, ["x", "stem"], "Stem")
    graph = load_template("lenet5")
    ids = [n.id for n in graph.nodes]
    with pytest.raises(EditError, match="can't name a block"):
        group(graph, ids[1:3], "!!!")  # no letter to make a class name of ("stem" becomes Stem)
    with pytest.raises(EditError, match="built-in block type"):
        group(graph, ids[1:3], "Linear")


def test_library_block_added_from_the_palette_trains_as_code() -> None:
    graph = Graph("m", (Node("x", "Input", {"shape": [16, 64]}),))
    graph, node = add_block(graph, "PreNormEncoderBlock")
    graph = graph.with_edges([Edge("x", node)])
    result = validate(graph)
    assert result.valid
    model = build_model(generate_model(graph, result))
    assert sum(p.numel() for p in model.parameters()) == result.total_params
    assert dict(library_design("PreNormEncoderBlock").definitions) == dict(graph.definitions)
