"""Locators and DOM measurements of LayerLab's canvas (ui/canvas_frontend) shared by the browser tests and bench/."""

from __future__ import annotations

import re

FRAME = "iframe[title='ui.design.canvas.layerlab_canvas']"
LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine

# Boxes of nodes and edge labels and the smallest node text on screen, measured inside the canvas's frame.
MEASURE = """() => {
  const rect = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const nodes = [...document.querySelectorAll('.react-flow__node')].map((el) => ({id: el.dataset.id, box: rect(el)}));
  const labels = [...document.querySelectorAll('.ll-edge-label')].map((el) => ({id: el.dataset.edge, box: rect(el)}));
  let text = 1e9;
  document.querySelectorAll('.ll-face span').forEach((el) => {
    if (!el.textContent.trim()) return;
    const size = parseFloat(getComputedStyle(el).fontSize);
    text = Math.min(text, size * el.getBoundingClientRect().height / el.offsetHeight);
  });
  const pane = rect(document.querySelector('.react-flow'));
  return {nodes, labels, text, pane};
}"""


def canvas(page):
    return page.frame_locator(FRAME)


def node(page, node_id: str):
    return canvas(page).locator(f".react-flow__node[data-id='{node_id}']")


def edge(page, source: str, target: str):
    return canvas(page).locator(f".react-flow__edge[data-testid='rf__edge-e:{source}->{target}']")


def keyed(page, key: str):
    """A Streamlit widget by its key (Streamlit gives it the class st-key-KEY)."""
    return page.locator(f".st-key-{key} button:visible").first


def measure(page) -> dict:
    return page.frame(url=re.compile(r"layerlab_canvas")).evaluate(MEASURE)


def overlap(a, b, slack: float = 0.5) -> bool:
    return not (a[2] <= b[0] + slack or b[2] <= a[0] + slack or a[3] <= b[1] + slack or b[3] <= a[1] + slack)


def inside(box, frame, slack: float = 1.0) -> bool:
    return (box[0] >= frame[0] - slack and box[1] >= frame[1] - slack and box[2] <= frame[2] + slack
            and box[3] <= frame[3] + slack)


def settled(page, rounds: int = 3) -> dict:
    """The canvas once its viewport stops changing (it fits after a new design arrives)."""
    last = None
    for _ in range(40):
        now = measure(page)
        key = [n["box"] for n in now["nodes"]]
        if key and key == last:
            rounds -= 1
            if rounds == 0:
                return now
        last = key
        page.wait_for_timeout(150)
    return measure(page)
