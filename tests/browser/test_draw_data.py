"""Draw your own data in a real Chromium: on xor_mlp, choose "drawn", clear the example, click blue points
bottom-left and orange points top-right (then paint a region with the lasso and undo it), go to the Code tab
and back (the drawing stays, and the training script carries it), train, and see a decision boundary that
puts each corner in its own colour.

Widgets are found by their Streamlit key (a widget with key K sits in an element of class ``st-key-K``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from shots import shot

from builder.share import encode_share
from builder.templates import load_template
from codegen.loader import import_source

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine
BOARD = "[class*='st-key-ll_data_drawn_board_'] .js-plotly-plot"
# (class, where to click as fractions of the plot area from its top-left): 5 blue bottom-left, 5 orange top-right
CLICKS = [(0, (0.15 + 0.06 * k, 0.85 - 0.05 * (k % 3))) for k in range(5)] + \
         [(1, (0.85 - 0.06 * k, 0.15 + 0.05 * (k % 3))) for k in range(5)]
# The drawn points on the board, per trace name (the grid, trace 0, has no name).
DRAWN = """() => {
  const p = document.querySelector("BOARD");
  if (!p || !p._fullData) return {};
  const out = {};
  for (const t of p._fullData.slice(1)) out[t.name] = t.x.length;  // decoded (data may hold typed-array specs)
  return out;
}""".replace("BOARD", BOARD)
BOUNDARY = """() => {
  const p = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && (p.layout.title.text || '').includes('Decision boundary')).pop();
  if (!p) return null;
  const z = p._fullData[0].z, n = z.length, m = z[0].length;
  return {bottom_left: z[Math.floor(n / 5)][Math.floor(m / 5)], top_right: z[n - 1 - Math.floor(n / 5)][m - 1 - Math.floor(m / 5)],
          points: p._fullData.slice(1).map(t => t.x.length).reduce((a, b) => a + b, 0)};
}"""


def _tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.wait_for(timeout=LOAD_TIMEOUT)
    tab.click()


def _choose_dataset(page, name: str) -> None:
    """Open the dataset list (again, if a late rerun of the first load closed it) and pick ``name``."""
    option = page.get_by_role("option", name=name, exact=True)
    for _ in range(10):
        page.locator(".st-key-ll_data_dataset").click()
        page.keyboard.type(name)
        try:
            option.wait_for(timeout=3_000)
        except Exception:  # the list closed before the option was drawn
            page.keyboard.press("Escape")
            continue
        option.click()
        return
    raise AssertionError(f"the dataset list never offered {name!r}")


def _drawn(page, want: dict[str, int], timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    shown: dict[str, int] = {}
    while time.monotonic() < deadline:
        shown = page.evaluate(DRAWN)
        if shown == want:
            return shown
        page.wait_for_timeout(200)
    raise AssertionError(f"the board shows {shown}, not {want}")


def _click_plane(page, fx: float, fy: float) -> None:
    area = page.locator(f"{BOARD} .nsewdrag").first.bounding_box()
    page.mouse.click(area["x"] + area["width"] * fx, area["y"] + area["height"] * fy)


def _paint_and_undo(page) -> None:
    """Paint: a lasso loop over the top-right quarter fills it with orange points; Undo takes the stroke back."""
    page.locator(".st-key-ll_data_drawn_tool").get_by_role("radio", name="paint").click()
    page.wait_for_function(f"() => (document.querySelector(\"{BOARD}\") || {{}})._fullLayout?.dragmode === 'lasso'")
    area = page.locator(f"{BOARD} .nsewdrag").first.bounding_box()
    loop = [(0.55, 0.1), (0.95, 0.1), (0.95, 0.45), (0.55, 0.45), (0.55, 0.12)]
    page.mouse.move(area["x"] + area["width"] * loop[0][0], area["y"] + area["height"] * loop[0][1])
    page.mouse.down()
    for fx, fy in loop[1:]:
        page.mouse.move(area["x"] + area["width"] * fx, area["y"] + area["height"] * fy, steps=8)
    page.mouse.up()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and page.evaluate(DRAWN).get("orange", 0) <= 5:
        page.wait_for_timeout(200)
    painted = page.evaluate(DRAWN)
    assert painted["blue"] == 5 and 10 < painted["orange"] <= 5 + 40, painted  # a region, thinned
    page.locator(".st-key-ll_data_drawn_undo button").click()
    _drawn(page, {"blue": 5, "orange": 5})


def test_clicked_points_of_two_classes_train_into_a_decision_boundary(page, app_url: str, tmp_path: Path) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template('xor_mlp'))}")
    _tab(page, "Train")
    page.get_by_text("The model fits gates").wait_for(timeout=LOAD_TIMEOUT)
    _choose_dataset(page, "drawn")
    _drawn(page, {"blue": 20, "orange": 20})  # the XOR example to start from
    page.locator(".st-key-ll_data_drawn_clear button").click()
    _drawn(page, {})
    page.get_by_text("Draw at least 6 points of at least 2 classes").wait_for()

    counts = {"blue": 0, "orange": 0}
    for label, (fx, fy) in CLICKS:
        name = ("blue", "orange")[label]
        page.locator(".st-key-ll_data_drawn_class").get_by_role("radio", name=name).click()
        page.wait_for_timeout(300)
        _click_plane(page, fx, fy)
        counts[name] += 1
        _drawn(page, {k: v for k, v in counts.items() if v})  # each click lands once, in its class
    _paint_and_undo(page)
    page.get_by_text("5 blue · 5 orange").wait_for()
    page.locator(BOARD).scroll_into_view_if_needed()
    shot(page, "draw_data")
    page.get_by_text("The model fits drawn").wait_for(timeout=30_000)

    _tab(page, "Code")  # the training script carries the points; the drawing survives the trip
    page.get_by_text("seed 0 · drawn)").wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="⬇ Training script").click()
    script = (tmp_path / "xor_train.py")
    info.value.save_as(script)
    module = import_source(script.read_text(), "drawn_script")
    assert module.DATASET == "drawn" and module.DATA_ARGS["labels"] == "0 0 0 0 0 1 1 1 1 1"
    assert len(module.DATA_ARGS["points"].split()) == 10
    _tab(page, "Train")
    _drawn(page, {"blue": 5, "orange": 5})

    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()
    deadline = time.monotonic() + 180
    boundary = None
    while time.monotonic() < deadline and not (boundary and page.get_by_text("finished: ").count()):
        page.wait_for_timeout(500)
        boundary = page.evaluate(BOUNDARY)
    assert boundary is not None, "no decision boundary after training"
    # The run's end redraws the tab with its results: the live boundary may be gone for a moment before the finished
    # run's own is drawn. Read and scroll to the one on the page once it is there.
    boundary = page.wait_for_function(f"({BOUNDARY})()", timeout=60_000).json_value()
    assert boundary["points"] > 0  # the drawn points on top of the boundary
    assert boundary["bottom_left"] < 0.5 < boundary["top_right"], boundary  # P(orange): low where blue was drawn
    page.wait_for_function("""() => {
        const p = Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(p => ((p.layout || {}).title || {}).text?.includes('Decision boundary')).pop();
        if (!p) return false;
        p.scrollIntoView({block: 'center'});
        return true;
    }""", timeout=60_000)
    shot(page, "draw_data_boundary")
