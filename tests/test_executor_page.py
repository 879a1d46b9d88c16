"""The page with executor = process when a run's worker is killed: the run ends as interrupted with the words
on the page and in the history, and the same page (the same server process) goes on answering and trains its
next run to the end. tests/test_executor.py has the executor's own checks."""

from __future__ import annotations

import os
import signal
import time

import pytest

from training.runstore import RunStore
from ui.train.run_manager import RunState

pytestmark = pytest.mark.slow


def test_a_killed_worker_reads_interrupted_on_the_page_and_the_page_trains_again(monkeypatch, tmp_path):
    from app_helpers import stop_all_runs
    from test_train_panel import _app, _button, _run, _set_epochs, _train_to_end

    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_EXECUTOR", "process")
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    settings.cache_clear()
    try:
        at = _app("xor_mlp")
        _set_epochs(at, 5000)
        _button(at, "▶ Start training").click()
        at.run()
        handle = _run(at).handle
        deadline = time.monotonic() + 90
        while not any(e.kind == "epoch" for e in handle.events) and time.monotonic() < deadline:
            time.sleep(0.3)
            at.run()  # the page polls while the worker trains
        assert handle.worker_pid not in (None, os.getpid()) and handle.state is RunState.RUNNING
        os.kill(handle.worker_pid, signal.SIGKILL)
        assert handle.wait(30)
        at.run()
        assert not at.exception, at.exception
        said = [e.value for e in at.error]
        assert any(s.startswith("The run failed: interrupted: the training process was killed by SIGKILL") for s in said), said
        # the server answers: the same page trains again, to the end
        _set_epochs(at, 3)
        _train_to_end(at)
        again = _run(at).handle
        assert again is not handle and again.state is RunState.FINISHED and again.result.epochs == 3
        rows = {r.status for r in RunStore(tmp_path / "runs.sqlite").list_runs()}
        assert rows == {"interrupted", "finished"}
    finally:
        stop_all_runs()
        monkeypatch.delenv("LAYERLAB_EXECUTOR")
        settings.cache_clear()
