"""Same seed, same run; "Compare one change" queues one real run per value through a run manager whose cap
holds, and overlays their curves labelled by the value."""

from __future__ import annotations

import random

import pytest

from builder.templates import load_template
from data.datasets import load_dataset
from training.engine import TrainConfig, train
from ui.train.compare import compare_figure, configs_for, label, new_seed, parse_values, start_comparison
from ui.train.run_manager import RunManager, RunState


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", seed=0, n_samples=200)


def _losses(result) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["val_loss"]) for row in result.history]


def test_one_seed_gives_identical_epoch_losses_on_cpu_and_another_seed_differs(moons):
    graph = load_template("xor_mlp")
    config = TrainConfig(epochs=4, lr=0.01, seed=7, device="cpu")
    first, second = train(graph, moons, config), train(graph, moons, config)
    assert _losses(first) == _losses(second)  # exactly, not approximately
    other = train(graph, moons, TrainConfig(epochs=4, lr=0.01, seed=8, device="cpu"))
    assert all(a != b for a, b in zip(_losses(first), _losses(other)))


def test_values_are_checked_like_the_setting_and_limited_to_four():
    assert parse_values("lr", "0.001, 0.01,0.1") == ([0.001, 0.01, 0.1], [])
    assert parse_values("optimizer", "adam, sgd, adam") == (["adam", "sgd"], [])
    values, problems = parse_values("lr", "0.01, 20, fast")
    assert values == [0.01] and len(problems) == 2 and "20" in problems[0] and "'fast'" in problems[1]
    assert parse_values("batch_size", "8,16,32,64,128")[1] == ["at most 4 values to compare; 5 given"]
    assert parse_values("lr", "0.01")[1] == ["give at least 2 different values, separated by commas"]
    configs = configs_for(TrainConfig(seed=3, lr=1e-3), "lr", [0.1, 0.2])
    assert [(c.lr, c.seed) for c in configs] == [(0.1, 3), (0.2, 3)]
    assert label("lr", 0.001) == "lr = 0.001" and label("optimizer", "sgd") == "optimizer = sgd"
    seed = new_seed(5, random.Random(0))
    assert seed != 5 and 0 <= seed < 2**31


def test_three_learning_rates_queue_under_the_cap_and_overlay_three_labelled_curves(moons):
    manager = RunManager(max_runs=1, heartbeat_timeout=120)  # one at a time: the others wait in its queue
    config = TrainConfig(epochs=3, seed=0, device="cpu")
    comparison = start_comparison("s", load_template("xor_mlp"), moons, config, "lr", [0.001, 0.01, 0.1], manager)
    assert manager.counts() == (1, 2)
    for handle in comparison.handles:
        assert handle.wait(60) and handle.state is RunState.FINISHED
    spans = sorted((h.started, h.finished) for h in comparison.handles)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # never two at once
    assert [h.result.history[0]["lr"] for h in comparison.handles] == [0.001, 0.01, 0.1]
    fig = compare_figure("lr", comparison.values, [h.events for h in comparison.handles])
    shown = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in shown] == ["lr = 0.001", "lr = 0.01", "lr = 0.1"]
    assert all(list(t.x) == [1, 2, 3] for t in fig.data)
    assert comparison.seed == 0 and not comparison.active
