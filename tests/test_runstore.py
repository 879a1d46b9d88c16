"""The SQLite run store with real files: recording a training run, weights round trip, stale runs,
a corrupt database, concurrent writers, curves for comparison."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from builder.templates import load_template
from codegen.loader import build_model
from data.datasets import load_dataset
from training.engine import TrainConfig, train
from training.runstore import RunStore, RunStoreError, default_data_dir


@pytest.fixture()
def store(tmp_path):
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


def test_training_run_is_recorded_with_weights(store):
    data = load_dataset("iris", seed=0)
    graph = load_template("digits_mlp")
    graph = graph.replace_node(graph.node("x").with_params(shape=[4]))
    graph = graph.replace_node(graph.node("fc3").with_params(out_features=3))
    result = train(graph, data, TrainConfig(epochs=3, lr=0.01), store=store)
    record = store.get_run(result.run_id)
    assert (record.status, record.dataset, record.device, record.name) == ("finished", "iris", "cpu", "digits_mlp")
    assert [e["epoch"] for e in record.epochs] == [1, 2, 3]
    assert record.metrics["test_accuracy"] == result.test_metrics["accuracy"]
    assert record.config["lr"] == 0.01 and record.graph["name"] == "digits_mlp"
    model = store.load_weights(result.run_id, build_model(result.source, seed=99))
    x = data.test.inputs[0]
    with torch.no_grad():
        assert torch.equal(model.eval()(x), result.model.eval()(x))
    assert [r.id for r in store.list_runs()] == [result.run_id]
    assert store.compare([result.run_id], "val_loss") == {result.run_id: [e["val_loss"] for e in record.epochs]}


def test_auto_threads_are_recorded_as_the_count_the_run_used(store):
    """Threads 0 picks a count by the model's size and the machine's load; the record keeps the count, so the
    run's export (and a resume) trains with it, not with whatever auto picks on another day."""
    from export.files import export_bytes

    data = load_dataset("iris", seed=0)
    graph = load_template("tabular_mlp")
    auto = train(graph, data, TrainConfig(epochs=1, threads=0), store=store)
    fixed = train(graph, data, TrainConfig(epochs=1, threads=3), store=store)
    assert store.get_run(auto.run_id).config["threads"] == 1  # a small model's steps: one thread (device.py)
    assert store.get_run(fixed.run_id).config["threads"] == 3
    record = store.get_run(auto.run_id)
    script = export_bytes(graph, "script", settings=record.config, dataset=record.dataset).decode()
    assert "'threads': (int, 1," in script


def test_weights_that_do_not_fit_are_refused(store):
    run = store.start_run("m", {"name": "m"}, {}, "digits", "cpu")
    store.finish_run(run, "finished", state_dict=torch.nn.Linear(2, 3).state_dict())
    with pytest.raises(RunStoreError, match="don't fit this model"):
        store.load_weights(run, torch.nn.Linear(4, 3))
    with pytest.raises(RunStoreError, match="no run 'nope'"):
        store.get_run("nope")


def test_stale_running_runs_become_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    first = RunStore(path)
    run = first.start_run("m", {}, {}, "digits", "cpu")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    first._write("UPDATE runs SET pid=? WHERE id=?", (int(dead.stdout), run))  # as if another process had died
    live = first.start_run("mine", {}, {}, "digits", "cpu")  # this process is alive: left alone
    first.close()
    reopened = RunStore(path)
    assert reopened.get_run(run).status == "interrupted"
    assert reopened.get_run(live).status == "running"


def test_corrupt_database_gives_clear_error(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RunStoreError) as err:
        RunStore(path)
    assert str(path) in str(err.value) and "can't be used" in str(err.value)


def test_concurrent_writers(store):
    def writer(k: int) -> None:
        for _ in range(5):
            run = store.start_run(f"m{k}", {}, {}, "digits", "cpu")
            for epoch in range(1, 4):
                store.add_epoch(run, epoch, {"val_loss": 1.0 / epoch})
            store.finish_run(run, "finished", metrics={"test_accuracy": 0.5})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = store.list_runs()
    assert len(runs) == 20 and {r.status for r in runs} == {"finished"}
    assert all(len(store.get_run(r.id).epochs) == 3 for r in runs)


def test_default_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    assert RunStore().path == tmp_path / "data" / "runs.sqlite"


def test_runs_are_numbered_and_found_by_number_or_id(store):
    first = store.start_run("a", {}, {}, "digits", "cpu")
    second = store.start_run("b", {}, {}, "digits", "cpu")
    store.finish_run(second, "stopped", metrics={"task": "classification", "test": {"accuracy": 0.98148}})
    assert [r.number for r in store.list_runs()] == [2, 1]
    for ref in ("2", "#2", "run 2", 2, second):
        assert store.find_run(ref).id == second, ref
    assert store.find_run(first).number == 1 and store.get_run(second).summary()["number"] == 2
    assert store.get_run(second).weights_label == "trained: run 2 (stopped), test accuracy 0.981"
    with pytest.raises(RunStoreError, match="no run number 3 .*`layerlab runs` lists them"):
        store.find_run("3")
    with pytest.raises(RunStoreError, match="no run 'x7' .*give a run's number or id"):
        store.find_run("x7")


def test_weights_labels_say_what_the_run_reached():
    from training.runstore import trained_label

    assert trained_label("run 12", "finished", ("accuracy", 0.981)) == "trained: run 12, test accuracy 0.981"
    assert trained_label("run 3", "finished", ("rmse", 12.3456)) == "trained: run 3, test rmse 12.35"
    assert trained_label("run 4", "finished", ("token_accuracy", 0.5)) == "trained: run 4, test token accuracy 0.500"
    assert trained_label("run 5", "failed", None) == "trained: run 5 (failed)"
