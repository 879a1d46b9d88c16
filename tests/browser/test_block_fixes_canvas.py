"""Fixes inside blocks on the real canvas (Chromium), as a new user meets them (issue 18):

* a number typed over ``$heads`` in the encoder's self_attn: the fix links num_heads to $heads again, so setting
  the encoder's heads to 8 afterwards changes self_attn too;
* conv2's out_channels typed to 96 in ResNet's layer2: the opened copy keeps its shapes up to conv2, which shows
  the error and its fix, add waits for it, the block's size and the chip say they are partial; the fix makes the
  design valid again.
"""

from __future__ import annotations

import pytest
from canvas_page import LOAD_TIMEOUT, keyed, node, settled
from playwright.sync_api import expect

from builder.share import encode_share
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_link(page, app_url: str, name: str, last: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template(name))}")
    node(page, last).wait_for(timeout=LOAD_TIMEOUT)
    settled(page)


def open_block(page, node_id: str, inner: str) -> None:
    node(page, node_id).dblclick()
    node(page, inner).wait_for()


def select(page, node_id: str) -> None:
    node(page, node_id).click()
    page.locator(".st-key-inspector h4").filter(has_text=node_id).wait_for()


def type_into(field, text: str) -> None:
    field.fill(text)
    field.press("Enter")


def chip(page):
    return page.locator(".ll-chip")


def test_the_fix_over_heads_keeps_self_attn_following_the_block(page, app_url: str) -> None:
    open_link(page, app_url, "transformer_classifier", "out")
    open_block(page, "encoder", "self_attn")
    select(page, "self_attn")
    type_into(page.get_by_role("textbox", name="num_heads = 4 here"), "5")
    expect(node(page, "self_attn")).to_contain_text("✖")  # 64 doesn't split into 5 heads
    fix = keyed(page, "fix_self_attn_0")
    expect(fix).to_contain_text("set num_heads to $heads")  # the label says the link comes back
    fix.click()
    expect(node(page, "self_attn")).not_to_contain_text("✖")
    expect(page.get_by_role("textbox", name="num_heads = 4 here")).to_have_value("$heads")

    keyed(page, "crumb_0").click()  # back to the design: the encoder's heads to 8
    node(page, "out").wait_for()
    select(page, "encoder")
    type_into(page.locator(".st-key-inspector").get_by_role("spinbutton", name="heads"), "8")
    expect(node(page, "encoder")).to_contain_text("heads 8")
    open_block(page, "encoder", "self_attn")
    expect(node(page, "self_attn")).to_contain_text("heads 8")  # it follows the block


def test_an_error_in_layer2_shows_on_its_conv2_with_a_partial_count(page, app_url: str) -> None:
    open_link(page, app_url, "resnet18", "fc")
    open_block(page, "layer2", "conv2")
    select(page, "conv2")
    type_into(page.get_by_role("textbox", name="out_channels = 128 here"), "96")
    expect(node(page, "conv2")).to_contain_text("✖")  # the faulty layer of this copy
    expect(node(page, "conv2")).to_contain_text("→ 96×4×4")
    expect(node(page, "x")).to_contain_text("64×8×8")  # the layers before the error keep their shapes
    expect(node(page, "conv1")).to_contain_text("→ 128×4×4")
    expect(node(page, "add")).to_contain_text("waiting for ‘conv2’")
    expect(chip(page)).to_contain_text("(partial)")
    fix = keyed(page, "fix_conv2_0")
    expect(fix).to_contain_text("set out_channels to $planes (128 here)")

    keyed(page, "crumb_0").click()
    node(page, "fc").wait_for()
    expect(node(page, "layer2")).to_contain_text("≥")  # its size leaves out the layers waiting for the fix
    expect(node(page, "maxpool")).to_contain_text("64×8×8")  # before the blocks: untouched

    open_block(page, "layer2", "conv2")
    select(page, "conv2")
    keyed(page, "fix_conv2_0").click()
    expect(chip(page)).to_contain_text("valid")
    expect(node(page, "add")).to_contain_text("→ 128×4×4")
