"""A classroom in a real headless Chromium: two students side by side on one server never see each other's
design, code, upload, run or charts (the teacher's "show all runs" is an explicit opt-in); and a lesson link
opens read-only, then "Make my own copy" gives an editable design.

The server and browser come from tests/browser/conftest.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from builder.project import dump_project
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAME = "iframe[title='ui.design.canvas.layerlab_canvas']"  # LayerLab's own canvas component (ui/canvas_frontend)
LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine
LOSS_CHARTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(p => p.layout && p.layout.title && /\\bLoss\\b/.test(p.layout.title.text || '')).length"""


@pytest.fixture
def two_pages(browser, app_url: str) -> Iterator[tuple[object, object]]:
    """Two browser contexts (two students: separate cookies, storage and websockets) on one server."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.set_default_timeout(30_000)
    yield pages[0], pages[1]
    for context in contexts:
        context.close()


def canvas(page):
    return page.frame_locator(FRAME)


def node_ids(page) -> set[str]:
    nodes = canvas(page).locator(".react-flow__node")
    nodes.first.wait_for(timeout=LOAD_TIMEOUT)
    return {nodes.nth(k).get_attribute("data-id") for k in range(nodes.count())}


def keyed(page, key: str):
    """A Streamlit widget's button by its key (Streamlit gives the element the class st-key-KEY)."""
    return page.locator(f".st-key-{key} button:visible").first


def open_template(page, url: str, name: str) -> None:
    page.goto(url)
    keyed(page, f"open_{name}").click(timeout=LOAD_TIMEOUT)
    canvas(page).locator(f".react-flow__node[data-id='{load_template(name).nodes[-1].id}']").wait_for(
        timeout=LOAD_TIMEOUT)


def add_block(page, type_name: str, node_id: str, after: str | None = None) -> None:
    """A palette click; with ``after``, first click that node so the block is wired in after it."""
    if after is not None:
        canvas(page).locator(f".react-flow__node[data-id='{after}']").click()
        page.get_by_text(f"New blocks go after ‘{after}’").wait_for(timeout=LOAD_TIMEOUT)
    keyed(page, f"palette_{type_name}").click()
    canvas(page).locator(f".react-flow__node[data-id='{node_id}']").wait_for(timeout=LOAD_TIMEOUT)


def code_text(page) -> str:
    page.get_by_role("tab", name="Code").click()
    code = page.locator("[data-testid='stCode']").filter(has_text="class ").first
    code.wait_for(timeout=LOAD_TIMEOUT)
    return code.inner_text()


def offset(a: dict, b: dict) -> tuple[int, int]:
    return round(b["x"] - a["x"]), round(b["y"] - a["y"])


def open_history(page) -> object:
    # the expander titled so (the fine-tune box's text names the run history too)
    history = page.locator("[data-testid='stExpander']").filter(has=page.locator("summary", has_text="Run history"))
    history.locator("summary").click(timeout=LOAD_TIMEOUT)
    return history


def test_two_students_never_see_each_others_work(two_pages, app_url: str) -> None:
    from playwright.sync_api import expect

    alice, bob = two_pages
    open_template(alice, app_url, "xor_mlp")
    open_template(bob, app_url, "perceptron")
    add_block(alice, "ReLU", "relu_1", after="act")  # wired in, so the design stays valid
    add_block(bob, "Sigmoid", "sigmoid_1", after="x")
    assert node_ids(alice) == {"x", "hidden", "act", "out", "relu_1"}
    assert node_ids(bob) == {"x", "out", "sigmoid_1"}

    alice_code, bob_code = code_text(alice), code_text(bob)
    assert "class XorMlp" in alice_code and "Perceptron" not in alice_code
    assert "class Perceptron" in bob_code and "XorMlp" not in bob_code

    # Alice loads her own project file (a renamed xor_mlp) and trains it.
    alice.get_by_role("tab", name="Build").click()
    project = {**dump_project(load_template("xor_mlp")), "name": "alice_xor"}
    alice.locator(".st-key-project_upload input[type='file']").set_input_files(
        files=[{"name": "alice.json", "mimeType": "application/json", "buffer": json.dumps(project).encode()}])
    alice.get_by_text("Loaded ‘alice.json’").wait_for(timeout=LOAD_TIMEOUT)
    alice.get_by_role("tab", name="Train").click()
    epochs = alice.get_by_label("Epochs", exact=True)  # not its "Help for Epochs" button
    epochs.wait_for(timeout=LOAD_TIMEOUT)
    epochs.fill("30")
    epochs.press("Enter")
    alice.wait_for_timeout(700)  # the rerun that takes the new value
    start = alice.get_by_role("button", name="▶ Start training")
    expect(start).to_be_enabled(timeout=60_000)  # re-resolved on each try: Streamlit redraws the button
    start.click()
    alice.get_by_text(re.compile(r"finished")).first.wait_for(timeout=120_000)
    history = open_history(alice)
    history.get_by_text(re.compile(r"alice_xor · gates")).first.wait_for(timeout=30_000)

    # Bob's page: still his design, no upload, no charts, and by default none of Alice's runs.
    bob.get_by_role("tab", name="Build").click()
    assert node_ids(bob) == {"x", "out", "sigmoid_1"}
    bob.get_by_role("tab", name="Train").click()
    bob.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)
    assert bob.evaluate(LOSS_CHARTS) == 0
    history = open_history(bob)
    history.get_by_text("No runs in this session yet").wait_for(timeout=30_000)
    body = bob.locator("body").inner_text()
    assert "alice" not in body.lower(), "Bob's page shows something of Alice's"
    # The teacher's view is an explicit switch.
    history.get_by_text("Show all runs on this server").click()
    history.get_by_text(re.compile(r"alice_xor · gates")).first.wait_for(timeout=30_000)


def test_lesson_link_is_read_only_until_copied(page, app_url: str) -> None:
    page.goto(f"{app_url}/?lesson=cifar_cnn")
    page.get_by_text("Lesson: cifar_cnn").wait_for(timeout=LOAD_TIMEOUT)
    template = load_template("cifar_cnn")
    assert node_ids(page) == {n.id for n in template.nodes}
    assert page.locator(".st-key-palette_Linear").count() == 0  # no palette, no inspector
    conv, other = (canvas(page).locator(f".react-flow__node[data-id='{i}']") for i in ("conv1", "fc2"))
    before = conv.bounding_box()
    gap = offset(before, other.bounding_box())
    page.mouse.move(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
    page.mouse.down()
    page.mouse.move(before["x"] + 60, before["y"] + 140, steps=12)
    page.mouse.up()
    page.wait_for_timeout(800)
    # Dragging a lesson node may pan the whole view, but never moves one node against the others.
    assert offset(conv.bounding_box(), other.bounding_box()) == gap, "a lesson node was moved"
    assert canvas(page).locator(".react-flow__node.nopan").count() == 0  # React Flow marks draggable nodes "nopan"

    page.get_by_role("button", name="Make my own copy").click()
    page.get_by_text("your own copy of ‘cifar_cnn’").wait_for(timeout=LOAD_TIMEOUT)
    page.wait_for_function("() => !location.search.includes('lesson=')", timeout=30_000)
    assert node_ids(page) == {n.id for n in template.nodes}
    add_block(page, "Linear", "linear_1")
    assert node_ids(page) == {n.id for n in template.nodes} | {"linear_1"}
    assert canvas(page).locator(".react-flow__node.nopan").count() == len(template.nodes) + 1
