"""The run bar: this session's run and its Stop button, at the top of the page on every tab.

Stop lives here, outside every fragment, because only a full-app rerun preempts the script run in flight.
A click on a button inside a fragment (the Train tab's live view, or the workspace) waits until whatever
rerun is running has finished; on a busy machine that was seconds, and a button in the live view, redrawn
twice a second, could lose the click altogether. Here the click's callback stops the run first thing, and the
bar is the first element the following run draws, so the stopped run shows at once whatever was in flight.

The bar doesn't poll: the live view in the Train tab is the page's one polling fragment. It draws the progress,
and its full rerun at the run's end removes the bar. On another tab the bar keeps saying "training" until the
next click anywhere in the workspace, which asks for a full run when the run has ended (``run_bar_stale``).
(A first version polled here too; what left Start disabled then was the form's widgets falling back to their own
defaults after a Stop, which ``ui.train.train_state.kept`` now prevents.)
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.common.state import TRAIN_RUN as RUN  # this session's ActiveRun (ui.train.train_panel.RUN)
from ui.train.run_manager import RunHandle, get_manager
from ui.train.train_live import ICONS, state_text

SHOWS = "ll_run_bar_shows"  # the id of the active run the bar was drawn with, or None
STOPPED = "ll_run_bar_stopped"  # the id of the run this session's last Stop ended: its ending is shown once
STOP_WAIT = 1.5  # seconds a Stop click waits for the worker to end, so the next draw shows it stopped


def stop_and_wait(handle: RunHandle, timeout: float = STOP_WAIT) -> None:
    """Stop the run and give its worker ``timeout`` seconds to end (it checks the stop event at every step), so
    the rerun that follows the click already draws the stopped run."""
    get_manager().stop(handle)
    handle.wait(timeout)
    st.session_state[STOPPED] = handle.id


def render_run_bar() -> None:
    """Drawn first in every full run: while the session's run is queued or training, its state and Stop; right
    after a Stop, how the run ended (until the next full run)."""
    run: Any = st.session_state.get(RUN)
    st.session_state[SHOWS] = _active_id(run)
    # One slot, drawn whether or not there is a bar (an empty one is hidden): everything below keeps its place in
    # the page's tree. Without it, the bar's coming and going moved the workspace one place down or up, so React
    # mounted the tabs and the canvas anew at a run's start and end, and for a moment the page held both copies.
    slot = st.empty()
    handle: RunHandle | None = getattr(run, "handle", None)
    if handle is None:
        return
    if handle.state.active:
        with slot.container(horizontal=True, vertical_alignment="center", key="run_bar"):
            st.button("Stop", icon=ICONS["stopped"], key="run_bar_stop", on_click=stop_and_wait, args=(handle,),
                      help="Stop the run after its current step; what it has learned so far is kept")
            st.caption(f"{state_text(handle)} · {handle.label} · progress in the Train tab")
    elif st.session_state.get(STOPPED) == handle.id:
        del st.session_state[STOPPED]
        with slot.container(key="run_bar"):
            st.caption(f"{state_text(handle)} · {handle.label}")


def run_bar_stale() -> bool:
    """A run started (or ended) since the last full run drew the bar: the workspace asks for one full run, which
    puts Stop on the page. Start is clicked inside the workspace, whose reruns don't draw the bar."""
    return st.session_state.get(SHOWS) != _active_id(st.session_state.get(RUN))


def _active_id(run: Any) -> int | None:
    handle = getattr(run, "handle", None)  # an ActiveRun has one once the manager took it
    return handle.id if handle is not None and handle.state.active else None

