"""An ONNX file uploaded in the real app (Chromium) opens on the canvas as blocks made of blocks: the exported GPT
is tokens → positions → its decoder block ×2 → norm → head, verified against onnxruntime, and the block opens to show
the MultiheadAttention read out of the file's 150 attention ops."""

from __future__ import annotations

import pytest
from canvas_page import LOAD_TIMEOUT, canvas, node, settled
from playwright.sync_api import expect

from tests.test_import_onnx import exported

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_uploaded_onnx_gpt_opens_as_blocks_and_its_block_opens(page, app_url: str, tmp_path) -> None:
    path = tmp_path / "gpt.onnx"
    path.write_bytes(exported("gpt"))
    page.goto(app_url)
    page.get_by_role("tab", name="Templates").wait_for(timeout=LOAD_TIMEOUT)
    page.locator(".st-key-project_upload input[type='file']").set_input_files(str(path))
    node(page, "head").wait_for(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid='stAlert']").filter(has_text="gpt.onnx")).to_contain_text(
        "verified — same outputs as onnxruntime")
    drawn = settled(page)["nodes"]
    assert len(drawn) == 6
    expect(node(page, "blocks")).to_contain_text("×2")
    expect(node(page, "positions")).to_contain_text("PositionalEncoding")
    node(page, "blocks").dblclick()
    node(page, "attn").wait_for()
    expect(node(page, "attn")).to_contain_text("MultiheadAttention")
    expect(canvas(page).locator(".react-flow__node")).to_have_count(7)  # the port and six layers
