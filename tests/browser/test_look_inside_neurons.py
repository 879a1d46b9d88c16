"""Neurons as pictures in the real browser: while spirals_mlp trains on spirals, the figure of every hidden unit
(3 layers) redraws at least once a second, beside the decision boundary; training health is on the page too."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_neurons.py"
_spec = importlib.util.spec_from_file_location("bench_neurons", _BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # the bench's own page steps and probe: one measurement, two users


def test_every_hidden_unit_redraws_at_least_once_a_second(page, app_url: str) -> None:
    bench.open_and_start(page, app_url)
    result = bench.measure(page, seconds=5)
    assert result["updates_per_s"] >= 1.0, result
    titles = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(p => (p.layout && p.layout.title && p.layout.title.text) || '')""")
    assert any("Decision boundary" in t for t in titles)
    layers = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(p => ((p.layout.title || {}).text || '').includes('Every hidden unit')).pop()
        .layout.annotations.map(a => a.text)""")
    assert layers == ["<b>act1</b>", "<b>act2</b>", "<b>act3</b>"]
    page.get_by_text("Training health").first.wait_for()
    page.locator(".st-key-run_bar_stop").get_by_role("button", name="Stop").click()
