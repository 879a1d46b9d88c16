"""The browser benchmarks in bench/ still run: each one's ``--quick`` mode, in Debian's headless Chromium, exits 0
and prints its JSON report with the keys a reader of the full run looks for, and did what it measures (a canvas
drawn, a chart that moved), never how fast. The other benches: tests/test_bench_quick.py.
"""

from __future__ import annotations

import pytest
from bench_runs import BROWSER_BENCHES, start_selected

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# script: keys its report must carry
BENCHES = {
    "bench_canvas.py": {"interactions_ms", "big_interactions_ms", "big_playwright_wall_ms", "open_300_ms",
                        "layout_300_ms", "meets_targets", "big_nodes", "loadavg_1min_before_after"},
    "bench_live_view.py": {"chart_updates_per_s", "short_run_seconds", "short_run_live_redraws", "close_to_stop_s",
                           "start_button_kept_dom_node", "load_average_1min"},
    "bench_neurons.py": {"updates", "updates_per_s", "ok", "load_average"},
    "load_browser_probe.py": {"to_canvas_p50_s", "palette_click_p50_s", "browser_cpu_s", "browser_rss_mb",
                              "loadavg"},
    "load_lesson_compare.py": {"apps", "p95_ratio_lesson_to_bare", "meets_target", "loadavg_1min_before_after"},
}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, chromium: str) -> dict:
    return start_selected(request)


def test_the_browser_list_is_the_one_the_suite_checks() -> None:
    assert set(BENCHES) == BROWSER_BENCHES


@pytest.mark.parametrize("script", sorted(BENCHES))
def test_quick_run_prints_its_report(script: str, runs: dict) -> None:
    report = runs[script].result()
    assert BENCHES[script] <= set(report), f"{script}: missing {sorted(BENCHES[script] - set(report))}"


def test_canvas_quick_run_did_every_interaction(runs: dict) -> None:
    report = runs["bench_canvas.py"].result()
    assert {name: row["n"] for name, row in report["interactions_ms"].items()} == {
        name: 1 for name in ("palette_add", "backspace_delete", "undo", "connect", "inspector_edit", "fix")}
    assert report["open_300_ms"]["n"] == 1 and report["big_nodes"] == 30
    for key in ("big_interactions_ms", "big_playwright_wall_ms"):  # the --at-300 pair, on the 30-node design
        assert {name: row["n"] for name, row in report[key].items()} == {"palette_add": 1, "inspector_delete": 1}
    # in the page's clock, from the click to the frame: never longer than Playwright's wall time around it
    assert all(report["big_interactions_ms"][name]["max"] <= report["big_playwright_wall_ms"][name]["max"]
               for name in ("palette_add", "inspector_delete"))


def test_lesson_compare_quick_run_drew_both_canvases(runs: dict) -> None:
    report = runs["load_lesson_compare.py"].result()
    for app, rounds in report["apps"].items():
        assert [(r["drawn"], r["errors"]) for r in rounds] == [(1, [])], app
