"""Built-in datasets: shapes, dtypes, splits, stratification, seeding, options and the classroom properties
(XOR is not linearly separable, reverse is the flipped source, sentiment needs word order)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from builder.templates import load_template, template_names
from data.datasets import (
    Dataset,
    DatasetError,
    Task,
    dataset_info,
    dataset_names,
    load_dataset,
    suggest_options,
)
from data.text import decode_ids, encode_text

# Small sizes keep the whole parametrized sweep fast; the defaults are exercised by test_defaults_*.
SMALL = {
    "sentiment": {"n_samples": 400},
    "reverse": {"n_samples": 400},
    "copy": {"n_samples": 400},
    "sort": {"n_samples": 400},
}
NAMES = dataset_names()
# Small sets where every class (gates: every corner) keeps data.base.MIN_PER_CLASS = 5 test examples: gates has
# 4 corners × 20 points, the drawing to start from 2 classes × 20 points
TEST_SHARE = {"gates": 0.25, "drawn": 0.25}


def _tensors(data: Dataset) -> list[torch.Tensor]:
    return [t for split in (data.train, data.val, data.test) for t in (*split.inputs, split.target)]


def test_the_catalogue_holds_every_required_set():
    required = {
        "digits",
        "iris",
        "wine",
        "breast_cancer",
        "diabetes",
        "gates",
        "moons",
        "circles",
        "spirals",
        "blobs",
        "sine",
        "seasonal",
        "reverse",
        "copy",
        "sort",
        "sentiment",
    }
    assert required <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtypes_and_split_sizes(name):
    data = load_dataset(name, seed=0, **SMALL.get(name, {}))
    assert data.name == name and data.description
    sizes = [len(data.train), len(data.val), len(data.test)]
    total = sum(sizes)
    assert min(sizes) >= 1
    assert abs(sizes[1] / total - 0.15) < 0.03 and abs(sizes[2] / total - TEST_SHARE.get(name, 0.15)) < 0.03
    for split in (data.train, data.val, data.test):
        assert len(split.inputs) == len(data.input_shapes) == len(data.input_dtypes) == len(data.input_names)
        for x, shape, dtype in zip(split.inputs, data.input_shapes, data.input_dtypes):
            assert tuple(x.shape) == (len(split), *shape)
            # pixels of the real image sets stay uint8 until the batch (data.base.model_input)
            assert x.dtype in ((torch.int64,) if dtype == "long" else (torch.float32, torch.uint8))
            assert x.device.type == "cpu" and bool(torch.isfinite(x.float()).all())
        _check_target(data, split)


def _check_target(data: Dataset, split) -> None:
    target = split.target
    if data.task == Task.CLASSIFICATION:
        assert target.dtype == torch.int64 and target.shape == (len(split),)
        assert int(target.min()) >= 0 and int(target.max()) < data.num_classes == len(data.class_names)
    elif data.task == Task.BINARY:
        assert target.dtype == torch.float32 and target.shape == (len(split), 1)
        assert set(target.unique().tolist()) <= {0.0, 1.0} and data.num_classes == 2
    elif data.task == Task.REGRESSION:
        assert target.dtype == torch.float32 and target.ndim == 2
    elif data.task == Task.SEQUENCE:
        assert target.dtype == torch.int64 and target.shape == split.inputs[0].shape
        assert int(target.max()) < data.vocab_size == len(data.vocab) and data.pad_id == 0
    else:
        assert data.task == Task.RECONSTRUCTION and target.shape == split.inputs[0].shape


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_split(name):
    options = SMALL.get(name, {})
    first, again, other = (load_dataset(name, seed=s, **options) for s in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(_tensors(first), _tensors(again)))
    if name == "shakespeare":  # one text split in reading order: the seed has nothing to change
        assert all(torch.equal(a, b) for a, b in zip(_tensors(first), _tensors(other)))
        return
    # the downloaded image sets keep their published test images; the seed picks the validation images
    split = "val" if name in ("mnist", "fashion_mnist", "cifar10") else "test"
    assert not torch.equal(getattr(first, split).inputs[0], getattr(other, split).inputs[0])


@pytest.mark.parametrize("name", ["digits", "iris", "sine", "reverse", "gates"])
def test_each_load_owns_its_tensors(name):
    first = load_dataset(name, **SMALL.get(name, {}))
    kept = first.train.inputs[0].clone()
    first.train.inputs[0].mul_(0).add_(7)  # a caller normalizing in place must not touch anyone else's data
    second = load_dataset(name, **SMALL.get(name, {}))
    assert torch.equal(second.train.inputs[0], kept)


@pytest.mark.parametrize(
    "name", ["digits", "iris", "wine", "breast_cancer", "gates", "moons", "spirals", "blobs", "sentiment"]
)
def test_class_splits_are_stratified(name):
    data = load_dataset(name, seed=1, **SMALL.get(name, {}))
    classes = data.num_classes
    shares = []
    for split in (data.train, data.val, data.test):
        labels = split.target.reshape(-1).long()
        shares.append(torch.bincount(labels, minlength=classes).float() / len(labels))
    # Per-class rounding moves at most one example per class and split away from the exact share.
    tolerance = max(0.03, classes / len(data.test))
    assert torch.allclose(shares[1], shares[0], atol=tolerance)
    assert torch.allclose(shares[2], shares[0], atol=tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_info_is_consistent_with_the_loaded_data(name):
    info = dataset_info(name)
    assert info.name == name and info.description and isinstance(info.task, Task)
    assert set(info.options) == set(info.specs)
    assert info.default_template == "" or info.default_template in template_names()
    data = load_dataset(name, **{**info.options, **SMALL.get(name, {})})  # the defaults are valid values
    assert data.task == info.task
    assert data.default_template == "" or data.default_template in template_names()


def test_digits_images_flat_and_upsampled():
    data = load_dataset("digits")
    assert data.input_shapes == ((1, 8, 8),) and data.num_classes == 10
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    pixels = torch.cat([data.train.inputs[0], data.val.inputs[0], data.test.inputs[0]])
    assert float(pixels.min()) == 0.0 and float(pixels.max()) == 1.0
    assert load_dataset("digits", flat=True).input_shapes == ((64,),)
    assert load_dataset("digits", size=28, flat=True).input_shapes == ((784,),)
    big = load_dataset("digits", size=32, channels=3)
    assert big.input_shapes == ((3, 32, 32),)
    image = big.train.inputs[0][0]
    assert torch.equal(image[0], image[2]) and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0


def test_digits_as_reconstruction_targets_the_input():
    data = load_dataset("digits", flat=True, task="reconstruction")
    assert data.task == Task.RECONSTRUCTION and data.default_template == "autoencoder"
    assert torch.equal(data.train.target, data.train.inputs[0])
    assert data.train.target.data_ptr() != data.train.inputs[0].data_ptr()
    assert data.extras["labels"]["train"].shape == (len(data.train),)


def test_tabular_sets_are_standardized_with_training_statistics():
    for name, features in (("iris", 4), ("wine", 13), ("breast_cancer", 30), ("diabetes", 10)):
        data = load_dataset(name)
        x = data.train.inputs[0]
        assert data.input_shapes == ((features,),)
        assert torch.allclose(x.mean(0), torch.zeros(features), atol=1e-5)
        assert torch.allclose(x.std(0, unbiased=False), torch.ones(features), atol=1e-4)
    diabetes = load_dataset("diabetes")
    assert diabetes.task == Task.REGRESSION and diabetes.train.target.shape[1] == 1
    assert 140 < diabetes.extras["target_mean"] < 170 and 70 < diabetes.extras["target_std"] < 85


def test_xor_is_not_linearly_separable_but_and_is():
    from sklearn.linear_model import LogisticRegression

    scores = {}
    for gate in ("and", "or", "xor"):
        data = load_dataset("gates", gate=gate, noise=0.05)
        x, y = data.train.inputs[0].numpy(), data.train.target.numpy().ravel()
        corners = data.test.inputs[0].round().long()
        assert {tuple(c) for c in corners.tolist()} == {(0, 0), (0, 1), (1, 0), (1, 1)}  # whole truth table
        truth = {
            "and": corners[:, 0] & corners[:, 1],
            "or": corners[:, 0] | corners[:, 1],
            "xor": corners[:, 0] ^ corners[:, 1],
        }[gate]
        assert torch.equal(data.test.target.long().ravel(), truth)
        model = LogisticRegression(C=100.0, max_iter=1000).fit(x, y)
        scores[gate] = model.score(data.test.inputs[0].numpy(), data.test.target.numpy().ravel())
    assert scores["and"] == 1.0 and scores["or"] == 1.0
    assert scores["xor"] <= 0.75  # a line can get at most 3 of the 4 corners right
    assert load_dataset("gates", gate="xor").default_template == "xor_mlp"
    assert load_dataset("gates", gate="and").default_template == "perceptron"


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "blobs"])
def test_point_sets_follow_their_options_and_carry_bounds(name):
    data = load_dataset(name, n_samples=200, noise=0.1)
    points = torch.cat([data.train.inputs[0], data.val.inputs[0], data.test.inputs[0]])
    assert 198 <= len(points) <= 200  # spirals round to whole arms
    (x0, x1), (y0, y1) = data.extras["bounds"]
    assert x0 < float(points[:, 0].min()) and float(points[:, 0].max()) < x1
    assert y0 < float(points[:, 1].min()) and float(points[:, 1].max()) < y1
    noisier = load_dataset(name, n_samples=200, noise=0.5)
    assert not torch.equal(noisier.train.inputs[0], data.train.inputs[0])


def test_spirals_and_blobs_take_a_class_count():
    assert load_dataset("spirals", classes=5).num_classes == 5
    assert load_dataset("blobs", classes=4).num_classes == 4


@pytest.mark.parametrize("name", ["sine", "seasonal"])
def test_series_windows_predict_the_next_value(name):
    data = load_dataset(name, window=20, n_points=300)
    x, y = data.train.inputs[0], data.train.target
    assert data.input_shapes == ((20, 1),) and data.input_names == ("series",)
    assert torch.equal(x[1:, -1, 0], y[:-1, 0])  # chronological split: window i+1 ends with target i
    assert torch.equal(x[1:, :-1, 0], x[:-1, 1:, 0])
    series = data.extras["series"]
    assert series.shape == (300,) and torch.equal(series[20 : 20 + len(y), None], y)
    val_start, test_start = data.extras["split_points"]
    assert torch.equal(data.test.target[:, 0], series[test_start:])
    assert val_start < test_start
    shuffled = load_dataset(name, window=20, n_points=300, split="random")
    assert shuffled.extras["split_points"] is None and len(shuffled.train) == len(data.train)


def test_sequence_tasks_use_teacher_forcing():
    for name in ("reverse", "copy", "sort"):
        data = load_dataset(name)
        assert data.vocab_size == 12 and data.input_names == ("src", "tgt")
        assert data.input_shapes == ((8,), (8,)) and data.input_dtypes == ("long", "long")
        assert len(data.train) + len(data.val) + len(data.test) == 4000
        src, tgt = data.train.inputs
        target = data.train.target
        expected = {"reverse": src.flip(1), "copy": src, "sort": src.sort(1).values}[name]
        assert torch.equal(target, expected)
        assert bool((tgt[:, 0] == 1).all()) and torch.equal(tgt[:, 1:], target[:, :-1])
        assert int(src.min()) >= 2 and int(src.max()) <= 11
        assert data.vocab[:2] == ["<pad>", "<bos>"]
    longer = load_dataset("reverse", length=12, n_symbols=20, n_samples=100)
    assert longer.input_shapes == ((12,), (12,)) and longer.vocab_size == 22


def test_sentiment_is_padded_word_ids_with_negation():
    data = load_dataset("sentiment")
    assert data.input_shapes == ((24,),) and data.input_dtypes == ("long",)
    assert data.vocab_size == len(data.vocab) < 512 and data.vocab[:2] == ["<pad>", "<unk>"]
    assert data.class_names == ["negative", "positive"]
    tokens = data.train.inputs[0]
    texts = data.extras["texts"]["train"]
    for row, text in zip(tokens[:50].tolist(), texts[:50]):
        assert decode_ids(row, data.vocab) == text
        first = next(i for i, t in enumerate(row) if t)
        assert all(row[first:]) and not any(row[:first])  # padded on the left only
    assert sum(" not " in t or " never " in t for t in texts) > 0.2 * len(texts)
    counts = torch.bincount(data.train.target)
    assert abs(int(counts[0]) - int(counts[1])) <= 2
    assert encode_text("the movie was not good", data.vocab, 8) == [0, 0, 0] + [
        data.vocab.index(w) for w in ["the", "movie", "was", "not", "good"]
    ]
    assert encode_text("zzz good", data.vocab, 3, padding="post")[0] == 1  # unknown word


@pytest.mark.slow
def test_sentiment_needs_word_order_but_a_small_lstm_learns_it():
    from sklearn.linear_model import LogisticRegression

    data = load_dataset("sentiment", n_samples=1500, seed=0)

    def bag(x: torch.Tensor) -> np.ndarray:
        counts = np.zeros((len(x), data.vocab_size))
        np.add.at(counts, (np.repeat(np.arange(len(x)), x.shape[1]), x.reshape(-1).numpy()), 1)
        return counts[:, 1:]

    words = LogisticRegression(max_iter=3000).fit(bag(data.train.inputs[0]), data.train.target.numpy())
    bag_accuracy = words.score(bag(data.test.inputs[0]), data.test.target.numpy())
    assert bag_accuracy < 0.8  # single words can't tell "good" from "not good"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on 2 busy cores, 2 threads made this small LSTM ~8x slower (measured)
    try:
        assert _lstm_accuracy(data, epochs=6) >= 0.85
    finally:
        torch.set_num_threads(threads)


def _lstm_accuracy(data: Dataset, epochs: int) -> float:
    torch.manual_seed(0)
    embed, lstm, head = (
        torch.nn.Embedding(512, 32, padding_idx=0),
        torch.nn.LSTM(32, 32, batch_first=True),
        torch.nn.Linear(32, 2),
    )
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=5e-3)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return head(lstm(embed(x))[0][:, -1])

    x, y = data.train.inputs[0], data.train.target
    accuracy = 0.0
    for _ in range(epochs):
        for batch in torch.randperm(len(y)).split(32):
            loss = torch.nn.functional.cross_entropy(logits(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = float((logits(data.test.inputs[0]).argmax(1) == data.test.target).float().mean())
        if accuracy >= 0.85:
            break
    return accuracy


def test_options_are_checked_and_coerced():
    assert load_dataset("digits", size="28", flat="true").input_shapes == ((784,),)
    assert load_dataset("gates", gate="XOR", repeat=4.0).extras["gate"] == "xor"
    assert load_dataset("digits", task=Task.RECONSTRUCTION).task == Task.RECONSTRUCTION
    with pytest.raises(DatasetError, match="the seed must be an integer, got 'one'"):
        load_dataset("iris", seed="one")
    bad = [
        ({"name": "emnist"}, "no dataset named ‘emnist’; choose one of: digits"),
        ({"name": "digits", "colour": 1}, "unknown option ‘colour’ (options: flat, size, channels, task)"),
        ({"name": "digits", "size": 7}, "option ‘size’ must be an integer from 8 to 64, got 7"),
        ({"name": "digits", "size": 8.5}, "option ‘size’ must be an integer"),
        ({"name": "digits", "flat": "maybe"}, "option ‘flat’ must be true or false"),
        ({"name": "gates", "gate": "xnor"}, "option ‘gate’ must be one of and, or, xor, nand, nor"),
        ({"name": "moons", "noise": float("nan")}, "option ‘noise’ must be a number"),
        ({"name": "sine", "n_points": 60, "window": 50}, "at least window + 20 = 70"),
    ]
    for kwargs, message in bad:
        with pytest.raises(DatasetError, match=re.escape(message)):
            load_dataset(**kwargs)


def _template_input_shapes(name: str) -> list[tuple[int, ...]]:
    return [tuple(node.params["shape"]) for node in load_template(name).inputs()]


@pytest.mark.parametrize("template", template_names())
def test_every_template_gets_data_of_its_input_shapes(template):
    """A template's own training settings plus suggest_options give inputs the template accepts; a template
    for the user's own images ("image_zip") gets them resized to its (channels, height, width) input."""
    training = load_template(template).meta["training"]
    shapes = _template_input_shapes(template)
    if training["dataset"] == "image_zip":
        assert len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] in (1, 3) and shapes[0][1] == shapes[0][2]
        return
    options = {**training.get("dataset_options", {}), **suggest_options(training["dataset"], shapes)}
    options.update(SMALL.get(training["dataset"], {}))
    # A VAE learns from reconstruction data (the target is the input); its task adds the KL term to the loss.
    task = {"vae": "reconstruction"}.get(training.get("task"), training.get("task"))
    if task == "reconstruction":  # the engine may also derive it; the set offers it directly
        options["task"] = "reconstruction"
    data = load_dataset(training["dataset"], **options)
    assert list(data.input_shapes) == shapes
    assert data.task.value == (task or data.task.value)


def test_suggest_options_maps_shapes_to_options():
    assert suggest_options("digits", [(784,)]) == {"flat": True, "size": 28, "channels": 1}
    assert suggest_options("digits", [(3, 32, 32)]) == {"flat": False, "size": 32, "channels": 3}
    assert suggest_options("reverse", [(12,), (12,)]) == {"length": 12}
    assert suggest_options("sine", [(50, 1)]) == {"window": 50}
    assert suggest_options("digits", [(10,)]) == {} and suggest_options("iris", [(4,)]) == {}
