"""Seeds are per run, not per process: two browser sessions on one server start mnist_mlp (it has dropout) with
the same seed at the same moment, the two runs train side by side, and their per-epoch losses, read from the
run store the server writes, are identical.

Dropout draws from torch's global generator at every step; if the runs shared it, each would take some of the
other's draws and the losses would part after the first steps. The test checks that the runs did overlap in
time, or it would prove nothing.
"""

from __future__ import annotations

import re
import time

import pytest
from test_train_state import _number, _open

from builder.templates import load_template
from training.runstore import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEMPLATE = "mnist_mlp"
EPOCHS = "40"  # about 1 s alone on a free core: long enough for the two runs to overlap for most of it
SEED = "11"


def _ready(page) -> None:
    """The Train tab of a fresh session, with this test's epochs and seed, Start enabled."""
    _number(page, "ll_set_epochs", EPOCHS)
    page.get_by_text("More settings").click()
    _number(page, "ll_set_seed", SEED)
    page.get_by_text("The model fits").wait_for(timeout=60_000)
    button = page.get_by_role("button", name="▶ Start training")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=60_000)


def test_same_seed_in_two_sessions_gives_identical_losses(browser, app_url: str) -> None:
    assert any(n.type == "Dropout" and n.params["p"] > 0 for n in load_template(TEMPLATE).nodes)
    contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(30_000)
            _open(page, app_url, TEMPLATE)
            _ready(page)
        since = time.time()
        for page in pages:  # one after the other, a few milliseconds apart
            page.get_by_role("button", name="▶ Start training").click()
        for page in pages:
            page.get_by_text(re.compile("finished: ")).wait_for(timeout=180_000)
    finally:
        for context in contexts:
            context.close()

    store = RunStore()
    runs = [
        store.get_run(r.id) for r in store.list_runs(limit=10) if r.name == TEMPLATE and r.created >= since
    ]
    assert len(runs) == 2, [r.summary() for r in store.list_runs(limit=5)]
    first, second = sorted(runs, key=lambda r: r.created)
    assert all(r.status == "finished" and r.config["seed"] == int(SEED) for r in runs), [
        r.summary() for r in runs
    ]
    overlap = min(first.finished, second.finished) - second.created
    longest = max(r.finished - r.created for r in runs)
    print(f"runs of {longest:.2f} s overlapped for {overlap:.2f} s")
    assert overlap > 0.5 * longest, (
        "the two runs must train at the same time, or a shared generator can't show"
    )
    assert len(first.epochs) == len(second.epochs) == int(EPOCHS)
    for a, b in zip(first.epochs, second.epochs):
        assert (a["train_loss"], a["val_loss"]) == (b["train_loss"], b["val_loss"]), a["epoch"]
    assert first.metrics["test"] == second.metrics["test"]
