"""An op with several outputs on the real canvas (Chromium), as ShuffleNet splits its channels: ``chunk`` shows one
handle per piece, each edge dragged from a handle carries that piece's shape, the code unpacks
``x1, x2 = x.chunk(2, dim=1)``; and a count of pieces torch disagrees with is mended by its one-click fix."""

from __future__ import annotations

import re

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, node, settled
from playwright.sync_api import expect

from builder.graph import Edge, Graph, Node
from builder.share import encode_share

SLOW = 30_000  # ms, as the page's other waits under the suite's load
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def design() -> Graph:
    """x (N, 8) into a chunk; two Linears not yet connected."""
    return Graph("halves", (
        Node("x", "Input", {"shape": [8]}, pos=(0.0, 0.0)),
        Node("halves", "chunk", {"chunks": 2, "dim": 1}, pos=(0.0, 120.0)),
        Node("left", "Linear", {"out_features": 3}, pos=(-160.0, 280.0)),
        Node("right", "Linear", {"out_features": 5}, pos=(200.0, 280.0)),
    ), (Edge("x", "halves"),))


def handle(page, node_id: str, output: str | None = None, kind: str = "source"):
    found = f".react-flow__handle.{kind}[data-nodeid='{node_id}']"
    return canvas(page).locator(found + (f"[data-handleid='{output}']" if output else ""))


def edge_label(page, edge_id: str):
    return canvas(page).locator(f".ll-edge-label[data-edge='{edge_id}']")


def test_chunk_pieces_are_handles_that_edges_pick(page, app_url: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(design())}")
    node(page, "right").wait_for(timeout=LOAD_TIMEOUT)
    expect(handle(page, "halves")).to_have_count(2, timeout=SLOW)
    expect(node(page, "halves").locator(".ll-port")).to_have_text(["0", "1"], timeout=SLOW)
    expect(node(page, "halves")).to_contain_text("chunk(2, dim=1)", timeout=SLOW)  # the face is the call

    settled(page)  # a drag computed while the view still fits the design misses its handle
    handle(page, "halves", "0").drag_to(handle(page, "left", kind="target"))
    expect(edge_label(page, "e:halves.0->left")).to_have_text("0 · 4", timeout=SLOW)
    handle(page, "halves", "1").drag_to(handle(page, "right", kind="target"))
    expect(edge_label(page, "e:halves.1->right")).to_have_text("1 · 4", timeout=SLOW)
    expect(node(page, "right")).to_contain_text("→ 5", timeout=SLOW)

    page.get_by_role("tab", name="Code").click()
    code = page.locator("[data-testid='stCode']").first
    expect(code).to_contain_text("x1, x2 = x.chunk(2, dim=1)", timeout=SLOW)
    page.get_by_role("tab", name="Build").click()
    expect(edge_label(page, "e:halves.1->right")).to_have_text("1 · 4", timeout=SLOW)

    # chunk(5) of 8 features: torch gives 4 pieces of 2 (fewer when the size doesn't divide), offered in one click.
    node(page, "halves").click()
    page.locator(".st-key-inspector h4").filter(has_text="halves").wait_for(timeout=SLOW)
    chunks = page.locator(".st-key-param_halves_chunks input")
    chunks.fill("5")
    chunks.press("Enter")
    expect(node(page, "halves")).to_contain_text("✖", timeout=SLOW)
    fix = page.get_by_role("button", name=re.compile("Fix: take 4 pieces"))
    fix.wait_for(timeout=SLOW)
    fix.click()
    expect(node(page, "halves")).not_to_contain_text("✖", timeout=SLOW)
    expect(handle(page, "halves")).to_have_count(4, timeout=SLOW)
    expect(edge_label(page, "e:halves.1->right")).to_have_text("1 · 2", timeout=SLOW)
