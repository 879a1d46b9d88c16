"""Training health in the Train tab: warnings with their one-click fix, per-layer weight and gradient norms over
training, and histograms of weights and activations at a chosen epoch. Drawn inside the live fragment, so it
follows the run; the numbers come from the run's ``training.health.HealthMonitor`` (``run.health``).

After a fix is applied, the next run's view says whether its headline test metric moved beyond noise from the
run the fix came from (``training.verdict``). One header counts every warning the section shows, the overfitting
verdict included; the inspector lists the selected node's warnings with the same fixes (``render_node_health``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from training.health import HealthFix, HealthLog, HealthWarning, Histogram
from training.verdict import Outcome, compare, describe, outcome
from ui.common import state
from ui.train.charts import COLORS
from ui.train.train_form import set_setting

APPLIED = "ll_health_applied"  # the last fix applied: Applied
HIST_COLUMNS = 4


@dataclass(frozen=True)
class Applied:
    label: str
    run_id: int  # the handle id of the run it was applied after
    before: Outcome | None  # that run's test result; None when it had none (still training, stopped early)


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


def comparison(applied: Applied, after: Outcome | None) -> str:
    """'After “Replace ‘relu1’ with LeakyReLU”: test accuracy 0.1004 (the run before, seed 0: 0.0967) — no real
    change: …' (``training.verdict``): better or worse only beyond the test set's noise, and only at one seed."""
    head = f"After “{applied.label}”: "
    if after is None:
        return head + "the comparison with the run before comes when this run has finished."
    if applied.before is None:
        return head + "the run before ended without a test result, so there is nothing to compare with."
    return head + describe(applied.before, after, compare(applied.before, after))


def run_outcome(run: Any) -> Outcome | None:
    """The finished run's headline test metric, seed and test-set size; None while it trains or without a test."""
    handle = getattr(run, "handle", None)
    result = getattr(handle, "result", None)
    if result is None or handle.state.active or not result.test_metrics:
        return None
    return outcome(result.task, result.test_metrics, len(run.dataset.test), getattr(run.config, "seed", None))


# -- drawing --------------------------------------------------------------------------------------------------
def health_title(count: int) -> str:
    """The section's one header: every warning shown under it is counted."""
    if not count:
        return "Training health · no warnings"
    return f"Training health · {count} warning{'s' if count > 1 else ''}"


def render_health(run: Any, key: str = "health") -> None:
    """The health section of ``run`` (an ActiveRun with ``health`` and ``handle``): the monitor's warnings and,
    once the run has ended, the overfitting verdict (``ui.train.train_results.judge_overfitting``); nothing without
    either."""
    from ui.train.train_results import judge_overfitting, overfitting_note

    monitor = getattr(run, "health", None)
    result = None if run.handle.state.active else getattr(run.handle, "result", None)
    found, why_not = judge_overfitting(getattr(result, "history", None) or [], run.dataset) if result else (None, None)
    if monitor is None and found is None:
        return
    log: HealthLog = monitor.log if monitor is not None else HealthLog()
    _comparison(run)
    warnings = sorted(log.warnings.values(), key=lambda w: w.step)
    with st.expander(health_title(len(warnings) + (found is not None)), expanded=bool(warnings) or found is not None):
        for i, warning in enumerate(warnings):
            _warning(warning, run, f"{key}_fix_{i}")
        if found is not None:
            overfitting_note(found, key)
        if why_not:
            st.caption(f"No overfitting verdict: {why_not}")
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
    from training.health import TITLES

    title = TITLES.get(warning.kind, warning.kind)
    st.warning(f"**{title} · {warning.node}** (step {warning.step}, epoch {warning.epoch}): {warning.message}")
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
    st.session_state[APPLIED] = Applied(fix.label, getattr(run.handle, "id", -1), run_outcome(run))
    state.flash("success", f"Applied: {fix.label}. Start the run again to see whether it helped.")


def _comparison(run: Any) -> None:
    applied: Applied | None = st.session_state.get(APPLIED)
    if applied is None or applied.run_id == run.handle.id:
        return
    st.info(comparison(applied, run_outcome(run)))


def shown_warnings(graph: Any) -> dict[str, list[HealthWarning]]:
    """Node id -> the session's last run's health warnings, for the design that run trained: not once the design
    has changed (the warnings were about another network), nor inside an open block."""
    run = st.session_state.get(state.TRAIN_RUN)
    monitor = getattr(run, "health", None)
    if monitor is None or getattr(run, "graph", None) != graph:
        return {}
    return monitor.log.by_node()


def render_node_health(node_id: str, graph: Any) -> None:
    """In the inspector: the selected node's health warnings in full, each with its one-click fix."""
    warnings = shown_warnings(graph).get(node_id, [])
    run = st.session_state.get(state.TRAIN_RUN)
    for i, warning in enumerate(warnings):
        _warning(warning, run, f"inspector_health_{node_id}_{i}")
    if warnings:
        st.caption("From the last run's training health (Train tab); a fix changes the design or the settings — "
                   "train again to see whether it helped.")


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
