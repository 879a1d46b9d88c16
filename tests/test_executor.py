"""Runs in worker processes, with real processes, real torch and a real SQLite history: the same events and the
same result as in a thread (bit for bit on CPU), Stop within 2 s, a killed worker or one past its memory cap ends
its run with words while another run finishes, and an exception reads as it does in a thread."""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch

from builder.edits import set_param
from builder.project import dump_project
from builder.templates import load_template
from data.datasets import load_dataset
from training.config import TrainConfig
from training.runstore import RunStore
from ui.train.executor import ThreadExecutor
from ui.train.live_work import RunOrder, Views
from ui.train.process_executor import ProcessExecutor
from ui.train.run_manager import RunManager, RunState


@pytest.fixture(scope="module")
def executor():
    ex = ProcessExecutor()
    ex.warm()
    yield ex
    ex.close()


def _xor(epochs: int, graph=None):
    graph = graph or load_template("xor_mlp")
    meta = graph.meta["training"]
    dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
    return graph, dataset, TrainConfig.from_dict({**meta, "epochs": epochs})


def _submit(manager, executor, graph, dataset, config, store, session="s", resume=None):
    views = Views(graph, dataset, config, "classification")
    order = RunOrder(dump_project(graph), dataset, config, "classification", str(store.path) if store else None,
                     resume)
    handle = manager.submit(session, lambda h: executor.run(order, views, h, store, graph=graph), label=session)
    return handle, views


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_worker_run_equals_a_thread_run_bit_for_bit_with_its_events_in_order(tmp_path, executor):
    store = RunStore(tmp_path / "runs.sqlite")
    graph, dataset, config = _xor(6)
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    runs = {}
    for name, ex in (("thread", ThreadExecutor()), ("process", executor)):
        handle, views = _submit(manager, ex, graph, dataset, config, store, session=name)
        assert handle.wait(120), name
        assert handle.state is RunState.FINISHED, handle.error
        runs[name] = handle, views
    (thread, thread_views), (process, process_views) = runs["thread"], runs["process"]
    assert process.worker_pid not in (None, os.getpid()) and thread.worker_pid is None
    a, b = thread.result, process.result
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert [r["val_loss"] for r in a.history] == [r["val_loss"] for r in b.history]
    assert a.test_metrics == b.test_metrics
    ours, theirs = a.model.state_dict(), b.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    # the events: the same kinds in the same order, epochs 1..6, steps never going back, no model attached
    kinds = [e.kind for e in process.events]
    assert [k for k in kinds if k != "step"] == [e.kind for e in thread.events if e.kind != "step"]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert [e.epoch for e in process.events if e.kind == "epoch"] == [1, 2, 3, 4, 5, 6]
    steps = [e.step for e in process.events]
    assert steps == sorted(steps) and all(e.model is None for e in process.events)
    assert [e.train_loss for e in process.events if e.kind == "epoch"] == [r["train_loss"] for r in b.history]
    # the live views came back as arrays: the boundary, the neuron tiles, the health log
    assert process_views.plan is not None and process_views.boundary[2].shape == (40, 40)
    assert [layer.maps.shape for layer in process_views.neurons.layers] == \
        [layer.maps.shape for layer in thread_views.neurons.layers]
    assert process_views.health.log.samples and process_views.health.log.layers == thread_views.health.log.layers
    # the worker wrote the history itself: the same rows as the thread's run
    rows = {name: store.get_run(h.result.run_id) for name, (h, _) in runs.items()}
    assert [r.status for r in rows.values()] == ["finished", "finished"]
    assert [e["train_loss"] for e in rows["thread"].epochs] == [e["train_loss"] for e in rows["process"].epochs]


def test_a_used_worker_trains_the_next_run_as_a_fresh_one_would(tmp_path):
    """Runs one after another reuse the warm worker (no torch import each): the worker that trained digits_cnn,
    which picks its own thread count, trains xor next bit for bit as a thread does. A stopped run's worker goes
    on too, with Stop cleared."""
    ex = ProcessExecutor(keep=1)
    ex.warm()
    try:
        manager = RunManager(max_runs=1, heartbeat_timeout=600)
        store = RunStore(tmp_path / "runs.sqlite")
        cnn = load_template("digits_cnn")
        meta = cnn.meta["training"]
        cnn_data = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
        first, _ = _submit(manager, ex, cnn, cnn_data, TrainConfig.from_dict({**meta, "epochs": 1}), store, "a")
        assert first.wait(180) and first.state is RunState.FINISHED, first.error
        stopped, _ = _submit(manager, ex, *_xor(5000), store, session="b")
        assert _wait_for(lambda: any(e.kind == "epoch" for e in stopped.events))
        manager.stop(stopped)
        assert stopped.wait(10) and stopped.state is RunState.STOPPED
        again, _ = _submit(manager, ex, *_xor(6), store, session="c")
        assert again.wait(120) and again.state is RunState.FINISHED, again.error
        assert first.worker_pid == stopped.worker_pid == again.worker_pid  # one warm worker trained all three
        thread, _ = _submit(manager, ThreadExecutor(), *_xor(6), store, session="t")
        assert thread.wait(120) and thread.state is RunState.FINISHED
        assert [r["train_loss"] for r in again.result.history] == [r["train_loss"] for r in thread.result.history]
        ours, theirs = thread.result.model.state_dict(), again.result.model.state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    finally:
        ex.close()


def test_stop_ends_a_worker_run_within_two_seconds(tmp_path, executor):
    graph, dataset, config = _xor(5000)
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    handle, _ = _submit(manager, executor, graph, dataset, config, RunStore(tmp_path / "runs.sqlite"))
    assert _wait_for(lambda: any(e.kind == "epoch" for e in handle.events))
    began = time.monotonic()
    manager.stop(handle)
    assert handle.wait(10)
    assert time.monotonic() - began <= 2.0
    assert handle.state is RunState.STOPPED and handle.result.status == "stopped"
    assert RunStore(tmp_path / "runs.sqlite").get_run(handle.result.run_id).status == "stopped"


def test_stop_before_the_worker_is_ready_ends_the_run_at_once_and_the_worker_trains_the_next(tmp_path):
    """Train tab opened, Start, Stop at once: the first worker is still importing torch (seconds on a busy
    machine). The run ends as soon as Stop is seen, with nothing in the history; a second run started and stopped
    while that worker puts the order behind it doesn't start another worker; a third run trains in it."""
    ex = ProcessExecutor(keep=1)
    try:
        manager = RunManager(max_runs=1, heartbeat_timeout=600)
        store = RunStore(tmp_path / "runs.sqlite")
        cold, _ = _submit(manager, ex, *_xor(5000), store, session="a")
        assert _wait_for(lambda: cold.worker_pid is not None, 10)
        began = time.monotonic()
        manager.stop(cold)
        assert cold.wait(10)
        assert time.monotonic() - began <= 1.0, "Stop waited for the worker to finish starting"
        assert cold.state is RunState.STOPPED and cold.result is None
        assert cold.stop_reason == "stopped by the user before training began"
        again, _ = _submit(manager, ex, *_xor(5000), store, session="b")  # while the first still starts
        time.sleep(0.2)
        manager.stop(again)
        assert again.wait(10) and again.state is RunState.STOPPED and again.worker_pid is None
        last, _ = _submit(manager, ex, *_xor(6), store, session="c")
        assert last.wait(180) and last.state is RunState.FINISHED, last.error
        assert last.worker_pid == cold.worker_pid  # the one worker, kept: no second torch import
        assert [run.id for run in store.list_runs()] == [last.result.run_id]  # the stopped ones never began
    finally:
        ex.close()


def test_a_killed_worker_interrupts_its_run_while_another_run_finishes(tmp_path, executor):
    store = RunStore(tmp_path / "runs.sqlite")
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    graph, dataset, long_config = _xor(5000)
    doomed, _ = _submit(manager, executor, graph, dataset, long_config, store, session="doomed")
    other, _ = _submit(manager, executor, *_xor(8), store, session="other")
    assert _wait_for(lambda: any(e.kind == "epoch" for e in doomed.events))
    os.kill(doomed.worker_pid, signal.SIGKILL)
    assert doomed.wait(10)
    assert doomed.state is RunState.FAILED
    assert doomed.error.startswith("interrupted: the training process was killed by SIGKILL")
    assert other.wait(120) and other.state is RunState.FINISHED and other.result.epochs == 8
    statuses = {r.id: (r.status, r.message) for r in store.list_runs()}
    assert statuses[other.result.run_id] == ("finished", "trained 8 epochs")
    assert sorted(statuses.values())[1] == ("interrupted", doomed.error)  # the history says why, in words
    # the server goes on: the next run starts on a fresh worker and finishes
    again, _ = _submit(manager, executor, *_xor(2), store, session="again")
    assert again.wait(120) and again.state is RunState.FINISHED


def test_a_run_past_its_memory_cap_fails_with_words_while_another_finishes(tmp_path, executor):
    capped = ProcessExecutor(memory_mb=100)
    try:
        graph, dataset, config = _xor(3)
        huge = set_param(graph, "hidden", "out_features", 10_000_000)  # 40 M parameters: 160 MB before Adam
        manager = RunManager(max_runs=2, heartbeat_timeout=600)
        greedy, _ = _submit(manager, capped, huge, dataset, config, None, session="greedy")
        other, _ = _submit(manager, executor, graph, dataset, config, None, session="other")
        assert greedy.wait(120) and other.wait(120)
        said = greedy.error if greedy.state is RunState.FAILED else greedy.result.message
        assert "memory" in said, said
        assert greedy.state is RunState.FAILED or greedy.result.status == "failed"
        assert other.state is RunState.FINISHED and other.result.epochs == 3
    finally:
        capped.close()


def test_an_exception_in_the_worker_reads_as_it_does_in_a_thread(tmp_path, executor):
    store = RunStore(tmp_path / "runs.sqlite")
    graph, dataset, config = _xor(2)
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    errors = []
    for name, ex in (("thread", ThreadExecutor()), ("process", executor)):
        handle, _ = _submit(manager, ex, graph, dataset, config, store, session=name, resume="no-such-run")
        assert handle.wait(120)
        assert handle.state is RunState.FAILED
        errors.append(handle.error)
    assert errors[0] == errors[1] and errors[0].startswith("FitError: ") and "no-such-run" in errors[0]


def test_a_warm_worker_keeps_the_servers_settings_as_they_are_now(monkeypatch, executor):
    from builder.settings import settings

    executor.warm()  # started before the limit below was set
    monkeypatch.setenv("LAYERLAB_MAX_EPOCHS", "3")
    settings.cache_clear()
    try:
        manager = RunManager(max_runs=1, heartbeat_timeout=600)
        handle, _ = _submit(manager, executor, *_xor(5), None)
        assert handle.wait(120) and handle.state is RunState.FAILED
        assert handle.error.startswith("FitError: 5 epochs is more than this server allows (3, LAYERLAB_MAX_EPOCHS)")
    finally:
        monkeypatch.delenv("LAYERLAB_MAX_EPOCHS")
        settings.cache_clear()


def test_the_train_tab_trains_in_a_worker_and_draws_what_it_sent(monkeypatch, tmp_path):
    """The page itself with executor = process: the run comes from a worker; the live views and the results
    (drawn from the model rebuilt in the server) are on the page; the history has the run."""
    from app_helpers import stop_all_runs
    from test_train_panel import _app, _figures, _run, _set_epochs, _train_to_end

    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_EXECUTOR", "process")
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    settings.cache_clear()
    try:
        at = _app("xor_mlp")
        _set_epochs(at, 4)
        _train_to_end(at)
        run = _run(at)
        assert run.handle.state is RunState.FINISHED and run.handle.worker_pid not in (None, os.getpid())
        assert run.plan is not None and run.boundary is not None and run.neurons.layers
        assert type(run.health).__name__ == "HealthView" and run.health.log.samples
        figures = _figures(at)
        assert "Decision boundary" in figures and "Confusion matrix" in figures
        assert RunStore(tmp_path / "runs.sqlite").get_run(run.handle.result.run_id).status == "finished"
    finally:
        stop_all_runs()
        monkeypatch.delenv("LAYERLAB_EXECUTOR")
        settings.cache_clear()


SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from builder.project import dump_project
from builder.templates import load_template
from data.datasets import load_dataset
from training.config import TrainConfig
from training.runstore import RunStore
from ui.train.process_executor import ProcessExecutor
from ui.train.live_work import RunOrder, Views
from ui.train.run_manager import RunManager

if __name__ == "__main__":
    graph = load_template("xor_mlp")
    meta = graph.meta["training"]
    dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {{}}))
    config = TrainConfig.from_dict({{**meta, "epochs": 5000}})
    store = RunStore({store!r})
    order = RunOrder(dump_project(graph), dataset, config, "classification", {store!r})
    views = Views(graph, dataset, config, "classification")
    executor = ProcessExecutor()
    handle = RunManager(max_runs=1, heartbeat_timeout=600).submit(
        "s", lambda h: executor.run(order, views, h, store, graph=graph))
    while not any(e.kind == "epoch" for e in handle.events):
        time.sleep(0.02)
    print(handle.worker_pid, store.list_runs()[0].id, flush=True)
    time.sleep(600)
"""


def _ended(pid: str) -> bool:
    """The process has exited (gone, or a zombie left for whoever adopted it to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_a_worker_whose_server_died_stops_its_run_and_says_so(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    store_path = str(tmp_path / "runs.sqlite")
    script = tmp_path / "server.py"
    script.write_text(SERVER.format(root=str(Path(__file__).resolve().parent.parent), store=store_path))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker_pid, run_id = server.stdout.readline().split()
        os.kill(server.pid, signal.SIGKILL)  # the server goes; nobody is left to press Stop
        server.wait(10)
        store = RunStore(store_path)
        assert _wait_for(lambda: store.get_run(run_id).status != "running", timeout=30)
        record = store.get_run(run_id)
        assert record.status == "stopped" and record.message.startswith("stopped by request"), record.summary()
        assert _wait_for(lambda: _ended(worker_pid), timeout=30)
    finally:
        if server.poll() is None:
            server.kill()


def test_a_classroom_server_caps_each_run_and_the_owners_own_server_does_not(monkeypatch):
    """worker_memory_mb 0: on a server listening beyond this machine each run may use the machine's memory
    shared among the runs at once and the server; on 127.0.0.1 nothing is capped. A set value wins either way."""
    from builder.settings import settings
    from ui.train.executor import run_memory_cap_mb
    from ui.train.run_manager import get_manager

    monkeypatch.delenv("LAYERLAB_WORKER_MEMORY_MB", raising=False)
    settings.cache_clear()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert run_memory_cap_mb("0.0.0.0") == total // (get_manager().max_runs + 1) > 0
    assert run_memory_cap_mb("127.0.0.1") == 0
    monkeypatch.setenv("LAYERLAB_WORKER_MEMORY_MB", "64")
    settings.cache_clear()
    try:
        assert run_memory_cap_mb("0.0.0.0") == run_memory_cap_mb("127.0.0.1") == 64
    finally:
        monkeypatch.delenv("LAYERLAB_WORKER_MEMORY_MB")
        settings.cache_clear()


def test_a_run_the_summary_says_is_over_the_cap_is_refused_before_it_starts(monkeypatch):
    """The Train tab says why in words and Start stays off; under the cap, or training in threads, it starts."""
    from test_train_panel import _app, _button

    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_EXECUTOR", "process")
    monkeypatch.setenv("LAYERLAB_WORKER_MEMORY_MB", "1")
    settings.cache_clear()
    try:
        at = _app("digits_cnn")
        warnings = [w.value for w in at.warning]
        assert any(w.startswith("this run needs about") and "more than the 1 MB one run may use" in w
                   for w in warnings), warnings
        assert _button(at, "▶ Start training").disabled
        monkeypatch.setenv("LAYERLAB_WORKER_MEMORY_MB", "4096")
        settings.cache_clear()
        at = _app("digits_cnn")
        assert not at.warning and not _button(at, "▶ Start training").disabled
        monkeypatch.setenv("LAYERLAB_WORKER_MEMORY_MB", "1")
        monkeypatch.setenv("LAYERLAB_EXECUTOR", "thread")  # nothing caps a thread's run
        settings.cache_clear()
        assert not _button(_app("digits_cnn"), "▶ Start training").disabled
    finally:
        for name in ("LAYERLAB_EXECUTOR", "LAYERLAB_WORKER_MEMORY_MB"):
            monkeypatch.delenv(name)
        settings.cache_clear()
