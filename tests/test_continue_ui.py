"""The Train tab's continuation tools headlessly (AppTest, real runs, the real run store): the learning-rate
finder's button, chart and one-click use; "Continue this run" and "Start from these weights" in the history."""

from __future__ import annotations

import json
import threading
import time

import pytest
from app_helpers import stop_all_runs
from streamlit.testing.v1 import AppTest

from builder.templates import load_template
from data.datasets import load_dataset
from training.config import TrainConfig
from training.engine import train
from training.runstore import RunStore
from ui.train.lr_finder import BUTTON_LABEL, USE_LABEL
from ui.train.train_panel import RUN

SCRIPT = """
import streamlit as st
from builder.templates import load_template
from builder.validate import validate
from ui.train.train_panel import render_train_panel

graph = load_template("xor_mlp")
render_train_panel(graph, validate(graph), on_load=lambda g, run_id: st.session_state.update(loaded=run_id))
"""


@pytest.fixture(autouse=True)
def _stop_runs_after_each_test():
    yield
    stop_all_runs()


def _app() -> AppTest:
    return AppTest.from_string(SCRIPT, default_timeout=120).run()


def _button(at: AppTest, start: str):
    found = [b for b in at.button if b.label.startswith(start)]
    assert found, f"no button {start!r} among {[b.label for b in at.button]}"
    return found[0]


def _wait(at: AppTest, timeout: float = 120.0) -> None:
    handle = at.session_state[RUN].handle
    deadline = time.monotonic() + timeout
    while handle.state.active and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not handle.state.active
    at.run()
    assert not at.exception, at.exception


def test_the_lr_finder_suggests_and_one_click_uses_it() -> None:
    at = _app()
    _button(at, BUTTON_LABEL).click()
    at.run()
    assert not at.exception, at.exception
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
              for c in at.get("plotly_chart")}
    chart = charts["Learning-rate range test"]
    names = [trace.get("name", "") for trace in chart["data"]]
    assert names[:2] == ["loss per step", "smoothed loss"] and names[2].startswith("suggested ")
    suggested = float(names[2].removeprefix("suggested "))
    use = _button(at, USE_LABEL)
    use.click()
    at.run()
    assert [n for n in at.number_input if n.label == "Learning rate"][0].value == pytest.approx(suggested, rel=1e-3)
    assert RUN not in at.session_state, "the finder starts no run"


def _stopped_run(epochs: int, stop_after: int) -> str:
    """A run of xor_mlp's own settings, stopped after ``stop_after`` epochs, in the app's run store."""
    graph = load_template("xor_mlp")
    config = TrainConfig.from_settings({**graph.meta["training"], "epochs": epochs, "threads": 1})
    data = load_dataset(config.dataset, seed=config.seed, fractions=(config.val_fraction, config.test_fraction),
                        **config.dataset_options)
    stop = threading.Event()
    result = train(graph, data, config, store=RunStore(), stop_event=stop,
                   on_event=lambda e: stop.set() if e.kind == "epoch" and e.epoch >= stop_after else None)
    assert result.status == ("stopped" if stop_after < epochs else "finished")
    return result.run_id


def _pick(at: AppTest, run_id: str) -> None:
    [toggle] = [t for t in at.toggle if t.label == "Show all runs on this server"]
    toggle.set_value(True)
    at.run()
    number = RunStore().get_run(run_id).number
    compare = [m for m in at.multiselect if m.label == "Compare runs"][0]
    compare.set_value([o for o in compare.options if o.startswith(f"run {number} ·")])
    at.run()


def test_continue_this_run_trains_the_rest_of_its_epochs() -> None:
    run_id = _stopped_run(6, 2)
    at = _app()
    _pick(at, run_id)
    _button(at, "Continue this run").click()
    at.run()
    assert at.session_state["loaded"] == run_id  # its design is back on the canvas
    _wait(at)
    record = RunStore().get_run(run_id)
    assert record.status == "finished" and [e["epoch"] for e in record.epochs] == [1, 2, 3, 4, 5, 6]
    _pick(at, run_id)
    assert _button(at, "Continue this run").disabled  # all its epochs are done


def test_start_from_these_weights_begins_the_next_run_there() -> None:
    run_id = _stopped_run(3, 3)
    at = _app()
    _pick(at, run_id)
    _button(at, "Start from these weights").click()
    at.run()
    assert any(c.value.startswith("✓ The next Start begins from run") for c in at.caption)
    _button(at, "▶ Start training").click()
    at.run()
    _wait(at)
    newest = RunStore().list_runs()[0]
    assert newest.id != run_id and newest.origin.get("from_run") == run_id
    assert at.session_state[RUN].handle.label.endswith("'s weights")
