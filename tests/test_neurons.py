"""Neurons as pictures on 2-D data: every hidden unit of a real model over the input plane, tiled by layer."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from builder.templates import load_template
from codegen.loader import build_model
from codegen.source import generate_model
from data.datasets import load_dataset
from ui.train import charts
from ui.train.neurons import (
    GAP,
    RESOLUTION,
    LayerMaps,
    NeuronMaps,
    hidden_nodes,
    neurons_figure,
    tiled,
    tiles_image,
    unit_maps,
    update,
)


def _spirals_model():
    graph = load_template("spirals_mlp")
    source = generate_model(graph)
    return graph, source, build_model(source, seed=0)


def test_every_hidden_unit_is_its_activation_over_the_plane():
    graph, source, model = _spirals_model()
    nodes = hidden_nodes(graph, source.attributes)
    assert nodes == ["act1", "act2", "act3"]
    bounds = ((-1.0, 1.0), (-2.0, 2.0))
    layers = unit_maps(model, source.attributes, nodes, bounds)
    assert [layer.node for layer in layers] == nodes
    assert all(layer.maps.shape == (32, RESOLUTION, RESOLUTION) for layer in layers)
    # tile row i is y = ys[i], column j is x = xs[j]: unit k of act1 at one grid point, by hand
    xs, ys, _ = charts.boundary_grid(bounds, RESOLUTION)
    point = torch.tensor([[xs[5], ys[17]]], dtype=torch.float32)
    with torch.no_grad():
        expected = torch.tanh(model.fc1(point))[0].numpy()
    np.testing.assert_allclose(layers[0].maps[:, 17, 5], expected, rtol=1e-5, atol=1e-6)
    assert model.training  # the mode is restored


def test_a_model_without_activations_shows_its_hidden_linear_layers():
    graph = load_template("perceptron")
    source = generate_model(graph)
    assert hidden_nodes(graph, source.attributes) == [n.id for n in graph.nodes if n.type == "Linear"][:-1]


def test_tiles_are_laid_out_by_layer_with_gaps_and_each_scaled_to_one():
    maps = [LayerMaps("a", np.arange(2 * 4 * 4, dtype=float).reshape(2, 4, 4) - 10),
            LayerMaps("b", np.ones((10, 4, 4)) * 3)]
    canvas, titles = tiled(maps)
    step = 4 + GAP
    assert canvas.shape == (3 * step, (2 + 4) * step + 2 * step)  # b needs 3 rows of 4
    assert np.nanmax(np.abs(canvas)) == 1.0 and np.isnan(canvas[4, 0])
    assert [t[0] for t in titles] == ["a", "b"]
    fig = neurons_figure(NeuronMaps(tuple(maps), epoch=3))
    assert len(fig.data) == 1 and fig.data[0].type == "image" and "epoch 3" in fig.layout.title.text


def test_the_tiles_picture_colours_each_value_and_leaves_the_gaps_transparent():
    canvas = np.array([[-1.0, 0.0, 1.0, np.nan], [0.5, -0.5, np.nan, 1.0]], dtype=np.float32)
    uri = tiles_image(canvas)
    assert uri.startswith("data:image/png;base64,")
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGBA"))
    assert picture.shape == (2, 4, 4)  # one pixel per value: the figure places it by data units
    assert picture[0, 0].tolist() == [0xC0, 0x39, 0x2B, 255]  # -1: the scale's red
    assert picture[0, 1].tolist() == [0xF7, 0xF7, 0xF7, 255]  # 0: its near-white
    assert picture[0, 2].tolist() == [0x21, 0x66, 0xAC, 255] == picture[1, 3].tolist()  # +1: its blue
    assert picture[0, 3, 3] == 0 and picture[1, 2, 3] == 0  # the gaps between tiles
    half_blue = (np.array([0xF7, 0xF7, 0xF7]) + np.array([0x21, 0x66, 0xAC])) / 2
    assert np.abs(picture[1, 0, :3] - half_blue).max() <= 0.5


def test_the_worker_update_keeps_the_latest_maps_and_skips_events_without_a_model():
    graph, source, model = _spirals_model()
    run = SimpleNamespace(graph=graph, dataset=load_dataset("spirals", seed=0), neurons=None)
    update(run, SimpleNamespace(kind="step", epoch=1, model=None))
    assert run.neurons is None
    update(run, SimpleNamespace(kind="epoch", epoch=2, model=model))
    assert run.neurons.epoch == 2 and [layer.node for layer in run.neurons.layers] == ["act1", "act2", "act3"]
    update(run, SimpleNamespace(kind="epoch", epoch=3, model=model))  # within INTERVAL: kept
    assert run.neurons.epoch == 2
    update(run, SimpleNamespace(kind="end", epoch=3, model=model))  # the end is always drawn
    assert run.neurons.epoch == 3
