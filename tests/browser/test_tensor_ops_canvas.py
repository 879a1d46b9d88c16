"""Tensor ops on the real canvas (Chromium), as a student draws a gate: ``mul`` from the palette between two branches,
the broadcast shape on its edges, then a branch changed so the shapes no longer broadcast, and the one-click fix
(an unsqueeze) mending it."""

from __future__ import annotations

import re

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, edge, keyed, node, settled
from playwright.sync_api import expect

from builder.graph import Edge, Graph, Node
from builder.share import encode_share

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def two_branches() -> Graph:
    return Graph("gate", (
        Node("x", "Input", {"shape": [16, 8]}),
        Node("values", "Linear", {"out_features": 8}),
        Node("score", "mean", {"dim": [-1], "keepdim": True}),
    ), (Edge("x", "values"), Edge("x", "score")))


def edge_label(page, source: str, target: str):
    return canvas(page).locator(f".ll-edge-label[data-edge='e:{source}->{target}']")


def test_mul_between_two_branches_shows_the_broadcast_and_its_fix(page, app_url: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(two_branches())}")
    node(page, "score").wait_for(timeout=LOAD_TIMEOUT)
    settled(page)
    node(page, "values").click()
    page.locator(".st-key-inspector h4").filter(has_text="values").wait_for()
    search = page.locator(".st-key-palette_search input")
    search.fill("mul")
    search.press("Enter")
    keyed(page, "palette_mul").click()  # after the selected block: values feeds its x
    node(page, "mul_1").wait_for()
    expect(node(page, "mul_1")).to_contain_text("needs an input on por")  # y is still free (clipped on the face)
    settled(page)  # the view glides to show the new block: a drag computed mid-glide misses its handle
    source = canvas(page).locator(".react-flow__handle.source[data-nodeid='score']")
    target = canvas(page).locator(".react-flow__handle.target[data-nodeid='mul_1']")
    source.drag_to(target)
    edge(page, "score", "mul_1").wait_for(state="attached")
    expect(edge_label(page, "score", "mul_1")).to_contain_text("16×1")  # the gate, broadcast over the last dim
    expect(node(page, "mul_1")).to_contain_text("→ 16×8")
    expect(node(page, "mul_1")).to_contain_text("x * y")  # the op's face is its expression
    expect(node(page, "mul_1")).not_to_contain_text("✖")

    node(page, "score").click()  # break it: the gate loses its size-1 dimension
    page.locator(".st-key-inspector h4").filter(has_text="score").wait_for()
    page.locator(".st-key-param_score_keepdim").get_by_text("keepdim").click()
    expect(node(page, "mul_1")).to_contain_text("✖")
    expect(edge_label(page, "score", "mul_1")).not_to_contain_text("×1")  # now (N, 16)
    node(page, "mul_1").click()
    fix = page.get_by_role("button", name=re.compile("Fix: unsqueeze y at the end"))
    fix.wait_for()
    fix.click()
    node(page, "unsqueeze_1").wait_for()
    expect(node(page, "mul_1")).not_to_contain_text("✖")
    expect(node(page, "mul_1")).to_contain_text("→ 16×8")
    expect(edge_label(page, "unsqueeze_1", "mul_1")).to_contain_text("16×1")
