"""Every template on the canvas in a real headless Chromium, at 1280×800 and at 1920×1080, measured from the DOM:
no two node boxes overlap, no edge label sits under a node box or on another label, every node is inside the
fitted view, node text is at least 8 px on screen (its 12 px lines 9 px; templates up to 30 nodes), and no node's
text is cut (abbreviated with "…" or overflowing its face) without its whole text in a hover title. Six palette
clicks in a row each leave the new block fully in view.

Set LAYERLAB_SCREENSHOTS=1 to also write the README's canvas screenshots into assets/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from canvas_page import FRAME, LOAD_TIMEOUT, inside, keyed, node, overlap, settled
from shots import shot

from builder.share import encode_share
from builder.templates import load_template, template_names

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENS = {"1280x800": {"width": 1280, "height": 800}, "1920x1080": {"width": 1920, "height": 1080}}
PICTURES = {"resnet_mini": "canvas_resnet", "transformer_seq2seq": "canvas_transformer",
            "seq2seq_lstm": "canvas_seq2seq", "lenet5": "canvas_lenet5"}


# Lines of node faces whose text is cut (overflowing or abbreviated) and that have no hover title holding it.
CUT = """() => [...document.querySelectorAll('.ll-line')].flatMap((line) => {
  const text = line.textContent;
  const cut = line.scrollWidth > line.clientWidth + 1 || text.includes('…');
  if (!cut) return [];
  const titles = [line.title, ...[...line.querySelectorAll('[title]')].map((el) => el.title)].join(' ');
  const whole = text.includes('…') ? titles.length > 0 && !titles.endsWith('…') : titles.includes(text);
  return whole ? [] : [line.closest('.react-flow__node').dataset.id + ': ' + text];
})"""


def _uncut(page) -> list[str]:
    return page.frame(url=re.compile(r"layerlab_canvas")).evaluate(CUT)


@pytest.fixture
def screens(browser):
    """One page per screen size, side by side: each template loads in both at once (the server has a session per
    page), which halves the wall time of drawing every template twice."""
    contexts = {size: browser.new_context(viewport=viewport) for size, viewport in SCREENS.items()}
    pages = {size: context.new_page() for size, context in contexts.items()}
    for page in pages.values():
        page.set_default_timeout(30_000)
    yield pages
    for context in contexts.values():
        context.close()


def _check_drawing(name: str, size: str, graph, drawn: dict) -> None:
    frame = drawn["pane"]
    boxes = {n["id"]: n["box"] for n in drawn["nodes"]}
    assert set(boxes) == set(graph.node_ids), name
    for node_id, box in boxes.items():
        assert inside(box, frame), f"{name} at {size}: {node_id} is outside the view"
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert not overlap(boxes[a], boxes[b]), f"{name} at {size}: {a} overlaps {b}"
    for i, label in enumerate(drawn["labels"]):
        for node_id, box in boxes.items():
            assert not overlap(label["box"], box), f"{name} at {size}: label of {label['id']} under {node_id}"
        for other in drawn["labels"][i + 1:]:
            assert not overlap(label["box"], other["box"]), f"{name} at {size}: labels {label['id']}, {other['id']}"
    if len(graph.nodes) <= 30:  # the smallest text is 11 px: 8 px on screen at the layout's legible zoom
        assert drawn["text"] >= 8.0, f"{name} at {size}: node text {drawn['text']:.1f} px"


def test_every_template_is_drawn_whole_legible_and_without_overlaps(screens, app_url: str) -> None:
    for name in template_names():
        graph = load_template(name)
        for page in screens.values():  # both start loading before either is waited for
            page.goto(f"{app_url}/?design={encode_share(graph)}", wait_until="commit")
        for size, page in screens.items():
            node(page, graph.nodes[-1].id).wait_for(timeout=LOAD_TIMEOUT)
            _check_drawing(name, size, graph, settled(page))
            assert _uncut(page) == [], f"{name} at {size}: text cut without a hover title"
            if size == "1280x800" and name in PICTURES:
                shot(page, PICTURES[name])
    for size, page in screens.items():
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREENS[size]["width"]


def test_six_palette_clicks_each_leave_the_new_block_in_view(page, app_url: str) -> None:
    page.goto(app_url)
    keyed(page, "open_blank").click(timeout=LOAD_TIMEOUT)
    node(page, "input_1").click(timeout=LOAD_TIMEOUT)
    page.locator(".st-key-inspector h4").filter(has_text="input_1").wait_for()
    frame_box = page.locator(FRAME).bounding_box()
    frame = [frame_box["x"], frame_box["y"], frame_box["x"] + frame_box["width"], frame_box["y"] + frame_box["height"]]
    added = [("Linear", "linear_1"), ("ReLU", "relu_1"), ("Linear", "linear_2"), ("ReLU", "relu_2"),
             ("Tanh", "tanh_1"), ("Linear", "linear_3")]
    for type_name, new_id in added:
        keyed(page, f"palette_{type_name}").click()
        page.locator(".st-key-inspector h4").filter(has_text=new_id).wait_for()  # selected, ready for the next
        page.wait_for_timeout(400)  # the scroll into view is animated (150 ms)
        box = node(page, new_id).bounding_box()
        assert box is not None, new_id
        assert inside([box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]], frame), new_id
