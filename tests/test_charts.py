"""Chart builders on plain arrays: the figures carry exactly the data they were given."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.train import charts


def test_downsample_keeps_short_curves_and_bounds_long_ones():
    xs, ys = list(range(10)), [float(i) for i in range(10)]
    assert charts.downsample(xs, ys) == (xs, ys)
    n = 5000
    x, y = charts.downsample(list(range(n)), [1.0] * n, max_points=400)
    assert len(x) <= 401 and len(x) > 200
    assert y == [1.0] * len(y)
    # means of aligned buckets: 0..15 -> 7.5 with a bucket of 16
    assert x[0] == 7.5 and x[-1] < n


def test_downsample_grows_with_the_curve():
    counts = [len(charts.downsample(list(range(n)), list(range(n)))[0]) for n in (100, 300, 399, 400)]
    assert counts == [100, 300, 399, 400]


def test_loss_chart_traces():
    fig = charts.loss_chart([0.1, 0.2, 0.3], [2.0, 1.5, 1.0], [1], [1.2])
    assert isinstance(fig, go.Figure)
    train, val = fig.data
    assert train.name == "train" and list(train.y) == [2.0, 1.5, 1.0]
    assert val.name == "validation" and list(val.x) == [1] and list(val.y) == [1.2]
    assert fig.layout.yaxis.type is None


def test_loss_chart_goes_log_when_loss_spans_orders_of_magnitude():
    fig = charts.loss_chart([1, 2, 3], [10.0, 1.0, 0.01])
    assert fig.layout.yaxis.type == "log"


def test_metric_chart_one_trace_per_series():
    fig = charts.metric_chart("accuracy", {"train": ([1, 2], [0.5, 0.8]), "validation": ([1, 2], [0.4, 0.7])})
    assert [t.name for t in fig.data] == ["train", "validation"]
    assert list(fig.data[1].y) == [0.4, 0.7]
    assert fig.layout.title.text == "accuracy"


def test_confusion_matrix_counts_and_normalized():
    m = [[5, 1], [0, 4]]
    fig = charts.confusion_matrix_chart(m, ["cat", "dog"])
    heat = fig.data[0]
    assert list(heat.x) == ["cat", "dog"] and list(heat.y) == ["cat", "dog"]
    assert heat.z[0][0] == 5 and heat.text[0][1] == "1"
    norm = charts.confusion_matrix_chart(m, ["cat", "dog"], normalize=True).data[0]
    assert abs(norm.z[0][0] - 5 / 6) < 1e-9 and norm.z[1][1] == 1.0 and norm.text[0][1] == "0.17"


def test_confusion_matrix_zero_row_does_not_divide_by_zero():
    z = charts.confusion_matrix_chart([[0, 0], [1, 1]], normalize=True).data[0].z
    assert list(z[0]) == [0.0, 0.0]


def test_boundary_grid_layout_matches_heatmap_rows():
    xs, ys, pts = charts.boundary_grid((-1, 1, 0, 2), resolution=5)
    assert pts.shape == (25, 2) and pts.dtype == np.float32
    assert list(xs) == [-1, -0.5, 0, 0.5, 1]
    # row i of the grid is y = ys[i]; column j is x = xs[j]
    grid = pts.reshape(5, 5, 2)
    assert grid[3, 1, 0] == xs[1] and grid[3, 1, 1] == ys[3]
    nested = charts.boundary_grid(((-1, 1), (0, 2)), resolution=5)
    assert np.array_equal(nested[2], pts)


def test_decision_boundary_binary_and_points_by_class():
    xs, ys, pts = charts.boundary_grid((-1, 1, -1, 1), resolution=4)
    probs = (pts[:, 0] > 0).astype(float)  # a vertical boundary
    points = np.array([[-0.5, 0.0], [0.5, 0.0], [0.6, 0.2]])
    labels = np.array([0, 1, 1])
    fig = charts.decision_boundary_chart(xs, ys, probs, points, labels, ["no", "yes"])
    heat, c0, c1 = fig.data
    assert np.asarray(heat.z).shape == (4, 4)
    assert heat.z[0][0] == 0.0 and heat.z[0][3] == 1.0
    assert heat.zmin == 0 and heat.zmax == 1
    assert c0.name == "no" and list(c0.x) == [-0.5]
    assert c1.name == "yes" and list(c1.x) == [0.5, 0.6]


def test_decision_boundary_multiclass_uses_class_indices():
    xs, ys, _ = charts.boundary_grid((0, 1, 0, 1), resolution=3)
    classes = np.array([[0, 1, 2]] * 3)
    fig = charts.decision_boundary_chart(xs, ys, classes, np.zeros((3, 2)), np.array([0, 1, 2]))
    heat = fig.data[0]
    assert len(fig.data) == 4 and (heat.zmin, heat.zmax) == (-0.5, 2.5)
    assert list(heat.z[2]) == [0, 1, 2]
    # class k's band of the colorscale has class k's point colour
    assert heat.colorscale[2 * 1][1] == fig.data[2].marker.color == charts.COLORS[1]
    # square cells by shrinking the plot area, so the plane fills it (no empty margins beside the grid)
    assert fig.layout.xaxis.constrain == fig.layout.yaxis.constrain == "domain"


def test_scatter_preview_and_series_chart():
    pts = np.array([[0, 0], [1, 1], [2, 2]], dtype=float)
    fig = charts.scatter_preview(pts, np.array([1, 0, 1]))
    assert [t.name for t in fig.data] == ["0", "1"] and list(fig.data[1].x) == [0.0, 2.0]
    s = charts.series_chart([0.0, 1.0, 0.5])
    assert list(s.data[0].y) == [0.0, 1.0, 0.5] and len(s.data) == 1


def test_forecast_chart_overlays_prediction():
    fig = charts.forecast_chart([1.0, 2.0, 3.0], [1.1, 1.9])
    actual, pred = fig.data
    assert list(actual.y) == [1.0, 2.0, 3.0]
    assert list(pred.x) == [0, 1] and list(pred.y) == [1.1, 1.9]


def test_image_grid_panels_and_captions():
    imgs = np.random.default_rng(0).random((10, 8, 8))
    fig = charts.image_grid(imgs, [f"pred {i}" for i in range(10)], columns=5)
    assert len(fig.data) == 10
    assert [a.text for a in fig.layout.annotations] == [f"pred {i}" for i in range(10)]
    assert np.allclose(np.asarray(fig.data[3].z), imgs[3])
    chw = charts.image_grid(np.ones((2, 1, 4, 4)), ["a", "b"])
    assert np.asarray(chw.data[0].z).shape == (4, 4)


def test_attention_chart_one_heatmap_per_head_with_token_axes():
    length = 5
    w = np.zeros((2, length, length))
    w[0] = np.eye(length)[::-1]  # head 1: the anti-diagonal of a reversal
    w[1] = np.eye(length)
    tokens = ["a", "b", "a", "c", "d"]  # a repeated token keeps its own row
    fig = charts.attention_chart(w, tokens, tokens, title="layer 1")
    assert len(fig.data) == 2
    z0 = np.asarray(fig.data[0].z)
    assert z0[0, length - 1] == 1.0 and np.trace(z0) == 1.0  # odd length: the centre is on both diagonals
    assert list(fig.data[0].y) == ["a·0", "b·1", "a·2", "c·3", "d·4"]
    assert [a.text for a in fig.layout.annotations] == ["head 1", "head 2"]
    # the query labels once, left of head 1: long ones must not run into the head beside
    assert fig.layout.yaxis.showticklabels is not False and fig.layout.yaxis2.showticklabels is False
    single = charts.attention_chart(np.eye(3), ["x", "y", "z"], ["x", "y", "z"])
    assert len(single.data) == 1 and list(single.data[0].x) == ["x", "y", "z"]


def test_runs_overlay_one_curve_per_run():
    fig = charts.runs_overlay_chart(
        {"run 1": ([1, 2, 3], [0.5, 0.6, 0.7]), "run 2": ([1, 2], [0.3, 0.9])}, "val_accuracy"
    )
    assert [t.name for t in fig.data] == ["run 1", "run 2"]
    assert list(fig.data[1].y) == [0.3, 0.9]
    assert fig.layout.title.text == "val_accuracy by run"
