"""End to end in a real headless Chromium: templates, palette, dragging an edge, an error and its fix, the code
panel's download, save and reload, share links.

Set LAYERLAB_SCREENSHOTS=1 to also write the README's screenshots into assets/screenshots/.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, edge, keyed, node, settled
from shots import shot

from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from ui.common.style import short_shape

pytestmark = [pytest.mark.browser, pytest.mark.slow]



def open_app(page, url: str, query: str = "") -> None:
    page.goto(url + query)
    page.get_by_role("tab", name="Templates").wait_for(timeout=LOAD_TIMEOUT)


def edge_label(page, source: str, target: str):
    return canvas(page).locator(f".ll-edge-label[data-edge='e:{source}->{target}']")


def chip(page):
    return page.locator(".ll-chip")


def expect_text(locator, pattern: str, timeout: int = 30_000) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(re.compile(pattern), timeout=timeout)


def open_template(page, name: str) -> None:
    keyed(page, f"open_{name}").click()
    node(page, load_template(name).nodes[0].id).wait_for(timeout=LOAD_TIMEOUT)


def test_template_shapes_and_palette(page, app_url: str) -> None:
    open_app(page, app_url)
    shot(page, "gallery")
    open_template(page, "digits_cnn")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no horizontal scrolling
    result = validate(load_template("digits_cnn"))
    # The edge out of conv1 carries conv1's output shape, and the node shows it too.
    conv1 = short_shape(result.nodes["conv1"].output)
    expect_text(edge_label(page, "conv1", "relu1"), re.escape(conv1))
    expect_text(node(page, "conv1"), re.escape(f"→ {conv1}"))
    expect_text(chip(page), "valid")
    node(page, "fc2").click()
    expect_text(page.locator(".st-key-inspector h4"), "fc2 · Linear")
    keyed(page, "palette_Softmax").click()
    node(page, "softmax_1").wait_for()
    expect_text(node(page, "softmax_1"), re.escape(f"→ {short_shape(result.nodes['fc2'].output)}"))
    expect_text(page.locator(".st-key-inspector h4"), "softmax_1 · Softmax")  # the new block is selected, ready for the next click
    shot(page, "palette_add")


def test_drag_edge_error_and_fix(page, app_url: str) -> None:
    open_app(page, app_url)
    keyed(page, "open_blank").click()
    node(page, "input_1").wait_for(timeout=LOAD_TIMEOUT)
    search = page.locator(".st-key-palette_search input")
    search.fill("word vectors")  # an alias: the palette searches type, doc line and aliases
    search.press("Enter")
    keyed(page, "palette_Embedding").click()
    node(page, "embedding_1").wait_for()
    expect_text(chip(page), "1 issue")
    settled(page)  # the view glides to show the new block: a drag computed mid-glide misses its handle
    source = canvas(page).locator(".react-flow__handle.source[data-nodeid='input_1']")
    target = canvas(page).locator(".react-flow__handle.target[data-nodeid='embedding_1']")
    source.drag_to(target)
    edge(page, "input_1", "embedding_1").wait_for(state="attached")  # a vertical line has no width
    # The connection is kept, shown red, and the node says what is wrong.
    expect_text(node(page, "embedding_1"), "token ids")
    node(page, "embedding_1").click()
    fix = page.get_by_role("button", name=re.compile("Fix: make the Input token ids"))
    fix.wait_for()
    shot(page, "error_and_fix")
    fix.click()
    expect_text(chip(page), "valid")
    expect_text(node(page, "embedding_1"), re.escape("→ 2×32"))
    assert "✖" not in node(page, "embedding_1").inner_text()
    expect_text(edge_label(page, "input_1", "embedding_1"), re.escape("2 ids"))  # the edge now carries token ids
    shot(page, "fixed")


def test_code_download_save_and_reload(page, app_url: str, tmp_path: Path) -> None:
    open_app(page, app_url)
    open_template(page, "digits_mlp")
    page.get_by_role("tab", name="Summary").click()
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    expect_text(page.locator("[data-testid='stMetric']").first, f"{validate(load_template('digits_mlp')).total_params:,}")
    shot(page, "summary")
    page.get_by_role("tab", name="Code").click()
    expect_text(page.locator("[data-testid='stCode']").first, "class ")
    shot(page, "code")
    with page.expect_download() as info:
        keyed(page, "dl_py").click()
    code = Path(info.value.path()).read_text()
    ast.parse(code)
    assert "nn.Linear" in code
    with page.expect_download() as info:
        keyed(page, "dl_script").click()  # the runnable training script from export.files
    script = Path(info.value.path()).read_text()
    ast.parse(script)
    assert "argparse" in script
    with page.expect_download() as info:
        keyed(page, "save_project").click()
    saved = tmp_path / "digits_mlp.json"
    saved.write_bytes(Path(info.value.path()).read_bytes())
    assert json.loads(saved.read_text())["name"] == "digits_mlp"
    page.get_by_role("tab", name="Templates").click()
    keyed(page, "open_blank").click()
    expect_text(page.locator("h3"), "my_model")
    page.locator(".st-key-project_upload input[type='file']").set_input_files(str(saved))
    expect_text(page.locator("h3"), "digits_mlp")
    expect_text(chip(page), "valid")
    broken = tmp_path / "broken.json"
    broken.write_text('{"layerlab": 1, "nodes": [{"id": "a", "type": "Conv3x"}]}')
    page.locator(".st-key-project_upload input[type='file']").set_input_files(str(broken))
    alert = page.locator("[data-testid='stAlert']").filter(has_text="broken.json")
    expect_text(alert, "unknown block type 'Conv3x'")
    expect_text(page.locator("h3"), "digits_mlp")  # the design on screen is kept


def test_share_links(page, app_url: str) -> None:
    link = encode_share(load_template("lstm_text"))
    open_app(page, app_url, f"/?design={link}")
    expect_text(page.locator("h3"), "lstm_text")
    node(page, "out").wait_for(timeout=LOAD_TIMEOUT)
    node(page, "lstm1").click()
    expect_text(page.locator(".st-key-inspector h4"), "lstm1 · LSTM")
    shot(page, "canvas")
    open_app(page, app_url, "/?design=1.this-is-not-a-design")
    expect_text(page.locator("[data-testid='stAlert']").first, "could not be opened")
    expect_text(page.locator("h3"), "my_model")


def _create_from_pane(page, text: str, x: int, y: int) -> None:
    canvas(page).locator(".react-flow__pane").click(button="right", position={"x": x, "y": y})
    canvas(page).locator(".ll-menu input").fill(text)
    canvas(page).locator(".ll-menu button").filter(has_text="Add").click()


def test_pane_menu_creates_a_block_by_name(page, app_url: str) -> None:
    open_app(page, app_url)
    keyed(page, "open_blank").click()
    node(page, "input_1").wait_for(timeout=LOAD_TIMEOUT)
    _create_from_pane(page, "Linear", 60, 60)  # a corner: the fitted Input sits in the middle
    expect_text(node(page, "linear_1"), "Linear")
    _create_from_pane(page, "Conv2x", 60, 480)
    expect_text(page.locator("[data-testid='stAlert']").filter(has_text="not a block type"), "Did you mean Conv2d")
    from playwright.sync_api import expect

    expect(canvas(page).locator(".react-flow__node")).to_have_count(2)  # the free-text node is gone again
