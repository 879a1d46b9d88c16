"""The canvas and header read like a textbook at 1280×800, measured from the DOM of a real Chromium: an opened
residual block (resnet18's layer2) is one column with its skip path beside it and Add at the bottom, every node in
view and no edge label on another or on a node; the header's title, status chip and buttons never overlap, and a
toast covers none of them (its icon drawn by Streamlit's own icon font, not an emoji a machine may lack).
Text cut on a node face without a hover title is checked over every template in test_canvas_readability.py.
"""

from __future__ import annotations

import os

import pytest
from canvas_page import FRAME, LOAD_TIMEOUT, inside, keyed, node, overlap, settled
from shots import SHOTS

from builder.share import encode_share
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADER = ["h3.ll-title", ".ll-chip", ".st-key-undo button", ".st-key-redo button", ".st-key-auto_layout button"]


def test_opened_layer2_of_resnet18_reads_top_to_bottom_with_add_at_the_bottom(page, app_url: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template('resnet18'))}")
    node(page, "layer2").dblclick(timeout=LOAD_TIMEOUT)
    node(page, "downsample").wait_for()
    drawn = settled(page)
    boxes = {n["id"]: n["box"] for n in drawn["nodes"]}
    assert set(boxes) == {"x", "conv1", "bn1", "relu1", "conv2", "bn2", "downsample", "add", "relu2"}
    window = [0, 0, 1280, 800]
    for node_id, box in boxes.items():  # in the canvas's view, and the canvas within the window
        assert inside(box, drawn["pane"]), f"{node_id} is outside the view"
    frame = page.locator(FRAME).bounding_box()
    assert inside([frame["x"], frame["y"], frame["x"] + frame["width"], frame["y"] + frame["height"]], window), frame
    # Add is the lowest node but for the ReLU it feeds (BasicBlock: relu(bn2(...) + identity))
    assert boxes["add"][1] > max(b[3] for k, b in boxes.items() if k not in ("add", "relu2")) - 0.5
    assert boxes["relu2"][1] > boxes["add"][3]
    main = ["x", "conv1", "bn1", "relu1", "conv2", "bn2", "add"]
    assert all(boxes[a][3] < boxes[b][1] for a, b in zip(main, main[1:])), "the main path runs down"
    assert boxes["downsample"][0] >= boxes["bn2"][2], "the skip path beside the main path"
    labels = drawn["labels"]
    assert len(labels) == 9
    for i, label in enumerate(labels):
        for other in labels[i + 1:]:
            assert not overlap(label["box"], other["box"]), f"labels of {label['id']} and {other['id']} overlap"
        for node_id, box in boxes.items():
            assert not overlap(label["box"], box), f"label of {label['id']} under {node_id}"


def header_boxes(page) -> dict[str, list[float]]:
    out = {}
    for selector in HEADER:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        out[selector] = [box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]]
    return out


def assert_apart(boxes: dict[str, list[float]], when: str) -> None:
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not overlap(boxes[a], boxes[b]), f"{when}: {a} {boxes[a]} overlaps {b} {boxes[b]}"


def test_the_header_controls_never_overlap_and_a_toast_covers_none(page, app_url: str) -> None:
    page.goto(app_url)
    keyed(page, "open_blank").click(timeout=LOAD_TIMEOUT)
    node(page, "input_1").wait_for(timeout=LOAD_TIMEOUT)
    page.locator(".ll-chip").filter(has_text="blank").wait_for()
    assert_apart(header_boxes(page), "a blank design")

    page.get_by_role("tab", name="Templates").click()
    keyed(page, "open_resnet18").click()
    toast = page.locator("[data-testid='stToast']")
    toast.first.wait_for()

    def where() -> tuple[list[float], dict[str, list[float]]]:
        controls = header_boxes(page)
        tabs = page.get_by_role("tablist").first.bounding_box()
        controls["tabs"] = [tabs["x"], tabs["y"], tabs["x"] + tabs["width"], tabs["y"] + tabs["height"]]
        box = toast.first.bounding_box()
        return [box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]], controls

    # The toast slides in, and the page may still be scrolled from the gallery's click (CI once measured the tabs
    # 84 px up, under the toast) until the Build tab is drawn: measure where both rest, not a frame of the change
    now, previous = where(), None
    for _ in range(40):
        if now == previous:
            break
        page.wait_for_timeout(100)
        now, previous = where(), now
    shown, controls = now
    assert_apart({k: v for k, v in controls.items() if k != "tabs"}, "resnet18 opened")
    for name, control in controls.items():
        assert not overlap(shown, control), f"the toast {shown} covers {name} {control}"
    icon_font = toast.first.evaluate("""(t) => { const i = t.querySelector('[data-testid="stToastDynamicIcon"]');
        return i ? getComputedStyle(i).fontFamily : ''; }""")
    assert "Material" in icon_font, icon_font
    if os.environ.get("LAYERLAB_SCREENSHOTS"):
        page.screenshot(path=str(SHOTS / "header_toast.png"))
