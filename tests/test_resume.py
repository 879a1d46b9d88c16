"""Runs that continue: a run killed after epoch 3 of 6 and resumed gives the uninterrupted run's per-epoch
losses (CPU, bit for bit in practice; checked to 1e-6), through the real CLI in real processes and a real
SQLite history. Also: what a checkpoint holds, how it is read (weights_only), and the clear refusals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.checkpoint import BEST, LAST, CheckpointError, load_last
from training.runstore import RunStore

ROOT = Path(__file__).resolve().parent.parent
SIX = ["digits_cnn", "--epochs", "6", "--threads", "1", "--seed", "3"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def _epochs(db: Path) -> list[dict]:
    store = RunStore(db)
    return store.get_run(store.list_runs()[0].id).epochs


def _stored_epochs(db: Path) -> int:
    """Epochs the history shows, read with plain SQLite (the process being watched is writing to it)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:  # the table isn't created yet
        return 0


def test_a_killed_run_resumed_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    whole, broken = tmp_path / "whole.sqlite", tmp_path / "broken.sqlite"
    done = _cli("train", *SIX, "--db", str(whole), "--json")
    assert done.returncode == 0, done.stderr
    reference = _epochs(whole)
    assert [e["epoch"] for e in reference] == [1, 2, 3, 4, 5, 6]

    process = subprocess.Popen([sys.executable, "-m", "cli", "train", *SIX, "--db", str(broken), "--json"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _stored_epochs(broken) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # no goodbye: as a crash or a power cut
    process.wait()
    store = RunStore(broken)  # opening the store marks the dead process's run
    killed = store.get_run(store.list_runs()[0].id)
    assert killed.status == "interrupted"
    assert 3 <= len(killed.epochs) < 6, "the run must be killed before its end"

    resumed = _cli("train", "--resume", str(killed.number), "--db", str(broken), "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "finished" and summary["run_id"] == killed.id
    record = RunStore(broken).get_run(killed.id)
    assert record.status == "finished"
    assert [e["epoch"] for e in record.epochs] == [1, 2, 3, 4, 5, 6]
    for mine, theirs in zip(record.epochs, reference):
        for key in ("train_loss", "val_loss", "accuracy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-9), (mine["epoch"], key)
    # the final weights are the uninterrupted run's too
    a, b = RunStore(whole).weights_state(reference_id(whole)), RunStore(broken).weights_state(killed.id)
    assert all(torch.allclose(a[k], b[k], rtol=1e-6, atol=1e-7) for k in a)


def reference_id(db: Path) -> str:
    return RunStore(db).list_runs()[0].id


def test_checkpoints_hold_plain_values_and_refuse_a_pickle(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    done = _cli("train", "digits_mlp", "--epochs", "2", "--threads", "1", "--patience", "3", "--db", str(db))
    assert done.returncode == 0, done.stderr
    store = RunStore(db)
    run = store.list_runs()[0]
    folder = store.checkpoint_folder(run.id)
    assert (folder / LAST).is_file() and (folder / BEST).is_file()
    saved = load_last(folder)
    assert saved.epoch == 2 and saved.step > 0 and len(saved.history) == 2
    assert saved.best_epoch in (1, 2) and isinstance(saved.shuffle_state, torch.Tensor)
    # a file that needs unpickling of arbitrary objects is refused, never run
    torch.save({"format": 1, "evil": _Evil()}, folder / LAST)
    with pytest.raises(CheckpointError, match="can't be read"):
        load_last(folder)
    with sqlite3.connect(db) as conn:  # as if its process had died at epoch 2 of 4
        conn.execute("UPDATE runs SET status='interrupted', config=json_set(config, '$.epochs', 4)")
    refused = _cli("train", "--resume", str(run.number), "--db", str(db))
    assert refused.returncode != 0 and "can't be read" in refused.stderr and "Traceback" not in refused.stderr


class _Evil:
    def __reduce__(self):  # noqa: ANN204 - what a hostile file would carry
        return (os.system, ("echo pwned",))


def test_clear_refusals(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    done = _cli("train", "digits_mlp", "--epochs", "1", "--threads", "1", "--db", str(db))
    assert done.returncode == 0, done.stderr
    finished = _cli("train", "--resume", "1", "--db", str(db))
    assert finished.returncode == 2 and "has finished (trained 1 epochs)" in finished.stderr
    assert "--from-run 1" in finished.stderr
    flags = _cli("train", "--resume", "1", "--lr", "0.1", "--db", str(db))
    assert flags.returncode == 2 and "leave out --lr" in flags.stderr
    unknown = _cli("train", "--resume", "9", "--db", str(db))
    assert unknown.returncode == 2 and "no run number 9" in unknown.stderr


def test_over_the_size_limit_no_checkpoint_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "LAYERLAB_MAX_CHECKPOINT_MB": "0"}
    done = _cli("train", "digits_mlp", "--epochs", "2", "--threads", "1", "--db", str(db), env=env)
    assert done.returncode == 0, done.stderr
    assert "can't be resumed" in done.stderr
    run = RunStore(db).list_runs()[0]
    assert not RunStore(db).checkpoint_folder(run.id).exists()
    with sqlite3.connect(db) as conn:  # as if its process had died before its end
        conn.execute("UPDATE runs SET status='interrupted'")
    refused = _cli("train", "--resume", str(run.number), "--db", str(db))
    assert refused.returncode == 2 and "no checkpoint" in refused.stderr
