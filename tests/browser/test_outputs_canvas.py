"""A block with several outputs on the canvas, in a real headless Chromium: an LSTM shows one handle per output,
a connection dragged from its second handle (h) reads h — the edge carries h's shape, the Linear after it gets it,
the code unpacks ``_, (h, _) = self.lstm(x)`` — and undo, redo and delete keep which output the edge reads.
"""

from __future__ import annotations

import re

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, node, settled
from playwright.sync_api import expect

from builder.graph import Edge, Graph, Node
from builder.share import encode_share

SLOW = 30_000  # ms: an expect waits as long as the page's other waits (a rerun under the suite's load is > 5 s)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def design() -> Graph:
    """An LSTM over a (7, 5) sequence and a Linear not yet connected."""
    return Graph("lstm_state", (
        Node("x", "Input", {"shape": [7, 5]}, pos=(0.0, 0.0)),
        Node("lstm", "LSTM", {"hidden_size": 16}, pos=(0.0, 120.0)),
        Node("fc", "Linear", {"out_features": 3}, pos=(260.0, 260.0)),
    ), (Edge("x", "lstm"),))


def handle(page, node_id: str, output: str | None = None, kind: str = "source"):
    found = f".react-flow__handle.{kind}[data-nodeid='{node_id}']"
    return canvas(page).locator(found + (f"[data-handleid='{output}']" if output else ""))


def edge_label(page, edge_id: str):
    return canvas(page).locator(f".ll-edge-label[data-edge='{edge_id}']")


def test_connecting_from_the_second_handle_of_an_lstm_reads_its_state(page, app_url: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(design())}")
    node(page, "fc").wait_for(timeout=LOAD_TIMEOUT)
    # One handle per output, named under the node.
    expect(handle(page, "lstm")).to_have_count(3, timeout=SLOW)
    expect(node(page, "lstm").locator(".ll-port")).to_have_text(["output", "h", "c"], timeout=SLOW)
    assert handle(page, "lstm").nth(1).get_attribute("data-handleid") == "h"

    settled(page)  # a drag computed while the view still fits the design misses its handle
    handle(page, "lstm").nth(1).drag_to(handle(page, "fc", kind="target"))
    label = edge_label(page, "e:lstm.h->fc")
    expect(label).to_have_text("h · 16", timeout=SLOW)  # the edge carries h's shape (N, 16), not the sequence's (N, 7, 16)
    expect(node(page, "fc")).to_contain_text("→ 3", timeout=SLOW)
    expect(page.locator(".ll-chip")).to_contain_text("valid", timeout=SLOW)

    page.get_by_role("tab", name="Code").click()
    code = page.locator("[data-testid='stCode']").first
    expect(code).to_contain_text("_, (h, _) = self.lstm(x)", timeout=SLOW)
    expect(code).to_contain_text("self.fc(h[-1])", timeout=SLOW)
    page.get_by_role("tab", name="Build").click()
    expect(edge_label(page, "e:lstm.h->fc")).to_have_text("h · 16", timeout=SLOW)  # the canvas is back and drawn

    # The header's Undo and Redo (the keyboard's Ctrl+Z is tested in test_canvas_edits; here, after the tab switch
    # remounted the canvas, a key press could reach the page before the canvas had focus in the full suite).
    page.get_by_role("button", name="Undo").click()
    expect(edge_label(page, "e:lstm.h->fc")).to_have_count(0, timeout=SLOW)
    page.get_by_role("button", name="Redo").click()
    expect(edge_label(page, "e:lstm.h->fc")).to_have_text("h · 16", timeout=SLOW)  # redo brings back the edge from h

    # Delete the Linear and undo: the edge comes back reading h.
    node(page, "fc").click(button="right")
    canvas(page).get_by_role("button", name=re.compile("Delete ‘fc’")).click()
    expect(node(page, "fc")).to_have_count(0, timeout=SLOW)
    page.get_by_role("button", name="Undo").click()
    expect(edge_label(page, "e:lstm.h->fc")).to_have_text("h · 16", timeout=SLOW)
