"""The learning-rate finder: on digits_cnn its suggestion trains to ≥ 0.95 test accuracy (checked by training at
it); it leaves torch's global generator, given weights and the run history as they were; the CLI prints it.
Its speed (≤ 5 s) is measured by bench/bench_lr_find.py, not here."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from builder.templates import load_template
from data.datasets import load_dataset
from export.script import script_config
from training.continuation import StartFrom
from training.engine import train
from training.lr_find import END_LR, START_LR, find_lr, suggest
from training.runstore import RunStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits_cnn() -> tuple:
    graph = load_template("digits_cnn")
    config = script_config(graph, {"threads": 1})
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    return graph, config, data


def test_the_suggestion_trains_digits_cnn_to_095(digits_cnn: tuple) -> None:
    graph, config, data = digits_cnn
    before = torch.get_rng_state()
    finding = find_lr(graph, data, config)
    assert torch.equal(before, torch.get_rng_state()), "torch's global generator is the runs' to draw from"
    assert finding.suggestion is not None and START_LR < finding.suggestion < END_LR
    assert len(finding.lrs) == len(finding.losses) == len(finding.smoothed) >= 50
    assert all(b > a for a, b in zip(finding.lrs, finding.lrs[1:])), "the rate grows at every step"
    ratios = [b / a for a, b in zip(finding.lrs, finding.lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-6), "exponentially"
    result = train(graph, data, replace(config, lr=finding.suggestion))
    assert result.status == "finished"
    assert result.test_metrics["accuracy"] >= 0.95, (finding.suggestion, result.test_metrics)


def test_it_stops_when_the_loss_explodes() -> None:
    graph = load_template("digits_mlp")
    config = script_config(graph, {"threads": 1, "optimizer": "momentum"})
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    finding = find_lr(graph, data, config)
    # SGD with momentum diverges at a rate of a few units: the test ends there, before its last step
    assert finding.ended.startswith("the loss exploded") and finding.lrs[-1] < END_LR
    assert finding.smoothed[-1] > 4 * min(finding.smoothed) or not math.isfinite(finding.losses[-1])


def test_given_weights_are_left_as_they_were(digits_cnn: tuple) -> None:
    graph, config, data = digits_cnn
    trained = train(graph, data, replace(config, epochs=1)).model.state_dict()
    kept = {k: v.clone() for k, v in trained.items()}
    finding = find_lr(graph, data, config, start_from=StartFrom(trained, "run 1"))
    assert all(torch.equal(kept[k], trained[k]) for k in kept)
    assert finding.smoothed[0] < 1.5, "it starts from the trained weights' loss, not a fresh model's (2.3)"


def test_suggest_picks_the_steepest_descent() -> None:
    lrs = [10 ** (-7 + 8 * k / 99) for k in range(100)]
    # flat, then falling fastest around lr 1e-2 (log -2), lowest at 1e-1, then rising
    smoothed = [2.0 - math.tanh((math.log10(lr) + 2) * 2) if lr < 0.1 else 1.1 + (math.log10(lr) + 1)
                for lr in lrs]
    assert suggest(lrs, smoothed) == pytest.approx(1e-2, rel=0.25)
    assert suggest(lrs, [2.0] * 100) is None
    assert suggest(lrs, [2.0 + k for k in range(100)]) is None


def test_the_cli_prints_json_and_records_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "LAYERLAB_DATA_DIR": str(tmp_path)}
    RunStore(tmp_path / "runs.sqlite")  # an empty history the command must not add to
    done = subprocess.run([sys.executable, "-m", "cli", "lr-find", "digits_mlp", "--threads", "1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["design"] == "digits_mlp" and out["optimizer"] == "adam"
    assert START_LR <= out["suggestion"] <= END_LR and out["steps"] == len(out["lrs"]) == len(out["smoothed"])
    assert RunStore(tmp_path / "runs.sqlite").list_runs() == []
    bad = subprocess.run([sys.executable, "-m", "cli", "lr-find", "digits_cnn", "--batch-size", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env=env)
    assert bad.returncode == 2 and "batch_size" in bad.stderr and "Traceback" not in bad.stderr
