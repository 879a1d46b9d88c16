"""Fixes inside blocks keep the links to block parameters, and an error in one copy of a block shows on that copy
(issue 18): builder level, with the opened copy read through ui.common.block_view as the canvas reads it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from builder.block_edits import edit_inside, fix_inside
from builder.edits import set_param
from builder.fix_links import FOLLOW_PARAM, SET_BLOCK_PARAM, _solve
from builder.graph import Graph
from builder.refs import parse_ref
from builder.results import Issue
from builder.templates import load_template
from builder.validate import ValidationResult, validate
from ui.common.block_view import Step, block_view
from ui.design.canvas_view import node_face
from ui.design.header import chip_text

ENCODER = "TransformerEncoderBlock"
LAYER2 = (Step("layer2", "BasicBlock"),)


@pytest.fixture(scope="module")
def transformer() -> Graph:
    return load_template("transformer_classifier")


@pytest.fixture(scope="module")
def resnet() -> Graph:
    return load_template("resnet18")


def flat_issue(result: ValidationResult, inner: str) -> Issue:
    """The flat issue behind a folded one, with ``inner`` set as the app's fix button passes it."""
    issue = next(i for i in result.leaves.issues if i.node == inner)
    return replace(issue, inner=inner)


def heads_of_self_attn(design: Graph) -> int:
    return validate(design).leaves.nodes["encoder.0.self_attn"].params["num_heads"]


# ---- a fix never cuts a link --------------------------------------------------------------------------------


def test_a_fix_for_a_layer_reading_heads_sets_the_instance_heads(transformer: Graph) -> None:
    broken = set_param(transformer, "encoder", "heads", 5)  # 64 doesn't split into 5 heads
    result = validate(broken)
    (issue, *_) = block_view(broken, result, (Step("encoder", ENCODER),)).result.nodes["self_attn"].issues
    assert issue.fix.action == SET_BLOCK_PARAM and issue.fix.label.startswith("set ‘encoder’'s heads to 4")
    assert "follows $heads" in issue.fix.label
    fixed, opened = fix_inside(broken, flat_issue(result, issue.inner))
    assert opened == ENCODER and validate(fixed).valid
    assert fixed.node("encoder").params["heads"] == 4
    assert fixed.definitions[ENCODER].graph.node("self_attn").params["num_heads"] == "$heads"  # the link stays
    assert heads_of_self_attn(set_param(fixed, "encoder", "heads", 8)) == 8


def test_a_number_typed_over_heads_gets_a_fix_that_links_it_again(transformer: Graph) -> None:
    typed = edit_inside(transformer, ENCODER, set_param, "self_attn", "num_heads", 5)
    result = validate(typed)
    issue = next(i for i in result.nodes["encoder"].issues if i.inner == "encoder.0.self_attn")
    assert issue.fix.action == FOLLOW_PARAM and issue.fix.label.startswith("set num_heads to $heads (4 here)")
    fixed, _ = fix_inside(typed, flat_issue(result, issue.inner))
    assert fixed.definitions[ENCODER].graph.node("self_attn").params["num_heads"] == "$heads"
    assert heads_of_self_attn(set_param(fixed, "encoder", "heads", 8)) == 8  # self_attn follows the block


def test_formulas_are_solved_where_a_whole_value_fits() -> None:
    assert _solve(parse_ref("$planes * 4"), 256) == ("planes", 64)
    assert _solve(parse_ref("$planes * 4"), 255) is None  # no whole planes gives 255: the label says so instead
    assert _solve(parse_ref("$d // 2"), 8) is None  # not a straight line: not solved
    assert _solve(parse_ref("$a + b"), 8) is None  # two parameters: which one? not guessed


# ---- an error in one copy shows on that copy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def conv2_96(resnet: Graph) -> Graph:
    return edit_inside(resnet, "BasicBlock", set_param, "conv2", "out_channels", 96)


def test_the_opened_copy_keeps_its_shapes_before_the_error(conv2_96: Graph) -> None:
    view = block_view(conv2_96, validate(conv2_96), LAYER2)
    shapes = {k: (i.output.shape if i.output else None) for k, i in view.result.nodes.items()}
    assert shapes["x"] == (64, 8, 8)  # what layer1 gives once its own conv2 is fixed
    assert shapes["conv1"] == shapes["bn1"] == shapes["relu1"] == shapes["downsample"] == (128, 4, 4)
    assert shapes["conv2"] == shapes["bn2"] == (96, 4, 4)
    assert shapes["add"] is None and shapes["relu2"] is None
    assert view.result.nodes["add"].blocked_by == view.result.nodes["relu2"].blocked_by == "conv2"
    assert view.result.nodes["conv1"].blocked_by is None  # layer1's error is layer1's, shown there


def test_the_faulty_layer_of_the_copy_has_the_error_and_a_fix_that_fits_every_copy(conv2_96: Graph) -> None:
    result = validate(conv2_96)
    view = block_view(conv2_96, result, LAYER2)
    (issue,) = view.result.nodes["conv2"].issues
    assert issue.inner == "layer2.0.conv2"
    assert issue.message == ("out_channels=96 gives 96 channels, but ‘add’ adds them to 128 channels from "
                             "‘downsample.bn’: the two must match")
    assert issue.fix.label.startswith("set out_channels to $planes (128 here)")
    face = node_face(view.graph.node("add"), view.result.nodes["add"], view.graph)
    assert face[1] == [("ll-note", "waiting for ‘conv2’")]
    fixed, _ = fix_inside(conv2_96, flat_issue(result, issue.inner))
    assert validate(fixed).valid and validate(fixed).total_params == validate(load_template("resnet18")).total_params


def test_the_block_count_says_it_is_partial_and_outside_nodes_keep_their_shapes(conv2_96: Graph) -> None:
    result = validate(conv2_96)
    layer2 = result.nodes["layer2"]
    assert layer2.partial and layer2.param_count > 0
    title = node_face(conv2_96.node("layer2"), layer2, conv2_96)[0]
    assert ("ll-size", "≥ 451.7 K") in title
    assert chip_text(result, conv2_96).endswith("params (partial)") and "≥" in chip_text(result, conv2_96)
    assert result.nodes["maxpool"].output.shape == (64, 8, 8)  # before the blocks: untouched
    assert result.nodes["fc"].output is None and result.nodes["fc"].blocked_by == "layer4"


def test_a_mismatch_in_height_stays_on_the_add(resnet: Graph) -> None:
    # conv1 unstrided: the paths differ in height and width, which no size parameter explains: Add keeps the error
    broken = edit_inside(resnet, "BasicBlock", set_param, "conv1", "stride", 1)
    (issue,) = block_view(broken, validate(broken), LAYER2).result.nodes["add"].issues
    assert issue.message.startswith("Add needs equal shapes")
