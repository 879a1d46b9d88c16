"""The training engine on real torch and real (small) datasets: fit checks, events, stop, NaN, out of memory,
early stopping, the DataLoader path, optimizers/schedules, metrics and attention capture."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, precision_score, r2_score, recall_score

from builder.project import load_project
from builder.templates import load_template
from codegen.loader import build_model, example_batch
from codegen.source import generate_model
from data.datasets import load_dataset
from training.attention import capture_attention
from training.device import cpu_threads, is_out_of_memory, pick_device
from training.engine import TrainConfig, TrainEvent, train
from training.metrics import ClassAccumulator, RegressionAccumulator, TokenAccumulator
from training.optim import OPTIMIZERS, make_optimizer, make_schedule
from training.tasks import FitError


def _chain(name: str, nodes: list[tuple[str, str, dict]]) -> object:
    """A straight chain of blocks as a graph."""
    return load_project({
        "layerlab": 1, "name": name,
        "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
        "edges": [{"source": a[0], "target": b[0]} for a, b in zip(nodes, nodes[1:])],
    })


@pytest.fixture(scope="module")
def digits_flat():
    return load_dataset("digits", seed=0, flat=True)


@pytest.fixture(scope="module")
def digits_images():
    return load_dataset("digits", seed=0)


# -- fit checks -------------------------------------------------------------------------------------
def test_wrong_class_count_names_last_linear_with_fix(digits_flat):
    graph = load_template("digits_mlp")
    graph = graph.replace_node(graph.node("fc3").with_params(out_features=5))
    with pytest.raises(FitError) as err:
        train(graph, digits_flat, TrainConfig(epochs=1))
    [problem] = err.value.problems
    assert problem.message == ("the model outputs (N, 5) but digits has 10 classes: "
                               "set the last Linear's (‘fc3’) out_features to 10")
    assert problem.node == "fc3"
    assert (problem.fix.action, dict(problem.fix.args)) == ("set_param", {"name": "out_features", "value": 10})


def test_input_shape_mismatch_offers_shape_fix(digits_images):
    with pytest.raises(FitError) as err:
        train(load_template("digits_mlp"), digits_images, TrainConfig(epochs=1))
    [problem] = err.value.problems
    assert problem.message == "digits is 1×8×8 but Input ‘x’ is (64,): set its shape to [1, 8, 8]"
    assert problem.node == "x" and dict(problem.fix.args) == {"name": "shape", "value": [1, 8, 8]}


def test_dtype_and_vocab_problems_are_reported():
    sentiment = load_dataset("sentiment", seed=0, n_samples=100)
    graph = load_template("lstm_text")
    graph = graph.replace_node(graph.node("embed").with_params(num_embeddings=50))
    with pytest.raises(FitError) as err:
        train(graph, sentiment, TrainConfig(epochs=1))
    [problem] = err.value.problems
    assert problem.node == "embed" and "num_embeddings 50" in problem.message
    assert problem.fix.args["value"] == sentiment.vocab_size
    with pytest.raises(FitError) as err:
        train(load_template("digits_mlp"), sentiment, TrainConfig(epochs=1))
    messages = " | ".join(p.message for p in err.value.problems)
    assert "set its dtype to long" in messages and "set its shape to [24]" in messages


def test_bad_config_is_a_fit_error_not_a_crash(digits_flat):
    with pytest.raises(FitError) as err:
        train(load_template("digits_mlp"), digits_flat, TrainConfig(optimizer="adagrad", epochs=0, lr=-1))
    messages = [p.message for p in err.value.problems]
    # One message per bad value, each naming the setting, the value and what it accepts (training.settings).
    assert messages == [
        "training setting optimizer: expected one of sgd, momentum, nesterov, rmsprop, adam, adamw, radam, "
        "got 'adagrad'",
        "training setting lr: -1 is out of range; expected a number from 1e-07 to 10",
        "training setting epochs: 0 is out of range; expected a whole number from 1 to 100000",
    ]


# -- a run and its events ---------------------------------------------------------------------------
def test_events_metrics_and_result(digits_flat):
    events: list[TrainEvent] = []
    config = TrainConfig(epochs=2, lr=3e-3, event_interval=0.0, seed=1)
    result = train(load_template("digits_mlp"), digits_flat, config, on_event=events.append)
    steps_per_epoch = math.ceil(len(digits_flat.train) / 64)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    assert kinds.count("step") == 2 * steps_per_epoch  # interval 0: an event after every step
    assert result.status == "finished" and result.steps == 2 * steps_per_epoch and result.epochs == 2
    epoch_events = [e for e in events if e.kind == "epoch"]
    assert all(e.val_loss is not None and 0 <= e.metrics["accuracy"] <= 1 for e in epoch_events)
    assert epoch_events[1].val_loss < epoch_events[0].val_loss
    assert epoch_events[0].model is result.model  # for views drawn inside the callback
    last_step = [e for e in events if e.kind == "step"][-1]
    assert last_step.samples_per_s > 0 and last_step.eta_s == 0 and last_step.train_loss > 0
    test = result.test_metrics
    assert test["accuracy"] > 0.85 and len(test["precision"]) == len(test["recall"]) == 10
    assert sum(map(sum, test["confusion"])) == len(digits_flat.test)
    assert events[-1].metrics == test


def test_same_seed_same_run(digits_flat):
    config = TrainConfig(epochs=1, seed=3)
    a = train(load_template("digits_mlp"), digits_flat, config)
    b = train(load_template("digits_mlp"), digits_flat, config)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]


def test_stop_request_is_honoured_within_one_step(digits_flat):
    stop = threading.Event()

    def on_event(event: TrainEvent) -> None:
        if event.kind == "step" and event.step == 5:
            stop.set()

    result = train(load_template("digits_mlp"), digits_flat, TrainConfig(epochs=5, event_interval=0.0),
                   on_event=on_event, stop_event=stop)
    assert result.status == "stopped" and result.steps == 5
    assert "stopped by request" in result.message and result.test_metrics["accuracy"] >= 0


def test_nan_loss_stops_with_message_and_keeps_finite_weights():
    data = load_dataset("diabetes", seed=0)
    graph = _chain("reg", [("x", "Input", {"shape": [10]}), ("h", "Linear", {"out_features": 32}),
                           ("out", "Linear", {"out_features": 1})])
    result = train(graph, data, TrainConfig(optimizer="sgd", lr=10.0, epochs=3))  # the largest lr allowed
    assert result.status == "failed"
    assert "the training loss became" in result.message and "lower learning rate" in result.message
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


@pytest.mark.skipif(Path("/proc/sys/vm/overcommit_memory").exists()
                    and Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1",
                    reason="with overcommit 'always' the huge allocation would succeed and the OOM killer strike")
def test_out_of_memory_is_reported_with_batch_size(digits_images):
    """A real out-of-memory condition on the CPU: two 64× upsamplings make each batch of 64 need ~275 GB."""
    graph = _chain("huge", [("x", "Input", {"shape": [1, 8, 8]}), ("up1", "Upsample", {"scale_factor": 64}),
                            ("up2", "Upsample", {"scale_factor": 64}), ("pool", "AdaptiveAvgPool2d", {}),
                            ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 10})])
    result = train(graph, digits_images, TrainConfig(epochs=1, batch_size=64, device="cpu"))
    assert result.status == "failed"
    assert "ran out of memory on cpu with batch size 64" in result.message


def test_out_of_memory_recognised_for_every_allocator():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_early_stopping_restores_best_weights(digits_flat):
    config = TrainConfig(epochs=6, lr=0.05, patience=1, seed=0)
    result = train(load_template("digits_mlp"), digits_flat, config)
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    model = result.model.eval()
    with torch.no_grad():
        out = model(digits_flat.val.inputs[0])
        val_loss = float(torch.nn.functional.cross_entropy(out, digits_flat.val.target))
    assert val_loss == pytest.approx(min(losses), rel=1e-4)


def test_dataloader_path_matches_device_tensors(digits_flat):
    """Data too big for the device streams through a DataLoader; with the same seed the run is identical."""
    a = train(load_template("digits_mlp"), digits_flat, TrainConfig(epochs=1, seed=2))
    b = train(load_template("digits_mlp"), digits_flat, TrainConfig(epochs=1, seed=2, max_device_bytes=0))
    assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-5)


def test_reconstruction_and_binary_tasks_pick_their_loss():
    gates = load_dataset("gates", seed=0, gate="and")
    result = train(load_template("perceptron"), gates, TrainConfig(epochs=1, batch_size=8))
    assert (result.task, result.plan.loss, result.plan.output_kind) == ("binary", "bce", "logits")
    digits = load_dataset("digits", seed=0, flat=True)
    result = train(load_template("autoencoder"), digits, TrainConfig(epochs=1, task="reconstruction"))
    assert (result.task, result.plan.loss, result.plan.output_kind) == ("reconstruction", "mse", "probabilities")
    assert set(result.test_metrics) == {"loss", "mse"}


# -- devices, optimizers, schedules -----------------------------------------------------------------
def test_device_choice_never_fails_without_gpu():
    assert pick_device("auto").device.type in ("cpu", "cuda", "mps")
    assert pick_device("cpu").device.type == "cpu"
    if not torch.cuda.is_available():
        choice = pick_device("cuda")
        assert choice.device.type == "cpu" and "no CUDA GPU" in choice.note


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_takes_a_step(name):
    layer = torch.nn.Linear(3, 1)
    before = layer.weight.detach().clone()
    optimizer = make_optimizer(name, layer.parameters(), lr=0.1, weight_decay=0.01)
    layer(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, layer.weight)


def _lrs(schedule: str, total: int = 100, warmup: float = 0.0) -> list[float]:
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    sched = make_schedule(schedule, optimizer, total_steps=total, warmup=warmup)
    values = []
    for _ in range(total):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    return values


def test_schedules_have_their_shapes():
    assert set(_lrs("constant")) == {1.0}
    step = _lrs("step")
    assert step[0] == 1.0 and step[40] == 0.5 and step[99] == 0.25
    assert _lrs("exponential")[99] == pytest.approx(0.25, rel=0.05)
    cosine = _lrs("cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5, abs=0.02) and cosine[99] < 0.01
    warm = _lrs("cosine", warmup=0.1)  # rises over 10 steps, then the cosine runs over the other 90
    assert warm[0] == pytest.approx(0.1) and warm[9] == pytest.approx(1.0) and warm[99] < 0.01
    assert warm[10 + 45] == pytest.approx(0.5, abs=0.02)
    warm_step = _lrs("step", warmup=0.1)
    assert warm_step[4] == pytest.approx(0.5) and warm_step[10] == 1.0 and warm_step[10 + 30] == 0.5
    one = _lrs("onecycle")
    assert one[0] < 0.1 and max(one) == pytest.approx(1.0, rel=0.01) and one[-1] < 0.01


# -- metrics ----------------------------------------------------------------------------------------
def test_class_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    acc = ClassAccumulator(4, torch.device("cpu"))
    for chunk in range(0, 500, 128):  # accumulated over batches
        acc.update(torch.tensor(p[chunk:chunk + 128]), torch.tensor(y[chunk:chunk + 128]))
    out = acc.result()
    assert out["confusion"] == confusion_matrix(y, p).tolist()
    assert out["precision"] == pytest.approx(precision_score(y, p, average=None).tolist())
    assert out["recall"] == pytest.approx(recall_score(y, p, average=None).tolist())
    assert out["accuracy"] == pytest.approx(float((y == p).mean()))


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(300, 2))
    p = y + rng.normal(scale=0.5, size=(300, 2))
    acc = RegressionAccumulator()
    acc.update(torch.tensor(p[:100]), torch.tensor(y[:100]))
    acc.update(torch.tensor(p[100:]), torch.tensor(y[100:]))
    out = acc.result()
    assert out["r2"] == pytest.approx(r2_score(y, p), rel=1e-6)
    assert out["rmse"] == pytest.approx(float(np.sqrt(((p - y) ** 2).mean())), rel=1e-6)
    assert out["mae"] == pytest.approx(float(np.abs(p - y).mean()), rel=1e-6)


def test_token_accuracy_ignores_padding():
    acc = TokenAccumulator(pad_id=0)
    target = torch.tensor([[3, 4, 0, 0], [5, 6, 7, 0]])
    pred = torch.tensor([[3, 9, 1, 1], [5, 6, 7, 2]])
    acc.update(pred, target)
    assert acc.result() == {"token_accuracy": 4 / 5, "sequence_accuracy": 0.5}


# -- attention --------------------------------------------------------------------------------------
def test_attention_capture_shapes_and_outputs_unchanged():
    source = generate_model(load_template("transformer_seq2seq"))
    model = build_model(source, seed=0).eval()
    inputs = example_batch(source, batch_size=3)
    with torch.no_grad():
        before = model(*inputs)
    maps = capture_attention(model, source, inputs)
    with torch.no_grad():
        after = model(*inputs)
    assert torch.equal(before, after)
    assert [m.kind for m in maps["encoder"]] == ["self"]
    assert [m.kind for m in maps["decoder"]] == ["self", "cross"]
    for item in [*maps["encoder"], *maps["decoder"]]:
        assert item.weights.shape == (3, 4, 8, 8)
        assert np.allclose(item.weights.sum(-1), 1.0, atol=1e-5)
    causal = maps["decoder"][0].weights
    assert np.all(causal[..., 0, 1:] == 0)  # the first target token sees only itself
    assert capture_attention(build_model(generate_model(load_template("digits_mlp"))),
                             generate_model(load_template("digits_mlp")), (torch.zeros(2, 64),)) == {}


def test_time_limit_and_loss_choice():
    data = load_dataset("diabetes", seed=0)
    graph = _chain("reg", [("x", "Input", {"shape": [10]}), ("out", "Linear", {"out_features": 1})])
    result = train(graph, data, TrainConfig(epochs=1000, batch_size=8, max_seconds=0.5, loss="huber"))
    assert result.status == "stopped" and "time limit of 0.5 s" in result.message and result.plan.loss == "huber"
    assert 0 < result.epochs < 1000 and {"loss", "mae", "rmse", "r2"} <= set(result.test_metrics)
    # Diabetes targets are standardized for training; the errors are reported in the target's own units.
    with torch.no_grad():
        result.model.eval()
        predicted = result.model(data.test.inputs[0]).double() * data.extras["target_std"]
    truth = data.test.target.double() * data.extras["target_std"]
    assert result.test_metrics["rmse"] == pytest.approx(float(((predicted - truth) ** 2).mean().sqrt()), rel=1e-4)
    assert "rmse_units" not in result.test_metrics
    with pytest.raises(FitError, match="the loss 'cross_entropy' doesn't fit a regression task"):
        train(graph, data, TrainConfig(epochs=1, loss="cross_entropy"))


@pytest.mark.parametrize("last, kind", [("Softmax", "probabilities"), ("LogSoftmax", "log_probabilities")])
def test_models_ending_in_softmax_train_with_the_matching_loss(last, kind):
    iris = load_dataset("iris", seed=0)
    graph = _chain("soft", [("x", "Input", {"shape": [4]}), ("h", "Linear", {"out_features": 16}),
                            ("act", "ReLU", {}), ("fc", "Linear", {"out_features": 3}), ("p", last, {})])
    result = train(graph, iris, TrainConfig(epochs=30, lr=0.02, batch_size=16))
    assert result.plan.output_kind == kind and result.test_metrics["accuracy"] >= 0.85


def test_binary_data_with_two_logits_uses_cross_entropy():
    gates = load_dataset("gates", seed=0, gate="or")
    graph = _chain("two", [("x", "Input", {"shape": [2]}), ("out", "Linear", {"out_features": 2})])
    result = train(graph, gates, TrainConfig(epochs=30, lr=0.05, batch_size=8))
    assert result.plan.loss == "cross_entropy" and result.test_metrics["accuracy"] == 1.0


def test_cpu_thread_choice():
    assert cpu_threads(3, 10) == 3  # asked for explicitly
    assert cpu_threads(0, 1_000_000) == 1  # a small step: hand-offs between threads cost more than they save
    assert 1 <= cpu_threads(0, 10**12) <= torch.get_num_threads()


# -- runs own their random streams -------------------------------------------------------------------------
def test_concurrent_runs_with_one_seed_train_identically(digits_flat):
    """Two runs started together in two threads (two students, one server): initialisation, shuffling and
    dropout come from streams each run owns, so both give the losses a run alone gives."""
    graph = _chain("drop", [("x", "Input", {"shape": [64]}), ("h", "Linear", {"out_features": 64}),
                            ("act", "ReLU", {}), ("drop", "Dropout", {"p": 0.5}),
                            ("out", "Linear", {"out_features": 10})])
    config = TrainConfig(epochs=3, batch_size=16, seed=5, device="cpu")
    alone = [row["train_loss"] for row in train(graph, digits_flat, config).history]
    start = threading.Barrier(2)
    results: dict[int, list[float]] = {}

    def run(k: int) -> None:
        start.wait()
        results[k] = [row["train_loss"] for row in train(graph, digits_flat, config).history]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    source = generate_model(graph)  # meanwhile, exports build seeded models (on torch's global generator)
    exported = [build_model(source, seed=k % 3) for k in range(60)]
    for thread in threads:
        thread.join()
    assert results[0] == results[1] == alone
    assert torch.equal(exported[0].state_dict()["h.weight"], exported[3].state_dict()["h.weight"])


def test_a_run_leaves_the_global_generator_alone(digits_flat):
    torch.manual_seed(9)
    expected = torch.rand(3)
    torch.manual_seed(9)
    train(load_template("digits_mlp"), digits_flat, TrainConfig(epochs=1, seed=2))
    assert torch.equal(torch.rand(3), expected)
