"""The classroom load test works: a tiny run (3 sessions, 1 of them training one epoch) against a real server.

The numbers of a real run (30 sessions, 10 training) are in docs/load-test.md; here only that the tool drives
the app end to end: every session loads, opens a template and edits it, the run finishes, nothing errs.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "load_test.py"


def _load_test_module():
    spec = importlib.util.spec_from_file_location("layerlab_load_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _in_own_thread(func, *args):
    """Run ``func`` on a fresh thread: Playwright's sync API (the browser tests, same process) leaves an event
    loop running on the main thread, and the load test's asyncio.run() refuses to start inside one."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = func(*args)
        except BaseException as err:  # re-raised in the test's thread
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_three_sessions_one_training(capsys) -> None:
    load_test = _load_test_module()
    # The bench's own quick mode (3 sessions, 1 training xor_mlp): tests/test_bench_quick.py counts on this test
    # to run load_test.py, so the classroom bench cannot rot either.
    out = _in_own_thread(load_test.main, ["--quick", "--st", "runner.postScriptGC=false"])
    assert out["quick"] is True
    assert out["errors"] == 0, out["error_samples"]
    assert out["server_tracebacks"] == 0
    assert out["page_load"]["n"] == 3
    actions = out["by_action"]
    # every session opened a template and did a full edit round: select, add, set a parameter, undo
    for action in ("open_template", "select_node", "palette_add", "set_param", "undo"):
        assert actions[action]["n"] >= 3, (action, actions)
    assert actions["start_training"]["n"] == 1
    assert out["training"] == {**out["training"], "runs": 1, "finished": 1}
    assert 0 < out["p50_s"] <= out["p95_s"] <= out["max_s"]
    assert out["memory"]["baseline_mb"] > 100  # a real server's RSS was read from /proc
    assert out["memory"]["peak_mb"] >= out["memory"]["baseline_mb"] * 0.9
    assert len(out["loadavg_before_after"]) == 2
    assert out["streamlit_options"] == ["runner.postScriptGC=false"]  # passed on to the server
    assert out["server_cpu"]["loading"]["cpu_s"] > 0
    assert '"sessions": 3' in capsys.readouterr().out  # the JSON report is printed


def test_rss_of_a_process_tree_is_read_from_proc() -> None:
    import os

    load_test = _load_test_module()
    assert load_test.tree_rss_mb(os.getpid()) > 10
    assert load_test.pct([3.0, 1.0, 2.0], 0.5) == 2.0
    assert load_test.pct([], 0.95) is None
