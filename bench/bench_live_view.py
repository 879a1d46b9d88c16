"""The Train panel's live view in a real headless Chromium, printed as JSON.

1. Refresh rate: while a run trains, how often the loss chart in the page actually changes (its train-loss
   trace sampled every 50 ms for ``--seconds``); target >= 2 per second.
2. Close-to-stop latency: seconds from closing the page to the run store showing the run as stopped;
   target <= 5 s.
3. Page cost of polling: full-script reruns are not triggered by the poll (the fragment reruns alone), so
   the widgets above the chart keep their DOM nodes; reported as whether the Start button survived.

Starts ``streamlit run app.py`` on a free port with a temporary LAYERLAB_DATA_DIR and stops it afterwards.

4. A short run (``--short-epochs``, 6) watched from the Start click: when its first points reach the chart and how
   often the chart changed before it finished.

    python bench/bench_live_view.py [--seconds 6] [--template xor_mlp] [--short-epochs 6] [--load 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.share import encode_share  # noqa: E402
from builder.templates import load_template  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
POINTS = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && /\\bLoss\\b/.test(p.layout.title.text || ''));
  return plots.length ? Math.max(...plots.map(p => (p.data[0].x || []).length)) : 0;
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(data_dir: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "LAYERLAB_DATA_DIR": data_dir, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.25)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("streamlit did not start")


def _open(page, url: str, template: str, epochs_value: int = 5000) -> None:
    page.goto(f"{url}/?design={encode_share(load_template(template))}")
    page.get_by_role("tab", name="Train").click(timeout=120_000)
    start = page.get_by_role("button", name="▶ Start training")
    start.wait_for(timeout=120_000)
    epochs = page.get_by_role("spinbutton", name="Epochs")  # long enough to measure; the bench stops it
    epochs.fill(str(epochs_value))
    epochs.press("Enter")
    page.wait_for_timeout(1000)
    page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=60_000)
    start.click()


WATCH = """() => {
  const count = () => {
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
      .filter(p => p.layout && p.layout.title && /\\bLoss\\b/.test(p.layout.title.text || ''));
    return plots.length ? Math.max(...plots.map(p => (p.data[0].x || []).length)) : 0;
  };
  window.__llChanges = [];
  let last = count();
  window.__llWatch = setInterval(() => {
    const now = count();
    if (now !== last) { window.__llChanges.push([performance.now(), now]); last = now; }
  }, 20);
}"""


def _refresh_rate(page, seconds: float) -> dict:
    """Changes of the loss chart, watched inside the page every 20 ms (no round trips to Playwright)."""
    deadline = time.monotonic() + 120
    while page.evaluate(POINTS) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    start_button = page.get_by_role("button", name="▶ Start training").element_handle()
    page.evaluate(WATCH)
    page.wait_for_timeout(seconds * 1000)
    changes = page.evaluate("() => { clearInterval(window.__llWatch); return window.__llChanges; }")
    gaps = [b[0] - a[0] for a, b in zip(changes, changes[1:])]
    survived = page.evaluate("b => b.isConnected", start_button)
    return {
        "chart_updates_per_s": round(len(changes) / seconds, 2),
        "median_gap_ms": round(sorted(gaps)[len(gaps) // 2]) if gaps else None,
        "max_gap_ms": round(max(gaps)) if gaps else None,
        "points_first": changes[0][1] if changes else None,
        "points_last": changes[-1][1] if changes else None,
        "seconds": seconds,
        "start_button_kept_dom_node": bool(survived),
    }


def _short_run(browser, url: str, template: str, epochs: int) -> dict:
    """A run of a few epochs, watched from the Start click: when its first training points reach the chart, and
    how many times the chart changed before the run finished (a live curve, not one drawing at the end)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{url}/?design={encode_share(load_template(template))}")
    page.get_by_role("tab", name="Train").click(timeout=120_000)
    start = page.get_by_role("button", name="▶ Start training")
    start.wait_for(timeout=120_000)
    field = page.get_by_role("spinbutton", name="Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    page.wait_for_timeout(1000)
    page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=60_000)
    page.evaluate(WATCH)
    clicked = page.evaluate("() => performance.now()")
    start.click()
    page.get_by_text(re.compile(r"finished:|stopped:|failed:")).first.wait_for(timeout=300_000)
    ended = page.evaluate("() => performance.now()")
    changes = page.evaluate("() => { clearInterval(window.__llWatch); return window.__llChanges; }")
    page.close()
    live = [c for c in changes if c[0] <= ended]
    return {
        "short_run_epochs": epochs,
        "short_run_seconds": round((ended - clicked) / 1000, 2),
        "short_run_first_point_s": round((live[0][0] - clicked) / 1000, 2) if live else None,
        "short_run_live_redraws": len(live),
    }


def _busy_loops(count: int) -> list[subprocess.Popen]:
    """``count`` processes that keep a core busy each: the bench measured on a loaded machine, as users saw it."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _close_to_stop(browser, url: str, template: str, data_dir: str) -> float:
    from training.runstore import RunStore

    context = browser.new_context()
    page = context.new_page()
    since = time.time()
    _open(page, url, template)
    while page.evaluate(POINTS) < 2:
        time.sleep(0.05)
    store = RunStore(Path(data_dir) / "runs.sqlite")
    runs = [r for r in store.list_runs(limit=10) if r.created >= since and r.status == "running"]
    if not runs:
        raise RuntimeError(f"no running run found: {[r.summary() for r in store.list_runs(limit=3)]}")
    run = runs[0]
    closed = time.monotonic()
    context.close()
    while store.get_run(run.id).status == "running" and time.monotonic() - closed < 60:
        time.sleep(0.05)
    return round(time.monotonic() - closed, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--template", default="xor_mlp")
    parser.add_argument("--short-epochs", type=int, default=6, help="epochs of the run watched from its start")
    parser.add_argument("--load", type=int, default=0, help="busy loops kept running while measuring")
    args = parse_args(parser, {"seconds": 1.0, "short_epochs": 1})
    from playwright.sync_api import sync_playwright

    data_dir = tempfile.mkdtemp(prefix="layerlab_bench_")
    proc, url = _serve(data_dir)
    loops = _busy_loops(args.load)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            _open(page, url, args.template)
            live = _refresh_rate(page, args.seconds)
            load = os.getloadavg()[0]
            page.close()
            short = _short_run(browser, url, args.template, args.short_epochs)
            latency = _close_to_stop(browser, url, args.template, data_dir)
            browser.close()
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        os.killpg(proc.pid, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        json.dumps(
            {
                "quick": args.quick,
                "template": args.template,
                **live,
                "refresh_target_per_s": 2.0,
                **short,
                "busy_loops": args.load,
                "load_average_1min": round(load, 2),
                "close_to_stop_s": latency,
                "close_to_stop_target_s": 5.0,
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
