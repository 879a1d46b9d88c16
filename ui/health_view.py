"""Training health in the Train tab: warnings with their one-click fix, per-layer weight and gradient norms over
training, and histograms of weights and activations at a chosen epoch. Drawn inside the live fragment, so it
follows the run; the numbers come from the run's ``training.health.HealthMonitor`` (``run.health``).

After a fix is applied, the next run's view says how its loss compares with the run the fix came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from training.health import HealthFix, HealthLog, HealthWarning, Histogram
from ui import state
from ui.charts import COLORS
from ui.train_form import set_setting

APPLIED = "ll_health_applied"  # the last fix applied: Applied
HIST_COLUMNS = 4


@dataclass(frozen=True)
class Applied:
    label: str
    run_id: int  # the handle id of the run it was applied after
    loss: float | None  # that run's latest training loss
    epoch: int


# -- figures (pure) ---------------------------------------------------------------------------------------------
def norms_figure(log: HealthLog) -> go.Figure:
    """Weight norms (left) and gradient norms (right) of every layer with parameters, by epoch, log scale."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("weight norm", "gradient norm"), horizontal_spacing=0.1)
    samples = list(log.samples)
    for i, node in enumerate(log.layers):
        colour = COLORS[i % len(COLORS)]
        xs = [s.epoch for s in samples]
        for col, values in ((1, [s.weight_norm.get(node) for s in samples]),
                            (2, [s.grad_norm.get(node) for s in samples])):
            fig.add_trace(go.Scatter(x=xs, y=[v if v and v > 0 else None for v in values], mode="lines+markers",
                                     name=node, legendgroup=node, showlegend=col == 1, marker=dict(size=4),
                                     line=dict(color=colour)), row=1, col=col)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=330, margin=dict(l=40, r=10, t=40, b=40), legend=dict(font=dict(size=10)))
    return fig


def histogram_figure(hists: dict[str, Histogram], title: str) -> go.Figure:
    """One small bar chart per layer."""
    names = list(hists)
    rows = max(1, -(-len(names) // HIST_COLUMNS))
    fig = make_subplots(rows=rows, cols=HIST_COLUMNS, subplot_titles=names, vertical_spacing=0.5 / rows,
                        horizontal_spacing=0.06)
    for i, name in enumerate(names):
        counts, edges = hists[name].bins()
        centres = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(go.Bar(x=centres, y=counts, width=edges[1] - edges[0], marker_color=COLORS[i % len(COLORS)],
                             showlegend=False, hovertemplate="%{x:.3g}: %{y}<extra>" + name + "</extra>"),
                      row=i // HIST_COLUMNS + 1, col=i % HIST_COLUMNS + 1)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=title, height=60 + 150 * rows, margin=dict(l=10, r=10, t=70, b=20), bargap=0)
    return fig


def epoch_label(epoch: int) -> str:
    return "start" if epoch == 0 else f"epoch {epoch}"


def comparison(applied: Applied, loss: float | None, epoch: int) -> str:
    """'After “Lower the learning rate to 0.01”: loss 0.52 at epoch 3 (before: 9.4e+03 at epoch 3) — better.'"""
    now = f"loss {loss:.3g} at epoch {epoch}" if loss is not None else "no loss yet"
    before = f"{applied.loss:.3g} at epoch {applied.epoch}" if applied.loss is not None else "no loss"
    verdict = ""
    if loss is not None and applied.loss is not None:
        verdict = " — better." if loss < applied.loss else " — not better yet."
    return f"After “{applied.label}”: {now} (the run before: {before}){verdict}"


# -- drawing --------------------------------------------------------------------------------------------------
def render_health(run: Any, key: str = "health") -> None:
    """The health section of ``run`` (an ActiveRun with ``health`` and ``handle``); nothing without a monitor."""
    monitor = getattr(run, "health", None)
    if monitor is None:
        return
    log: HealthLog = monitor.log
    _comparison(run)
    warnings = sorted(log.warnings.values(), key=lambda w: w.step)
    title = f"Training health · {len(warnings)} warning(s)" if warnings else "Training health · no warnings"
    with st.expander(title, expanded=bool(warnings)):
        for i, warning in enumerate(warnings):
            _warning(warning, run, f"{key}_fix_{i}")
        if not log.samples:
            st.caption("The first statistics come after the first step.")
            return
        # Off by default: redrawn twice a second, these charts cost the live view more than all the rest.
        if not st.toggle("Per-layer norms and histograms", key=f"{key}_charts"):
            return
        st.plotly_chart(norms_figure(log), key=f"{key}_norms")
        st.caption(f"Sampled at {len(log.samples)} steps; the statistics took {log.seconds:.2f} s "
                   "(kept under 2 % of the training time).")
        _histograms(log, key)


def _warning(warning: HealthWarning, run: Any, key: str) -> None:
    st.warning(f"**{warning.node}** (step {warning.step}, epoch {warning.epoch}): {warning.message}")
    fix: HealthFix | None = warning.fix
    if fix is not None and st.button(fix.label, key=key, help="Changes the design or the settings; start the "
                                     "run again to see whether it helped"):
        apply_health_fix(fix, run)
        st.rerun(scope="app")  # the canvas and the form show the change


def apply_health_fix(fix: HealthFix, run: Any) -> None:
    """Apply ``fix`` to the design (one undoable edit) and the settings, and remember it for the next run."""
    if fix.edit is not None:
        state.edit_design(fix.apply)
    for name, value in fix.settings.items():
        set_setting(name, value)
    loss, epoch = latest_loss(run)
    st.session_state[APPLIED] = Applied(fix.label, run.handle.id, loss, epoch)
    state.flash("success", f"Applied: {fix.label}. Start the run again to see whether it helped.")


def latest_loss(run: Any) -> tuple[float | None, int]:
    """The run's latest epoch training loss and that epoch."""
    for event in reversed(list(run.handle.events)):
        if event.kind == "epoch" and event.train_loss is not None:
            return float(event.train_loss), int(event.epoch)
    return None, 0


def _comparison(run: Any) -> None:
    applied: Applied | None = st.session_state.get(APPLIED)
    if applied is None or applied.run_id == run.handle.id:
        return
    loss, epoch = latest_loss(run)
    st.info(comparison(applied, loss, epoch))


def _histograms(log: HealthLog, key: str) -> None:
    epochs = sorted(set(log.weight_hists) | set(log.activation_hists))
    if not epochs:
        return
    chosen = epochs[0] if len(epochs) == 1 else st.select_slider(
        "Histograms at", epochs, value=epochs[-1], format_func=epoch_label, key=f"{key}_hist_epoch")
    weights, activations = log.weight_hists.get(chosen), log.activation_hists.get(chosen)
    left, right = st.columns(2)
    if weights:
        left.plotly_chart(histogram_figure(weights, f"Weights, {epoch_label(chosen)}"), key=f"{key}_hist_w")
    if activations:
        right.plotly_chart(histogram_figure(activations, f"Activations (a training batch), {epoch_label(chosen)}"),
                           key=f"{key}_hist_a")
