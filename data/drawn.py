"""Your own 2-D points, drawn on the plane in the Train tab (TensorFlow Playground's first exercise).

The drawing travels as two short texts, the dataset's options ``points`` ("x,y x,y …") and ``labels``
("0 1 …"): text fits every place options go — the project file's meta.training, a share link, the run
history, ``layerlab train --option`` and the exported script's DATA_ARGS — with no new format. The parser
reads every number in the text, so a JSON list of pairs written by hand works too.

Two classes make a binary task (one logit, like moons); three or four a classification task.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from data.base import Builtin, Dataset, DatasetError, Option, Task, assemble, split_indices

PLANE = (-1.0, 1.0)  # the drawing area on both axes; points typed outside it are kept, the view widens
CLASS_NAMES = ("blue", "orange", "green", "red")  # named after the colours the app draws classes 0-3 in
MIN_POINTS = 6  # train, validation and test each need a point
MAX_POINTS = 5000  # far more than anyone clicks; bounds what a hand-edited file or link can ask for
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _numbers(value: Any) -> np.ndarray:
    """Every number in ``value``: a text ("0.1,0.2 0.3,-0.4") or a (nested) sequence of numbers."""
    if isinstance(value, str):
        return np.asarray([float(n) for n in _NUMBER.findall(value)], dtype=np.float64)
    return np.asarray(value, dtype=np.float64).reshape(-1)


def drawing_problem(n_points: int, labels: np.ndarray) -> str | None:
    """Why a drawing can't be trained on yet, in words for the student; None when it can."""
    classes = len(np.unique(labels)) if len(labels) else 0
    if n_points >= MIN_POINTS and classes >= 2:
        return None
    points_word = "point" if n_points == 1 else "points"
    classes_word = "class" if classes == 1 else "classes"
    return (f"draw at least {MIN_POINTS} points of at least 2 classes to train on "
            f"(so far: {n_points} {points_word}, {classes} {classes_word})")


def _drawing(points: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) coordinates and (N,) class ids, checked; DatasetError names what is wrong."""
    try:
        coordinates, classes = _numbers(points), _numbers(labels)
    except (TypeError, ValueError):
        raise DatasetError("drawn: the points and labels must be numbers") from None
    if len(coordinates) % 2:
        raise DatasetError(f"drawn: the points need an x and a y each; {len(coordinates)} numbers were given")
    n = len(coordinates) // 2
    if n > MAX_POINTS:
        raise DatasetError(f"drawn: {n} points is more than the {MAX_POINTS} a drawing may hold")
    if len(classes) != n:
        raise DatasetError(f"drawn: {n} points but {len(classes)} labels; every point needs its class")
    if not np.isfinite(coordinates).all() or np.abs(coordinates).max(initial=0) > 1e6:
        raise DatasetError("drawn: every coordinate must be a number between -1e6 and 1e6")
    if not np.isin(classes, np.arange(len(CLASS_NAMES))).all():
        raise DatasetError(f"drawn: a label must be a class from 0 to {len(CLASS_NAMES) - 1} "
                           f"({', '.join(CLASS_NAMES)})")
    labels_ = classes.astype(np.int64)
    problem = drawing_problem(n, labels_)
    if problem:
        raise DatasetError(f"drawn: {problem}")
    return coordinates.reshape(n, 2).astype(np.float32), labels_


def prepare_drawn(
    points: Any, labels: Any, seed: int, fractions: tuple[float, float]
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """The drawn points as a dataset: float32 points (N, 2); a (N, 1) 0/1 target for two classes, else (N,)
    class ids; a seeded split stratified by class. ``points`` "x,y x,y …", ``labels`` "0 1 …" (or lists)."""
    xy, classes = _drawing(points, labels)
    n_classes = max(int(classes.max()) + 1, 2)
    target = classes.reshape(-1, 1).astype(np.float32) if n_classes == 2 else classes
    return [xy], target, split_indices(len(xy), seed, classes, fractions), {"classes": n_classes}


def encode_drawing(points: Sequence[Sequence[float]], labels: Sequence[int]) -> tuple[str, str]:
    """The ``points`` and ``labels`` option texts of a drawing (coordinates to 3 decimals: a click's precision)."""
    xy = " ".join(f"{round(float(x), 3):g},{round(float(y), 3):g}" for x, y in points)
    return xy, " ".join(str(int(c)) for c in labels)


def decode_drawing(points: Any, labels: Any) -> tuple[list[tuple[float, float]], list[int]]:
    """The drawing in option texts as (x, y) pairs and class ids, unchecked but paired (extra numbers dropped):
    what the drawing board starts from."""
    try:
        coordinates, classes = _numbers(points), _numbers(labels)
    except (TypeError, ValueError):
        return [], []
    n = min(len(coordinates) // 2, len(classes), MAX_POINTS)
    pairs = [(float(coordinates[2 * i]), float(coordinates[2 * i + 1])) for i in range(n)]
    return pairs, [int(c) for c in classes[:n]]


def plane_bounds(xy: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The drawing plane, widened to any point outside it: the boundary is drawn where the student drew."""
    xy = np.asarray(xy, dtype=np.float64)
    low = np.minimum(xy.min(axis=0), PLANE[0]) - 0.1
    high = np.maximum(xy.max(axis=0), PLANE[1]) + 0.1
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def _build_drawn(seed: int, fractions: tuple[float, float], points: str, labels: str) -> Dataset:
    inputs, target, indices, info = prepare_drawn(points, labels, seed, fractions)
    n_classes = info["classes"]
    counts = np.bincount(target.reshape(-1).astype(np.int64), minlength=n_classes)
    drawn = ", ".join(f"{int(k)} {CLASS_NAMES[c]}" for c, k in enumerate(counts) if k)
    return assemble(
        inputs,
        target,
        indices,
        name="drawn",
        description=f"Your own points, drawn on the plane: {drawn}.",
        task=Task.BINARY if n_classes == 2 else Task.CLASSIFICATION,
        input_names=("x",),
        num_classes=n_classes,
        class_names=list(CLASS_NAMES[:n_classes]),
        default_template="xor_mlp",
        extras={"bounds": plane_bounds(inputs[0])},
    )


def _example() -> tuple[str, str]:
    """The drawing to start from: XOR, 10 points in each quadrant (blue where x·y > 0)."""
    rng = np.random.default_rng(13)
    signs = np.repeat([[1, 1], [-1, -1], [1, -1], [-1, 1]], 10, axis=0)
    xy = signs * rng.uniform(0.15, 0.85, size=(40, 2))
    return encode_drawing(xy.tolist(), (xy[:, 0] * xy[:, 1] < 0).astype(int).tolist())


EXAMPLE_POINTS, EXAMPLE_LABELS = _example()

BUILTINS = [
    Builtin(
        "drawn",
        "Your own points: click them onto the plane in the Train tab, 2 to 4 classes (starts as XOR).",
        Task.BINARY,
        "xor_mlp",
        {
            "points": Option(EXAMPLE_POINTS, "x,y of every point, separated by spaces"),
            "labels": Option(EXAMPLE_LABELS, "the class of every point: 0 blue, 1 orange, 2 green, 3 red"),
        },
        _build_drawn,
        prepare_drawn,
    )
]
