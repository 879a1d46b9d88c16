"""Helpers shared by the AppTest suites: start the real app, and stop every training run a test left."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.train.run_manager import get_manager

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def start_app(query: dict[str, str] | None = None, view: str | None = None, timeout: float = 60) -> AppTest:
    """Run app.py with ``query`` in the URL, then switch to ``view`` (a tab name) if given."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    if view:
        at.session_state["view"] = view
        at.run()
        assert not at.exception, at.exception
    return at


def stop_all_runs(seconds: float = 10) -> None:
    """Stop the server-wide run manager's workers and wait until none is queued or training."""
    manager = get_manager()
    manager.stop_all()
    deadline = time.monotonic() + seconds
    while manager.counts() != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
