"""The Train tab's download step (Streamlit AppTest): a real set that isn't cached shows its size, folder and a
button; the click downloads it from the session's local fixture server (127.0.0.1) with a progress bar, then the
data loads; an unreachable source gives the clear message instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_helpers import stop_all_runs
from streamlit.testing.v1 import AppTest

from data import fetch

SCRIPT = """
import streamlit as st
from builder.templates import load_template
from builder.validate import validate
from ui.train.train_panel import render_train_panel

graph = load_template("lenet5")
render_train_panel(graph, validate(graph), on_fix=lambda *a: None, on_load=lambda *a: None)
"""


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(fetch.DATASETS_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no torchvision / Keras copies to find
    yield
    stop_all_runs()


def _pick(dataset: str) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=120).run()
    assert not at.exception, at.exception
    next(s for s in at.selectbox if s.label == "Dataset").set_value(dataset)
    return at.run()


def _texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_a_download_shows_a_progress_bar_then_the_data_loads(tmp_path: Path) -> None:
    at = _pick("mnist")
    assert "MNIST isn't downloaded yet" in _texts(at.info) and str(tmp_path / "cache" / "mnist") in _texts(at.info)
    assert not (tmp_path / "cache" / "mnist").exists()  # nothing is fetched before the click
    next(b for b in at.button if b.label == "Download MNIST").click()
    at.run()
    assert not at.exception and not at.error, (at.exception, _texts(at.error))
    bars = at.get("progress")
    assert len(bars) == 1
    assert bars[0].proto.value == 100 and bars[0].proto.text.startswith("MNIST: downloaded and checked")
    assert len(list((tmp_path / "cache" / "mnist").glob("*.gz"))) == 4
    at.run()  # cached now: no download step, the data set is loaded
    assert not at.get("progress") and "MNIST isn't downloaded yet" not in _texts(at.info)
    assert not at.error


def test_an_unreachable_source_shows_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "gone.json"
    table.write_text(json.dumps({"cifar10": {"title": "CIFAR-10", "files": [
        {"name": "cifar-10-binary.tar.gz", "urls": ["http://127.0.0.1:9/cifar-10-binary.tar.gz"], "size": 100,
         "sha256": "0" * 64}]}}))
    monkeypatch.setenv(fetch.SOURCES_ENV, str(table))
    at = _pick("cifar10")
    next(b for b in at.button if b.label == "Download CIFAR-10").click()
    at.run()
    message = _texts(at.error)
    assert message.startswith("CIFAR-10 isn't cached and the download failed: http://127.0.0.1:9/")
    assert message.endswith(f"put cifar-10-binary.tar.gz in {tmp_path / 'cache' / 'cifar10'}")
    assert not at.exception
