"""The run on screen is the run you take away: non-default settings are set through the Train tab's widgets in a
real Chromium, digits_mlp trains on its default data, the Code tab's training script is downloaded and run as a
plain ``python`` process outside the repository, and its per-epoch train and validation losses and its test
metrics equal the app's run (1e-6 relative) as the server wrote it into the run store.

The server inherits LAYERLAB_DATA_DIR from tests/conftest.py, so this process reads the very SQLite file the
app wrote. Widget helpers come from test_train_state.py.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train_state import _choose, _open, _tab, _value, _wait_text

from tests.browser.conftest import script_state
from training.runstore import RunRecord, RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# SGD with momentum, weight decay, cosine with warm-up, label smoothing, clipping, early stopping, seed 7. The
# learning rate is high enough that the validation loss turns and early stopping ends the run before epoch 10
# (checked below: otherwise patience would not have been tested).
NUMBERS = {
    "epochs": "10",
    "lr": "0.9",
    "momentum": "0.8",
    "weight_decay": "0.0005",
    "warmup": "0.2",
    "label_smoothing": "0.1",
    "grad_clip": "0.5",
    "patience": "1",
    "seed": "7",
}
CHOICES = {"optimizer": "momentum", "schedule": "cosine"}
OURS = {"builder", "codegen", "training", "data", "cli", "ui"}  # LayerLab's packages
SCRIPT_TIMEOUT = 240  # seconds for the downloaded script (about 2 s alone; a loaded 2-core machine is slower)


def _set_settings(page) -> None:
    """The choices first (momentum appears only once the optimizer is SGD + momentum), then every number typed
    the way a quick user does: Enter and on to the next field without waiting for the page. Each Enter reruns
    the workspace fragment; a rerun that began before the next edit must not put the old value back (it did:
    ui.train.train_state.kept wrote every widget's value back on every run, and Streamlit pushed it to the browser)."""
    _choose(page, "ll_set_optimizer", CHOICES["optimizer"])
    page.get_by_text("More settings").click()
    _choose(page, "ll_set_schedule", CHOICES["schedule"])
    for name, value in NUMBERS.items():
        field = page.locator(f".st-key-ll_set_{name} input")
        field.fill(value)
        field.press("Enter")
        page.wait_for_timeout(150)
    _settled(page)
    assert {name: _value(page, f"ll_set_{name}") for name in NUMBERS} == NUMBERS


def _settled(page, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until no run of the script (or a fragment) has been going for ``quiet`` seconds."""
    deadline, since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = script_state(page)
        if state != "notRunning":
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the page was still running after {timeout:.0f} s (script state {state!r})")


def _train(page, name: str) -> RunRecord:
    """Click Start, wait for the end, and return the run as the server stored it."""
    page.get_by_text("The model fits").wait_for(timeout=60_000)
    since = time.time()
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()
    page.get_by_text(re.compile("finished: ")).wait_for(timeout=180_000)
    store = RunStore()
    runs = [r for r in store.list_runs(limit=10) if r.name == name and r.created >= since]
    assert len(runs) == 1, [r.summary() for r in store.list_runs(limit=5)]
    return store.get_run(runs[0].id)  # with its epochs


def _download_script(page, path: Path) -> str:
    _tab(page, "Code")
    caption = page.get_by_text("Training script and notebook: the settings of the Train tab")
    caption.wait_for(timeout=60_000)
    assert "momentum, lr 0.9, 10 epochs, batch 64, seed 7 · digits" in caption.inner_text()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="⬇ Training script").click()
    info.value.save_as(path)
    return path.read_text()


def _imports(code: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _run_script(path: Path) -> tuple[list[dict], dict]:
    """``python -I train.py --log-json``: isolated (no repository on the path), one JSON line per epoch, then
    the ending."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", path.name, "--log-json", "--out", ""],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [r for r in rows if "epoch" in r], rows[-1]


def test_downloaded_script_reproduces_the_browser_run(page, app_url: str, tmp_path: Path) -> None:
    _open(page, app_url, "digits_mlp")
    _set_settings(page)
    _wait_text(page, ".st-key-ll_set_optimizer", CHOICES["optimizer"])
    record = _train(page, "digits_mlp")

    # The widgets reached the run: every setting as set, and early stopping did end it.
    for name, value in {**NUMBERS, **CHOICES}.items():
        want = value if name in CHOICES else float(value)
        assert record.config[name] == want, (name, record.config[name])
    assert record.dataset == "digits"
    assert record.status == "finished" and record.message.startswith("early stopping at epoch"), (
        record.message
    )
    assert 1 < len(record.epochs) < int(NUMBERS["epochs"])

    script = _download_script(page, tmp_path / "train.py")
    assert not _imports(script) & OURS, "the script must not need LayerLab"
    epochs, end = _run_script(tmp_path / "train.py")

    print("app:   ", [(e["train_loss"], e["val_loss"]) for e in record.epochs], record.message)
    print("script:", [(e["train_loss"], e["val_loss"]) for e in epochs], end["message"])
    assert [e["epoch"] for e in epochs] == [e["epoch"] for e in record.epochs]
    for app, taken in zip(record.epochs, epochs):
        assert taken["train_loss"] == pytest.approx(app["train_loss"], rel=1e-6, abs=0), app["epoch"]
        assert taken["val_loss"] == pytest.approx(app["val_loss"], rel=1e-6, abs=0), app["epoch"]
    assert (end["status"], end["message"]) == (record.status, record.message)
    test = record.metrics["test"]
    scalars = {k: v for k, v in test.items() if isinstance(v, float)}
    assert {"loss", "accuracy"} <= set(scalars), test
    assert {k: end["test"][k] for k in scalars} == pytest.approx(scalars, rel=1e-6, abs=0)
    assert end["test"]["confusion"] == test["confusion"]  # counts: exactly
    for name in ("precision", "recall"):  # per class
        assert end["test"][name] == pytest.approx(test[name], rel=1e-6, abs=0), name
