"""The live part of the Train panel: progress and curves of the session's run, redrawn twice a second by a
fragment while the run is queued or training, and not at all once it has ended.

The worker thread only appends ``TrainEvent``s to its ``RunHandle``; this module turns that list into
numbers (``LiveCurves``, pure) and draws them. The fragment heartbeats the handle on every poll so the run
manager can tell an open page from a closed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from training.run_table import units_label
from ui.train import charts
from ui.train.run_manager import RunHandle, RunState, get_manager

POLL_SECONDS = 0.5
# A run's state as Material icons, which come with Streamlit's own font: the emoji they replace (🟢 ✅ ⏹️ ❌ ⏳)
# need an emoji font, and a browser without one (Debian's Chromium with DejaVu alone) drew each as a box
ICONS = {"queued": ":material/hourglass_empty:", "training": ":green[:material/play_circle:]",
         "finished": ":green[:material/check_circle:]", "stopped": ":material/stop_circle:",
         "failed": ":red[:material/error:]"}
HEADLINE = {
    "classification": "accuracy",
    "binary": "accuracy",
    "regression": "rmse",
    "sequence": "token_accuracy",
    "reconstruction": "mse",
    "vae": "mse",
}


@dataclass
class LiveCurves:
    train_x: list[float] = field(default_factory=list)  # fractional epochs
    train_y: list[float] = field(default_factory=list)
    val_x: list[float] = field(default_factory=list)
    val_y: list[float] = field(default_factory=list)
    metric: str = ""
    metric_x: list[float] = field(default_factory=list)
    metric_y: list[float] = field(default_factory=list)
    latest: Any = None  # the newest event


def metric_name(task: str | None, metrics: dict[str, Any]) -> str:
    """The headline metric of the task if reported, else the first number in ``metrics``."""
    name = HEADLINE.get(task or "", "")
    if name in metrics:
        return name
    return next((k for k, v in metrics.items() if isinstance(v, (int, float))), "")


def curves(events: list[Any], task: str | None = None) -> LiveCurves:
    """Loss per step event (x in fractional epochs), validation loss and metric per epoch event."""
    out = LiveCurves()
    stepped = set()  # epochs that had step events
    for event in list(events):  # a snapshot: the worker may append while we read
        out.latest = event
        steps_per_epoch = event.total_steps / max(1, event.epochs)
        if event.kind == "step" and event.train_loss is not None:
            stepped.add(event.epoch)
            out.train_x.append(event.step / steps_per_epoch if steps_per_epoch else float(event.epoch))
            out.train_y.append(float(event.train_loss))
        elif event.kind == "epoch":
            if event.val_loss is not None:
                out.val_x.append(event.epoch)
                out.val_y.append(float(event.val_loss))
            if event.train_loss is not None and event.epoch not in stepped:
                # epochs shorter than one event interval still draw a train curve, from the epoch means
                out.train_x.append(float(event.epoch))
                out.train_y.append(float(event.train_loss))
            out.metric = out.metric or metric_name(task, event.metrics)
            if isinstance(event.metrics.get(out.metric), (int, float)):
                out.metric_x.append(event.epoch)
                out.metric_y.append(float(event.metrics[out.metric]))
    return out


def progress_text(event: Any) -> str:
    """'epoch 3/15 · step 120/300 · 5,210 samples/s · ETA 12 s'."""
    if event is None:
        return "starting…"
    parts = [f"epoch {max(event.epoch, 1)}/{event.epochs}", f"step {event.step}/{event.total_steps}"]
    if event.samples_per_s:
        parts.append(f"{event.samples_per_s:,.0f} samples/s")
    if event.eta_s is not None and event.kind != "end":
        parts.append(f"ETA {format_seconds(event.eta_s)}")
    return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def progress_value(event: Any) -> float:
    if event is None or not event.total_steps:
        return 0.0
    return min(1.0, event.step / event.total_steps)


# ---- drawing ----------------------------------------------------------------------------------------------
def render_live(run: Any, key: str, extra: Any = None) -> None:
    """The fragment: polls while the run is active; one full rerun when it ends (to show the results).

    ``run`` has ``handle`` (RunHandle) and ``task``; ``extra(run)`` draws more live views (decision boundary).
    Stop is not in here but in the run bar (ui.train.run_bar): a button redrawn twice a second can lose a click, and
    a click in a fragment waits for any rerun in flight.
    """
    active = run.handle.state.active

    @st.fragment(run_every=POLL_SECONDS if active else None)
    def live() -> None:
        handle: RunHandle = run.handle
        handle.beat()
        _status(handle)
        if active and not handle.state.active:
            # the run ended: its status is on screen now; the charts are drawn by the full run that follows
            # (it stops the polling and draws the results), not twice
            st.rerun(scope="app")
        data = curves(handle.events, run.task)
        left, right = st.columns(2)
        left.plotly_chart(
            charts.loss_chart(data.train_x, data.train_y, data.val_x, data.val_y), key=f"{key}_loss_chart"
        )
        if data.metric:
            target = (getattr(getattr(run, "dataset", None), "extras", None) or {}).get("target_column") or ""
            right.plotly_chart(  # a regression error is in the target's units: the title names the column
                charts.metric_chart(units_label(data.metric, run.task or "", target),
                                    {"validation": (data.metric_x, data.metric_y)}),
                key=f"{key}_metric_chart",
            )
        if extra is not None:
            extra(run)

    live()


def _status(handle: RunHandle) -> None:
    if handle.state is RunState.QUEUED:
        st.info(queue_text(handle), icon=ICONS["queued"])
        return
    if handle.waiting and handle.state is RunState.RUNNING:  # placed by the executor, not yet training
        st.info(f"{handle.waiting[0].upper()}{handle.waiting[1:]}.", icon=ICONS["queued"])
        return
    latest = handle.latest
    st.progress(progress_value(latest), text=progress_text(latest))
    if handle.state is RunState.FAILED:
        st.error(f"The run failed: {handle.error}")
    else:
        st.caption(state_text(handle))


def queue_text(handle: RunHandle) -> str:
    running, queued = get_manager().counts()
    return (f"Waiting for a free training slot: place {get_manager().place(handle)} of {queued} in the queue "
            f"({running} run(s) training on this server, at most {get_manager().max_runs} at once).")


def state_text(handle: RunHandle) -> str:
    """'training', 'training — stopping…', 'stopped: stopped by request at epoch 3, step 120', …, each after its
    icon (Markdown): the one wording the live view and the run bar both show."""
    if handle.state is RunState.QUEUED:
        return f"{ICONS['queued']} waiting for a free training slot"
    if handle.state is RunState.RUNNING:
        return f"{ICONS['training']} training" + (" — stopping…" if handle.stopping else "")
    if handle.state is RunState.FAILED:
        return f"{ICONS['failed']} failed: {handle.error}"
    result = handle.result
    message = getattr(result, "message", "") or handle.stop_reason or ""
    status = getattr(result, "status", handle.state.value)
    return f"{ICONS.get(status, ':material/info:')} {status}: {message}"
