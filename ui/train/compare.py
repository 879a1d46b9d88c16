"""Same seed, same run; and "Compare one change": one setting, up to four values, one run each, their loss
curves overlaid and labelled by the value.

The runs go through the server's ``RunManager`` like any run, so its concurrency cap holds: beyond it they
wait in its queue. Each run of a comparison has its own session key (``<session>:compare:<i>``), so starting
one doesn't stop the others, nor this session's own run. Everything but the drawing is pure.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from training import settings as ts
from training.run_table import final_metrics, format_value
from ui.train.charts import COLORS
from ui.train.run_manager import RunHandle, get_manager
from ui.train.train_form import set_setting

STATE = "ll_compare"  # this session's Comparison
MAX_VALUES = 4
CHOICES = ("lr", "optimizer", "batch_size", "weight_decay", "momentum", "grad_clip", "label_smoothing",
           "schedule", "seed", "epochs")
POLL_SECONDS = 0.5


@dataclass
class Comparison:
    setting: str
    values: list[Any]
    handles: list[RunHandle]
    seed: int | None = None  # the seed every run shares (None when the seed is what is compared)
    task: str = ""  # the task and regression target the runs train on: their metrics' meaning and units
    target: str = ""

    @property
    def active(self) -> bool:
        return any(h.state.active for h in self.handles)


# -- pure --------------------------------------------------------------------------------------------------------
def parse_values(setting: str, text: str) -> tuple[list[Any], list[str]]:
    """The values typed as 'a, b, c' for ``setting``, each checked as the setting checks it; with problems."""
    spec = ts.setting(setting)
    values, problems = [], []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        try:
            value = spec.check(part)
        except ts.SettingError as err:
            problems.append(str(err))
            continue
        if value not in values:
            values.append(value)
    if len(values) > MAX_VALUES:
        problems.append(f"at most {MAX_VALUES} values to compare; {len(values)} given")
    if len(values) < 2 and not problems:
        problems.append("give at least 2 different values, separated by commas")
    return values, problems


def configs_for(config: Any, setting: str, values: list[Any]) -> list[Any]:
    """The run's config once per value, the rest unchanged (the seed too: only the one setting differs)."""
    return [dataclasses.replace(config, **{setting: value}) for value in values]


def label(setting: str, value: Any) -> str:
    name = ts.setting(setting).name
    return f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}"


def epoch_losses(events: list[Any]) -> tuple[list[int], list[float], list[int], list[float]]:
    """(epochs, train losses, epochs, validation losses) from a run's epoch events."""
    tx, ty, vx, vy = [], [], [], []
    for event in list(events):
        if event.kind != "epoch":
            continue
        if event.train_loss is not None:
            tx.append(event.epoch)
            ty.append(float(event.train_loss))
        if event.val_loss is not None:
            vx.append(event.epoch)
            vy.append(float(event.val_loss))
    return tx, ty, vx, vy


LINE_STYLES = "Solid lines with dots: training loss; dotted lines: validation loss; one colour per value."


def compare_figure(setting: str, values: list[Any], events: list[list[Any]]) -> go.Figure:
    """One colour per value: training loss solid, validation loss dotted (the title says so), named by the value."""
    fig = go.Figure()
    for i, (value, run_events) in enumerate(zip(values, events)):
        tx, ty, vx, vy = epoch_losses(run_events)
        colour, name = COLORS[i % len(COLORS)], label(setting, value)
        fig.add_trace(go.Scatter(x=tx, y=ty, mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=colour), marker=dict(size=4)))
        fig.add_trace(go.Scatter(x=vx, y=vy, mode="lines", name=f"{name} (validation)", legendgroup=name,
                                 line=dict(color=colour, dash="dot"), showlegend=False))
    fig.update_layout(title=f"Loss by {setting}: training solid, validation dotted", xaxis_title="epoch",
                      yaxis_title="loss", height=340,
                      margin=dict(l=40, r=10, t=40, b=35), legend=dict(orientation="h", y=-0.25))
    return fig


def final_metrics_of(events: list[Any]) -> dict[str, Any]:
    """The test metrics of a run's end event ({} while it runs or when it ended without them)."""
    return next((dict(e.metrics) for e in reversed(list(events)) if e.kind == "end"), {})


def compare_rows(setting: str, values: list[Any], events: list[list[Any]], task: str,
                 target: str = "") -> list[dict[str, Any]]:
    """One row per value: the value under the setting's label, then the run's final test metrics as columns
    (regression errors in the target's units, named by the target column)."""
    rows = []
    for value, run_events in zip(values, events):
        finals = final_metrics({"task": task, "test": final_metrics_of(run_events)}, {"target": target})
        rows.append({ts.setting_label(setting): value, **finals})
    return rows


def final_bar_figure(setting: str, rows: list[dict[str, Any]]) -> go.Figure | None:
    """A bar per value of the first final metric (the task's headline); None until a run has finished."""
    name = ts.setting_label(setting)
    metric = next((k for row in rows for k in row if k != name), None)
    if metric is None:
        return None
    shown = [row for row in rows if isinstance(row.get(metric), (int, float))]
    fig = go.Figure(go.Bar(x=[label(setting, row[name]) for row in shown], y=[row[metric] for row in shown],
                           marker_color=[COLORS[rows.index(row) % len(COLORS)] for row in shown],
                           text=[format_value(row[metric]) for row in shown], textposition="outside"))
    fig.update_layout(title=f"Final {metric} by {setting}", yaxis_title=metric, height=300,
                      margin=dict(l=40, r=10, t=40, b=35))
    return fig


def new_seed(old: int, rng: random.Random | None = None) -> int:
    """A seed other than ``old`` in the setting's range."""
    spec = ts.setting("seed")
    rng = rng or random.Random()
    while True:
        seed = rng.randint(int(spec.minimum), int(spec.maximum))
        if seed != old:
            return seed


# -- running -----------------------------------------------------------------------------------------------------
def start_comparison(session: str, graph: Any, dataset: Any, config: Any, setting: str, values: list[Any],
                     manager: Any = None, store: Any = None) -> Comparison:
    """Queue one run per value on the server's manager (its cap holds; the rest wait in its queue)."""
    from builder.project import dump_project
    from ui.train.executor import get_executor
    from ui.train.live_work import RunOrder

    manager = manager or get_manager()
    handles = []
    design, task = dump_project(graph), dataset.task.value
    store_path = str(store.path) if store is not None else None
    for i, run_config in enumerate(configs_for(config, setting, values)):
        order = RunOrder(design, dataset, run_config, task, store_path, views=False)

        def work(handle: RunHandle, order: RunOrder = order) -> Any:  # the manager's run thread: no st.*
            return get_executor().run(order, None, handle, store, graph=graph)

        handles.append(manager.submit(f"{session}:compare:{i}", work, label=label(setting, values[i])))
    return Comparison(setting, list(values), handles, None if setting == "seed" else int(config.seed),
                      dataset.task.value, config.target)


# -- drawing -------------------------------------------------------------------------------------------------------
def render_compare(graph: Any, dataset: Any, config: Any, ready: bool, start: Callable[[Any], Any],
                   key: str = "compare") -> None:
    """"Re-run with a new seed" and the "Compare one change" section. ``ready``: the design fits the data and
    the settings are good; ``start(config)`` starts this session's run (``ui.train.train_panel.start_run``)."""
    if st.button("Re-run with a new seed", key=f"{key}_reseed", disabled=not ready,
                 help="The same design and settings with another random seed: other initial weights, another "
                      "shuffling. The seed is kept in the settings, so the run can be repeated exactly."):
        seed = new_seed(int(config.seed))
        set_setting("seed", seed)
        start(dataclasses.replace(config, seed=seed))
        st.rerun()
    with st.expander("Compare one change", expanded=STATE in st.session_state):
        left, right, go_col = st.columns([1, 2, 1], vertical_alignment="bottom")
        setting = left.selectbox("Setting", CHOICES, key=f"{key}_setting")
        text = right.text_input(f"Values of {setting}, separated by commas (up to {MAX_VALUES})",
                                key=f"{key}_values", placeholder="0.001, 0.01, 0.1" if setting == "lr" else "")
        values, problems = parse_values(setting, text) if text.strip() else ([], [])
        for problem in problems:
            st.error(problem)
        current: Comparison | None = st.session_state.get(STATE)
        busy = current is not None and current.active
        if go_col.button("Compare", key=f"{key}_start", disabled=not ready or not values or bool(problems) or busy):
            st.session_state[STATE] = start_comparison(_session(), graph, dataset, config, setting, values,
                                                       store=_store())
            st.rerun()
        _live(key)


def _live(key: str) -> None:
    current: Comparison | None = st.session_state.get(STATE)
    if current is None:
        return
    active = current.active

    @st.fragment(run_every=POLL_SECONDS if active else None)
    def live() -> None:
        for handle in current.handles:
            handle.beat()
        states = ", ".join(f"{h.label}: {h.state.value}" for h in current.handles)
        same = f"Same seed ({current.seed}) for every run; only" if current.seed is not None else "Only"
        st.caption(f"{same} {current.setting} differs · {states}")
        events = [h.events for h in current.handles]
        st.plotly_chart(compare_figure(current.setting, current.values, events), key=f"{key}_chart")
        st.caption(LINE_STYLES)
        _finals(current, events, current.task, current.target, key)
        if st.button("Stop the comparison", key=f"{key}_stop", disabled=not current.active):
            for handle in current.handles:
                get_manager().stop(handle)
        if active and not current.active:
            st.rerun(scope="app")  # the last run ended: stop polling

    live()


def _finals(current: Comparison, events: list[list[Any]], task: str, target: str, key: str) -> None:
    """The final metrics of each value as a table and, once a run has finished, as bars."""
    rows = compare_rows(current.setting, current.values, events, task, target)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    figure = final_bar_figure(current.setting, rows)
    if figure is not None:
        st.plotly_chart(figure, key=f"{key}_finals")


def _store() -> Any:
    """The run store (the comparison's runs go into the history too), or None where it can't be opened."""
    from training.runstore import RunStoreError
    from ui.train.runs_panel import get_store

    try:
        return get_store()
    except RunStoreError:
        return None


def _session() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else "local"
