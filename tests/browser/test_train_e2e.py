"""Training in a real headless Chromium against the real app: the loss chart grows while a run trains, Stop
ends it, the run is in the history; and closing the page stops its worker within 5 seconds.

The server and browser come from tests/browser/conftest.py; the server inherits LAYERLAB_DATA_DIR from
tests/conftest.py, so this process can read the run store the app writes.
"""

from __future__ import annotations

import re
import time

import pytest

from builder.share import encode_share
from builder.templates import load_template
from training.runstore import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine
CLOSE_STOP_LIMIT = 5.0  # seconds from closing the page to the worker having stopped

# Points of the train-loss trace of the chart titled "Loss" (Plotly keeps the figure on its graph div; the
# Streamlit theme wraps titles in <b>). While the fragment redraws, a stale copy may linger: take the newest.
LOSS_POINTS = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && /\\bLoss\\b/.test(p.layout.title.text || ''));
  return plots.length ? Math.max(...plots.map(p => (p.data[0].x || []).length)) : 0;
}"""


def open_train_tab(page, url: str, template: str = "xor_mlp") -> None:
    page.goto(f"{url}/?design={encode_share(load_template(template))}")
    tab = page.get_by_role("tab", name="Train")
    tab.wait_for(timeout=LOAD_TIMEOUT)
    tab.click()
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)


def start(page, epochs: int = 5000) -> None:
    """Set the epochs (far more than a test waits for: Stop or closing the page ends the run) and start."""
    field = page.get_by_label("Epochs", exact=True)  # not its "Help for Epochs" button
    field.fill(str(epochs))
    field.press("Enter")
    page.wait_for_function(f"e => e.value === '{epochs}'", arg=field.element_handle())
    page.wait_for_timeout(500)  # the rerun that takes the new value
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()


def loss_points(page, at_least: int, timeout: float = 60.0) -> int:
    """Wait until the train-loss trace has ``at_least`` points; return how many it has."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = page.evaluate(LOSS_POINTS)
        if count >= at_least:
            return count
        page.wait_for_timeout(200)
    raise AssertionError(f"the loss chart had {count} points, expected at least {at_least}")


def running_runs(store: RunStore, name: str, since: float) -> list:
    return [
        r
        for r in store.list_runs(limit=20)
        if r.name == name and r.created >= since and r.status == "running"
    ]


def test_loss_chart_grows_then_stop_and_history(page, app_url: str) -> None:
    open_train_tab(page, app_url)
    start(page)
    first = loss_points(page, at_least=3)
    page.wait_for_timeout(2500)  # the fragment redraws twice a second while the run trains
    second = loss_points(page, at_least=first + 1, timeout=30)
    assert second > first
    page.locator(".st-key-run_bar_stop").get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"stopped: stopped by request")).first.wait_for(timeout=30_000)
    # The run's end reruns the page once to draw the results; after that nothing may change any more.
    page.get_by_text("test accuracy").first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    after_stop = page.evaluate(LOSS_POINTS)
    page.wait_for_timeout(1500)
    assert page.evaluate(LOSS_POINTS) == after_stop, "the chart must stop changing once the run stopped"
    history = page.locator("[data-testid='stExpander'] summary").filter(has_text="Run history")
    try:
        history.click(timeout=60_000)
    except Exception:
        errors = page.locator("[data-testid='stException']").all_inner_texts()
        raise AssertionError(f"no Run history on the page; exceptions shown: {errors}") from None
    chosen = page.locator("[data-testid='stMultiSelect']").filter(has_text="Compare runs")
    chosen.get_by_text(re.compile(r"xor_mlp · gates")).first.wait_for(timeout=30_000)
    assert (
        "stopped" in page.locator("[data-testid='stExpander']")  # not the fine-tune box, whose text names it
        .filter(has=page.locator("summary", has_text="Run history")).inner_text()
        or RunStore().list_runs(limit=1)[0].status == "stopped"
    )


def test_closing_the_page_stops_the_worker(browser, app_url: str) -> None:
    store = RunStore()
    since = time.time()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_train_tab(page, app_url)
    start(page)
    loss_points(page, at_least=2)
    runs = running_runs(store, "xor_mlp", since)
    assert len(runs) == 1, [r.summary() for r in store.list_runs(limit=5)]
    run_id = runs[0].id
    closed = time.monotonic()
    context.close()  # the tab goes away: its websocket closes, its fragment stops polling
    while time.monotonic() - closed < 30:
        if store.get_run(run_id).status != "running":
            break
        time.sleep(0.1)
    took = time.monotonic() - closed
    print(f"worker stopped {took:.2f} s after the page closed")
    record = store.get_run(run_id)
    assert record.status == "stopped", record.summary()
    assert took <= CLOSE_STOP_LIMIT, f"the worker stopped {took:.1f} s after the page closed"
