"""Blocks made of blocks on the real canvas (Chromium): a share link of ResNet-18 opens collapsed (≤ 15 nodes),
a double-click opens layer2 with a breadcrumb back, an edit inside changes every instance and undo brings it back,
Shift+click selects two nodes to group, an instance ungroups, and a setting inside a block becomes a block parameter.

Set LAYERLAB_SCREENSHOTS=1 to also write blocks_resnet18.png and blocks_transformer_open.png (1280×800).
"""

from __future__ import annotations

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, keyed, node, settled
from playwright.sync_api import expect
from shots import shot

from builder.block_edits import promote_param
from builder.edits import set_param
from builder.group_edits import group
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.common.style import human_count

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_link(page, app_url: str, name: str, last: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template(name))}")
    node(page, last).wait_for(timeout=LOAD_TIMEOUT)


def crumb(page):
    return page.locator(".st-key-breadcrumb")


def chip(page):
    return page.locator(".ll-chip")


def open_block(page, node_id: str, inner: str) -> None:
    node(page, node_id).dblclick()
    node(page, inner).wait_for()


def test_resnet18_opens_collapsed_and_an_edit_inside_changes_every_instance(page, app_url: str) -> None:
    resnet = load_template("resnet18")
    open_link(page, app_url, "resnet18", "fc")  # a share link of a design with blocks
    drawn = settled(page)["nodes"]
    assert len(drawn) == len(resnet.nodes) <= 15
    expect(node(page, "layer2")).to_contain_text("×2")
    expect(node(page, "layer2")).to_contain_text("64×8×8→128×4×4")
    expect(node(page, "layer2")).to_contain_text("planes 128")
    expect(chip(page)).to_contain_text(human_count(validate(resnet).total_params))
    shot(page, "blocks_resnet18")

    open_block(page, "layer2", "conv1")
    expect(crumb(page)).to_contain_text("resnet18")
    expect(crumb(page)).to_contain_text("BasicBlock")
    expect(node(page, "x")).to_contain_text("64×8×8")  # the Port: what enters layer2's first copy
    expect(node(page, "conv1")).to_contain_text("→ 128×4×4")
    expect(canvas(page).locator(".react-flow__node")).to_have_count(9)

    node(page, "conv1").click()
    field = page.get_by_role("textbox", name="stride = 2 here")
    field.fill("1")
    field.press("Enter")
    expect(node(page, "conv1")).to_contain_text("→ 128×8×8")  # this copy's shapes follow the edit
    expect(chip(page)).to_contain_text("1 issue")  # and the design's: layer2's shortcut no longer adds up

    keyed(page, "crumb_0").click()  # back to the design: the collapsed node shows what broke inside
    node(page, "fc").wait_for()
    expect(node(page, "layer2")).to_contain_text("✖ inside")
    page.get_by_role("button", name="Undo").click()
    expect(node(page, "layer2")).not_to_contain_text("✖")
    expect(chip(page)).to_contain_text("valid")


def test_group_two_nodes_then_ungroup_and_undo(page, app_url: str) -> None:
    graph = load_template("digits_cnn")
    open_link(page, app_url, "digits_cnn", "fc2")
    settled(page)
    node(page, "conv2").click()
    page.locator(".st-key-inspector h4").filter(has_text="conv2").wait_for()  # Python's drawing has come back
    node(page, "relu2").click(modifiers=["Shift"])
    expect(page.locator(".st-key-inspector")).to_contain_text("2 nodes selected")
    page.get_by_role("textbox", name="Block name").fill("ConvRelu")
    page.get_by_role("textbox", name="Block name").press("Enter")
    keyed(page, "group_do").click()
    node(page, "conv_relu_1").wait_for()
    expect(node(page, "conv_relu_1")).to_contain_text("ConvRelu")
    expect(node(page, "conv2")).to_have_count(0)
    expect(chip(page)).to_contain_text(human_count(validate(graph).total_params))  # same layers, same count

    keyed(page, "ungroup_conv_relu_1").click()
    node(page, "conv2").wait_for()  # the layers come back under their own names
    expect(node(page, "conv_relu_1")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()  # back to the block
    node(page, "conv_relu_1").wait_for()
    page.get_by_role("button", name="Undo").click()  # back to the plain layers
    node(page, "conv2").wait_for()
    expect(node(page, "conv_relu_1")).to_have_count(0)


def test_an_opened_transformer_block_reads_layer_by_layer(page, app_url: str) -> None:
    open_link(page, app_url, "transformer_classifier", "out")
    settled(page)
    open_block(page, "encoder", "self_attn")
    expect(crumb(page)).to_contain_text("TransformerEncoderBlock")
    for inner in ("norm1", "self_attn", "add1", "linear1", "add2"):
        expect(node(page, inner)).to_be_visible()
    settled(page)
    shot(page, "blocks_transformer_open")


def test_a_setting_inside_a_block_becomes_a_block_parameter_each_copy_can_set(page, app_url: str) -> None:
    """Inside ConvRelu, conv2's out_channels becomes the block's 'width': the copy keeps 32, then the design's
    inspector sets 48 and the parameter count follows."""
    design, block = group(load_template("digits_cnn"), ["conv2", "relu2"], "ConvRelu")
    page.goto(f"{app_url}/?design={encode_share(design)}")
    node(page, block).wait_for(timeout=LOAD_TIMEOUT)
    settled(page)
    open_block(page, block, "conv2")
    node(page, "conv2").click()
    page.locator(".st-key-inspector h4").filter(has_text="conv2").wait_for()
    page.get_by_text("Make a setting a parameter of ConvRelu").click()
    page.get_by_role("textbox", name="Name in the block").fill("width")
    page.get_by_role("textbox", name="Name in the block").press("Enter")
    keyed(page, "promote_conv2").click()
    expect(page.get_by_role("textbox", name="out_channels = 32 here")).to_have_value("$width")
    keyed(page, "crumb_0").click()
    node(page, block).wait_for()
    expect(node(page, block)).to_contain_text("width 32")
    node(page, block).click()
    field = page.locator(".st-key-inspector").get_by_role("spinbutton", name="width")
    field.fill("48")
    field.press("Enter")
    expect(node(page, block)).to_contain_text("width 48")
    wider = set_param(promote_param(design, "ConvRelu", "conv2", "out_channels", "width"), block, "width", 48)
    expect(chip(page)).to_contain_text(human_count(validate(wider).total_params))
