"""The Train tab in a real Chromium: settings and an uploaded CSV survive Train → Code → Train, the Code tab's
training script follows them, and the Code tab's weights downloads are labelled — untrained before a run, the
run's weights after it (the downloaded ONNX file scores the run's test accuracy in onnxruntime).

Widgets are found by their Streamlit key (a widget with key K sits in an element of class ``st-key-K``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from builder.share import encode_share
from builder.templates import load_template
from training.runstore import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90_000  # first page load on a busy 2-core machine


def _open(page, url: str, template: str) -> None:
    page.goto(f"{url}/?design={encode_share(load_template(template))}")
    _tab(page, "Train")
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=LOAD_TIMEOUT)


def _tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.wait_for(timeout=LOAD_TIMEOUT)
    tab.click()


def _number(page, key: str, value: str) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Enter")
    page.wait_for_function("([e, v]) => e.value === v", arg=[field.element_handle(), value])
    page.wait_for_timeout(400)  # the rerun that takes the new value


def _choose(page, key: str, option: str, tries: int = 3) -> None:
    """Open the selectbox, filter, click the option. A rerun that lands while the list is open (a busy machine
    finishing the previous edit) redraws the selectbox and closes its list: then open it again."""
    for attempt in range(tries):
        page.locator(f".st-key-{key}").click()
        page.keyboard.type(option[:10])  # long lists are virtualized: filter so the option is drawn
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.wait_for(timeout=10_000)
            choice.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
    _wait_text(page, f".st-key-{key}", option)


def _wait_text(page, selector: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        element = page.locator(selector).first
        if element.count():  # a selectbox shows its value in an input (it can be typed into to search)
            inputs = element.locator("input")
            shown = element.inner_text() + " " + " ".join(inputs.nth(i).input_value() for i in range(inputs.count()))
        if text in shown:
            return shown
        page.wait_for_timeout(200)
    raise AssertionError(f"{selector} shows {shown!r}, not {text!r}")


def _value(page, key: str) -> str:
    return page.locator(f".st-key-{key} input").first.input_value()


def _noise_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["a,b,c,d,label"] + [",".join(f"{v:.3f}" for v in rng.normal(size=4)) + f",{rng.integers(3)}"
                                for _ in range(90)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_settings_and_an_uploaded_csv_survive_a_trip_to_the_code_tab(page, app_url: str, tmp_path: Path) -> None:
    _open(page, app_url, "tabular_mlp")
    _number(page, "ll_set_epochs", "7")
    _number(page, "ll_set_lr", "0.02")
    _choose(page, "ll_set_optimizer", "momentum")
    page.get_by_text("More settings").click()
    _number(page, "ll_set_momentum", "0.8")  # shown only for SGD with momentum
    _number(page, "ll_set_seed", "7")
    _number(page, "ll_set_weight_decay", "0.0005")
    _choose(page, "ll_data_dataset", "Upload a CSV…")
    page.locator(".st-key-ll_data_csv_file input[type='file']").set_input_files(str(_noise_csv(tmp_path / "noise.csv")))
    _wait_text(page, ".st-key-ll_data_csv_target", "label")  # named like a target: pre-selected, and said so
    page.get_by_text("‘label’ is selected because of its name").wait_for()
    _choose(page, "ll_data_csv_missing", "drop")
    page.get_by_text("The model fits csv:noise.csv").wait_for(timeout=30_000)

    _tab(page, "Code")
    caption = page.get_by_text("Training script and notebook: the settings of the Train tab")
    caption.wait_for(timeout=30_000)
    assert "momentum, lr 0.02, 7 epochs, batch 16, seed 7 · noise.csv" in caption.inner_text()
    assert "untrained (random initialization)" in page.get_by_text("Weights:").inner_text()

    _tab(page, "Train")
    page.get_by_role("button", name="▶ Start training").wait_for(timeout=30_000)
    assert (_value(page, "ll_set_epochs"), _value(page, "ll_set_lr")) == ("7", "0.02")
    _wait_text(page, ".st-key-ll_set_optimizer", "momentum")
    page.get_by_text("More settings").click()
    assert (_value(page, "ll_set_momentum"), _value(page, "ll_set_seed")) == ("0.8", "7")
    assert _value(page, "ll_set_weight_decay") == "0.0005"
    _wait_text(page, ".st-key-ll_data_dataset", "Upload a CSV…")
    page.get_by_text(re.compile(r"Using noise\.csv .*uploaded earlier")).wait_for()
    _wait_text(page, ".st-key-ll_data_csv_target", "label")
    _wait_text(page, ".st-key-ll_data_csv_missing", "drop")
    page.get_by_text("The model fits csv:noise.csv").wait_for(timeout=30_000)


def test_the_onnx_download_holds_the_trained_run(page, app_url: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    from data.datasets import load_dataset

    _open(page, app_url, "digits_cnn")
    _number(page, "ll_set_epochs", "2")
    since = time.time()
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()
    page.get_by_text(re.compile("finished: ")).wait_for(timeout=180_000)
    record = next(r for r in RunStore().list_runs(limit=10) if r.name == "digits_cnn" and r.created >= since)
    accuracy = record.metrics["test_accuracy"]

    _tab(page, "Code")
    label = f"trained: run {record.number}, test accuracy {accuracy:.3f}"
    page.get_by_text(f"Weights: {label}").wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="⬇ ONNX").click()
    path = tmp_path / "digits_cnn.onnx"
    info.value.save_as(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    test = load_dataset("digits", seed=record.config.get("seed", 0), **record.config.get("dataset_options", {})).test
    logits = session.run(None, {session.get_inputs()[0].name: test.inputs[0].numpy()})[0]
    correct = int((logits.argmax(1) == test.target.numpy()).sum())
    assert correct == round(accuracy * len(test))
