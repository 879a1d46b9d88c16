"""Neurons as pictures on 2-D data (TensorFlow Playground's view, for any MLP drawn on the canvas): every
hidden unit's output over the input plane as a small heatmap, one block of tiles per layer, with the decision
boundary beside, redrawn while the model trains.

The worker thread computes the tiles now and then from the engine's event (``update``; epoch and end events
carry the model) and keeps them on the run; the live fragment only draws what is there (``render_neurons``).
All layers' tiles are one picture with gaps (a PNG in one figure, ~50 KB), so a redraw is one small figure, not
dozens of charts.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image
from torch import nn

from builder.catalog import get_block, has_block
from builder.catalog.registry import Category
from ui.train import charts

RESOLUTION = 24  # points per side of each tile
INTERVAL = 0.3  # seconds between recomputations in the worker
MAX_UNITS = 32  # tiles drawn per layer
TILE_COLUMNS = 4  # tiles per row within a layer's block: layers side by side stay near square
GAP = 1  # NaN rows/columns between tiles
SCALE = [[0.0, "#c0392b"], [0.5, "#f7f7f7"], [1.0, "#2166ac"]]  # negative red, 0 white, positive blue
_STOPS = np.array([stop for stop, _ in SCALE]) * 2 - 1  # SCALE runs over [0, 1]; the tiles over [-1, 1]
_RGB = np.array([[int(colour[i:i + 2], 16) for i in (1, 3, 5)] for _, colour in SCALE], dtype=float)


@dataclass(frozen=True)
class LayerMaps:
    node: str
    maps: np.ndarray  # (units, RESOLUTION, RESOLUTION): the unit's output at each grid point


@dataclass(frozen=True)
class NeuronMaps:
    layers: tuple[LayerMaps, ...]
    epoch: int


# -- computing (pure torch) -------------------------------------------------------------------------------------
def hidden_nodes(graph: Any, attributes: dict[str, str]) -> list[str]:
    """The nodes whose units are pictured: activations; a model without any shows its Linear layers but the last."""
    known = [n for n in graph.nodes if n.id in attributes and has_block(n.type)]
    acts = [n.id for n in known if get_block(n.type).category is Category.ACTIVATION]
    if acts:
        return acts
    dense = [n.id for n in known if n.type == "Linear"]
    return dense[:-1]


def unit_maps(model: nn.Module, attributes: dict[str, str], nodes: list[str], bounds: Any,
              resolution: int = RESOLUTION) -> list[LayerMaps]:
    """Every unit of ``nodes`` over the plane, in eval mode without gradients (the mode is restored).
    Nodes whose output is not (N, units) are left out."""
    _, _, points = charts.boundary_grid(bounds, resolution)
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for node in nodes:
        module = model.get_submodule(attributes[node])
        handles.append(module.register_forward_hook(
            lambda _m, _i, out, n=node: captured.__setitem__(n, out) if isinstance(out, torch.Tensor) else None))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.from_numpy(points).to(device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    out = []
    for node in nodes:
        value = captured.get(node)
        if value is None or value.ndim != 2:
            continue
        maps = value.float().cpu().numpy().T[:MAX_UNITS].reshape(-1, resolution, resolution)
        out.append(LayerMaps(node, maps))
    return out


def tiled(layers: list[LayerMaps] | tuple[LayerMaps, ...]) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """All tiles in one array (layers left to right, each a block of TILE_COLUMNS-wide rows, NaN gaps), every
    tile scaled to [-1, 1] by its largest magnitude; and (node, x, y) of each block's title."""
    if not layers:
        return np.full((1, 1), np.nan), []
    size = layers[0].maps.shape[-1]
    step = size + GAP
    rows = max(-(-len(layer.maps) // TILE_COLUMNS) for layer in layers)
    widths = [min(len(layer.maps), TILE_COLUMNS) for layer in layers]
    total_w = sum(w * step for w in widths) + (len(layers) - 1) * 2 * step
    canvas = np.full((rows * step, total_w), np.nan)
    titles, left = [], 0
    for layer, width in zip(layers, widths):
        for k, tile in enumerate(layer.maps):
            scale = float(np.nanmax(np.abs(tile))) or 1.0
            r, c = divmod(k, TILE_COLUMNS)
            canvas[r * step: r * step + size, left + c * step: left + c * step + size] = tile / scale
        titles.append((layer.node, left + width * step / 2, -GAP))  # above the block (the y axis is reversed)
        left += width * step + 2 * step
    return canvas, titles


def tiles_image(canvas: np.ndarray) -> str:
    """The tiles as a PNG data URI: each value coloured on SCALE, the gaps transparent. A picture, not a heatmap
    of values: at 96 tiles a heatmap was 1 MB per redraw (twice a second) and a fifth of a core in the browser."""
    values = np.nan_to_num(canvas, nan=0.0)
    rgba = np.empty(canvas.shape + (4,), dtype=np.uint8)
    for channel in range(3):
        rgba[..., channel] = np.interp(values, _STOPS, _RGB[:, channel]).round()
    rgba[..., 3] = np.where(np.isnan(canvas), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def neurons_figure(maps: NeuronMaps) -> go.Figure:
    canvas, titles = tiled(maps.layers)
    fig = go.Figure(go.Image(source=tiles_image(canvas), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
    for node, x, y in titles:
        fig.add_annotation(x=x, y=y, text=f"<b>{node}</b>", showarrow=False, yanchor="bottom", font=dict(size=12))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", autorange="reversed")
    height = 90 + 520 * canvas.shape[0] / canvas.shape[1]  # the tiles fill a ~520 px wide plot
    fig.update_layout(title=f"Every hidden unit over the input plane · epoch {maps.epoch}", height=int(height),
                      margin=dict(l=10, r=10, t=60, b=10), plot_bgcolor="white")
    return fig


# -- the worker's side --------------------------------------------------------------------------------------------
def applies(dataset: Any) -> bool:
    from ui.train.train_results import is_two_d

    return is_two_d(dataset)


def update(run: Any, event: Any) -> None:
    """In the worker: recompute the tiles when the event carries the model and INTERVAL has passed."""
    model = getattr(event, "model", None)
    if model is None or not applies(run.dataset):
        return
    now = time.monotonic()
    if event.kind != "end" and now - getattr(run, "neurons_at", 0.0) < INTERVAL:
        return
    attributes = getattr(run, "neuron_attributes", None)
    if attributes is None:
        from codegen.source import generate_model

        attributes = generate_model(run.graph).attributes
        run.neuron_attributes = attributes
    nodes = hidden_nodes(run.graph, attributes)
    layers = unit_maps(model, attributes, nodes, run.dataset.extras["bounds"])
    run.neurons = NeuronMaps(tuple(layers), event.epoch)
    run.neurons_at = now


# -- drawing --------------------------------------------------------------------------------------------------------
def render_neurons(run: Any, key: str = "neurons") -> None:
    """The tiles and, beside them while the run trains, the decision boundary it last drew (afterwards the
    results show the final boundary: one boundary on the page, not two)."""
    maps: NeuronMaps | None = getattr(run, "neurons", None)
    if maps is None or not maps.layers:
        return
    left, right = st.columns([3, 2])
    left.plotly_chart(neurons_figure(maps), key=f"{key}_tiles")
    left.caption("Blue: the unit's output is positive there; red: negative; each tile scaled to its own largest "
                 f"value. Up to {MAX_UNITS} units per layer.")
    boundary = getattr(run, "boundary", None)
    if boundary is not None and run.handle.state.active:  # once it has ended, the results draw the final one
        from ui.train.train_data import labels_of

        xs, ys, values = boundary
        split = run.dataset.train
        right.plotly_chart(charts.decision_boundary_chart(xs, ys, values, split.inputs[0].numpy(),
                                                          labels_of(run.dataset, split), run.dataset.class_names),
                           key=f"{key}_boundary")
