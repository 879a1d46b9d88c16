"""Stop never freezes the page: 30 runs in a row, each stopped a moment after it starts, while two busy loops
keep both cores of the machine loaded. Each Stop must be shown as stopped within 2 s of the click, and the page
must be usable again (Start enabled, no script run hanging) before the next run.

Users saw the page stay greyed in "training — stopping…" for minutes after about one Stop in three: the run had
ended, but the browser's last poll of the live view was dropped by the server (its fragment was gone) and the
page waited for an answer that never came. The server and browser come from tests/browser/conftest.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from builder.share import encode_share
from builder.templates import load_template
from tests.browser.conftest import script_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine
RUNS = int(os.environ.get("LAYERLAB_STOP_RUNS", "30"))
# Seconds from the Stop click to "stopped" on screen (the page's own clock): the goal, 2 s. Runs in worker
# processes: 30 of 30 took 0.16-1.03 s under the two busy loops at load 5.8 (Playwright saw them 0.25-1.20 s later).
# Before a Stop that reached a worker still starting (the first run of a session) ended the run at once, the first
# Stop took 2.9 s; Stop in the live fragment once took 1.5-5.3 s (a click there waits for any rerun in flight).
STOP_SHOWN_LIMIT = float(os.environ.get("LAYERLAB_STOP_LIMIT", "2"))
READY_LIMIT = 20.0  # seconds from "stopped" until Start can be clicked again (the results are drawn meanwhile)
STOPPED_TEXT = "stopped: stopped by"
STOPPED = re.compile(STOPPED_TEXT)
BUSY = "while True: pass"
# The page's own clock, from the click (mousedown) to the frame that first shows the run stopped: the moment
# the user sees it. Playwright's polls through the browser's debugging protocol come on top of that, up to half
# a second later on the starved machine, so they are printed beside it but are not the measure.
WATCH_STOP = """(text) => {
  if (!window.__stopWatch) {
    window.__stopWatch = {armed: false, clicked: 0, shown: 0};
    const w = window.__stopWatch;
    document.addEventListener('mousedown', () => { w.armed = true; w.clicked = performance.now(); w.shown = 0; },
                              true);
    const has = (n) => (n.textContent || '').includes(text);
    new MutationObserver((changes) => {
      if (!w.armed || w.shown) return;
      if (changes.some((c) => (c.type === 'characterData' && has(c.target)) || [...c.addedNodes].some(has))) {
        w.armed = false;
        requestAnimationFrame(() => { w.shown = performance.now(); });
      }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
  }
  Object.assign(window.__stopWatch, {armed: false, clicked: 0, shown: 0});
}"""


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """Two busy loops (one per core of the CI machine), stopped by their own PIDs."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _set_epochs(page, epochs: int) -> None:
    field = page.get_by_label("Epochs", exact=True)  # not its "Help for Epochs" button
    field.fill(str(epochs))
    field.press("Enter")
    page.wait_for_function(f"e => e.value === '{epochs}'", arg=field.element_handle())


def _idle(page) -> bool:
    return script_state(page) == "notRunning"


def _wait_enabled(page, button, timeout: float) -> None:
    """Poll the locator (a rerun may replace the element, so no element handle is kept)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if button.count() and button.first.is_enabled():
            return
        page.wait_for_timeout(50)
    shown = page.locator("[data-testid='stAlert'], [data-testid='stCaptionContainer'], "
                         "[aria-selected='true'][role='tab']").all_inner_texts()
    raise AssertionError(f"{button} not enabled within {timeout:g} s; the page shows: {shown[:20]}")


def _wait_until(page, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        page.wait_for_timeout(50)


def _wait_idle(page, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _idle(page) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return _idle(page)


def _click_now(page, button) -> float:
    """Click where the button is, as a user whose pointer is on it: no waiting for the starved page to pass
    Playwright's checks (visible, stable over two frames, hit by the pointer), which took up to 10 s here.
    Returns the moment of the click. The run bar's Stop sits at the top of the page, so its place holds."""
    box = button.bounding_box()
    assert box, f"{button} is not on the page"
    clicked = time.monotonic()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return clicked


def _stopped_shown(page) -> bool:
    return page.get_by_text(STOPPED).count() > 0


def test_thirty_stops_under_load_each_shown_within_two_seconds(page, app_url: str, cpu_load: None) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template('spirals_mlp'))}")
    page.get_by_role("tab", name="Train").click(timeout=LOAD_TIMEOUT)
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)
    _set_epochs(page, 5000)  # far longer than each run lasts: Stop ends every one
    _wait_idle(page, 30)  # the rerun that takes the new value: a click during it is lost
    took: list[float] = []
    for i in range(RUNS):
        start = page.get_by_role("button", name="▶ Start training")
        _wait_enabled(page, start, READY_LIMIT if i else 60)
        start.click()
        # The run bar's Stop: until the Train tab redraws, its disabled placeholder Stop may still be on the page
        stop = page.locator(".st-key-run_bar_stop").get_by_role("button", name="Stop")
        _wait_enabled(page, stop, 30)
        page.locator(".st-key-run_bar").get_by_text("training ·").first.wait_for(timeout=30_000)
        # The last run's ending may still be drawn (greyed, stale) below the bar until the Train tab redraws; a
        # click before it goes would be timed against that old text (CI once saw "stopped" 0.11 s after a click,
        # then the old text went and the new run's ending had not come yet)
        _wait_until(page, lambda: not _stopped_shown(page), 30, "the last run's ending to leave the page")
        page.wait_for_timeout(300 + 150 * (i % 7))  # Stop lands at different points of the live view's polls
        page.evaluate(WATCH_STOP, STOPPED_TEXT)
        clicked = _click_now(page, stop)
        while not _stopped_shown(page) and time.monotonic() - clicked < 30:
            page.wait_for_timeout(50)
        polled = time.monotonic() - clicked
        assert _stopped_shown(page), f"run {i + 1}: Stop not shown as stopped 30 s after the click ({took})"
        _wait_until(page, lambda: page.evaluate("() => window.__stopWatch.shown > 0"), 10,
                    f"run {i + 1}: the page's own clock to see the stopped text Playwright found")
        took.append(page.evaluate("() => (window.__stopWatch.shown - window.__stopWatch.clicked) / 1000"))
        print(f"run {i + 1}: stopped shown {took[-1]:.2f} s after the click (Playwright saw it after "
              f"{polled:.2f} s), page {script_state(page)}", flush=True)
        assert _wait_idle(page, READY_LIMIT), (
            f"run {i + 1}: the page is still '{script_state(page)}' {READY_LIMIT:g} s after Stop showed")
    print(f"Stop shown after (s, the page's clock): max {max(took):.2f}, {sorted(round(t, 2) for t in took)}, "
          f"load average {os.getloadavg()[0]:.1f}")
    slow = [(i + 1, round(t, 2)) for i, t in enumerate(took) if t > STOP_SHOWN_LIMIT]
    assert not slow, f"Stops shown later than {STOP_SHOWN_LIMIT:g} s (run, seconds): {slow}"
