"""Look inside the trained network from the inspector: the selected node's output for one test example.

The model comes from this session's run (finished, or the latest epoch of one still training, copied so the
training model is never touched). Each output is drawn in the form its shape calls for: a grid of feature maps
for (C, H, W), a heatmap for (T, D), bars for a vector (class names at the output), the input itself as an
image, a series or text; attention layers add one heatmap per head. The example is chosen once and every
node's view follows it. What to draw is decided by pure functions (``view_kind``, ``figure_for``) that tests
call without Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.train import charts
from ui.train.train_data import class_label, decode, preview_kind

EXAMPLE_KEY = "ll_look_example"
_CACHE = "ll_look_cache"  # (subject key, example) -> Inspection, for this session only
MAX_MAPS = 32  # feature maps drawn for one node: a 64-channel layer shows its first 32
RUN_STATE = "ll_train_run"  # ui.train.train_panel.RUN: this session's ActiveRun (read only)


class View(str, Enum):
    IMAGE = "image"  # the input picture
    SERIES = "series"  # the input time series
    TOKENS = "tokens"  # the input text
    MAPS = "maps"  # (C, H, W): one small image per channel
    HEATMAP = "heatmap"  # (T, D) and other 2-D outputs
    BARS = "bars"  # a vector
    NUMBER = "number"  # a single value


@dataclass(frozen=True)
class Subject:
    """What is being looked inside: a model with its source, task plan, design and data."""

    key: tuple  # changes when the weights change (another run, a new epoch)
    model: Any
    source: Any
    plan: Any
    graph: Any
    dataset: Any
    label: str


# -- what to draw (pure) ----------------------------------------------------------------------------------------
def view_kind(shape: tuple[int, ...], is_input: bool, data_kind: str = "table") -> View:
    """How to show a value of ``shape`` (no batch dimension); ``data_kind`` is train_data.preview_kind's."""
    if is_input:
        if data_kind == "tokens":
            return View.TOKENS
        if data_kind == "images":
            return View.IMAGE
        if data_kind == "series":
            return View.SERIES
    squeezed = tuple(d for d in shape if d != 1) if len(shape) > 1 else shape
    if not squeezed or squeezed == (1,):
        return View.NUMBER
    if len(shape) == 3:
        return View.MAPS
    if len(squeezed) == 1:
        return View.BARS
    return View.HEATMAP


def figure_for(value: np.ndarray, view: View, title: str, labels: list[str] | None = None,
               rows: list[str] | None = None) -> go.Figure | None:
    """The figure for one node's output; None for views that are not a chart (tokens, a number)."""
    if view is View.MAPS or view is View.IMAGE:
        maps = value if value.ndim == 3 else value[None] if value.ndim == 2 else _square(value)[None]
        if view is View.IMAGE:
            return charts.image_grid(maps.mean(axis=0, keepdims=True), [title], columns=1)
        shown = maps[:MAX_MAPS]
        return charts.image_grid(shown, [f"#{c}" for c in range(len(shown))], columns=4, title=title)
    if view is View.BARS:
        flat = value.reshape(-1)
        names = labels if labels and len(labels) == len(flat) else [str(i) for i in range(len(flat))]
        colours = ["#2563eb" if i == int(np.argmax(flat)) else "#94a3b8" for i in range(len(flat))]
        fig = go.Figure(go.Bar(x=names, y=flat.tolist(), marker_color=colours))
        fig.update_xaxes(type="category")
        fig.update_layout(title=title, height=260, margin=dict(l=30, r=10, t=40, b=30))
        return fig
    if view is View.SERIES:
        series = value.reshape(value.shape[0], -1)
        fig = go.Figure([go.Scatter(y=series[:, k].tolist(), mode="lines", name=f"feature {k}")
                         for k in range(min(series.shape[1], 8))])
        fig.update_layout(title=title, height=240, margin=dict(l=30, r=10, t=40, b=30), showlegend=False)
        return fig
    if view is View.HEATMAP:
        grid = value.reshape(value.shape[0], -1)
        fig = go.Figure(go.Heatmap(z=grid.tolist(), y=_unique(rows, grid.shape[0]), colorscale="RdBu_r",
                                   zmid=0, hovertemplate="row %{y}<br>unit %{x}<br>%{z:.3f}<extra></extra>"))
        fig.update_yaxes(autorange="reversed", type="category" if rows else "-")
        fig.update_layout(title=title, height=min(520, 120 + 14 * grid.shape[0]),
                          margin=dict(l=40, r=10, t=40, b=30), xaxis_title="unit")
        return fig
    return None


def _square(vector: np.ndarray) -> np.ndarray:
    side = int(np.sqrt(vector.size))
    return vector.reshape(side, -1) if side * side == vector.size else vector.reshape(1, -1)


def _unique(rows: list[str] | None, count: int) -> list[str] | None:
    if not rows or len(rows) != count:
        return None
    return [f"{r}·{i}" if rows.count(r) > 1 else r for i, r in enumerate(rows)]


def describe(view: View, shape: tuple[int, ...]) -> str:
    """One line saying what the picture shows, in a learner's words."""
    dims = "×".join(str(d) for d in shape) or "1"
    if view is View.MAPS:
        more = f" (first {MAX_MAPS} shown)" if shape[0] > MAX_MAPS else ""
        return f"{shape[0]} feature maps of {shape[1]}×{shape[2]}: bright where the filter found its pattern{more}"
    if view is View.HEATMAP:
        return f"{dims}: one row per position, one column per unit (red positive, blue negative)"
    if view is View.BARS:
        return f"{dims} values: the highest is blue"
    if view is View.NUMBER:
        return "a single value"
    return "the example itself"


# -- where the model comes from ---------------------------------------------------------------------------------
def current_subject() -> Subject | None:
    """This session's run: finished, or its latest epoch while it trains (copied, never the live model)."""
    run = st.session_state.get(RUN_STATE)
    if run is None or run.handle is None:
        return None
    handle = run.handle
    result = handle.result
    if result is not None and getattr(result, "model", None) is not None:
        return Subject(("run", handle.id, "final"), result.model, result.source, result.plan, run.graph,
                       run.dataset, f"run {handle.label}, {handle.state.value}")
    latest = next((e for e in reversed(handle.events) if getattr(e, "model", None) is not None), None)
    if latest is None or run.plan is None:
        return None
    from codegen.source import generate_model
    from training.inspect import snapshot

    source = generate_model(run.graph)
    return Subject(("run", handle.id, latest.epoch), snapshot(latest.model, source), source, run.plan, run.graph,
                   run.dataset, f"run {handle.label}, epoch {latest.epoch} (training)")


def inspection(subject: Subject, index: int) -> Any:
    """The Inspection of test example ``index``, computed once per subject and example."""
    from builder.validate import validate
    from training.inspect import example, inspect_example

    key = (subject.key, index)
    cached = st.session_state.get(_CACHE)
    if cached is None or cached[0] != key:
        inputs = example(subject.dataset.test, index, subject.plan.input_order or None)
        found = inspect_example(subject.model, subject.source, validate(subject.graph), inputs)
        cached = (key, found)
        st.session_state[_CACHE] = cached
    return cached[1]


# -- drawing ----------------------------------------------------------------------------------------------------
def render_look_inside(node_id: str) -> None:
    """The inspector's "Look inside" section for ``node_id``."""
    subject = current_subject()
    with st.expander("Look inside (trained model)", expanded=subject is not None):
        if subject is None:
            st.caption("Train the model (Train tab) to see what this block computes for an example.")
            return
        if not subject.graph.has_node(node_id) and node_id not in subject.source.module_paths:
            st.caption(f"‘{node_id}’ was added after {subject.label} started: train again to look inside it.")
            return
        dataset = subject.dataset
        last = len(dataset.test) - 1
        index = int(st.number_input("Test example", 0, max(0, last), min(st.session_state.get(EXAMPLE_KEY, 0), last),
                                    key=EXAMPLE_KEY, help="every block's view follows this example"))
        st.caption(f"{subject.label} · example {index}{_truth(dataset, index)}")
        try:
            found = inspection(subject, index)
        except Exception as err:  # noqa: BLE001 - a view that fails must not take the inspector with it
            st.warning(f"This run can't be looked inside: {type(err).__name__}: {err}")
            return
        try:
            _draw_node(node_id, subject, found, index)
        except Exception as err:  # noqa: BLE001 - a view that fails must not take the inspector with it
            st.warning(f"‘{node_id}’ can't be drawn: {type(err).__name__}: {err}")
        inner = inner_layers(node_id, found)
        if inner:  # a block made of blocks: open it and pick a layer inside
            layer = st.selectbox("Inside this block", inner, index=None, key=f"look_inner_{node_id}",
                                 placeholder="choose a layer inside the block")
            if layer:
                _draw_node(layer, subject, found, index)


def inner_layers(node_id: str, found: Any) -> list[str]:
    """The layers inside block ``node_id`` whose output was seen, in the model's order (flat ids)."""
    return [k for k in found.outputs if k.startswith(f"{node_id}.")]


def _truth(dataset: Any, index: int) -> str:
    if dataset.task.value not in ("classification", "binary"):
        return ""
    return f" · true class {class_label(dataset, int(dataset.test.target.reshape(-1)[index]))}"


def _draw_node(node_id: str, subject: Subject, found: Any, index: int) -> None:
    value = found.output(node_id)
    if value is None:
        st.caption(f"No output was captured for ‘{node_id}’: {found.missing.get(node_id, 'it did not run')}.")
        return
    is_input = subject.graph.has_node(node_id) and subject.graph.node(node_id).type == "Input"
    dataset = subject.dataset
    view = view_kind(tuple(value.shape), is_input, preview_kind(dataset))
    st.caption(describe(view, tuple(value.shape)))
    if view is View.TOKENS:
        st.code(decode(value, dataset.vocab, dataset.pad_id) or "(empty)", language=None, wrap_lines=True)
    elif view is View.NUMBER:
        st.metric(node_id, f"{float(value.reshape(-1)[0]):.4g}")
    else:
        labels = dataset.class_names if node_id in subject.source.outputs else None
        fig = figure_for(value, view, f"{node_id} {'×'.join(map(str, value.shape))}", labels,
                         _token_rows(subject, node_id, index, value))
        st.plotly_chart(fig, key=f"look_{node_id}", config={"displayModeBar": False})
    if found.attention.get(node_id):
        _draw_attention(node_id, subject, found, index)


def _draw_attention(node_id: str, subject: Subject, found: Any, index: int) -> None:
    """One heatmap per head for each attention layer of the node, labelled with the example's tokens."""
    from training.attention import label_of, layer_labels
    from ui.train.train_insight import token_input_of
    from ui.train.train_results import token_text

    paths = layer_labels(subject.graph)  # each layer named as the canvas shows it: blocks[0] › self_attn
    top = node_id.split(".")[0] if not subject.graph.has_node(node_id) else node_id
    texts = token_text(subject, subject.dataset, index)
    queries = texts.get(token_input_of(subject.graph, top, ("tgt", "x", "tokens", None)) or "", [])
    memory = texts.get(token_input_of(subject.graph, top, ("memory",)) or "", [])
    for k, amap in enumerate(found.attention[node_id]):
        weights = amap.weights[0]
        keys = memory if amap.kind == "cross" and memory else queries
        name = label_of(amap.node, paths)
        st.caption(f"{name}: {amap.kind}-attention, {amap.heads} heads (rows: queries, columns: keys)")
        for head in range(amap.heads):  # one per chart: four side by side are unreadable in the inspector
            st.plotly_chart(charts.attention_chart(weights[head], _labels(queries, weights.shape[1]),
                                                   _labels(keys, weights.shape[2]),
                                                   title=f"{name} · {amap.kind}-attention · head {head + 1}"),
                            key=f"look_attn_{node_id}_{k}_{head}", config={"displayModeBar": False})


def _labels(tokens: list[str], length: int) -> list[str]:
    return [tokens[i] if i < len(tokens) else str(i) for i in range(length)]


def _token_rows(subject: Subject, node_id: str, index: int, value: np.ndarray) -> list[str] | None:
    """Row labels for a (T, D) heatmap of a text model: the tokens that reach the node, when lengths agree."""
    from ui.train.train_insight import token_input_of
    from ui.train.train_results import token_text

    if value.ndim != 2 or "long" not in subject.dataset.input_dtypes:
        return None
    source = token_input_of(subject.graph, node_id, ("tgt", "x", "tokens", None))
    tokens = token_text(subject, subject.dataset, index).get(source) if source else None
    return tokens if tokens and len(tokens) == value.shape[0] else None
