"""Every benchmark in bench/ still runs: its ``--quick`` mode (tiny sizes, one repeat) exits 0 and prints its JSON
report with the keys a reader of the full run looks for. Figures are not checked (see tests/bench_runs.py);
the browser benches are in tests/browser/test_bench_quick_browser.py.
"""

from __future__ import annotations

import pytest
from bench_runs import BENCH, BROWSER_BENCHES, NO_QUICK_YET, NOT_BENCHES, RUN_ELSEWHERE, start_selected

pytestmark = pytest.mark.slow  # they train small models and start an AppTest; seconds each, side by side

# script: keys its report must carry
BENCHES = {
    "bench_codegen.py": {"codegen", "train_step", "tolerance", "load_average"},
    "bench_coverage.py": {"torch_nn_layer_classes", "blocks", "coverage", "not_blocks"},
    "bench_executor.py": {"thread", "process", "load_before", "load_after"},
    "bench_engine.py": {"engine_vs_seed_loop", "event_overhead", "time_to_accuracy_digits_cnn", "targets",
                        "load_average_at_start", "load_average_at_end"},
    "bench_health.py": {"models", "worst", "ok", "target_overhead", "load_average"},
    "bench_import_corpus.py": {"models", "totals", "verified_percent", "load_average_before_after"},
    "bench_import_onnx.py": {"exporters", "seconds", "loadavg"},
    "bench_lr_find.py": {"suggestion", "median_s", "first_call_s", "target_s", "loadavg_1min_before_after"},
    "bench_realdata.py": {"mnist", "cifar10", "scale", "load_average"},
    "bench_import.py": {"import_s_median", "import_and_verify_s_median", "verified", "onnx", "machine"},
    "bench_rerun.py": {"canvas_update_ms", "apptest_rerun_ms", "meets_target", "load_average"},
    "bench_run_random.py": {"swap_us", "dropout_mlp_samples_per_s", "concurrent_dropout", "concurrent_no_dropout",
                            "load_average"},
    "bench_train_tab.py": {"train_tab_rerun_ms", "weights_check_ms", "onnx_ms", "onnx_label_ms", "load_average"},
    "bench_validate.py": {"results", "load_average"},
    "load_executors.py": {"executors", "load_average", "load_average_at_end", "sessions", "trainers"},
}


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> dict:
    return start_selected(request)


def test_every_bench_script_is_run_somewhere() -> None:
    """A new bench/ script must join a list here (or in the browser list), so it cannot be forgotten."""
    listed = set(BENCHES) | BROWSER_BENCHES | set(NOT_BENCHES) | set(RUN_ELSEWHERE) | set(NO_QUICK_YET)
    assert {p.name for p in BENCH.glob("*.py")} == listed


@pytest.mark.parametrize("script", sorted(BENCHES))
def test_quick_run_prints_its_report(script: str, runs: dict) -> None:
    report = runs[script].result()
    assert BENCHES[script] <= set(report), f"{script}: missing {sorted(BENCHES[script] - set(report))}"


def test_engine_quick_run_trained_both_ways(runs: dict) -> None:
    """What the engine bench compares still exists: both templates timed against the seed loop, and the CLI run
    reached a test accuracy (the path that broke when TrainConfig became frozen)."""
    report = runs["bench_engine.py"].result()
    assert set(report["engine_vs_seed_loop"]) == {"digits_mlp", "digits_cnn"}
    assert len(report["time_to_accuracy_digits_cnn"]["test_accuracy"]) == 1
    assert report["event_overhead"]["every_step"]["events"] >= report["event_overhead"]["every_step"]["steps"]


def test_executors_quick_run_trained_on_each_executor(runs: dict) -> None:
    """The executor comparison still compares: each executor's server finished its student's run without an error,
    or (Ray only, where it is not installed) says why it was left out."""
    report = runs["load_executors.py"].result()
    assert set(report["executors"]) == {"thread", "process", "ray"}
    for executor, summary in report["executors"].items():
        if "skipped" in summary:
            assert executor == "ray" and "Ray is not installed" in summary["skipped"]
            continue
        assert (summary["runs"], summary["runs_finished"], summary["errors"]) == (1, 1, 0), (executor, summary)
