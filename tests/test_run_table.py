"""Runs you can tell apart: the history and `layerlab runs` show the settings that differ and the final metrics
as columns, number rows as `--run N` takes them; "Compare one change" explains its lines and shows a final bar
per value; `layerlab train --json` writes nothing but JSON to stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from builder.templates import load_template
from cli.main import main
from data.datasets import load_dataset
from training.engine import TrainConfig, train
from training.runstore import RunStore
from ui.train.compare import LINE_STYLES, compare_figure, compare_rows, final_bar_figure
from ui.train.runs_panel import history_table, run_label

ROOT = Path(__file__).resolve().parent.parent


def _cli(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _table(text: str) -> list[dict[str, str]]:
    """`layerlab runs` as rows, cut where the header's words end (pandas right-aligns every column); a name
    of two words ("Learning rate") becomes two keys, which the tests here do not read."""
    header, *lines = text.splitlines()
    ends = [i + 1 for i, ch in enumerate(header) if ch != " " and (i + 1 == len(header) or header[i + 1] == " ")]
    spans = list(zip([0] + ends[:-1], ends))

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in spans]

    return [dict(zip(cells(header), cells(line))) for line in lines]


def test_runs_numbers_are_what_export_run_takes(capsys, tmp_path):
    db = str(tmp_path / "runs.sqlite")
    for seed in ("11", "12"):
        _cli(capsys, "train", "xor_mlp", "--epochs", "1", "--seed", seed, "--threads", "1", "--db", db)
    rows = _table(_cli(capsys, "runs", "--db", db))
    assert [r["Run"] for r in rows] == ["2", "1"] and {r["Seed"] for r in rows} == {"11", "12"}  # newest first
    store = RunStore(db)
    for row in rows:
        out = tmp_path / f"run{row['Run']}.safetensors"
        _cli(capsys, "export", "xor_mlp", "--to", "weights", "--run", row["Run"], "--db", db, "-o", str(out))
        (wanted,) = [r for r in store.list_runs() if str(r.config["seed"]) == row["Seed"]]
        exported, saved = load_file(str(out)), store.weights_state(wanted.id)
        assert exported.keys() == saved.keys() and all(torch.equal(exported[k], saved[k]) for k in saved)
        assert f"run {row['Run']}  {wanted.id}" in _cli(capsys, "runs", "--db", db, "--show", row["Run"])


def test_train_json_writes_only_json_to_stdout(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cli", "train", "digits_cnn", "--epochs", "1", "--threads", "1",
                           "--json", "--db", str(tmp_path / "r.sqlite")], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout, as `| python -c 'json.load(sys.stdin)'` reads it
    assert summary["design"] == "digits_cnn" and summary["epochs"] == 1 and 0 <= summary["test_accuracy"] <= 1
    assert "epoch 1/1" in done.stderr  # the progress is still shown, on stderr


def test_history_table_shows_differing_settings_and_final_metrics(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    moons = load_dataset("moons", seed=0, n_samples=120)
    graph = load_template("xor_mlp")
    for optimizer, lr, decay in (("adam", 0.01, 0.0), ("sgd", 0.1, 0.001)):
        train(graph, moons, TrainConfig(epochs=1, optimizer=optimizer, lr=lr, weight_decay=decay, seed=5,
                                        threads=1, device="cpu"), store=store)
    records = store.list_runs()
    table = history_table(records)
    assert {"Run", "Optimizer", "Learning rate", "Seed", "Epochs", "Dataset", "Weight decay", "test accuracy",
            "test loss"} <= set(table.columns)
    assert "Momentum" not in table.columns  # the same in both runs: not a column
    assert list(table["Optimizer"]) == ["sgd", "adam"] and list(table["Learning rate"]) == [0.1, 0.01]
    assert list(table["test accuracy"]) == [r.metrics["test"]["accuracy"] for r in records]
    assert run_label(records[0]).startswith(f"run {records[0].number} · xor_mlp · ") and "sgd, lr 0.1" in run_label(records[0])


def test_compare_explains_its_lines_and_shows_a_final_bar_per_value():
    moons = load_dataset("moons", seed=0, n_samples=120)
    graph = load_template("xor_mlp")
    values, events = [0.001, 0.1], []
    for lr in values:
        run_events: list = []
        train(graph, moons, TrainConfig(epochs=2, lr=lr, seed=3, threads=1, device="cpu"), on_event=run_events.append)
        events.append(run_events)
    figure = compare_figure("lr", values, events)
    assert "training solid, validation dotted" in figure.layout.title.text and "dotted" in LINE_STYLES
    assert [t.line.dash for t in figure.data] == [None, "dot", None, "dot"]
    rows = compare_rows("lr", values, events, "classification")
    finals = [next(e for e in run if e.kind == "end").metrics["accuracy"] for run in events]
    assert [r["Learning rate"] for r in rows] == values and [r["test accuracy"] for r in rows] == finals
    bars = final_bar_figure("lr", rows)
    assert list(bars.data[0].x) == ["lr = 0.001", "lr = 0.1"] and list(bars.data[0].y) == finals
    assert final_bar_figure("lr", compare_rows("lr", values, [[], []], "classification")) is None  # still running
