"""Noise from ``torch.randn_like`` in forward draws from the run's seeded stream, in training and evaluation alike,
so the exported script reproduces the app's per-epoch losses (a VAE's reparameterization depends on it)."""

from __future__ import annotations

import json

import pytest
import torch

from builder.project import load_project
from codegen.loader import import_source
from data.datasets import load_dataset, suggest_options
from export.script import generate_script, script_config
from training.engine import train


def noisy_mlp():
    return load_project({
        "layerlab": 2, "name": "noisy",
        "meta": {"training": {"dataset": "digits"}},
        "nodes": [{"id": "x", "type": "Input", "params": {"shape": [64]}},
                  {"id": "fc1", "type": "Linear", "params": {"out_features": 32}},
                  {"id": "eps", "type": "randn_like"},
                  {"id": "small", "type": "scalar", "params": {"operator": "*", "value": 0.5}},
                  {"id": "h", "type": "add"},
                  {"id": "act", "type": "ReLU"},
                  {"id": "fc2", "type": "Linear", "params": {"out_features": 10}}],
        "edges": [{"source": "x", "target": "fc1"}, {"source": "fc1", "target": "eps"},
                  {"source": "eps", "target": "small"}, {"source": "fc1", "target": "h", "port": "x"},
                  {"source": "small", "target": "h", "port": "y"}, {"source": "h", "target": "act"},
                  {"source": "act", "target": "fc2"}],
    })


def test_the_script_reproduces_a_run_that_draws_noise_in_forward(capsys: pytest.CaptureFixture[str]) -> None:
    graph = noisy_mlp()
    config = script_config(graph, {"epochs": 3})
    options = config.dataset_options or suggest_options(config.dataset, [(64,)])
    data = load_dataset(config.dataset, seed=config.seed, fractions=(config.val_fraction, config.test_fraction),
                        **options)
    result = train(graph, data, config)
    assert result.status == "finished", result.message
    threads = torch.get_num_threads()
    try:
        import_source(generate_script(graph, settings=config), "noisy_script").main(["--log-json", "--out", ""])
    finally:
        torch.set_num_threads(threads)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    epochs = [r for r in rows if "epoch" in r]
    assert len(epochs) == len(result.history) == 3
    for want, got in zip(result.history, epochs):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6, abs=0)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-6, abs=0)
