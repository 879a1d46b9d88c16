"""`layerlab train --sweep`: values checked by the training setting itself, one recorded run per value, trained
together on the executor (threads here; tests/test_ray_executor.py sweeps on a Ray cluster)."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from training.runstore import RunStore


def test_a_sweep_trains_one_recorded_run_per_value(tmp_path, capsys, monkeypatch):
    from builder.settings import settings

    monkeypatch.setenv("LAYERLAB_EXECUTOR", "thread")  # whatever the environment says; restored afterwards
    settings.cache_clear()
    code = main(["train", "xor_mlp", "--epochs", "3", "--sweep", "lr=0.01,0.5", "--db",
                 str(tmp_path / "runs.sqlite"), "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert code == 0 and out["sweep"] == "lr" and out["executor"] == "thread"
    assert [(r["value"], r["status"], r["epochs"]) for r in out["runs"]] == [(0.01, "finished", 3), (0.5, "finished", 3)]
    assert "lr=0.01: finished after 3 epochs; test loss" in captured.err  # the human lines, off stdout under --json
    stored = {r.id: r for r in RunStore(tmp_path / "runs.sqlite").list_runs()}
    assert sorted(stored) == sorted(r["run_id"] for r in out["runs"])
    assert sorted(r.config["lr"] for r in stored.values()) == [0.01, 0.5]
    # the lower rate learned less in 3 epochs: each run trained with its own value
    losses = {r["value"]: r["test_loss"] for r in out["runs"]}
    assert losses[0.5] < losses[0.01]


@pytest.mark.parametrize("sweep, words", [
    ("lr", "--sweep 'lr': write SETTING=V1,V2,... with a training setting (optimizer, lr,"),
    ("speed=1,2", "--sweep 'speed=1,2': write SETTING=V1,V2,... with a training setting"),
    ("lr=0.1", "--sweep 'lr=0.1': give at least two values, separated by commas"),
    ("lr=0.1,fast", "--sweep lr: "),
    ("optimizer=adam,sgd,nadam", "--sweep optimizer: "),
])
def test_a_bad_sweep_is_refused_in_words_before_anything_trains(tmp_path, capsys, sweep, words):
    code = main(["train", "xor_mlp", "--sweep", sweep, "--db", str(tmp_path / "runs.sqlite")])
    err = capsys.readouterr().err
    assert code != 0 and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "runs.sqlite").exists() or RunStore(tmp_path / "runs.sqlite").list_runs() == []


def test_a_sweep_with_resume_is_refused(tmp_path, capsys):
    code = main(["train", "--resume", "1", "--sweep", "lr=0.1,0.2", "--db", str(tmp_path / "runs.sqlite")])
    assert code != 0 and "--sweep trains new runs from the design" in capsys.readouterr().err
