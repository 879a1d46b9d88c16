"""Deletes that stick, in a real headless Chromium: Backspace, Delete, the right-click menu and the inspector's button
each remove the block at once everywhere (chip, inspector, Summary, Code), a tab switch doesn't bring it back, and
Ctrl+Z / Ctrl+Shift+Z on the canvas undo and redo it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, edge, keyed, node
from playwright.sync_api import expect

from builder.edits import delete
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.common.style import human_count

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "digits_mlp"


def chip(page):
    return page.locator(".ll-chip")


def open_design(page, app_url: str) -> None:
    graph = load_template(NAME)
    page.goto(f"{app_url}/?design={encode_share(graph)}")
    node(page, graph.nodes[-1].id).wait_for(timeout=LOAD_TIMEOUT)


def expect_gone(page, victim: str, bridged: tuple[str, str]) -> None:
    """The chip, canvas, inspector, Summary and Code agree that ``victim`` is gone, and it stays gone."""
    after = validate(delete(load_template(NAME), [victim]))
    expect(node(page, victim)).to_have_count(0)
    expect(edge(page, *bridged)).to_have_count(1)  # one input, one output: bridged over
    expect(chip(page)).to_contain_text(human_count(after.total_params))
    expect(page.locator(".st-key-inspector")).not_to_contain_text(f"{victim} ·")
    page.get_by_role("tab", name="Summary").click()
    expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
    expect(page.locator("[data-testid='stMetric']").first).to_contain_text(f"{after.total_params:,}")
    page.get_by_role("tab", name="Code").click()
    expect(page.locator("[data-testid='stCode']").first).not_to_contain_text(f"self.{victim} ")
    page.get_by_role("tab", name="Build").click()
    node(page, bridged[0]).wait_for()
    expect(node(page, victim)).to_have_count(0)  # back on the Build tab: still gone


def select(page, node_id: str) -> None:
    node(page, node_id).click()
    page.locator(".st-key-inspector h4").filter(has_text=node_id).wait_for()


def undo_on_canvas(page, victim: str) -> None:
    canvas(page).locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    node(page, victim).wait_for()
    expect(chip(page)).to_contain_text(human_count(validate(load_template(NAME)).total_params))


@pytest.mark.parametrize("how", ["Backspace", "Delete", "menu", "inspector"])
def test_a_delete_sticks_everywhere_and_undo_brings_it_back(page, app_url: str, how: str) -> None:
    graph = load_template(NAME)
    victim = graph.node_ids[2]  # a block in the middle of the chain
    (before,) = [e.source for e in graph.in_edges(victim)]
    (after,) = [e.target for e in graph.out_edges(victim)]
    open_design(page, app_url)
    select(page, victim)
    if how in ("Backspace", "Delete"):
        page.keyboard.press(how)
    elif how == "menu":
        node(page, victim).click(button="right")
        canvas(page).get_by_role("button", name=re.compile("Delete")).click()
    else:
        keyed(page, f"delete_{victim}").click()
    expect_gone(page, victim, (before, after))
    undo_on_canvas(page, victim)
    expect(edge(page, before, victim)).to_have_count(1)
    page.keyboard.press("Control+Shift+z")  # redo: gone again
    expect(node(page, victim)).to_have_count(0)


def test_escape_deselects_and_a_selected_edge_deletes(page, app_url: str) -> None:
    graph = load_template(NAME)
    first = graph.edges[0]
    open_design(page, app_url)
    select(page, first.target)
    page.keyboard.press("Escape")
    page.locator(".st-key-inspector").filter(has_text="Click a node").wait_for()
    line = edge(page, first.source, first.target).locator("path.react-flow__edge-path").bounding_box()
    page.mouse.click(line["x"] + line["width"] / 2, line["y"] + line["height"] / 2)  # a vertical line: no width
    page.keyboard.press("Backspace")
    expect(edge(page, first.source, first.target)).to_have_count(0)
    expect(node(page, first.target)).to_have_count(1)  # only the edge went
    expect(chip(page)).to_contain_text("issue")


def test_the_sidebar_keeps_up_with_canvas_clicks(page, app_url: str, tmp_path) -> None:
    """Canvas events, palette clicks and the inspector's Delete rerun only the workspace and the palette's target
    line (ui.common.fragments): the line still names the selection, and Save project saves the design as it is now."""
    open_design(page, app_url)
    target = page.locator("[data-testid='stSidebar']")
    select(page, "fc2")
    expect(target).to_contain_text("New blocks go after ‘fc2’")
    keyed(page, "palette_Tanh").click()
    node(page, "tanh_1").wait_for()
    expect(target).to_contain_text("New blocks go after ‘tanh_1’")
    node(page, "tanh_1").focus()
    page.keyboard.press("Backspace")  # deleted on the canvas: nothing selected any more
    expect(node(page, "tanh_1")).to_have_count(0)
    expect(target).to_contain_text("Nothing selected")
    select(page, "fc2")
    keyed(page, "palette_Tanh").click()
    expect(target).to_contain_text("New blocks go after ‘tanh_")
    added = re.search(r"tanh_\d+", page.locator(".st-key-inspector h4").first.inner_text()).group(0)
    keyed(page, f"delete_{added}").click()  # the inspector's Delete reruns the workspace and this line, not the page
    expect(node(page, added)).to_have_count(0)
    expect(target).to_contain_text("Nothing selected")
    expect(keyed(page, "palette_Tanh")).to_be_visible()
    with page.expect_download() as info:
        keyed(page, "save_project").click()
    saved = json.loads(Path(info.value.path()).read_text())
    assert "tanh_1" not in {n["id"] for n in saved["nodes"]}
    assert {n["id"] for n in saved["nodes"]} == set(load_template(NAME).node_ids)


def test_a_closed_palette_category_opens_with_its_blocks(page, app_url: str) -> None:
    """Closed categories send no buttons (ui.design.palette): a click on one draws its blocks, which add as any
    other, and it stays open through the edit's rerun."""
    open_design(page, app_url)
    select(page, "fc2")
    pooling = page.locator("[data-testid='stSidebar'] summary").filter(has_text="Pooling")
    expect(page.locator(".st-key-palette_MaxPool1d")).to_have_count(0)
    pooling.click()
    keyed(page, "palette_MaxPool1d").click()
    node(page, "max_pool1d_1").wait_for()
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("New blocks go after ‘max_pool1d_1’")
    expect(keyed(page, "palette_AvgPool1d")).to_be_visible()  # still open after the edit
