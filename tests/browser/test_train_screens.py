"""The Train tab's pictures in a real headless Chromium: the live loss curve and decision boundary while a 2-D
model trains, the results of a short digits run (metrics, confusion matrix, predicted digits) and the
attention maps of a small seq2seq transformer.

Each test checks what the picture is about (the charts are there and hold data). Set LAYERLAB_SCREENSHOTS=1 to
also write train_live.png, train_results.png and attention.png (1280×800) into assets/screenshots/.
The server and browser come from tests/browser/conftest.py.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from builder.share import encode_share
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "assets" / "screenshots"
LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine

# Plotly keeps each figure on its graph div (the Streamlit theme wraps titles in <b>). While a fragment
# redraws, a stale copy of a chart may linger: the functions below take the newest / largest.
PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p => p.layout && p.data)"
TRAIN_POINTS = f"""(title) => {{
  const plots = {PLOTS}.filter(p => new RegExp(title).test((p.layout.title || {{}}).text || ''));
  return plots.length ? Math.max(...plots.map(p => (p.data[0].x || []).length)) : 0;
}}"""
# [rows, columns] of the first heatmap of the charts with that title, [0, 0] when there is none
HEATMAP_SIZE = f"""(title) => {{
  const plots = {PLOTS}.filter(p => new RegExp(title).test((p.layout.title || {{}}).text || ''));
  for (const p of plots) {{
    const map = p.data.find(d => d.type === 'heatmap');
    if (map && map.z && map.z.length) return [map.z.length, map.z[0].length];
  }}
  return [0, 0];
}}"""
# traces of one type in the charts with that title
TRACES = f"""([title, type]) => {{
  const plots = {PLOTS}.filter(p => new RegExp(title).test((p.layout.title || {{}}).text || ''));
  return plots.length ? Math.max(...plots.map(p => p.data.filter(d => d.type === type).length)) : 0;
}}"""


def shot(page, name: str, anchor) -> None:
    """Scroll ``anchor`` to the top of the view and write assets/screenshots/NAME.png (only when asked)."""
    if not os.environ.get("LAYERLAB_SCREENSHOTS"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    anchor.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(640, 5)  # no tooltip from the last hovered element
    page.wait_for_timeout(800)  # let Plotly finish its transitions
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def open_train_tab(page, url: str, template: str) -> None:
    page.goto(f"{url}/?design={encode_share(load_template(template))}")
    tab = page.get_by_role("tab", name="Train")
    tab.wait_for(timeout=LOAD_TIMEOUT)
    tab.click()
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_function(f"e => e.value === '{value}'", arg=field.element_handle())
    page.wait_for_timeout(500)  # the rerun that takes the new value


def start(page) -> None:
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()


def wait_for(page, script: str, arg, ok, what: str, timeout: float = 60.0):
    """Poll ``script(arg)`` until ``ok(value)``; fail with the last value and any exception on the page."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(script, arg)
        if ok(value):
            return value
        page.wait_for_timeout(250)
    errors = page.locator("[data-testid='stException']").all_inner_texts()
    raise AssertionError(f"{what}: got {value!r} after {timeout:.0f} s; exceptions shown: {errors}")


def run_label(page):
    """The '**Run:** template on dataset' line above the live view: the top of the screenshots."""
    return page.locator("[data-testid='stMarkdownContainer'] p").filter(has_text=re.compile(r"^Run: ")).first


def finished(page) -> None:
    """Wait until the run has ended and its results are drawn."""
    page.get_by_text(re.compile(r"finished: ")).first.wait_for(timeout=90_000)
    page.get_by_text("test accuracy").first.wait_for(timeout=60_000)


def test_live_loss_curve_and_decision_boundary(page, app_url: str) -> None:
    open_train_tab(page, app_url, "spirals_mlp")
    set_number(page, "Epochs", 2000)  # far longer than the test watches: Stop ends it
    start(page)
    first = wait_for(page, TRAIN_POINTS, "\\bLoss\\b", lambda n: n >= 5, "points on the loss curve")
    # The live decision boundary: a heatmap over the plane with one trace of points per spiral.
    rows, cols = wait_for(
        page, HEATMAP_SIZE, "Decision boundary", lambda s: s[0] > 0, "the live decision boundary"
    )
    wait_for(page, TRAIN_POINTS, "accuracy", lambda n: n >= 3, "points on the accuracy curve")
    shot(page, "train_live", run_label(page))  # early on: the boundary still taking the spirals' shape
    assert rows >= 20 and cols >= 20
    assert page.evaluate(TRACES, ["Decision boundary", "scatter"]) == 3  # spirals: 3 classes
    later = wait_for(page, TRAIN_POINTS, "\\bLoss\\b", lambda n: n > first, "a growing loss curve")
    assert later > first
    page.locator(".st-key-run_bar_stop").get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"stopped: stopped by request")).first.wait_for(timeout=30_000)


def test_digits_results_confusion_matrix_and_predictions(page, app_url: str) -> None:
    open_train_tab(page, app_url, "digits_cnn")
    set_number(page, "Epochs", 4)
    start(page)
    finished(page)
    matrix = wait_for(page, HEATMAP_SIZE, "Confusion matrix", lambda s: s[0] > 0, "the confusion matrix")
    assert matrix == [10, 10]
    # The predicted test digits: 16 small images, each titled with its predicted class.
    grid = page.locator(".js-plotly-plot").filter(has=page.locator(".heatmaplayer")).last
    grid.wait_for(timeout=30_000)
    titles = wait_for(
        page,
        f"() => Math.max(0, ...{PLOTS}.map(p => (p.layout.annotations || []).length))",
        None,
        lambda n: n >= 16,
        "titled digit predictions",
    )
    assert titles >= 16
    accuracy = page.locator("[data-testid='stMetric']").filter(has_text="test accuracy").first
    value = float(re.search(r"\d\.\d+", accuracy.inner_text()).group())
    assert value > 0.5, f"digits_cnn should learn something in 4 epochs, test accuracy {value}"
    shot(page, "train_results", accuracy)


def test_seq2seq_attention_maps(page, app_url: str) -> None:
    open_train_tab(page, app_url, "transformer_seq2seq")
    set_number(page, "n_samples", 1500)  # small data and few epochs: done in well under a minute
    set_number(page, "Epochs", 8)
    start(page)
    page.get_by_text(re.compile(r"finished: ")).first.wait_for(timeout=120_000)
    heading = page.get_by_text("Attention maps", exact=True)
    heading.wait_for(timeout=60_000)
    # Encoder self-attention, decoder self- and cross-attention: one tab each, 4 heads of 8×8 in each map.
    tabs = page.get_by_role("tab", name=re.compile(r"-attention$"))
    assert tabs.count() == 3, tabs.all_inner_texts()
    size = wait_for(page, HEATMAP_SIZE, "attention", lambda s: s[0] > 0, "an attention heatmap")
    assert size == [8, 8]
    assert page.evaluate(TRACES, ["attention", "heatmap"]) == 4
    # tabs are named by the layer's path in the canvas; reversing shows as an anti-diagonal
    page.get_by_role("tab", name="decoder › layers › cross_attn · cross-attention").click()
    shot(page, "attention", heading)
