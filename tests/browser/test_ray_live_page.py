"""The page itself with executor = ray: a server started here trains on a local 2-CPU Ray cluster (127.0.0.1,
stopped by the PID this test started), and the Train tab's loss chart gains the run's events while it trains on
the cluster, redrawn at the page's own poll (bench/bench_live_view.py measures that rate); Stop then ends it."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]" to run this test')

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"layerlab_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ray_app(tmp_path_factory):
    """A LayerLab server whose runs go to a Ray cluster of its own: its URL."""
    ray_local, load_client = _bench("ray_local"), _bench("load_client")
    head, address = ray_local.start_head(num_cpus=2)
    try:
        ray_local.wait_ready(head, address)
        data_dir = tmp_path_factory.mktemp("ray_app")
        proc, url, _log = load_client.start_server(data_dir, 2, env={"LAYERLAB_EXECUTOR": "ray",
                                                                     "LAYERLAB_RAY_ADDRESS": address})
        try:
            yield url
        finally:
            load_client.stop_server(proc)
    finally:
        ray_local.stop_head(head)


def test_the_loss_chart_shows_events_live_while_the_run_trains_on_ray(browser, ray_app):
    live = _bench("bench_live_view")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        live._open(page, ray_app, "xor_mlp")  # Train tab, 5000 epochs, Start
        rate = live._refresh_rate(page, 4.0)
        print(f"loss chart redraws on Ray: {rate}")
        # events reach the page as the run makes them: the chart gains points every redraw, many per second
        points_per_s = (rate["points_last"] - rate["points_first"]) / rate["seconds"]
        assert points_per_s >= 2, rate
        # and it redraws while the run trains, not in a batch at the end: at most twice a second (the page polls
        # every POLL_SECONDS = 0.5 s, with threads too), at least once a second here on a busy shared machine
        assert rate["chart_updates_per_s"] >= 1 and rate["max_gap_ms"] < 2000, rate
        # the run bar and the live view both say so
        assert page.get_by_text(re.compile(r"\btraining( ·|$)")).count() >= 1
        stop = page.locator(".st-key-run_bar_stop").get_by_role("button", name="Stop")
        began = time.monotonic()
        stop.click()
        page.get_by_text("stopped: ").first.wait_for(timeout=30_000)
        print(f"Stop click to 'stopped' on the page: {time.monotonic() - began:.2f} s")
    finally:
        context.close()
