"""Look inside in a real headless Chromium: train briefly, click a node on the canvas, see its output.

digits_cnn's conv1 shows 16 feature maps of the chosen digit; lstm_text's LSTM shows a (T, hidden) heatmap;
a Transformer's attention layers show one heatmap per head. Set LAYERLAB_SCREENSHOTS=1 to also write
look_inside_conv.png, look_inside_lstm.png and look_inside_attention.png into assets/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from shots import SHOTS

from builder.graph import Graph
from builder.project import load_project
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from codegen.loader import build_model, example_batch
from codegen.source import generate_model
from training.attention import label_of, layer_labels
from training.inspect import inspect_example

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000
FRAME = "iframe[title*='layerlab_canvas']"  # ui.design.canvas's component
PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p => p.layout && p.data)"
# [number of heatmaps, rows, columns of the first] in the newest chart whose title matches
CHARTS = f"(title) => {PLOTS}.filter(p => new RegExp(title).test((p.layout.title || {{}}).text || '')).length"
HEATMAPS = f"""(title) => {{
  const plots = {PLOTS}.filter(p => new RegExp(title).test((p.layout.title || {{}}).text || ''));
  if (!plots.length) return [0, 0, 0];
  const maps = plots[plots.length - 1].data.filter(d => d.type === 'heatmap');
  return maps.length ? [maps.length, maps[0].z.length, maps[0].z[0].length] : [0, 0, 0];
}}"""


def _train(page, url: str, design: str | Graph, epochs: int) -> None:
    """Open the design (a template name or a graph), train it a few epochs in the Train tab, wait for the end."""
    graph = load_template(design) if isinstance(design, str) else design
    page.goto(f"{url}/?design={encode_share(graph)}")
    page.get_by_role("tab", name="Train").click(timeout=LOAD_TIMEOUT)
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)
    field = page.get_by_role("spinbutton", name="Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    page.wait_for_function(f"e => e.value === '{epochs}'", arg=field.element_handle())
    page.wait_for_timeout(500)
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()
    page.get_by_text(re.compile(r"finished: trained")).first.wait_for(timeout=240_000)


def _look(page, node_id: str, title: str, count: int) -> list[int]:
    """Click ``node_id`` on the canvas and wait for a look-inside chart titled ``title`` with ``count`` maps."""
    page.get_by_role("tab", name="Build").click()
    page.frame_locator(FRAME).locator(f".react-flow__node[data-id='{node_id}']").click(timeout=LOAD_TIMEOUT)
    page.get_by_text("Look inside (trained model)").wait_for(timeout=60_000)
    page.wait_for_function(f"t => ({HEATMAPS})(t)[0] >= {count}", arg=title, timeout=60_000)
    return page.evaluate(HEATMAPS, title)


def _shot(page, name: str, title: str) -> None:
    """The page with the chart titled ``title`` scrolled into the inspector's view (only when asked)."""
    if os.environ.get("LAYERLAB_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate(f"t => {PLOTS}.filter(p => new RegExp(t).test(p.layout.title.text || '')).pop()"
                      ".scrollIntoView({block: 'center'})", title)
        page.mouse.move(640, 5)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_conv1_of_digits_cnn_shows_16_feature_maps_that_follow_the_example(page, app_url: str) -> None:
    _train(page, app_url, "digits_cnn", epochs=2)
    count, rows, cols = _look(page, "conv1", "conv1 16×8×8", 16)
    assert (count, rows, cols) == (16, 8, 8)
    page.get_by_text(re.compile(r"true class \d")).first.wait_for()
    before = page.evaluate(f"() => {PLOTS}.filter(p => /conv1/.test(p.layout.title.text))"
                           ".pop().data[0].z.flat().join()")
    example = page.get_by_role("spinbutton", name="Test example")
    example.fill("7")
    example.press("Enter")
    page.wait_for_function(
        f"b => {PLOTS}.filter(p => /conv1/.test(p.layout.title.text)).pop().data[0].z.flat().join() !== b",
        arg=before, timeout=30_000)
    _shot(page, "look_inside_conv", "conv1")


def test_lstm_of_lstm_text_shows_a_time_by_hidden_heatmap(page, app_url: str) -> None:
    result = validate(load_template("lstm_text"))
    lstm = next(n for n in result.order if result.nodes[n].type == "LSTM" and len(result.nodes[n].output.shape) == 2)
    steps, hidden = result.nodes[lstm].output.shape
    _train(page, app_url, "lstm_text", epochs=1)
    assert _look(page, lstm, f"{lstm} {steps}×{hidden}", 1) == [1, steps, hidden]
    _shot(page, "look_inside_lstm", lstm)


def test_transformer_attention_layers_show_one_heatmap_per_head(page, app_url: str) -> None:
    # Layers drawn one by one (format 1): the inspector does not open block instances yet.
    graph = load_project((ROOT / "tests" / "fixtures" / "v1_templates" / "transformer_classifier.json").read_bytes())
    result = validate(graph)
    source = generate_model(graph, result)
    # Which attention layers each top-level node holds, and their heads, from the model's own structure.
    maps = inspect_example(build_model(source), source, result, example_batch(source, 1)).attention
    tops = [n for n in result.order if n in maps]
    paths = layer_labels(graph)  # titles name each layer by its canvas path (encoder1 › self_attn)
    assert tops and sum(len(maps[n]) for n in tops) >= 2  # at least two layers of attention
    _train(page, app_url, graph, epochs=1)
    for top in tops:
        for amap in maps[top]:
            title = re.escape(f"{label_of(amap.node, paths)} · {amap.kind}-attention · head ")
            count, rows, cols = _look(page, top, title, 1)
            assert count == 1 and rows == cols == amap.weights.shape[-1]
            page.wait_for_function(f"t => ({CHARTS})(t) >= {amap.heads}", arg=title)
            assert page.evaluate(CHARTS, title) >= amap.heads  # one chart per head (stale redraws may linger)
    _shot(page, "look_inside_attention", re.escape(f"{label_of(maps[tops[-1]][-1].node, paths)} · "))


def test_gpt_tiny_block_shows_the_attention_of_each_copy_inside_it(page, app_url: str) -> None:
    """gpt_tiny's attention lives only inside its repeated block: the block's look-inside shows every copy,
    each titled by its canvas path, 17×17 per head."""
    _train(page, app_url, "gpt_tiny", epochs=1)
    for copy in (0, 1):
        title = re.escape(f"blocks[{copy}] › self_attn · self-attention · head ")
        count, rows, cols = _look(page, "blocks", title, 1)
        assert count == 1 and rows == cols == 17
        page.wait_for_function(f"t => ({CHARTS})(t) >= 4", arg=title)  # one chart per head
