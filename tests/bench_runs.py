"""Running bench/ scripts in their quick mode (bench/quick_mode.py) for tests/test_bench_quick.py and
tests/browser/test_bench_quick_browser.py: each one a subprocess, as a person runs it, its JSON read back.

A bench nothing runs rots silently (bench_engine.py crashed for a release once the training config became
frozen). These tests check that each still runs to the end and prints its report, never its figures: timings
belong to the benches themselves, read with the machine's load beside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TIMEOUT_S = 600  # a quick run takes seconds; on a busy 2-core machine a minute or two

# bench/ files that are not benchmarks, and the bench another test already runs in its quick mode.
NOT_BENCHES = {
    "quick_mode.py": "the --quick option every bench shares",
    "load_client.py": "the websocket client and server helpers of load_test.py and the load benches",
    "load_bare_flow_app.py": "the streamlit-flow app load_lesson_compare.py serves as its yardstick",
    "ray_local.py": "the private Ray cluster load_executors.py and tests/test_ray_executor.py start",
}
# Checked in tests/browser/test_bench_quick_browser.py (they need Chromium).
BROWSER_BENCHES = {"bench_canvas.py", "bench_live_view.py", "bench_neurons.py", "load_browser_probe.py",
                   "load_lesson_compare.py"}
RUN_ELSEWHERE = {"load_test.py": "tests/test_load_smoke.py runs it with --quick in-process and checks its counts"}
# Benches that came without a quick mode yet: named here so the list stays whole, and so they are the next to get one.
NO_QUICK_YET: dict[str, str] = {}


def run_quick(script: str) -> dict:
    """``python bench/SCRIPT --quick``: it must exit 0 and print one JSON object, with ``"quick": true``."""
    done = subprocess.run([sys.executable, str(BENCH / script), "--quick"], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S, env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})
    assert done.returncode == 0, f"{script} --quick exited {done.returncode}:\n{done.stderr[-3000:]}"
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(f"{script} --quick printed no JSON ({err}):\n{done.stdout[-2000:]}") from err
    assert isinstance(report, dict) and report.get("quick") is True, report
    return report


class QuickRuns(dict):
    """script -> Future of its report; a script nobody started is started when asked for."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        super().__init__()
        self.pool = pool

    def start(self, script: str) -> None:
        if script not in self:
            self[script] = self.pool.submit(run_quick, script)

    def __missing__(self, script: str) -> Future:
        self.start(script)
        return self[script]


def start_selected(request: pytest.FixtureRequest) -> QuickRuns:
    """Start, side by side (one worker per core), the quick runs of the scripts that this session's selected tests
    in the calling module are parametrized with: CI waits for the slowest bench rather than for their sum."""
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    request.addfinalizer(lambda: pool.shutdown(wait=True, cancel_futures=True))
    runs = QuickRuns(pool)
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec and "script" in callspec.params:
            runs.start(callspec.params["script"])
    return runs
