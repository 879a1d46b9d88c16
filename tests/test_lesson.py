"""Classroom features through Streamlit's AppTest: lesson links (read-only, explanation, "Make my own copy"),
the gallery's lesson links, limits from builder.settings surfaced in the UI, a broken run store or weights
file explained, and a run history that shows each session only its own runs unless asked for all.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import torch
from app_helpers import APP, start_app, stop_all_runs
from streamlit.testing.v1 import AppTest

from builder.project import dump_project
from builder.settings import Settings, settings
from builder.share import encode_share
from builder.templates import load_template, template_names
from training.runstore import RunStore
from ui.gallery.lesson import LESSON_DIR, facts, family, lesson_link, lesson_notes
from ui.train.runs_panel import ALL_RUNS_LABEL


def start(query: dict[str, str] | None = None, view: str | None = None) -> AppTest:
    return start_app(query, view, timeout=120)


def graph(at: AppTest):
    return at.session_state["ll_history"].current


def component_args(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.json_args) for e in at.get("component_instance")]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.fixture
def limits(monkeypatch):
    """Set LAYERLAB_* variables for one test; the process-wide settings are re-read before and after."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"LAYERLAB_{name.upper()}", value)
        settings.cache_clear()

    yield apply
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def _stop_runs():
    yield
    stop_all_runs()


# ---- lesson links --------------------------------------------------------------------------------------
def test_lesson_link_opens_the_template_read_only_beside_its_explanation() -> None:
    at = start({"lesson": "cifar_cnn"})
    template = load_template("cifar_cnn")
    (canvas,) = component_args(at)  # the lesson's canvas only: no editable canvas on the page
    assert [n["id"] for n in canvas["nodes"]] == [n.id for n in template.nodes]
    assert canvas["readOnly"]  # no drag, connect, delete, select or menus (ui/canvas_frontend)
    assert not any((b.key or "").startswith("palette_") for b in at.button)  # no palette, no inspector
    assert not at.sidebar.button and not at.text_input
    text = [m.value for m in at.markdown]
    assert "#### Lesson: cifar_cnn" in text and template.description in text
    assert any(t.startswith("**What to look for in a convolutional network**") for t in text)
    assert any("167.6 K parameters" in c.value and "input ‘x’: 3×32×32" in c.value for c in at.caption)
    assert [n.type for n in graph(at).nodes] == ["Input"]  # the student's own design is untouched
    assert at.query_params["lesson"] in ("cifar_cnn", ["cifar_cnn"])


def test_the_lesson_canvas_ignores_what_it_sends_back() -> None:
    at = start({"lesson": "xor_mlp"})
    (canvas,) = component_args(at)
    at.session_state["lesson_canvas"] = {"id": "x-1", "kind": "delete", "nodes": [canvas["nodes"][0]["id"]],
                                         "edges": []}
    at.run()
    assert not at.exception
    (again,) = component_args(at)
    assert [n["id"] for n in again["nodes"]] == [n["id"] for n in canvas["nodes"]]
    assert [n.type for n in graph(at).nodes] == ["Input"]


def test_make_my_own_copy_gives_an_editable_design_and_drops_the_lesson() -> None:
    at = start({"lesson": "cifar_cnn"})
    at.button(key="lesson_copy").click().run()
    assert not at.exception, at.exception
    template = load_template("cifar_cnn")
    assert [n.id for n in graph(at).nodes] == [n.id for n in template.nodes]
    assert "lesson" not in at.query_params
    assert at.session_state["view"] == "Build"
    assert any("your own copy of ‘cifar_cnn’" in s.value for s in at.toast)  # good news is a toast
    assert any(b.key == "palette_Linear" for b in at.button)  # the palette is back
    before = len(graph(at).nodes)
    at.button(key="palette_ReLU").click().run()
    assert len(graph(at).nodes) == before + 1
    at.button(key="undo").click().run()
    at.button(key="undo").click().run()
    assert [n.type for n in graph(at).nodes] == ["Input"]  # undo goes back to before the copy


def test_unknown_lesson_says_so_and_shows_the_gallery() -> None:
    at = start({"lesson": "cifar_cnn_v9"})
    assert any("There is no lesson ‘cifar_cnn_v9’" in e for e in errors(at))
    assert at.session_state["view"] == "Templates"
    assert "lesson" not in at.query_params
    assert any(b.key == "open_cifar_cnn" for b in at.button)


def test_gallery_cards_offer_their_lesson_links() -> None:
    at = start()
    codes = {c.value for c in at.code}
    assert {f"?lesson={name}" for name in template_names()} <= codes
    assert lesson_link("lenet5", "http://10.0.0.5:8501/?design=x") == "http://10.0.0.5:8501/?lesson=lenet5"
    assert lesson_link("lenet5", "http://10.0.0.5:8501") == "http://10.0.0.5:8501/?lesson=lenet5"


def test_every_template_has_a_what_to_look_for_text() -> None:
    families = {name: family(load_template(name), name) for name in template_names()}
    assert families["cifar_cnn"] == families["resnet_mini"] == "cnn"
    assert families["lstm_text"] == families["gru_timeseries"] == "recurrent"
    assert families["transformer_seq2seq"] == "transformer" and families["autoencoder"] == "autoencoder"
    assert families["xor_mlp"] == families["perceptron"] == "mlp"
    assert {f"{f}.md" for f in families.values()} <= {p.name for p in LESSON_DIR.glob("*.md")}
    for name in template_names():
        assert lesson_notes(name, load_template(name)).startswith("**What to look for")
    from builder.validate import validate

    digits = load_template("digits_mlp")
    assert facts(digits, validate(digits))[-1] == "trains on the built-in dataset ‘digits’"


# ---- limits ------------------------------------------------------------------------------------------------
def test_a_project_file_over_the_limit_is_refused_with_its_size(limits) -> None:
    data = json.dumps(dump_project(load_template("resnet_mini")), indent=2).encode()
    limits(max_file_bytes="2000")
    at = start(view="Build")
    assert len(data) > 2000
    at.sidebar.file_uploader[0].set_value(("resnet.json", data, "application/json")).run()
    assert not at.exception
    assert any("‘resnet.json’ is" in e and "limited to 2,000 bytes" in e and "LAYERLAB_MAX_FILE_BYTES" in e
               for e in errors(at)), errors(at)
    assert [n.type for n in graph(at).nodes] == ["Input"]


def test_adding_past_max_nodes_is_refused_with_a_message(limits) -> None:
    limits(max_nodes="3")
    at = start(view="Build")
    at.button(key="palette_Linear").click().run()
    at.button(key="palette_ReLU").click().run()
    assert len(graph(at).nodes) == 3
    at.button(key="palette_Linear").click().run()
    assert not at.exception
    assert len(graph(at).nodes) == 3
    assert any("already has 3 nodes; the limit is 3" in e for e in errors(at)), errors(at)


@pytest.mark.slow
def test_a_csv_over_the_upload_limit_is_refused(limits) -> None:
    limits(max_upload_mb="1")
    at = start({"design": encode_share(load_template("tabular_mlp"))}, view="Train")
    dataset = next(s for s in at.selectbox if s.label == "Dataset")
    dataset.set_value("Upload a CSV…").run()
    big = b"a,b,label\n" + b"1.0,2.0,x\n" * 120_000  # 1.2 MB
    next(u for u in at.file_uploader if u.label == "CSV file").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception, at.exception
    assert any("‘big.csv’ is 1.1 MB" in e and "limited to 1 MB" in e for e in errors(at)), errors(at)
    assert not any(s.label == "Column to predict" for s in at.selectbox)


# ---- a broken run store, missing weights -------------------------------------------------------------------
@pytest.mark.slow
def test_a_corrupt_run_store_is_explained_in_the_train_tab(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    (tmp_path / "runs.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    at = start({"design": encode_share(load_template("xor_mlp"))}, view="Train")
    assert any("The run history can't be shown" in e and "runs.sqlite" in e for e in errors(at)), errors(at)
    next(t for t in at.toggle if t.label == ALL_RUNS_LABEL).set_value(True).run()
    assert not at.exception
    assert any("can't be shown" in e for e in errors(at))


@pytest.mark.slow
def test_a_missing_weights_file_is_explained_not_a_crash(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    store = RunStore()
    xor = load_template("xor_mlp")
    run_id = store.start_run("xor_mlp", dump_project(xor), {"epochs": 1}, "gates", "cpu")
    store.add_epoch(run_id, 1, {"epoch": 1, "loss": 0.7})
    store.finish_run(run_id, "finished", metrics={"accuracy": 0.5}, state_dict={"w": torch.zeros(2)})
    Path(store.get_run(run_id).weights).unlink()
    at = start({"design": encode_share(xor)}, view="Train")
    assert any("No runs in this session yet" in i.value for i in at.info)  # not this session's run
    next(t for t in at.toggle if t.label == ALL_RUNS_LABEL).set_value(True).run()
    assert any("can't be read" in w.value and "moved or deleted" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Load this design and its weights").click().run()
    assert not at.exception, at.exception
    assert any(f"weights of run {run_id} can't be shown" in w.value and "missing" in w.value
               for w in at.warning), [w.value for w in at.warning]


# ---- one session's runs are not another's ------------------------------------------------------------------
def _train(at: AppTest, epochs: int = 2, timeout: float = 90.0) -> str:
    next(n for n in at.number_input if n.label == "Epochs").set_value(epochs).run()
    next(b for b in at.button if b.label == "▶ Start training").click().run()
    handle = at.session_state["ll_train_run"].handle
    deadline = time.monotonic() + timeout
    while handle.state.active and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not handle.state.active, "the tiny run did not finish in time"
    at.run()
    assert not at.exception, at.exception
    return handle.result.run_id


def _history(at: AppTest) -> list[str]:
    """The run ids the history table lists."""
    tables = [d.value for d in at.dataframe if "ID" in d.value.columns and "Status" in d.value.columns]
    return list(tables[0]["ID"]) if tables else []


@pytest.mark.slow
def test_each_session_sees_only_its_own_runs_unless_it_asks_for_all(tmp_path, monkeypatch, _stop_runs) -> None:
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    alice = start({"design": encode_share(load_template("xor_mlp"))}, view="Train")
    bob = start({"design": encode_share(load_template("perceptron"))}, view="Train")
    run_id = _train(alice)
    assert _history(alice) == [run_id]
    bob.run()
    assert _history(bob) == []
    assert any("No runs in this session yet" in i.value for i in bob.info)
    assert "ll_train_run" not in bob.session_state  # no live view, no charts of alice's run
    next(t for t in bob.toggle if t.label == ALL_RUNS_LABEL).set_value(True).run()
    assert _history(bob) == [run_id]  # the teacher's view: every run on this server
    mine = _train(bob, epochs=1)
    next(t for t in bob.toggle if t.label == ALL_RUNS_LABEL).set_value(False).run()
    assert _history(bob) == [mine]
    alice.run()
    assert _history(alice) == [run_id]


def test_the_run_queue_cap_comes_from_the_settings(limits, monkeypatch) -> None:
    from ui.train.run_manager import RunManager

    monkeypatch.delenv("LAYERLAB_MAX_RUNS", raising=False)
    limits(max_concurrent_runs="3")
    assert RunManager().max_runs == 3
    monkeypatch.setenv("LAYERLAB_MAX_RUNS", "5")  # the older variable still wins
    assert RunManager().max_runs == 5


# ---- serving a room --------------------------------------------------------------------------------------
def test_layerlab_app_defaults_to_localhost_and_classroom_listens_on_the_lan(limits, capsys) -> None:
    from cli.main import main

    limits(max_upload_mb="20")
    assert main(["app", "--print-command"]) == 0
    local = capsys.readouterr().out.split()
    assert local[local.index("--server.address") + 1] == "127.0.0.1"
    assert local[local.index("--browser.gatherUsageStats") + 1] == "false"
    assert local[local.index("--server.maxUploadSize") + 1] == "20"
    assert local[local.index("--server.runOnSave") + 1] == "false"
    assert main(["app", "--classroom", "--port", "8600", "--print-command"]) == 0
    out = capsys.readouterr().out
    assert "--server.address 0.0.0.0 --server.port 8600" in out
    assert re.search(r"Students open  http://[\w.'-]+:8600/", out) and "?lesson=" in out and "firewall" in out


def test_streamlit_config_has_the_safe_defaults() -> None:
    import tomllib

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["maxUploadSize"] == Settings().max_upload_mb == 50  # the default limits agree
    assert config["server"]["runOnSave"] is False and config["server"]["fileWatcherType"] == "none"
