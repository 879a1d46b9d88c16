"""Compare one change in the real browser: three learning rates on xor_mlp give three overlaid curves, each
labelled by its value (issue 13's done-when)."""

from __future__ import annotations

import pytest

from builder.share import encode_share
from builder.templates import load_template

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The names of the legend entries of the "Loss by lr" chart, once each of its runs has drawn an epoch.
CURVES = """() => {
  const p = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.layout && p.layout.title && (p.layout.title.text || '').includes('Loss by lr')).pop();
  if (!p) return [];
  return p.data.filter(t => t.showlegend !== false && (t.x || []).length > 0).map(t => t.name);
}"""


def test_three_learning_rates_show_three_labelled_curves(page, app_url: str) -> None:
    page.goto(f"{app_url}/?design={encode_share(load_template('xor_mlp'))}")
    tab = page.get_by_role("tab", name="Train")
    tab.wait_for(timeout=90_000)
    tab.click()
    page.get_by_text("Compare one change").first.click()
    values = page.get_by_label("Values of lr, separated by commas (up to 4)")
    values.fill("0.001, 0.01, 0.1")
    values.press("Enter")
    button = page.get_by_role("button", name="Compare", exact=True)
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)
    button.click()
    page.wait_for_function(f"() => ({CURVES})().length === 3", timeout=120_000)
    assert page.evaluate(CURVES) == ["lr = 0.001", "lr = 0.01", "lr = 0.1"]
    page.get_by_text("Same seed (0) for every run; only lr differs").wait_for(timeout=30_000)
    page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(p => ((p.layout.title || {}).text || '').includes('Loss by lr')).pop()
        .scrollIntoView({block: 'center'})""")
    page.wait_for_timeout(500)
    page.screenshot(path="assets/screenshots/compare_lr.png")
