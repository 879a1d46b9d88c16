"""Small traps a new user fell into (issue 22), in a real headless Chromium: clicking the node that is already
selected adds no undo step, and uploading the same project file again re-opens it (after edits) or says it is
already open (without them), instead of being silently ignored.
"""

from __future__ import annotations

import pytest
from canvas_page import LOAD_TIMEOUT, keyed, node
from playwright.sync_api import expect

from builder.project import to_json
from builder.share import encode_share
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "digits_mlp"


def undo_button(page):
    return keyed(page, "undo")  # the visible one (a rerun may briefly hold two)


def test_clicking_the_selected_node_adds_no_undo_step(page, app_url: str) -> None:
    graph = load_template(NAME)
    page.goto(f"{app_url}/?design={encode_share(graph)}")
    middle = graph.node_ids[2]
    node(page, middle).wait_for(timeout=LOAD_TIMEOUT)
    expect(undo_button(page)).to_be_disabled()
    for _ in range(3):  # the first click selects it, the others click a selected node
        node(page, middle).click()
        page.locator(".st-key-inspector h4").filter(has_text=middle).wait_for()
        page.wait_for_timeout(1500)  # the click's events have had their rerun
        expect(undo_button(page)).to_be_disabled()
    box = node(page, middle).bounding_box()  # a real drag, 80 px to the right: one undo step
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    for dx in (20, 40, 60, 80):
        page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
    page.mouse.up()
    expect(undo_button(page)).to_be_enabled()


def test_uploading_the_same_file_again_reopens_it(page, app_url: str, tmp_path) -> None:
    graph = load_template(NAME)
    path = tmp_path / "mine.json"
    path.write_text(to_json(graph))
    page.goto(app_url)
    page.get_by_role("tab", name="Templates").wait_for(timeout=LOAD_TIMEOUT)

    def upload() -> None:
        page.locator(".st-key-project_upload input[type='file']").set_input_files(str(path))

    upload()
    node(page, graph.nodes[-1].id).wait_for(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid='stToast']").filter(has_text="Loaded ‘mine.json’")).to_have_count(1)
    upload()  # unchanged since it was opened: said so, not silence
    expect(page.locator("[data-testid='stToast']").filter(has_text="already open")).to_have_count(1)
    node(page, graph.node_ids[2]).click()
    keyed(page, "palette_Tanh").click()
    node(page, "tanh_1").wait_for()
    upload()  # after an edit: the file as it is on disk again
    expect(node(page, "tanh_1")).to_have_count(0)
    node(page, graph.nodes[-1].id).wait_for()
    expect(undo_button(page)).to_be_enabled()  # re-opening is one undo step: the edit is not lost
