"""Drawn data (issue 13, point 5): points clicked onto the plane become a dataset through data/, the exported
script carries them and trains as the app did, and the drawing board's pure helpers do what the page needs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from builder.templates import load_template
from codegen.loader import import_source
from data.base import MIN_PER_CLASS, small_split
from data.datasets import DatasetError, Task, dataset_info, load_dataset
from data.drawn import (
    CLASS_NAMES,
    EXAMPLE_LABELS,
    EXAMPLE_POINTS,
    decode_drawing,
    encode_drawing,
    prepare_drawn,
)
from export.script import generate_script, script_config
from training.engine import train
from ui.train import draw_data

# Two classes on either side of the diagonal, 11 and 9 points: small enough to read, uneven on purpose.
POINTS = [(-0.8, -0.6), (-0.5, -0.9), (-0.7, 0.1), (-0.2, -0.4), (0.1, -0.8), (-0.9, -0.2), (-0.35, -0.55),
          (0.3, -0.75), (-0.6, -0.3), (-0.1, -0.95), (-0.85, 0.35),
          (0.8, 0.6), (0.5, 0.9), (0.7, -0.1), (0.2, 0.4), (-0.1, 0.8), (0.9, 0.2), (0.35, 0.55), (0.6, 0.3),
          (0.05, 0.95)]
LABELS = [0] * 11 + [1] * 9


def _options(points=POINTS, labels=LABELS) -> dict[str, str]:
    text, classes = encode_drawing(points, labels)
    return {"points": text, "labels": classes}


# -- the dataset --------------------------------------------------------------------------------------------------
def test_two_classes_make_a_binary_set_of_every_point():
    data = load_dataset("drawn", seed=0, **_options())
    assert data.task is Task.BINARY and data.num_classes == 2 and data.class_names == ["blue", "orange"]
    assert data.input_shapes == ((2,),) and data.input_names == ("x",)
    # per class train+val+test: 11 → 4+2+5, 9 → 3+1+5 (each class keeps MIN_PER_CLASS = 5 test examples)
    assert [len(data.train), len(data.val), len(data.test)] == [7, 3, 10]
    for split in (data.train, data.val, data.test):
        assert split.inputs[0].shape == (len(split), 2) and split.inputs[0].dtype == torch.float32
        assert split.target.shape == (len(split), 1) and split.target.dtype == torch.float32
    every = torch.cat([s.inputs[0] for s in (data.train, data.val, data.test)])
    got = sorted(map(tuple, np.round(every.numpy().astype(np.float64), 3).tolist()))
    assert got == sorted(POINTS)  # nothing lost, nothing made up
    labels = torch.cat([s.target for s in (data.train, data.val, data.test)]).reshape(-1)
    assert int(labels.sum()) == 9  # the orange ones
    assert np.allclose(data.extras["bounds"], ((-1.1, 1.1), (-1.1, 1.1)))  # the whole plane, not just the points
    assert data.description == "Your own points, drawn on the plane: 11 blue, 9 orange."


def test_the_split_is_seeded_and_stratified():
    first, again, other = (load_dataset("drawn", seed=s, **_options()) for s in (3, 3, 4))
    assert torch.equal(first.test.inputs[0], again.test.inputs[0])
    assert torch.equal(first.train.target, again.train.target)
    assert not torch.equal(first.test.inputs[0], other.test.inputs[0])
    for split in (first.val, first.test):  # each held-out split has both colours
        assert set(split.target.reshape(-1).tolist()) == {0.0, 1.0}


def test_fractions_follow_the_settings():
    data = load_dataset("drawn", seed=0, fractions=(0.3, 0.2), **_options())
    # validation follows its 0.3 (11 → 3, 9 → 3); test's 0.2 would leave 2 per class, so each keeps 5
    assert [len(data.train), len(data.val), len(data.test)] == [4, 6, 10]


def test_twenty_points_keep_five_test_points_of_each_class():
    """The measured case: 20 drawn points used to leave a 3-point test set (accuracy 0, 1/3, 2/3 or 1)."""
    data = load_dataset("drawn", seed=0, **_options())
    counts = np.bincount(data.test.target.reshape(-1).long().numpy())
    assert counts.tolist() == [MIN_PER_CLASS, MIN_PER_CLASS]
    assert np.bincount(data.train.target.reshape(-1).long().numpy()).min() >= 1  # every class still trains
    assert not data.extras.get("notes")  # nothing to apologise for


def test_a_drawing_too_small_for_five_test_points_says_so():
    points, labels = POINTS[:4] + POINTS[11:15], [0] * 4 + [1] * 4  # 4 per class: 5 test points can't be kept
    data = load_dataset("drawn", seed=0, **_options(points, labels))
    assert min(np.bincount(data.train.target.reshape(-1).long().numpy())) >= 1
    (note,) = data.extras["notes"]
    assert note.startswith("The test set holds only 2 of ‘blue’, 2 of ‘orange’ (fewer than 5 per class)")
    assert small_split(data.test, data.task, data.class_names, data.num_classes) == note


def test_three_or_four_classes_are_a_classification_set():
    labels = [i % 4 for i in range(len(POINTS))]
    data = load_dataset("drawn", seed=1, **_options(labels=labels))
    assert data.task is Task.CLASSIFICATION and data.num_classes == 4
    assert data.class_names == list(CLASS_NAMES)
    assert data.train.target.dtype == torch.int64 and data.train.target.shape == (len(data.train),)


def test_the_preparation_reads_lists_as_well_as_text():
    from_text = prepare_drawn(**_options(), seed=2, fractions=(0.15, 0.15))
    from_lists = prepare_drawn([list(p) for p in POINTS], LABELS, seed=2, fractions=(0.15, 0.15))
    assert np.array_equal(from_text[0][0], from_lists[0][0]) and np.array_equal(from_text[1], from_lists[1])
    assert all(np.array_equal(a, b) for a, b in zip(from_text[2], from_lists[2]))
    as_json = json.dumps([list(p) for p in POINTS])  # a hand-written meta.training may hold a JSON list
    assert np.array_equal(prepare_drawn(as_json, LABELS, 2, (0.15, 0.15))[0][0], from_text[0][0])


def test_the_default_is_an_xor_drawing_to_start_from():
    info = dataset_info("drawn")
    assert info.options == {"points": EXAMPLE_POINTS, "labels": EXAMPLE_LABELS}
    data = load_dataset("drawn")
    x = torch.cat([data.train.inputs[0], data.val.inputs[0], data.test.inputs[0]])
    y = torch.cat([data.train.target, data.val.target, data.test.target]).reshape(-1)
    assert len(x) == 40 and torch.equal(y, (x[:, 0] * x[:, 1] < 0).float())


@pytest.mark.parametrize(("points", "labels", "message"), [
    ("0,0 1,1 0.5,0.5", "0 1 0", "draw at least 6 points of at least 2 classes to train on (so far: 3 points, 2 classes)"),
    ("0,0 1,1 0.5,0.5 0.2,0.2 0.3,0.3 0.4,0.4", "1 1 1 1 1 1", "(so far: 6 points, 1 class)"),
    ("0,0 1", "0", "the points need an x and a y each; 3 numbers were given"),
    ("0,0 1,1", "0 1 1", "2 points but 3 labels"),
    ("0,0 1,1 2,2 3,3 4,4 5,5", "0 1 0 1 0 7", "a label must be a class from 0 to 3"),
    ("0,0 1,1 2,2 3,3 4,4 5,5e9", "0 1 0 1 0 1", "between -1e6 and 1e6"),
])
def test_a_drawing_that_cannot_train_says_why(points: str, labels: str, message: str):
    with pytest.raises(DatasetError) as err:
        load_dataset("drawn", points=points, labels=labels)
    assert err.value.message.startswith("drawn: ") and message in err.value.message


def test_encode_and_decode_round_trip_to_three_decimals():
    text, classes = encode_drawing([(0.12345, -0.5), (1.0, 0.0004)], [1, 0])
    assert (text, classes) == ("0.123,-0.5 1,0", "1 0")
    assert decode_drawing(text, classes) == ([(0.123, -0.5), (1.0, 0.0)], [1, 0])
    assert decode_drawing("nonsense", "") == ([], [])


# -- the exported script ------------------------------------------------------------------------------------------
def _script_run(code: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], dict]:
    threads = torch.get_num_threads()
    try:
        import_source(code, "script").main(["--log-json", "--out", ""])
    finally:
        torch.set_num_threads(threads)  # the script sets it, as the engine does for its run
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [r for r in rows if "epoch" in r], rows[-1]


@pytest.mark.parametrize("labels", [LABELS, [i % 3 for i in range(len(POINTS))]], ids=["binary", "three"])
def test_the_script_trains_on_the_drawn_points_as_the_app_did(labels, capsys: pytest.CaptureFixture[str]):
    graph = load_template("spirals_mlp" if max(labels) == 2 else "xor_mlp")
    settings = {"dataset": "drawn", "dataset_options": _options(labels=labels), "epochs": 3, "seed": 5}
    config = script_config(graph, settings)
    data = load_dataset("drawn", seed=5, fractions=(config.val_fraction, config.test_fraction),
                        **config.dataset_options)
    result = train(graph, data, config)  # the app's run
    code = generate_script(graph, settings=config)
    module = import_source(code, "script")
    assert module.DATASET == "drawn" and _options(labels=labels) == module.DATA_ARGS  # the points travel
    epochs, end = _script_run(code, capsys)
    assert [e["epoch"] for e in epochs] == [h["epoch"] for h in result.history] == [1, 2, 3]
    for want, got in zip(result.history, epochs):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6, abs=0)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-6, abs=0)
    assert end["test"]["accuracy"] == pytest.approx(result.test_metrics["accuracy"], rel=1e-6)


# -- the drawing board's pure helpers ------------------------------------------------------------------------------
def test_a_click_snaps_to_the_grid_and_paint_thins_a_region():
    assert draw_data.clicked([{"x": 0.30000001, "y": -0.5, "curve_number": 0}]) == [(0.3, -0.5)]
    assert draw_data.clicked([{"x": 0.3, "y": 0.1, "curve_number": 1}]) == []  # a drawn point, not the grid
    region = [{"x": x, "y": y, "curve_number": 0} for x in draw_data.GRID for y in draw_data.GRID
              if 0 <= x <= 0.4 and 0 <= y <= 0.4]
    painted = draw_data.clicked(region)
    assert len(region) == 81 and 0 < len(painted) <= draw_data.MAX_PAINT
    assert all(0 <= x <= 0.4 and 0 <= y <= 0.4 for x, y in painted)
    assert len(set(painted)) == len(painted)


def test_adding_points_skips_repeats_of_the_same_class():
    drawing = draw_data.Drawing()
    drawing = drawing.add([(0.1, 0.2), (0.3, 0.4)], 1).add([(0.1, 0.2)], 1).add([(0.1, 0.2)], 0)
    assert drawing.points == ((0.1, 0.2), (0.3, 0.4), (0.1, 0.2)) and drawing.labels == (1, 1, 0)
    assert drawing.undo().labels == (1, 1) and draw_data.Drawing().undo() == draw_data.Drawing()
    assert drawing.counts() == {"blue": 1, "orange": 2}
    again = draw_data.Drawing.from_options(drawing.options())
    assert (again.points, again.labels) == (drawing.points, drawing.labels)
