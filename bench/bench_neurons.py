"""Neuron pictures in the real browser: how often the tiles of every hidden unit change on screen while
spirals_mlp trains on spirals (issue 13: at least once a second), printed as JSON.

Starts the app (streamlit, 127.0.0.1, stopped by its PID) and Debian's headless Chromium, opens the Train tab,
starts a long run and polls the neuron figure's data on the page every 100 ms for ``--seconds``; an update is
a change of what the figure shows (its epoch and a checksum of its tiles). Beside it, what the live view costs the
page meanwhile: its main thread's long tasks (ms per second; a click waits behind them) and the bytes it receives.

    python bench/bench_neurons.py [--seconds 10] [--screenshot assets/screenshots/neurons_spirals.png]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.share import encode_share  # noqa: E402
from builder.templates import load_template  # noqa: E402

TITLE = "Every hidden unit"
# What the neuron figure shows now: its title (with the epoch) and a checksum of the tiles; "" before it exists.
PROBE = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && (p.layout.title.text || '').includes('TITLE'));
  if (!plots.length) return '';
  const p = plots[plots.length - 1];
  const text = p.data[0].source || JSON.stringify(p.data[0].z);
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return p.layout.title.text + '|' + hash + '|' + text.length;
}""".replace("TITLE", TITLE)
# What the live view costs the page: the main thread's long tasks (>50 ms, when nothing else can run, a click
# included) and the bytes the server sends, counted from the moment measure() starts.
WATCH_COST = """() => {
  window.__cost = {busy: 0, bytes: 0};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__cost.busy += entry.duration;
  }).observe({type: 'longtask'});
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (e) => {
      window.__cost.bytes += e.data.byteLength || e.data.size || e.data.length || 0;
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
}"""
SCROLL_TO = """() => {
  const p = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && (p.layout.title.text || '').includes('TITLE')).pop();
  if (p) p.scrollIntoView({block: 'start'});
}""".replace("TITLE", TITLE)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def open_and_start(page, url: str, epochs: int = 5000) -> None:
    """spirals_mlp from a share link, the Train tab, many epochs, Start."""
    page.add_init_script(f"({WATCH_COST})()")
    page.goto(f"{url}/?design={encode_share(load_template('spirals_mlp'))}")
    tab = page.get_by_role("tab", name="Train")
    tab.wait_for(timeout=90_000)
    tab.click()
    field = page.get_by_label("Epochs", exact=True)
    field.wait_for(timeout=90_000)
    field.fill(str(epochs))
    field.press("Enter")
    page.wait_for_function(f"e => e.value === '{epochs}'", arg=field.element_handle())
    page.wait_for_timeout(500)
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()


def measure(page, seconds: float) -> dict:
    """Wait for the neuron figure, then count how often what it shows changes in ``seconds``."""
    page.wait_for_function(f"() => ({PROBE})() !== ''", timeout=90_000)
    seen, changes, began = page.evaluate(PROBE), 0, time.monotonic()
    page.evaluate("() => Object.assign(window.__cost, {busy: 0, bytes: 0})")
    while time.monotonic() - began < seconds:
        page.wait_for_timeout(100)
        now = page.evaluate(PROBE)
        if now and now != seen:
            changes, seen = changes + 1, now
    elapsed = time.monotonic() - began
    cost = page.evaluate("() => window.__cost")
    return {"updates": changes, "seconds": round(elapsed, 2), "updates_per_s": round(changes / elapsed, 2),
            "last_title": seen.split("|")[0] if seen else "",
            "page_busy_ms_per_s": round(cost["busy"] / elapsed),
            "received_kb_per_s": round(cost["bytes"] / elapsed / 1024)}


def _server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("streamlit did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--screenshot", default="")
    args = parse_args(parser, {"seconds": 1.0})
    from playwright.sync_api import sync_playwright

    proc, url = _server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_and_start(page, url)
            result = measure(page, args.seconds)
            if args.screenshot:
                page.evaluate(SCROLL_TO)  # the fragment redraws the figure: scroll by script, not by locator
                page.wait_for_timeout(800)
                page.screenshot(path=args.screenshot)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group: only what this script started
    print(json.dumps({"bench": "neurons", "quick": args.quick, "template": "spirals_mlp", "dataset": "spirals", "target_per_s": 1.0,
                      **result, "ok": result["updates_per_s"] >= 1.0,
                      "load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
