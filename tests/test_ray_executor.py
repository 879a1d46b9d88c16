"""Runs on a real local Ray cluster (started here on 127.0.0.1 with 2 CPUs, no dashboard, stopped by the PID this
test started): a template trains with live events arriving at the server several times a second, Stop ends it
within 2 s, a killed actor ends its run as interrupted with the history saying so, a GPU asked of a cluster
without one is refused at once in words, and a 3-value sweep trains its values at the same time."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]" to run these tests')

from builder.project import dump_project  # noqa: E402
from builder.templates import load_template  # noqa: E402
from data.datasets import load_dataset  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.runstore import RunStore  # noqa: E402
from ui.train.live_work import RunOrder, Views  # noqa: E402
from ui.train.ray_executor import RayExecutor  # noqa: E402
from ui.train.run_manager import RunManager, RunState  # noqa: E402

ROOT = str(Path(__file__).resolve().parent.parent)
pytestmark = pytest.mark.slow


def _ray_local():
    """bench/ray_local.py: the same private cluster the executor bench starts."""
    spec = importlib.util.spec_from_file_location("layerlab_ray_local", Path(ROOT) / "bench" / "ray_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on 127.0.0.1 with 2 CPUs and no GPU, in the foreground (--block) of a process of ours: ending
    that PID ends the cluster. Yields its address, with this process connected to it."""
    ray_local = _ray_local()
    head, address = ray_local.start_head(num_cpus=2)
    try:
        executor = RayExecutor(address=address)
        deadline = time.monotonic() + 120
        while True:
            try:
                executor.connect()
                break
            except Exception:  # the head is still starting
                if time.monotonic() > deadline or head.poll() is not None:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        ray.shutdown()
        ray_local.stop_head(head)


def _xor(epochs: int):
    graph = load_template("xor_mlp")
    meta = graph.meta["training"]
    dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
    return graph, dataset, TrainConfig.from_dict({**meta, "epochs": epochs})


def _submit(manager, executor, epochs, store=None, session="s"):
    graph, dataset, config = _xor(epochs)
    views = Views(graph, dataset, config, "classification")
    order = RunOrder(dump_project(graph), dataset, config, "classification", str(store.path) if store else None)
    handle = manager.submit(session, lambda h: executor.run(order, views, h, store, graph=graph), label=session)
    return handle, views


def _wait_for(predicate, timeout: float = 90.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_template_streams_live_events_and_stop_ends_it_within_two_seconds(cluster, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    handle, views = _submit(manager, RayExecutor(address=cluster), 5000, store)
    assert _wait_for(lambda: any(e.kind == "epoch" for e in handle.events)), handle.error
    assert handle.worker_pid not in (None, os.getpid())
    # the page reads handle.events: count the moments new events arrived over 3 seconds
    arrivals, seen, began = 0, len(handle.events), time.monotonic()
    while time.monotonic() - began < 3.0:
        time.sleep(0.02)
        if len(handle.events) != seen:
            arrivals, seen = arrivals + 1, len(handle.events)
    assert arrivals / 3.0 >= 2, f"{arrivals} arrivals in 3 s"
    assert views.boundary is not None and views.health is not None  # the live views came too
    began = time.monotonic()
    manager.stop(handle)
    assert handle.wait(10)
    assert time.monotonic() - began <= 2.0
    assert handle.state is RunState.STOPPED and handle.result.status == "stopped"
    assert store.get_run(handle.result.run_id).status == "stopped"


def test_a_killed_actor_ends_its_run_as_interrupted_while_another_finishes(cluster, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    manager = RunManager(max_runs=2, heartbeat_timeout=600)
    executor = RayExecutor(address=cluster)
    doomed, _ = _submit(manager, executor, 5000, store, session="doomed")
    other, _ = _submit(manager, executor, 8, store, session="other")
    assert _wait_for(lambda: any(e.kind == "epoch" for e in doomed.events)), doomed.error
    os.kill(doomed.worker_pid, signal.SIGKILL)
    assert doomed.wait(30)
    assert doomed.state is RunState.FAILED
    assert doomed.error.startswith("interrupted: the run's process on the Ray cluster died"), doomed.error
    assert other.wait(120) and other.state is RunState.FINISHED and other.result.epochs == 8
    statuses = {r.id: (r.status, r.message) for r in store.list_runs()}
    assert statuses[other.result.run_id] == ("finished", "trained 8 epochs")
    assert ("interrupted", doomed.error) in statuses.values()


def test_a_gpu_asked_of_a_cluster_without_one_is_refused_at_once(cluster):
    manager = RunManager(max_runs=1, heartbeat_timeout=600)
    began = time.monotonic()
    handle, _ = _submit(manager, RayExecutor(address=cluster, num_gpus=1), 3)
    assert handle.wait(30), "the run waited for a GPU that the cluster does not have"
    assert time.monotonic() - began < 10
    assert handle.state is RunState.FAILED
    assert handle.error == ("this run asks the Ray cluster for 1 GPU but it has 0 GPUs in all: it would wait "
                            "forever. Set ray_num_gpus to at most 0, or add a machine with GPUs to the cluster")


def test_a_three_value_sweep_trains_its_values_at_the_same_time(cluster, tmp_path, capsys, monkeypatch):
    from builder.settings import settings
    from cli.main import main

    monkeypatch.setenv("LAYERLAB_RAY_NUM_CPUS", "0.5")  # three runs on the 2-CPU cluster at once
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "thread")  # --executor below sets these for the process: undone after
    monkeypatch.setenv("LAYERLAB_RAY_ADDRESS", "")
    try:
        # each run trains for 8 s (its time limit), long enough to outlast the others' start on a busy machine
        code = main(["train", "xor_mlp", "--epochs", "10000", "--max-seconds", "8", "--sweep", "lr=0.01,0.1,0.5", "--executor", "ray",
                     "--ray-address", cluster, "--db", str(tmp_path / "runs.sqlite"), "--json"])
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["executor"] == "ray" and out["sweep"] == "lr"
    runs = out["runs"]
    assert [r["value"] for r in runs] == [0.01, 0.1, 0.5]
    assert all(r["status"] == "stopped" and r["message"].startswith("time limit of 8 s") for r in runs), runs
    assert len({r["worker_pid"] for r in runs}) == 3 and os.getpid() not in {r["worker_pid"] for r in runs}
    # in parallel: every run had begun sending events before any of them ended
    assert max(r["first_event_s"] for r in runs) < min(r["ended_s"] for r in runs), runs
    history = RunStore(tmp_path / "runs.sqlite").list_runs()
    assert sorted(r.id for r in history) == sorted(r["run_id"] for r in runs)


def test_a_run_waiting_for_the_cluster_says_so_and_stops_while_it_waits(cluster):
    manager = RunManager(max_runs=3, heartbeat_timeout=600)
    executor = RayExecutor(address=cluster)  # one CPU per run: two runs fill the 2-CPU cluster
    busy = [_submit(manager, executor, 5000, session=f"busy{i}")[0] for i in range(2)]
    assert _wait_for(lambda: all(any(e.kind == "epoch" for e in h.events) for h in busy)), [h.error for h in busy]
    third, _ = _submit(manager, executor, 5000, session="third")
    assert _wait_for(lambda: third.waiting != "", timeout=30)
    assert third.waiting == "waiting for a CPU on the cluster: 0 of 2 free (other runs are using them)"
    assert third.state is RunState.RUNNING and third.events == []  # the manager started it; the cluster has no room
    began = time.monotonic()
    for handle in (third, *busy):
        manager.stop(handle)
    assert all(h.wait(10) for h in (third, *busy))
    assert time.monotonic() - began <= 2.0
    assert third.state is RunState.STOPPED and third.worker_pid is None
    assert [h.state for h in busy] == [RunState.STOPPED, RunState.STOPPED]
