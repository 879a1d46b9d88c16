"""The learning-rate finder in the Train tab: a button under the learning-rate field runs the range test
(``training.lr_find``) on the design, data and settings shown; a chart of the smoothed loss against the rate
marks the suggestion, and one click puts it in the learning-rate field.

The test is a few seconds of training on its own copy of the model, so it runs on the script thread (under a
spinner), not through the run manager: the session's training run, its history and any loaded weights are
left as they were.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ui.train.train_form import set_setting

ASKED = "ll_lr_find_asked"
FOUND = "ll_lr_find_result"  # (signature, LrFinding)
BUTTON_LABEL = "Find a learning rate"
USE_LABEL = "Use the suggested learning rate"


def render_button(disabled: bool = False) -> None:
    """Drawn under the learning-rate field (``train_form.render_form``'s hook)."""
    st.button(BUTTON_LABEL, icon=":material/search:", key="ll_lr_find", disabled=disabled,
              on_click=st.session_state.__setitem__, args=(ASKED, True),
              help="The range test: one pass over the training data with a learning rate growing from 1e-7 to "
                   "10, suggesting the rate where the loss falls fastest. It trains a copy: the design and the "
                   "run history are left alone.")


def render_section(graph: Any, dataset: Any, config: Any, ready: bool) -> None:
    """Run the test when asked (and the design fits the data), then show its chart while nothing it depends on
    changed."""
    signature = _signature(graph, dataset, config)
    if st.session_state.pop(ASKED, False):
        if not ready:
            st.warning("The learning-rate finder needs a design that fits the data: fix what is shown above first.")
            return
        from training.lr_find import find_lr
        from training.tasks import FitError

        with st.spinner("Trying learning rates from 1e-7 to 10…"):
            try:
                st.session_state[FOUND] = (signature, find_lr(graph, dataset, config))
            except FitError as err:
                st.warning(f"The learning-rate finder can't run: {err}")
                return
    found = st.session_state.get(FOUND)
    if not found or found[0] != signature:
        return
    finding = found[1]
    with st.container(border=True):
        st.plotly_chart(lr_chart(finding.lrs, finding.losses, finding.smoothed, finding.suggestion),
                        key="ll_lr_find_chart")
        if finding.suggestion is None:
            st.warning(f"No suggestion: the loss never fell ({finding.ended}). Check the data and the design, or "
                       "try another optimizer.")
            return
        left, right = st.columns([2, 3])
        left.button(f"{USE_LABEL} ({finding.suggestion:.3g})", key="ll_lr_use", type="primary",
                    on_click=set_setting, args=("lr", float(f"{finding.suggestion:.3g}")))
        right.caption(f"{len(finding.lrs)} steps, {finding.ended}, {finding.seconds:.1f} s. The suggestion is where "
                      "the smoothed loss falls fastest; a rate a little lower is the safer choice.")


def lr_chart(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
             suggestion: float | None) -> go.Figure:
    """Loss against learning rate (log scale): each step faint, the smoothed curve, the suggestion marked."""
    fig = go.Figure()
    fig.add_scatter(x=list(lrs), y=list(losses), mode="lines", name="loss per step", opacity=0.3)
    fig.add_scatter(x=list(lrs), y=list(smoothed), mode="lines", name="smoothed loss")
    if suggestion is not None:
        at = min(range(len(lrs)), key=lambda k: abs(lrs[k] - suggestion))
        fig.add_scatter(x=[suggestion], y=[smoothed[at]], mode="markers", name=f"suggested {suggestion:.3g}",
                        marker={"size": 12, "symbol": "x"})
        fig.add_vline(x=suggestion, line_dash="dot")
    top = min(max(smoothed) * 1.1, 4 * min(smoothed)) if smoothed else None
    fig.update_layout(title="Learning-rate range test", height=320, margin={"t": 40, "b": 40},
                      xaxis={"type": "log", "title": "learning rate"},
                      yaxis={"title": "training loss", "range": [min(smoothed) * 0.9, top] if top else None})
    return fig


def _signature(graph: Any, dataset: Any, config: Any) -> str:
    """What the finding depends on: the design, the data and every setting but the learning rate itself."""
    from builder.project import dump_project

    settings = {k: v for k, v in (config.settings() if config is not None else {}).items() if k != "lr"}
    text = json.dumps([dump_project(graph), getattr(dataset, "name", None), settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
