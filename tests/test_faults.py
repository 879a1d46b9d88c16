"""Faults: a training process killed mid-run, a damaged run history, a deleted or damaged weights file.

The kill is real (SIGKILL to a `layerlab train` subprocess); the damage is real bytes written over real SQLite
and safetensors files. Every fault ends in a consistent store or one clear line, never a traceback.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cli.main import main
from training.runstore import RunStore, RunStoreError

REPO = Path(__file__).resolve().parent.parent


def _rows(db: Path, sql: str) -> list[tuple]:
    """Read the store as a second process would: read-only, never marking anything."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # no table yet: the child is still creating the store
        return []
    finally:
        conn.close()


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the training process ended early: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the training process")


@pytest.mark.slow
def test_killed_training_leaves_a_consistent_store_and_an_interrupted_run(tmp_path):
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "LAYERLAB_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "train", "xor_mlp", "--epochs", "1000", "--max-seconds", "120", "--db", str(db)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Killed while epochs are being written: the run is "running" with some epochs committed.
        _wait_for(lambda: len(_rows(db, "SELECT epoch FROM epochs")) >= 3, 90, proc)
        assert _rows(db, "SELECT status FROM runs") == [("running",)]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()  # reaped: a zombie still answers os.kill(pid, 0)
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{db}-wal").exists()  # the kill left a write-ahead log behind: recovery is exercised
    assert _rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]  # as the kill left it, WAL file included
    assert _rows(db, "SELECT status FROM runs") == [("running",)]
    store = RunStore(db)  # opening marks runs whose process is gone
    assert [tuple(r) for r in store._conn().execute("PRAGMA integrity_check")] == [("ok",)]
    [run] = store.list_runs()
    assert (run.status, run.message) == ("interrupted", "the process ended during the run")
    epochs = store.get_run(run.id).epochs
    assert len(epochs) >= 3 and [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    with pytest.raises(RunStoreError, match="has no saved weights"):
        store.weights_state(run.id)
    store.start_run("after", {}, {}, "gates", "cpu")  # the store goes on working
    assert len(store.list_runs()) == 2


# -- a damaged run history ----------------------------------------------------------------------------
def _real_store(path: Path) -> None:
    store = RunStore(path)
    for k in range(30):
        run = store.start_run(f"model{k}", {"layerlab": 1, "padding": "x" * 2000}, {}, "iris", "cpu")
        for epoch in range(1, 4):
            store.add_epoch(run, epoch, {"loss": 1.0 / epoch})
        store.finish_run(run, "finished", state_dict={"w": torch.zeros(3)})
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    store.close()


def _truncate(fraction: float):
    def damage(path: Path) -> None:
        with open(path, "r+b") as handle:
            handle.truncate(int(path.stat().st_size * fraction))
    return damage


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x13\x37 not a database " * 300)


def _bad_header(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(16)  # the page size
        handle.write(b"\x00\x03")


DAMAGE = {"garbage": _garbage, "truncated_to_half": _truncate(0.5), "truncated_to_50_bytes": _truncate(50 / 122880),
          "bad_page_size": _bad_header}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("command", [["runs"], ["train", "xor_mlp", "--epochs", "1"]])
def test_damaged_history_is_one_line_and_exit_2(tmp_path, capsys, damage, command):
    db = tmp_path / "runs.sqlite"
    _real_store(db)
    DAMAGE[damage](db)
    assert main([*command, "--db", str(db)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "epoch" not in out  # refused before training
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"the run history {db} can't be used (")
    assert lines[0].endswith("move the file away (a new one is created) or choose another path")


def test_a_fresh_store_replaces_one_moved_away(tmp_path, capsys):
    db = tmp_path / "runs.sqlite"
    _garbage(db)
    db.rename(tmp_path / "runs.broken")
    assert main(["runs", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("no runs recorded yet")


# -- weights ------------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    model = torch.nn.Linear(4, 3)
    run = store.start_run("lin", {}, {}, "iris", "cpu")
    store.add_epoch(run, 1, {"loss": 0.5})
    store.finish_run(run, "finished", state_dict=model.state_dict())
    return store, run, model


def test_weights_load_while_the_file_is_there(finished_run, capsys):
    store, run, model = finished_run
    loaded = store.load_weights(run, torch.nn.Linear(4, 3))
    assert torch.equal(loaded.weight, model.weight)
    assert main(["runs", "--db", str(store.path), "--show", run]) == 0
    out = capsys.readouterr().out
    assert f"weights: {store.weights_dir / (run + '.safetensors')} (2 tensors)" in out


def test_deleted_weights_file_gives_a_clear_message(finished_run, capsys):
    store, run, _ = finished_run
    path = Path(store.get_run(run).weights)
    path.unlink()
    message = f"the weights file of run {run!r} is missing: {path} was deleted or moved"
    with pytest.raises(RunStoreError) as err:
        store.load_weights(run, torch.nn.Linear(4, 3))
    assert str(err.value) == message
    assert main(["runs", "--db", str(store.path), "--show", run]) == 1
    out, err_text = capsys.readouterr()
    assert err_text.strip() == message and f"{run}  lin  iris" in out  # the record itself still shows
    assert main(["runs", "--db", str(store.path), "--show", "nope"]) == 2
    assert capsys.readouterr().err.strip() == f"no run 'nope' in {store.path}: give a run's number or id (`layerlab runs` lists them)"


def test_damaged_weights_file_gives_a_clear_message(finished_run, capsys):
    store, run, _ = finished_run
    path = Path(store.get_run(run).weights)
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(RunStoreError, match=rf"the weights file of run '{run}' \(.*\) is damaged and can't be read"):
        store.load_weights(run, torch.nn.Linear(4, 3))
    assert main(["runs", "--db", str(store.path), "--show", run, "--json"]) == 1
    out, err = capsys.readouterr()
    assert '"weights_ok": false' in out and "is damaged" in err and "Traceback" not in err


def test_a_run_that_saved_no_weights_says_so(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run = store.start_run("lin", {}, {}, "iris", "cpu")
    store.finish_run(run, "failed", "boom")
    with pytest.raises(RunStoreError, match=rf"run '{run}' has no saved weights \(status: failed\)"):
        store.load_weights(run, torch.nn.Linear(4, 3))
