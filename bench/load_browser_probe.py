"""What one real browser tab costs the machine: why bench/load_test.py speaks the websocket protocol instead.

Opens N contexts at once in Debian's chromium (one browser), each loads the app, opens a template (waits for
its nodes on the canvas) and adds a block from the palette. Prints JSON: seconds to canvas and for the palette
click, and the CPU seconds and RSS of the browser's processes (children of this script, the server excluded).

    python bench/load_browser_probe.py --contexts 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_client import pct, process_tree, start_server, stop_server  # noqa: E402
from quick_mode import parse_args  # noqa: E402  (bench/, on sys.path above, as load_client)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
FRAME = "iframe[title='ui.design.canvas.layerlab_canvas']"  # LayerLab's own canvas component
TICK = os.sysconf("SC_CLK_TCK")


def descendants(root: int, skip: int) -> list[int]:
    """Processes under ``root``, leaving out the tree of ``skip`` (the server)."""
    server = set(process_tree(skip))
    return [pid for pid in process_tree(root) if pid != root and pid not in server]


def usage(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, RSS MB) summed over ``pids``."""
    cpu = rss = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            pass
    return cpu, rss


async def one_tab(browser, url: str, template: str) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(180_000)
    started = time.monotonic()
    await page.goto(url)
    await page.locator(f".st-key-open_{template} button").click()
    frame = page.frame_locator(FRAME)
    await frame.locator(".react-flow__node").first.wait_for()
    loaded = time.monotonic()
    await page.locator(".st-key-palette_Softmax button:visible").first.click()
    await frame.locator(".react-flow__node[data-id='softmax_1']").wait_for()
    return {"to_canvas_s": loaded - started, "palette_s": time.monotonic() - loaded}


async def probe(url: str, contexts: int, template: str, server_pid: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=FLAGS)
        cpu0, _ = usage(descendants(os.getpid(), server_pid))
        server0, _ = usage([server_pid])
        tabs = await asyncio.gather(*(one_tab(browser, url, template) for _ in range(contexts)))
        cpu1, rss = usage(descendants(os.getpid(), server_pid))
        server1, _ = usage([server_pid])
        await browser.close()
    to_canvas = [t["to_canvas_s"] for t in tabs]
    palette = [t["palette_s"] for t in tabs]
    return {
        "contexts": contexts, "template": template,
        "to_canvas_p50_s": pct(to_canvas, 0.5), "to_canvas_max_s": round(max(to_canvas), 2),
        "palette_click_p50_s": pct(palette, 0.5), "palette_click_max_s": round(max(palette), 2),
        "browser_cpu_s": round(cpu1 - cpu0, 1), "browser_cpu_s_per_tab": round((cpu1 - cpu0) / contexts, 1),
        "server_cpu_s": round(server1 - server0, 1), "browser_rss_mb": round(rss),
        "browser_rss_mb_per_tab": round(rss / contexts), "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contexts", type=int, default=3)
    parser.add_argument("--template", default="digits_mlp")
    args = parse_args(parser, {"contexts": 1})
    data_dir = Path(tempfile.mkdtemp(prefix="layerlab_probe_"))
    proc, url, _ = start_server(data_dir, 2)
    try:
        result = asyncio.run(probe(url, args.contexts, args.template, proc.pid))
        print(json.dumps({"quick": args.quick, **result}, indent=2))
    finally:
        stop_server(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: still stop our server
    main()
