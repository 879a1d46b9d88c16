"""Benchmark: a lesson link against a bare streamlit-flow canvas app, N real Chromium sessions at once. JSON out.

Issue 14's yardstick for "a lesson link is no heavier than it must be": at 20 concurrent sessions on one machine,
the lesson page's p95 time to a drawn canvas should be at most 1.3x that of a bare streamlit-flow app showing the
same design, measured in the same run.

It starts both apps on 127.0.0.1 (LayerLab's app.py and bench/load_bare_flow_app.py, each in its own process
group, stopped by PID), warms each with one session, then for each app opens ``--sessions`` contexts of one
headless Chromium (Debian's) at the same moment. Each session loads the page (``?lesson=TEMPLATE`` for LayerLab)
and is timed until every node of the design is drawn inside the canvas's frame. While loading, it counts the HTTP
requests, their bytes (headers and bodies, from Chromium's own network sizes) and the websocket bytes received.
``--rounds 2`` repeats with the order of the two apps swapped, so a machine that gets busier does not favour one.

Printed: p50/p95/max seconds to a drawn canvas, requests and MB per session (median), for each app, and the p95
ratio against the 1.3 target, with the load average. Real browsers are heavy (hundreds of MB and several CPU-seconds
per tab): on a small machine lower ``--sessions`` and say so.

Usage: python bench/load_lesson_compare.py [--sessions 20] [--template digits_cnn] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_client import pct, start_server, stop_server  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.templates import load_template  # noqa: E402
from builder.validate import validate  # noqa: E402
from ui.design.canvas_view import canvas_elements  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
TARGET_RATIO = 1.3
# Every node drawn inside the canvas's frame (components are served from the app's own origin).
DRAWN = """([title, n]) => { const f = document.querySelector(`iframe[title='${title}']`);
  return !!f && !!f.contentDocument && f.contentDocument.querySelectorAll('.react-flow__node').length >= n; }"""
APPS = {
    "layerlab_lesson": {"frame": "ui.design.canvas.layerlab_canvas", "script": "app.py"},
    "bare_streamlit_flow": {"frame": "streamlit_flow.streamlit_flow", "script": "bench/load_bare_flow_app.py"},
}


def write_design(template: str, path: Path) -> int:
    """The template as the bare app draws it: the positions and edge labels of LayerLab's own drawing."""
    graph = load_template(template)
    nodes, edges, _ = canvas_elements(graph, validate(graph))
    text = [{"id": n["id"], "x": n["x"], "y": n["y"],
             "text": "  \n".join(" ".join(t for _, t in line) for line in n["lines"])} for n in nodes]
    path.write_text(json.dumps({"nodes": text, "edges": [{k: e[k] for k in ("id", "s", "t", "label")}
                                                          for e in edges]}))
    return len(nodes)


async def one_session(browser, url: str, frame: str, nodes: int, timeout_s: float) -> dict:
    """Open ``url`` in a fresh context (an empty cache, like a student's own browser) until the canvas is drawn."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    sizes: list[asyncio.Future] = []
    ws_bytes = [0]
    page.on("requestfinished", lambda request: sizes.append(asyncio.ensure_future(request.sizes())))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: ws_bytes.__setitem__(
        0, ws_bytes[0] + len(payload))))
    started = time.monotonic()
    try:
        await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        await page.wait_for_function(DRAWN, arg=[frame, nodes], timeout=timeout_s * 1000, polling=100)
        drawn: float | None = time.monotonic() - started
        error = None
    except Exception as err:  # a timeout or a lost page: counted, not fatal to the whole run
        drawn, error = None, f"{type(err).__name__}: {str(err)[:120]}"
    requests = len(sizes)
    measured = await asyncio.gather(*sizes[:requests], return_exceptions=True)
    http_bytes = sum(s["requestHeadersSize"] + s["responseHeadersSize"] + s["responseBodySize"]
                     for s in measured if isinstance(s, dict))
    return {"context": context, "drawn_s": drawn, "error": error, "requests": requests,
            "http_bytes": http_bytes, "ws_bytes": ws_bytes[0]}


async def crowd(browser, url: str, frame: str, nodes: int, sessions: int, timeout_s: float) -> dict:
    """``sessions`` tabs loading at the same moment; they stay open until the last one is drawn."""
    results = await asyncio.gather(*(one_session(browser, url, frame, nodes, timeout_s) for _ in range(sessions)))
    for result in results:
        await result.pop("context").close()
    times = [r["drawn_s"] for r in results if r["drawn_s"] is not None]
    return {
        "sessions": sessions, "drawn": len(times),
        "p50_s": pct(times, 0.5), "p95_s": pct(times, 0.95), "max_s": round(max(times), 2) if times else None,
        "requests_per_session": statistics.median(r["requests"] for r in results),
        "http_mb_per_session": round(statistics.median(r["http_bytes"] for r in results) / 1e6, 2),
        "ws_mb_per_session": round(statistics.median(r["ws_bytes"] for r in results) / 1e6, 3),
        "errors": [r["error"] for r in results if r["error"]][:5],
    }


async def compare(urls: dict[str, str], nodes: int, args: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    out: dict[str, list[dict]] = {name: [] for name in urls}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
        for name, url in urls.items():  # warm-up: the servers' first run imports their modules
            await crowd(browser, url, APPS[name]["frame"], nodes, 1, args.timeout)
        order = list(urls)
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else order[::-1]:
                out[name].append(await crowd(browser, urls[name], APPS[name]["frame"], nodes, args.sessions,
                                             args.timeout))
        await browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--template", default="digits_cnn")
    parser.add_argument("--rounds", type=int, default=1, help="2: a second round with the order swapped")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per session")
    args = parse_args(parser, {"sessions": 1, "template": "xor_mlp", "timeout": 120.0})
    load_before = os.getloadavg()
    data_dir = Path(tempfile.mkdtemp(prefix="layerlab_lesson_compare_"))
    design = data_dir / "design.json"
    nodes = write_design(args.template, design)
    servers = []
    try:
        lesson_proc, lesson_url, _ = start_server(data_dir, 2)
        servers.append(lesson_proc)
        bare_proc, bare_url, _ = start_server(data_dir, 2, script=APPS["bare_streamlit_flow"]["script"],
                                              env={"LL_BARE_DESIGN": str(design)})
        servers.append(bare_proc)
        urls = {"layerlab_lesson": f"{lesson_url}/?lesson={args.template}", "bare_streamlit_flow": bare_url}
        runs = asyncio.run(compare(urls, nodes, args))
    finally:
        for proc in servers:
            stop_server(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
    p95 = {name: [r["p95_s"] for r in results if r["p95_s"]] for name, results in runs.items()}
    ratio = (round(statistics.median(p95["layerlab_lesson"]) / statistics.median(p95["bare_streamlit_flow"]), 2)
             if p95["layerlab_lesson"] and p95["bare_streamlit_flow"] else None)
    print(json.dumps({
        "quick": args.quick, "template": args.template, "nodes": nodes, "sessions": args.sessions, "rounds": args.rounds,
        "apps": runs, "p95_ratio_lesson_to_bare": ratio, "target_ratio": TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= TARGET_RATIO,
        "cpus": os.cpu_count(), "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }, indent=2))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: still stop our servers
    main()
