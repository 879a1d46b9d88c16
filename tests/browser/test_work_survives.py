"""Work survives a reload, a closed tab and a server restart, in a real Chromium against a real server; two
students (two browser contexts: two browsers) each get their own work back.

The server runs on its own data folder, so the test can stop it by its PID and start it again on the same
folder. Every wait polls (the page, the cookie jar or the SQLite file), never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from builder.templates import load_template
from builder.workstore import SavedWork, WorkStore
from tests.browser.conftest import ROOT, _free_port, _wait_healthy, script_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine
FRAME = "iframe[title='ui.design.canvas.layerlab_canvas']"


class Server:
    """streamlit run app.py on one port and one data folder; stopped by its own process group's id."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log, self.port = data_dir, log, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "LAYERLAB_DATA_DIR": str(self.data_dir), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
                 str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        _wait_healthy(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own process group: only what this test started
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def saved(self, token: str) -> SavedWork | None:
        return WorkStore(self.data_dir / "work.sqlite").load(token)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("work_survives")
    srv = Server(folder / "data", folder / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _poll(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def _token(context) -> str:
    """The browser's work token, once the page has set its cookie."""
    def cookie() -> str | None:
        return next((c["value"] for c in context.cookies() if c["name"] == "layerlab_work"), None)
    return _poll(cookie, "the layerlab_work cookie")


def _node(page, node_id: str):
    return page.frame_locator(FRAME).locator(f".react-flow__node[data-id='{node_id}']")


def _open_template(page, url: str, name: str) -> None:
    page.goto(url)
    page.locator(f".st-key-open_{name} button").wait_for(timeout=LOAD_TIMEOUT)
    page.locator(f".st-key-open_{name} button").click()
    _node(page, load_template(name).nodes[0].id).wait_for(timeout=LOAD_TIMEOUT)


def _set_epochs(page, value: str) -> None:
    page.get_by_role("tab", name="Train").click()
    field = page.locator(".st-key-ll_set_epochs input")
    field.wait_for(timeout=LOAD_TIMEOUT)
    field.fill(value)
    field.press("Enter")


def _saved_epochs(server: Server, token: str) -> int | None:
    work = server.saved(token)
    return None if work is None else work.extra.get("train", {}).get("ll_set_epochs")


def _expect_my_work(page, url: str, design: str, epochs: str, tab: str) -> None:
    """The page opens where it was left (``tab``), with the design's added block and the Train tab's epochs."""
    page.goto(url)
    page.get_by_role("tab", name=tab, selected=True).wait_for(timeout=LOAD_TIMEOUT)
    page.get_by_role("tab", name="Train").click()
    field = page.locator(".st-key-ll_set_epochs input")
    field.wait_for(timeout=LOAD_TIMEOUT)
    _poll(lambda: field.input_value() == epochs, f"epochs {epochs} in the Train tab", 30)
    page.get_by_role("tab", name="Build").click()
    _node(page, "softmax_1").wait_for(timeout=LOAD_TIMEOUT)
    assert design in page.locator(".ll-title").inner_text()


def test_design_and_settings_survive_reload_closed_tab_and_restart(browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        _open_template(page, server.url, "digits_mlp")
        page.locator(".st-key-palette_Softmax button:visible").first.click()
        _node(page, "softmax_1").wait_for()
        _set_epochs(page, "3")
        token = _token(context)
        _poll(lambda: _saved_epochs(server, token) == 3, "epochs 3 in work.sqlite")
        design = load_template("digits_mlp").name

        _expect_my_work(page, server.url, design, "3", "Train")  # a reload (the same address again)
        _poll(lambda: server.saved(token).extra.get("view") == "Build", "the Build tab saved as the one open")

        page.close()  # the tab closed; a new one in the same browser
        page = context.new_page()
        page.set_default_timeout(30_000)
        _expect_my_work(page, server.url, design, "3", "Build")  # the tab it was left on

        server.stop()  # the server restarts on the same data folder
        server.start()
        _expect_my_work(page, server.url, design, "3", "Build")

        # The Build tab's rerun may still be in flight. Once in three full local CI runs a click on Undo then did
        # nothing (most likely it landed on the old button while the rerun replaced it), so the page settles first
        _poll(lambda: script_state(page) == "notRunning", "the page to finish its rerun", 30)
        page.locator(".st-key-undo button:visible").first.click()  # the undo history came back too
        _node(page, "softmax_1").wait_for(state="detached")
    finally:
        context.close()


def test_two_students_each_get_their_own_work_back(browser, server: Server) -> None:
    students = {"digits_mlp": "4", "autoencoder": "7"}
    contexts = {name: browser.new_context(viewport={"width": 1280, "height": 800}) for name in students}
    try:
        pages = {}
        for name, epochs in students.items():
            page = pages[name] = contexts[name].new_page()
            page.set_default_timeout(30_000)
            _open_template(page, server.url, name)
            _set_epochs(page, epochs)
        tokens = {name: _token(contexts[name]) for name in students}
        assert len(set(tokens.values())) == 2
        for name, epochs in students.items():
            _poll(lambda t=tokens[name], e=int(epochs): _saved_epochs(server, t) == e, f"{name}'s epochs saved")
        for name, epochs in students.items():
            page = pages[name]
            page.reload()
            field = page.locator(".st-key-ll_set_epochs input")
            field.wait_for(timeout=LOAD_TIMEOUT)
            _poll(lambda f=field, e=epochs: f.input_value() == e, f"{name}'s own epochs", 30)
            assert load_template(name).name in page.locator(".ll-title").inner_text()
    finally:
        for context in contexts.values():
            context.close()
