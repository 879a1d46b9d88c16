"""Plotly figures for training, built from plain numbers and arrays (no torch, no streamlit).

Each function takes what it draws and returns a ``go.Figure``, so tests can check the traces' data and the
panel can redraw them from whatever the run has produced so far.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MAX_POINTS = 400  # per live curve: a figure re-sent twice a second must stay small
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_LAYOUT = dict(margin=dict(l=40, r=10, t=40, b=35), height=300, legend=dict(orientation="h", y=-0.25))


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """Bucket means over runs of ``2**k`` points so long curves stay under ``max_points``.

    Buckets are aligned on powers of two so a growing curve keeps its earlier points stable between
    redraws instead of shimmering.
    """
    n = min(len(xs), len(ys))
    if n <= max_points:
        return list(xs[:n]), list(ys[:n])
    size = 1 << math.ceil(math.log2(n / max_points))
    full = (n // size) * size
    x = np.asarray(xs[:full], dtype=float).reshape(-1, size).mean(axis=1)
    y = np.asarray(ys[:full], dtype=float).reshape(-1, size).mean(axis=1)
    if full < n:  # the newest, partial bucket: keeps the curve's end live
        x = np.append(x, np.mean(np.asarray(xs[full:n], dtype=float)))
        y = np.append(y, np.mean(np.asarray(ys[full:n], dtype=float)))
    return x.tolist(), y.tolist()


def _mode(xs: Sequence[float]) -> str:
    """Markers help read a few epochs; on long curves they only hide the line."""
    return "lines+markers" if len(xs) <= 60 else "lines"


def loss_chart(
    train_x: Sequence[float],
    train_y: Sequence[float],
    val_x: Sequence[float] = (),
    val_y: Sequence[float] = (),
    x_title: str = "epoch",
    title: str = "Loss",
) -> go.Figure:
    """Train loss (per step, fractional epochs on x) and validation loss (per epoch)."""
    fig = go.Figure()
    tx, ty = downsample(train_x, train_y)
    fig.add_trace(go.Scatter(x=tx, y=ty, mode="lines", name="train", line=dict(color=COLORS[0])))
    vx, vy = downsample(val_x, val_y)
    fig.add_trace(go.Scatter(x=vx, y=vy, mode=_mode(vx), name="validation", line=dict(color=COLORS[1])))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="loss", **_LAYOUT)
    if len(ty) and min(ty) > 0 and max(ty) / max(min(ty), 1e-12) > 100:
        fig.update_yaxes(type="log", dtick=1)  # losses often fall by orders of magnitude; a tick per decade
    return fig


def metric_chart(
    name: str, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], x_title: str = "epoch"
) -> go.Figure:
    """One line per split (or run) of one metric, e.g. {"train": (epochs, acc), "validation": (...)}."""
    fig = go.Figure()
    for i, (label, (xs, ys)) in enumerate(series.items()):
        x, y = downsample(xs, ys)
        fig.add_trace(
            go.Scatter(x=x, y=y, mode=_mode(x), name=label, line=dict(color=COLORS[i % len(COLORS)]))
        )
    fig.update_layout(title=name, xaxis_title=x_title, yaxis_title=name, **_LAYOUT)
    return fig


def confusion_matrix_chart(
    matrix: Sequence[Sequence[float]], class_names: Sequence[str] | None = None, normalize: bool = False
) -> go.Figure:
    """Rows are true classes, columns predictions; cells show counts (or row fractions when normalized)."""
    counts = np.asarray(matrix, dtype=float)
    names = [str(c) for c in (class_names or range(counts.shape[0]))]
    values = counts
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    text = [[f"{v:.2f}" if normalize else f"{int(v)}" for v in row] for row in values]
    fig = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(title="Confusion matrix", xaxis_title="predicted", yaxis_title="true", **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def boundary_grid(bounds: Sequence[float], resolution: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axis ticks and the (resolution², 2) points to evaluate a 2-D classifier on.

    ``bounds`` is ((x_min, x_max), (y_min, y_max)) as the 2-D datasets give it, or the same four flat.
    """
    x_min, x_max, y_min, y_max = (float(b) for b in np.asarray(bounds, dtype=float).reshape(-1)[:4])
    xs = np.linspace(x_min, x_max, resolution)
    ys = np.linspace(y_min, y_max, resolution)
    gx, gy = np.meshgrid(xs, ys)  # row i is y = ys[i]: matches Heatmap's z[i][j] at (xs[j], ys[i])
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def decision_boundary_chart(
    xs: np.ndarray,
    ys: np.ndarray,
    grid_values: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
) -> go.Figure:
    """The Playground view: the model's prediction over the plane, with the data points on top.

    ``grid_values`` is (len(ys), len(xs)): the probability of class 1 for binary tasks, or the predicted
    class index for multi-class ones.
    """
    values = np.asarray(grid_values, dtype=float).reshape(len(ys), len(xs))
    labels = np.asarray(labels).reshape(-1).astype(int)
    n_classes = max(int(labels.max()) + 1 if labels.size else 2, int(values.max()) + 1, 2)
    binary = n_classes == 2 and values.min() >= 0 and values.max() <= 1
    # Regions take the colour of their class, so each point sits on its own colour when it is right.
    scale = [[0, COLORS[0]], [0.5, "white"], [1, COLORS[1]]] if binary else class_colorscale(n_classes)
    fig = go.Figure(
        go.Heatmap(
            x=xs.tolist(),
            y=ys.tolist(),
            z=values.tolist(),
            showscale=False,
            opacity=0.45,
            colorscale=scale,
            zmin=0 if binary else -0.5,
            zmax=1 if binary else n_classes - 0.5,
            hoverinfo="skip",
        )
    )
    names = [str(c) for c in (class_names or range(n_classes))]
    _add_class_points(fig, points, labels, names, dict(size=7, line=dict(width=1, color="#222")))
    fig.update_layout(title="Decision boundary", **{**_LAYOUT, "height": 380})
    # Equal scales by shrinking the plot area, not by widening an axis past the grid: the coloured plane
    # then fills the plot instead of floating in empty, gridded margins.
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def _add_class_points(fig: go.Figure, points: np.ndarray, labels: np.ndarray, names: list[str],
                      marker: dict) -> None:
    """One scatter trace per class present, in class order and colour."""
    for k in sorted(set(labels.tolist())):
        mask = labels == k
        fig.add_trace(
            go.Scatter(
                x=points[mask, 0].tolist(),
                y=points[mask, 1].tolist(),
                mode="markers",
                name=names[k] if k < len(names) else str(k),
                marker={**marker, "color": COLORS[k % len(COLORS)]},
            )
        )


def class_colorscale(n_classes: int) -> list[list]:
    """A stepped colorscale: class k (z in [k - 0.5, k + 0.5]) gets COLORS[k]."""
    scale = []
    for k in range(n_classes):
        color = COLORS[k % len(COLORS)]
        scale += [[k / n_classes, color], [(k + 1) / n_classes, color]]
    return scale


def scatter_preview(
    points: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None, title: str = ""
) -> go.Figure:
    """A 2-D dataset as coloured points (no model yet)."""
    labels = np.asarray(labels).reshape(-1).astype(int)
    names = [str(c) for c in (class_names or range(int(labels.max()) + 1 if labels.size else 1))]
    fig = go.Figure()
    _add_class_points(fig, points, labels, names, dict(size=6))
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def series_chart(
    series: Sequence[float],
    title: str = "Series",
    forecast_x: Sequence[float] = (),
    forecast_y: Sequence[float] = (),
) -> go.Figure:
    """A time series, optionally with the model's one-step forecasts drawn over it."""
    fig = go.Figure(
        go.Scatter(
            x=list(range(len(series))),
            y=list(map(float, series)),
            mode="lines",
            name="actual",
            line=dict(color=COLORS[0]),
        )
    )
    if len(forecast_y):
        fig.add_trace(
            go.Scatter(
                x=list(forecast_x),
                y=list(map(float, forecast_y)),
                mode="lines",
                name="forecast",
                line=dict(color=COLORS[1], dash="dot"),
            )
        )
    fig.update_layout(title=title, xaxis_title="step", **_LAYOUT)
    return fig


def forecast_chart(
    actual: Sequence[float], predicted: Sequence[float], title: str = "Forecast vs actual"
) -> go.Figure:
    """Predicted and true next values for consecutive windows."""
    idx = list(range(len(actual)))
    return series_chart(actual, title=title, forecast_x=idx[: len(predicted)], forecast_y=predicted)


def image_grid(images: np.ndarray, titles: Sequence[str], columns: int = 8, title: str = "") -> go.Figure:
    """Small grayscale images (N, H, W) or (N, C, H, W) in a grid, each with a caption (e.g. 'pred 3 / true 3')."""
    images = np.asarray(images, dtype=float)
    if images.ndim == 4:
        images = images.mean(axis=1)  # channels to gray: previews only
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[str(t) for t in titles[:n]],
        horizontal_spacing=0.02,
        vertical_spacing=0.12 if rows > 1 else 0.05,
    )
    for i, img in enumerate(images):
        fig.add_trace(
            go.Heatmap(z=img.tolist(), colorscale="gray_r", showscale=False, hoverinfo="skip"),
            row=i // columns + 1,
            col=i % columns + 1,
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(font_size=11)
    top = 50 if title else 25  # room for the subplot titles; a figure title needs more
    fig.update_layout(title=title, margin=dict(l=5, r=5, t=top, b=5), height=110 * rows + top)
    return fig


def attention_chart(
    weights: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], title: str = "Attention"
) -> go.Figure:
    """One heatmap per head: weights is (heads, L, S) or (L, S); rows are queries, columns keys."""
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    heads = w.shape[0]
    columns = min(heads, 4)
    rows = math.ceil(heads / columns)
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"head {h + 1}" for h in range(heads)],
        horizontal_spacing=0.06,
        vertical_spacing=0.12,
    )
    qs, ks = _unique_labels(query_tokens), _unique_labels(key_tokens)
    for h in range(heads):
        fig.add_trace(
            go.Heatmap(
                z=w[h].tolist(),
                x=ks[: w.shape[2]],
                y=qs[: w.shape[1]],
                zmin=0,
                zmax=1,
                colorscale="Viridis",
                showscale=h == 0,
                hovertemplate="query %{y}<br>key %{x}<br>%{z:.2f}<extra></extra>",
            ),
            row=h // columns + 1,
            col=h % columns + 1,
        )
    fig.update_yaxes(autorange="reversed", type="category")
    # All heads share the queries: label them once, on the left, so long labels ('<bos>·0') don't run into
    # the heatmap of the head beside.
    for col in range(2, columns + 1):
        fig.update_yaxes(showticklabels=False, ticks="", col=col)
    fig.update_xaxes(type="category", tickangle=0)
    fig.update_layout(title=title, margin=dict(l=40, r=10, t=60, b=30), height=260 * rows + 60)
    return fig


def _unique_labels(tokens: Sequence[str]) -> list[str]:
    """Category axes merge equal labels, so repeated tokens get their position: 'a·0', 'a·3'."""
    tokens = [str(t) for t in tokens]
    if len(set(tokens)) == len(tokens):
        return tokens
    return [f"{t}·{i}" for i, t in enumerate(tokens)]


def runs_overlay_chart(
    runs: Mapping[str, tuple[Sequence[float], Sequence[float]]], metric: str, x_title: str = "epoch"
) -> go.Figure:
    """One curve per past run, to compare them."""
    fig = metric_chart(metric, runs, x_title=x_title)
    fig.update_layout(title=f"{metric} by run")
    return fig
