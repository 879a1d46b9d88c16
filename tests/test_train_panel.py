"""The Train panel headlessly (Streamlit's AppTest) with tiny real runs: defaults, fit check and its fix,
start → live curves → results, stop, a new run stopping the old one, the queue, history, predictions and the
attention view on `reverse`.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch
from app_helpers import stop_all_runs
from streamlit.testing.v1 import AppTest

from builder.templates import load_template
from training.runstore import RunStore
from ui.train.run_manager import RunState, get_manager
from ui.train.train_live import ICONS
from ui.train.train_panel import RUN

SCRIPT = """
import streamlit as st
from builder.templates import load_template
from builder.validate import validate
from ui.train.run_bar import render_run_bar
from ui.train.train_panel import render_train_panel

graph = load_template(st.session_state.get("template", "xor_mlp"))

def on_fix(node_id, fix):
    st.session_state["fixed"] = (node_id, fix.action, dict(fix.args))

def on_load(graph, run_id):
    st.session_state["loaded"] = (graph.name, run_id)

render_run_bar()  # where app.py draws it: Stop is there
render_train_panel(graph, validate(graph), on_fix=on_fix, on_load=on_load)
"""


def _app(template: str) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=120)
    at.session_state["template"] = template
    return at.run()


def _widget(items, label: str):
    found = [w for w in items if w.label == label]
    assert found, f"no widget {label!r} among {[w.label for w in items]}"
    return found[0]


def _button(at: AppTest, label: str):
    return _widget(at.button, label)


def _figures(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by title (untitled ones by their key)."""
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = (spec.get("layout", {}).get("title") or {}).get("text") or element.proto.id
        out[title] = spec
    return out


def _run(at: AppTest):
    return at.session_state.get(RUN)


def _set_epochs(at: AppTest, epochs: int) -> None:
    _widget(at.number_input, "Epochs").set_value(epochs)
    at.run()


def _train_to_end(at: AppTest, timeout: float = 90.0) -> None:
    """Click Start, poll like the page's fragment does, and render once more after the end."""
    _button(at, "▶ Start training").click()
    at.run()
    handle = _run(at).handle
    deadline = time.monotonic() + timeout
    while handle.state.active and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not handle.state.active, "the tiny run did not finish in time"
    at.run()
    assert not at.exception, at.exception


@pytest.fixture(autouse=True)
def _stop_runs_after_each_test():
    yield
    stop_all_runs()


def test_defaults_come_from_the_template_and_the_model_fits():
    at = _app("xor_mlp")
    assert not at.exception
    meta = load_template("xor_mlp").meta["training"]
    assert _widget(at.number_input, "Epochs").value == meta["epochs"]
    assert _widget(at.number_input, "Learning rate").value == pytest.approx(meta["lr"])
    assert _widget(at.number_input, "Batch size").value == meta["batch_size"]
    assert _widget(at.selectbox, "Optimizer").value == meta["optimizer"]
    assert _widget(at.selectbox, "Dataset").value == meta["dataset"] == "gates"
    assert _widget(at.selectbox, "gate").value == meta["dataset_options"]["gate"] == "xor"
    assert [s.value for s in at.success] == ["✓ The model fits gates: ready to train."]
    assert any(c.value.startswith("Device: **CPU") for c in at.caption)
    assert not _button(at, "▶ Start training").disabled
    assert _button(at, "Stop").disabled


def test_graph_input_shape_picks_dataset_options():
    """lenet5 is drawn for 1×28×28: the digits options follow the Input, so it fits without a fix."""
    at = _app("lenet5")
    assert _widget(at.number_input, "size").value == 28
    assert [s.value for s in at.success] == ["✓ The model fits digits: ready to train."]


def test_mismatch_is_explained_and_fixed_in_one_click():
    at = _app("digits_mlp")
    _widget(at.selectbox, "Dataset").set_value("iris")
    at.run()
    messages = [w.value for w in at.warning]
    assert any("iris is 4 but Input ‘x’ is (64,): set its shape to [4]" in m for m in messages), messages
    assert any("iris has 3 classes" in m for m in messages), messages
    assert _button(at, "▶ Start training").disabled
    _button(at, "Set ‘x’ shape to [4]").click()
    at.run()
    assert at.session_state["fixed"] == ("x", "set_param", {"name": "shape", "value": [4]})


def test_tiny_run_streams_curves_then_shows_results_and_history():
    at = _app("xor_mlp")
    _set_epochs(at, 4)
    _train_to_end(at)
    run = _run(at)
    assert run.handle.state is RunState.FINISHED
    result = run.handle.result
    assert result.status == "finished" and result.epochs == 4
    kinds = [e.kind for e in run.handle.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 4
    figures = _figures(at)
    loss = figures["Loss"]["data"]
    assert loss[0]["name"] == "train" and len(loss[0]["y"]) >= 4
    assert loss[1]["name"] == "validation" and loss[1]["x"] == [1, 2, 3, 4]
    assert figures["accuracy"]["data"][0]["x"] == [1, 2, 3, 4]
    confusion = np.asarray(figures["Confusion matrix"]["data"][0]["z"])
    assert confusion.shape == (2, 2) and confusion.sum() == len(run.dataset.test)
    boundary = figures["Decision boundary"]["data"]
    assert np.asarray(boundary[0]["z"]).shape == (60, 60) and [t["name"] for t in boundary[1:]] == ["0", "1"]
    assert any(m.label == "test accuracy" for m in at.metric)
    assert any(c.value.startswith(f"{ICONS['finished']} finished") for c in at.caption)
    record = RunStore().get_run(result.run_id)  # the store the panel wrote to (LAYERLAB_DATA_DIR)
    assert record.status == "finished" and len(record.epochs) == 4
    labels = _widget(at.multiselect, "Compare runs").value
    assert labels and labels[0].startswith(f"run {record.number} · xor_mlp · gates · adam, lr ")
    assert "val_loss by run" in _figures(at) or "train_loss by run" in _figures(at)
    download = at.get("download_button")
    assert [d.label for d in download] == ["Download weights (.safetensors)"] and record.weights.endswith(
        ".safetensors"
    )
    _button(at, "Load this design and its weights").click()
    at.run()
    assert at.session_state["loaded"] == ("xor_mlp", result.run_id)
    assert any(m.value == f"**Loaded run:** {result.run_id}" for m in at.markdown)
    loaded = at.session_state["ll_train_loaded"][1]  # the design rebuilt with the run's saved weights
    trained = {k: v.cpu() for k, v in result.model.state_dict().items()}
    assert all(torch.equal(v, trained[k]) for k, v in loaded.model.state_dict().items())
    assert any(m.label == "test accuracy" for m in at.metric) and "Decision boundary" in _figures(at)


def _run_bar_slot(at: AppTest) -> str:
    """What the page's first place holds: the run bar's slot is there whether or not a run is on."""
    first = at.main.children[0]
    return first.type if first.type == "empty" else "bar" if first.proto.id.endswith("-run_bar") else "?"


def test_a_live_run_locks_the_form_on_its_settings_and_stop_ends_it():
    at = _app("xor_mlp")
    # The bar's slot is drawn (hidden, empty) before any run, so what follows keeps its place when the bar comes:
    # the tabs and the canvas below it are not mounted anew at a run's start.
    assert _run_bar_slot(at) == "empty"
    _set_epochs(at, 5000)  # far longer than this test
    _widget(at.number_input, "Learning rate").set_value(0.02)
    at.run()
    _button(at, "▶ Start training").click()
    at.run()
    handle = _run(at).handle
    deadline = time.monotonic() + 30
    while not handle.events and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    # While it trains, the form shows the run's own settings, read-only, and Start waits for Stop.
    epochs, lr = _widget(at.number_input, "Epochs"), _widget(at.number_input, "Learning rate")
    assert (epochs.value, lr.value) == (5000, pytest.approx(0.02)) and epochs.disabled and lr.disabled
    assert _widget(at.selectbox, "Optimizer").disabled
    assert _button(at, "▶ Start training").disabled and not _button(at, "Stop").disabled
    assert any("the live run's data" in c.value for c in at.caption)
    assert _run_bar_slot(at) == "bar"
    _button(at, "Stop").click()
    at.run()
    assert handle.wait(10) and handle.state is RunState.STOPPED
    at.run()
    assert any(c.value.startswith(f"{ICONS['stopped']} stopped") for c in at.caption)
    assert RunStore().get_run(handle.result.run_id).status == "stopped"
    # Once it has ended the form is editable again, with the values the user had set.
    epochs, lr = _widget(at.number_input, "Epochs"), _widget(at.number_input, "Learning rate")
    assert (epochs.value, lr.value) == (5000, pytest.approx(0.02)) and not epochs.disabled
    assert not _button(at, "▶ Start training").disabled


def test_decision_boundary_is_redrawn_while_training():
    at = _app("xor_mlp")
    _set_epochs(at, 5000)
    _button(at, "▶ Start training").click()
    at.run()
    run = _run(at)
    deadline = time.monotonic() + 30
    while run.boundary is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first = run.boundary[2].copy()
    at.run()
    live = _figures(at)["Decision boundary"]["data"]
    assert run.handle.state is RunState.RUNNING
    assert np.asarray(live[0]["z"]).shape == (40, 40) and [t["name"] for t in live[1:]] == ["0", "1"]
    deadline = time.monotonic() + 30
    while np.array_equal(run.boundary[2], first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not np.array_equal(run.boundary[2], first), "the boundary must change as the model learns"
    assert np.all((run.boundary[2] >= 0) & (run.boundary[2] <= 1))  # P(class 1)


def test_a_corrupt_history_file_is_explained_and_training_still_works(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    (tmp_path / "runs.sqlite").write_bytes(b"this is not a database" * 100)
    at = _app("xor_mlp")
    assert not at.exception
    assert any("can't be used" in e.value for e in at.error), [e.value for e in at.error]
    _set_epochs(at, 2)
    _train_to_end(at)
    assert _run(at).handle.result.status == "finished" and _run(at).handle.result.run_id is None
    assert any("won't be kept in the history" in w.value for w in at.warning)


def test_a_full_server_queues_the_run_and_shows_its_place():
    manager = get_manager()
    old_cap, release = manager.max_runs, threading.Event()
    manager.max_runs = 1
    try:
        blocker = manager.submit("someone-else", lambda h: release.wait(30) or h.stop_event.wait(30))
        blocker.beat()
        at = _app("xor_mlp")
        _set_epochs(at, 2)
        _button(at, "▶ Start training").click()
        at.run()
        handle = _run(at).handle
        assert handle.state is RunState.QUEUED
        assert any("place 1 of 1 in the queue" in i.value for i in at.info), [i.value for i in at.info]
        release.set()
        assert handle.wait(60) and handle.state is RunState.FINISHED
    finally:
        release.set()
        manager.max_runs = old_cap


def test_digits_predictions_are_shown_with_their_labels():
    at = _app("digits_mlp")
    _set_epochs(at, 1)
    _train_to_end(at)
    grid = next(f for f in at.get("plotly_chart") if f.proto.id and "digits" in f.proto.id)
    spec = json.loads(grid.proto.spec)
    assert len(spec["data"]) == 16 and np.asarray(spec["data"][0]["z"]).shape == (8, 8)
    captions = [a["text"] for a in spec["layout"]["annotations"]]
    assert len(captions) == 16 and all(c in "0123456789" or c.startswith("✗") for c in captions)


def test_forecast_reconstruction_and_text_predictions():
    """One epoch each: the prediction view that fits the task is drawn from the trained model."""
    at = _app("gru_timeseries")
    _set_epochs(at, 1)
    _train_to_end(at)
    forecast = _figures(at)["Forecast vs actual"]["data"]
    assert [t["name"] for t in forecast] == ["actual", "forecast"]
    assert len(forecast[1]["y"]) == len(forecast[0]["y"]) == len(_run(at).dataset.test)

    at = _app("autoencoder")
    _set_epochs(at, 1)
    _train_to_end(at)
    grid = json.loads(next(f for f in at.get("plotly_chart") if "recon" in f.proto.id).proto.spec)
    captions = [a["text"] for a in grid["layout"]["annotations"]]
    assert captions == ["input"] * 8 + ["reconstruction"] * 8
    assert np.asarray(grid["data"][8]["z"]).shape == (8, 8)

    at = _app("lstm_text")
    _set_epochs(at, 1)
    _train_to_end(at)
    table = next(d.value for d in at.dataframe if "text" in d.value.columns)
    assert list(table.columns) == ["text", "predicted", "true", "correct"] and len(table) == 8
    assert set(table["predicted"]) <= {"negative", "positive"}


@pytest.mark.slow
def test_attention_view_on_reverse():
    at = _app("transformer_seq2seq")
    _widget(at.number_input, "n_samples").set_value(200)
    at.run()
    _set_epochs(at, 1)
    _train_to_end(at, timeout=120)
    titles = [t.label for t in at.tabs]  # each layer by its path in the canvas: the blocks hold them
    cross_title = "decoder › layers › cross_attn · cross-attention"
    assert titles == ["encoder › layers › self_attn · self-attention",
                      "decoder › layers › self_attn · self-attention", cross_title]
    figures = _figures(at)
    cross = figures[cross_title]
    assert len(cross["data"]) == 4  # one heatmap per head
    z = np.asarray(cross["data"][0]["z"])
    assert z.shape == (8, 8) and np.allclose(z.sum(axis=1), 1.0, atol=1e-4)
    assert cross["data"][0]["y"][0].startswith("<bos>")  # queries are the decoder's tokens
    run = _run(at)
    src = [run.dataset.vocab[i] for i in run.dataset.test.inputs[0][0].tolist()]
    assert [label.split("·")[0] for label in cross["data"][0]["x"]] == src  # keys are the source tokens
    tables = [d.value for d in at.dataframe if "generated" in d.value.columns]
    assert len(tables) == 1 and list(tables[0].columns) == ["input", "expected", "generated", "correct"]
    assert len(tables[0]) == 8 and tables[0]["input"][0] == " ".join(src)


@pytest.mark.slow
def test_attention_maps_of_the_layers_inside_gpt_tiny_blocks():
    """gpt_tiny's attention sits only inside its two repeated blocks: each copy gets its own causal map."""
    at = _app("gpt_tiny")
    _widget(at.number_input, "n_samples").set_value(200)
    at.run()
    _set_epochs(at, 1)
    _train_to_end(at, timeout=120)
    assert "**Attention maps**" in [m.value for m in at.markdown]
    titles = ["blocks[0] › self_attn · self-attention", "blocks[1] › self_attn · self-attention"]
    assert [t.label for t in at.tabs][-2:] == titles
    figures = _figures(at)
    length = _run(at).dataset.test.inputs[0].shape[1]
    for title in titles:
        heads = figures[title]["data"]
        assert len(heads) == 4  # one heatmap per head
        z = np.asarray(heads[0]["z"], dtype=float)
        assert z.shape == (length, length) and np.allclose(z.sum(axis=1), 1.0, atol=1e-4)
        assert heads[0]["x"] == heads[0]["y"]  # self-attention: keys are the queries' tokens
        assert np.allclose(np.triu(z, k=1), 0.0)  # causal: nothing above the diagonal


# ---- the pure helpers behind the panel --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "options", "kind"),
    [
        ("digits", {}, "images"),
        ("digits", {"flat": True}, "images"),
        ("iris", {}, "table"),
        ("diabetes", {}, "table"),
        ("gates", {}, "points"),
        ("moons", {}, "points"),
        ("sine", {}, "series"),
        ("reverse", {}, "tokens"),
        ("sentiment", {}, "tokens"),
    ],
)
def test_preview_kind_per_dataset(name, options, kind):
    from data.datasets import load_dataset
    from ui.train.train_data import preview_kind

    assert preview_kind(load_dataset(name, **options)) == kind


def test_token_examples_decode_inputs_and_targets():
    from data.datasets import load_dataset
    from ui.train.train_data import as_images, token_examples

    reverse = load_dataset("reverse")
    row = token_examples(reverse, 2)[0]
    assert set(row) == {"src", "tgt", "target"}
    assert row["tgt"].split()[0] == "<bos>"
    assert row["target"].split() == row["src"].split()[::-1]
    sentiment = token_examples(load_dataset("sentiment"), 3)
    assert all(r["target"] in ("negative", "positive") for r in sentiment)
    assert all("<pad>" not in text for r in sentiment for name, text in r.items() if name != "target")
    assert as_images(np.zeros((2, 64))).shape == (2, 8, 8) and as_images(np.zeros((2, 3, 4, 4))).shape == (
        2,
        4,
        4,
    )


def test_uploaded_csv_loads_or_explains():
    from ui.train.train_data import UPLOAD_CSV, DataChoice, load_data

    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}" for i in range(60))
    data = ("a,b,label\n" + rows + "\n").encode()
    dataset, error = load_data(
        DataChoice(UPLOAD_CSV, {"task": "auto", "missing": "impute"}, data, "label", "mine.csv"), seed=0
    )
    assert error is None and dataset.name == "csv:mine.csv"
    assert dataset.input_shapes == ((2,),) and dataset.class_names == ["no", "yes"]
    dataset, error = load_data(DataChoice(UPLOAD_CSV, {}, data, "price", "mine.csv"), seed=0)
    assert dataset is None and "price" in error and "label" in error


def test_live_curves_from_engine_events():
    from training.engine import TrainEvent
    from ui.train.train_live import curves, progress_text, progress_value

    events = [
        TrainEvent("start", 0, 2, 0, 20),
        TrainEvent("step", 1, 2, 5, 20, train_loss=1.0),
        TrainEvent("step", 1, 2, 10, 20, train_loss=0.8),
        TrainEvent("epoch", 1, 2, 10, 20, train_loss=0.9, val_loss=0.85, metrics={"accuracy": 0.5}),
        TrainEvent(
            "epoch",
            2,
            2,
            20,
            20,
            train_loss=0.5,
            val_loss=0.55,
            metrics={"accuracy": 0.75},
            samples_per_s=1234.0,
            eta_s=0.0,
        ),
    ]
    data = curves(events, "classification")
    assert data.train_x == [0.5, 1.0, 2.0] and data.train_y == [1.0, 0.8, 0.5]  # epoch 2 had no step event
    assert data.val_x == [1, 2] and data.val_y == [0.85, 0.55]
    assert data.metric == "accuracy" and data.metric_y == [0.5, 0.75]
    assert progress_value(events[2]) == 0.5
    assert progress_text(events[-1]) == "epoch 2/2 · step 20/20 · 1,234 samples/s · ETA 0 s"


def test_uploaded_image_zip_loads():
    import io
    import zipfile

    from PIL import Image

    from ui.train.train_data import UPLOAD_ZIP, DataChoice, load_data, preview_kind

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, shade in (("cats", 30), ("dogs", 220)):
            for i in range(8):
                image = io.BytesIO()
                Image.new("RGB", (20, 20), (shade, shade + i, shade)).save(image, format="PNG")
                archive.writestr(f"{label}/{i}.png", image.getvalue())
    choice = DataChoice(UPLOAD_ZIP, {"size": 16, "grayscale": True}, buffer.getvalue(), filename="pets.zip")
    dataset, error = load_data(choice, seed=0)
    assert error is None, error
    assert dataset.name == "zip:pets.zip" and dataset.input_shapes == ((1, 16, 16),)
    assert dataset.class_names == ["cats", "dogs"] and preview_kind(dataset) == "images"
    dataset, error = load_data(DataChoice(UPLOAD_ZIP, {"size": 16}, b"not a zip", filename="x.zip"), seed=0)
    assert dataset is None and error


def test_device_label_names_the_device_and_why():
    import torch

    from ui.train.train_panel import device_label

    if torch.cuda.is_available():
        assert device_label("auto").startswith("CUDA · " + torch.cuda.get_device_name())
    else:
        assert device_label("cpu") == "CPU"
        assert device_label("cuda") == "CPU (CUDA was asked for but no CUDA GPU is available: using the CPU)"


# ---- own data, kept state, overfitting ----------------------------------------------------------------------
def _noise_csv(rows: int = 150, target: str = "label") -> bytes:
    """Four random features and a random class: nothing to learn, so a run can only overfit."""
    rng = np.random.default_rng(0)
    lines = [f"a,b,c,d,{target}"] + [
        ",".join(f"{v:.3f}" for v in rng.normal(size=4)) + f",{rng.integers(3)}" for _ in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _with_csv(at: AppTest, name: str, data: bytes) -> AppTest:
    """Pick 'Upload a CSV…' with a file this session uploaded earlier (AppTest can't drive a file uploader;
    tests/browser/test_train_state.py uploads through the real one)."""
    from ui.train.train_data import UPLOAD_CSV
    from ui.train.train_state import UPLOADS

    _widget(at.selectbox, "Dataset").set_value(UPLOAD_CSV)
    at.run()
    assert "Upload a CSV with one row per example and a column to predict." in [i.value for i in at.info]
    at.session_state[UPLOADS] = {"csv": (name, data)}  # where the uploader's on_change callback keeps it
    at.run()
    assert any(c.value.startswith(f"Using **{name}**") for c in at.caption)
    return at


def test_target_guess_only_by_name():
    from ui.train.train_data import target_guess

    assert target_guess(["a", "b", "Label"]) == "Label"
    assert target_guess(["x", " y ", "target"]) == "target"  # target wins over y
    assert target_guess(["price", "area"]) is None


def test_a_csv_without_a_target_like_column_asks_which_one():
    at = _with_csv(_app("tabular_mlp"), "noise.csv", _noise_csv(target="species"))
    assert not at.exception, at.exception
    assert _widget(at.selectbox, "Column to predict").value is None
    assert any("Which column should the model predict?" in w.value for w in at.warning)
    assert _button(at, "▶ Start training").disabled
    _widget(at.selectbox, "Column to predict").set_value("species")
    at.run()
    assert [s.value for s in at.success] == ["✓ The model fits csv:noise.csv: ready to train."]


def test_overfitting_is_named_and_early_stopping_is_one_click():
    at = _with_csv(_app("tabular_mlp"), "noise.csv", _noise_csv())
    assert _widget(at.selectbox, "Column to predict").value == "label"
    assert any("‘label’ is selected because of its name" in c.value for c in at.caption)
    _set_epochs(at, 40)
    _train_to_end(at)
    found = [w.value for w in at.warning if w.value.startswith("**Overfitting:**")]
    assert len(found) == 1 and "since epoch " in found[0], [w.value for w in at.warning]
    assert _widget(at.number_input, "Early-stopping patience").value == 0
    _button(at, "Turn on early stopping (patience 3)").click()
    at.run()
    assert _widget(at.number_input, "Early-stopping patience").value == 3
    assert not [b for b in at.button if b.label.startswith("Turn on early stopping")]


def test_overfitting_needs_a_rising_validation_loss_and_a_falling_training_loss():
    from ui.train.train_results import overfitting

    def history(train, val):
        return [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(zip(train, val))]

    found = overfitting(history([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], [1.0, 0.7, 0.72, 0.75, 0.8, 0.9]))
    assert (found.best_epoch, found.rising, found.patience) == (2, 4, 3)
    assert overfitting(history([1.0, 0.8, 0.6, 0.5], [1.0, 0.7, 0.72, 0.75])) is None  # 2 epochs: noise
    assert overfitting(history([1.0, 0.8, 0.6, 0.5, 0.4], [1.0, 0.7, 0.71, 0.70, 0.705])) is None  # flat
    assert overfitting(history([1.0, 0.8, 0.9, 1.0, 1.1], [1.0, 0.7, 0.8, 0.9, 1.0])) is None  # both rise
    assert overfitting([{"epoch": 1, "train_loss": 1.0, "val_loss": None}] * 6) is None


def test_regression_predictions_and_errors_in_the_targets_units():
    from data.userdata import load_csv
    from training.engine import TrainConfig, train
    from ui.train.train_results import shown_metrics, table_rows

    rng = np.random.default_rng(1)
    area = rng.uniform(40, 200, 120)
    prices = 1500.0 * area + rng.normal(0, 5000, 120)
    text = "area,price\n" + "".join(f"{a:.1f},{p:.0f}\n" for a, p in zip(area, prices))
    dataset = load_csv(text.encode(), "price", seed=0, name="csv:homes.csv")
    graph = load_template("perceptron")
    graph = graph.replace_node(graph.node("x").with_params(shape=[1]))
    result = train(graph, dataset, TrainConfig.from_dict({"epochs": 30, "lr": 0.05, "threads": 1}))
    rows = table_rows(result.model, result.plan, dataset)
    truth = dataset.test.target.reshape(-1)[: len(rows)].double() * dataset.extras["target_std"]
    truth = truth + dataset.extras["target_mean"]
    assert [r["true"] for r in rows] == pytest.approx(truth.tolist(), abs=1e-2)
    assert all(r["true"] > 10_000 for r in rows)  # prices, not standardized numbers near 0
    assert all(r["error"] == pytest.approx(r["predicted"] - r["true"], abs=1e-3) for r in rows)
    labels = [label for label, _ in shown_metrics(result.test_metrics, dataset)]
    assert labels[:2] == ["test RMSE (‘price’)", "test MAE (‘price’)"] and "test rmse" not in labels


CODE_SCRIPT = """
import streamlit as st
from builder.templates import load_template
from builder.validate import validate
from ui.code.code_downloads import deferred, export_source
from ui.train.train_panel import render_train_panel

graph = load_template(st.session_state.get("template", "xor_mlp"))
render_train_panel(graph, validate(graph))
source = export_source(graph)  # what the Code tab's buttons are made from
st.session_state["script"] = deferred(graph, "script", source)()
st.session_state["from"] = source.settings_from
"""


def test_the_code_tabs_script_follows_the_train_tab_and_a_chosen_run():
    from export.files import export_bytes

    graph = load_template("xor_mlp")
    at = AppTest.from_string(CODE_SCRIPT, default_timeout=120).run()
    assert at.session_state["script"] == export_bytes(graph, "script")  # the design's own settings at first
    _set_epochs(at, 3)
    _widget(at.selectbox, "Optimizer").set_value("momentum")
    at.run()
    _widget(at.number_input, "Momentum").set_value(0.8)
    _widget(at.number_input, "Seed").set_value(7)
    at.run()
    wanted = {**graph.meta["training"], "epochs": 3, "optimizer": "momentum", "momentum": 0.8, "seed": 7}
    script = at.session_state["script"]
    assert script.startswith(b'"""') and script == export_bytes(graph, "script", settings=wanted)
    assert script != export_bytes(graph, "script")
    _train_to_end(at)
    run_id = _run(at).handle.result.run_id
    _widget(at.number_input, "Epochs").set_value(9)  # the form moves on; the run keeps its settings
    at.run()
    assert at.session_state["from"] == "the Train tab" and at.session_state["script"] != script
    _button(at, "Export this run").click()  # in the run history
    at.run()
    record = RunStore().get_run(run_id)
    assert at.session_state["from"] == f"run {record.number}"
    # The run's export is the Train tab's but for Threads: auto (0) is recorded as the count the run used
    assert at.session_state["script"] == export_bytes(graph, "script", settings=record.config) == export_bytes(
        graph, "script", settings={**wanted, "threads": record.config["threads"]})
    assert record.config["threads"] >= 1
    assert any(c.value == "✓ The Code tab's downloads follow this run." for c in at.caption)
