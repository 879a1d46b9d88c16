"""Generated classroom sets: logic gates, 2-D point clouds and windowed time series (all seeded, all local)."""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from data.base import (
    Builtin,
    Dataset,
    DatasetError,
    Option,
    Task,
    assemble,
    bounds_of,
    ordered_split,
    rng_for,
    split_indices,
)

_CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
_GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "xor": [0, 1, 1, 0],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
}


def _sk_seed(seed: int) -> int:
    return int(rng_for(seed, 1).integers(2**31 - 1))


def _points(
    points: np.ndarray,
    labels: np.ndarray,
    seed: int,
    fractions: tuple[float, float],
    binary: bool,
    strata: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """A 2-D set: float32 points (N, 2); a (N, 1) float 0/1 target when ``binary``, else (N,) int64 classes."""
    points = points.astype(np.float32)
    labels = labels.astype(np.int64)
    indices = split_indices(len(points), seed, labels if strata is None else strata, fractions)
    target = labels.reshape(-1, 1).astype(np.float32) if binary else labels
    return [points], target, indices, {"classes": max(int(labels.max()) + 1, 2)}


def prepare_gates(
    seed: int, fractions: tuple[float, float], gate: str, repeat: int, noise: float
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """The unit square's 4 corners, ``repeat`` noisy copies each, labelled by the gate's truth table."""
    corner = np.tile(np.arange(4), repeat)
    points = _CORNERS[corner] + rng_for(seed, 1).normal(0.0, noise, size=(len(corner), 2))
    labels = np.asarray(_GATES[gate])[corner]
    return _points(points, labels, seed, fractions, True, corner)


def prepare_moons(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    from sklearn.datasets import make_moons

    points, labels = make_moons(n_samples, noise=noise, random_state=_sk_seed(seed))
    return _points(points, labels, seed, fractions, True)


def prepare_circles(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    from sklearn.datasets import make_circles

    points, labels = make_circles(n_samples, noise=noise, factor=0.5, random_state=_sk_seed(seed))
    return _points(points, labels, seed, fractions, True)


def prepare_spirals(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float, classes: int
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    rng = rng_for(seed, 1)
    per_class = max(n_samples // classes, 2)
    radius = np.tile(np.linspace(0.0, 1.0, per_class), classes)
    labels = np.repeat(np.arange(classes), per_class)
    # Each arm turns 4 radians from the centre, arms evenly rotated; noise jitters the angle (as in CS231n).
    angle = 2 * math.pi * labels / classes + 4.0 * radius + rng.normal(0.0, noise, size=len(radius))
    points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return _points(points, labels, seed, fractions, False)


def prepare_blobs(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float, classes: int
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    from sklearn.datasets import make_blobs

    points, labels = make_blobs(n_samples, centers=classes, cluster_std=noise, random_state=_sk_seed(seed))
    return _points(points, labels, seed, fractions, False)


def _points_dataset(
    name: str, description: str, prepared: tuple, binary: bool, template: str, **extras: object
) -> Dataset:
    inputs, target, indices, info = prepared
    n_classes = info["classes"]
    return assemble(
        inputs,
        target,
        indices,
        name=name,
        description=description,
        task=Task.BINARY if binary else Task.CLASSIFICATION,
        input_names=("x",),
        num_classes=n_classes,
        class_names=[str(c) for c in range(n_classes)],
        default_template=template,
        extras={"bounds": bounds_of(inputs[0]), **extras},
    )


def _build_gates(seed: int, fractions: tuple[float, float], gate: str, repeat: int, noise: float) -> Dataset:
    table = [(int(a), int(b), out) for (a, b), out in zip(_CORNERS, _GATES[gate])]
    description = (
        f"The {gate.upper()} gate: the 4 corners of the unit square, {repeat}× each with noise {noise:g}."
    )
    template = "xor_mlp" if gate == "xor" else "perceptron"
    return _points_dataset(
        "gates",
        description,
        prepare_gates(seed, fractions, gate, repeat, noise),
        True,
        template,
        truth_table=table,
        gate=gate,
    )


def _build_moons(seed: int, fractions: tuple[float, float], n_samples: int, noise: float) -> Dataset:
    return _points_dataset(
        "moons",
        f"Two interleaving half moons: {n_samples} points, noise {noise:g}.",
        prepare_moons(seed, fractions, n_samples, noise),
        True,
        "xor_mlp",
    )


def _build_circles(seed: int, fractions: tuple[float, float], n_samples: int, noise: float) -> Dataset:
    return _points_dataset(
        "circles",
        f"A circle inside a ring: {n_samples} points, noise {noise:g}.",
        prepare_circles(seed, fractions, n_samples, noise),
        True,
        "xor_mlp",
    )


def _build_spirals(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float, classes: int
) -> Dataset:
    prepared = prepare_spirals(seed, fractions, n_samples, noise, classes)
    description = f"{classes} interleaved spiral arms: {len(prepared[1])} points, noise {noise:g}."
    return _points_dataset("spirals", description, prepared, False, "")


def _build_blobs(
    seed: int, fractions: tuple[float, float], n_samples: int, noise: float, classes: int
) -> Dataset:
    return _points_dataset(
        "blobs",
        f"{classes} Gaussian blobs: {n_samples} points, spread {noise:g}.",
        prepare_blobs(seed, fractions, n_samples, noise, classes),
        False,
        "",
    )


def _windows(
    series: np.ndarray, window: int, seed: int, split: str, fractions: tuple[float, float]
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...]]:
    """Inputs (N, window, 1): ``window`` steps; target (N, 1): the step right after them. split="time" keeps
    val/test at the end of the series (overlapping windows would leak across a random split)."""
    series = series.astype(np.float32)
    x = sliding_window_view(series, window)[:-1].reshape(-1, window, 1).copy()
    y = series[window:].reshape(-1, 1)
    indices = (
        ordered_split(len(x), fractions) if split == "time" else split_indices(len(x), seed, None, fractions)
    )
    return [x], y, indices


def _check_length(name: str, n_points: int, window: int) -> None:
    if n_points < window + 20:
        raise DatasetError(
            f"{name}: option ‘n_points’ ({n_points}) must be at least window + 20 = {window + 20}"
        )


def prepare_sine(
    seed: int,
    fractions: tuple[float, float],
    n_points: int,
    window: int,
    period: float,
    noise: float,
    split: str,
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    _check_length("sine", n_points, window)
    steps = np.arange(n_points)
    phase = rng_for(seed, 1).uniform(0, 2 * math.pi)
    series = np.sin(2 * math.pi * steps / period + phase) + rng_for(seed, 3).normal(0.0, noise, n_points)
    return (*_windows(series, window, seed, split, fractions), {"series": series})


def prepare_seasonal(
    seed: int,
    fractions: tuple[float, float],
    n_points: int,
    window: int,
    period: float,
    noise: float,
    split: str,
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """A trend plus two seasonal waves and noise, standardized with the first 70 % of the series."""
    _check_length("seasonal", n_points, window)
    rng = rng_for(seed, 1)
    steps = np.arange(n_points)
    trend = 3.0 * steps / n_points  # rises by 3 over the whole series
    season = np.sin(2 * math.pi * steps / period) + 0.5 * np.sin(2 * math.pi * steps / (period / 4) + 1.0)
    raw = trend + season + rng.normal(0.0, noise, n_points)
    train_end = int(n_points * 0.7)
    mean, std = float(raw[:train_end].mean()), float(raw[:train_end].std())
    series = (raw - mean) / std
    return (
        *_windows(series, window, seed, split, fractions),
        {"series": series, "target_mean": mean, "target_std": std},
    )


def _windowed(name: str, description: str, prepared: tuple, window: int, split: str) -> Dataset:
    inputs, y, indices, info = prepared
    series = info.pop("series").astype(np.float32)
    return assemble(
        inputs,
        y,
        indices,
        name=name,
        description=description,
        task=Task.REGRESSION,
        input_names=("series",),
        default_template="gru_timeseries",
        # series[i + window] is the target of window i; with split="time" val/test start at these positions
        extras={
            "series": torch.tensor(series),
            "window": window,
            "split": split,
            "split_points": (int(indices[1][0]) + window, int(indices[2][0]) + window)
            if split == "time"
            else None,
            **info,
        },
    )


def _build_sine(
    seed: int,
    fractions: tuple[float, float],
    n_points: int,
    window: int,
    period: float,
    noise: float,
    split: str,
) -> Dataset:
    description = f"A sine wave (period {period:g} steps, noise {noise:g}): {window} steps → the next value."
    prepared = prepare_sine(seed, fractions, n_points, window, period, noise, split)
    return _windowed("sine", description, prepared, window, split)


def _build_seasonal(
    seed: int,
    fractions: tuple[float, float],
    n_points: int,
    window: int,
    period: float,
    noise: float,
    split: str,
) -> Dataset:
    description = (
        f"A noisy trend plus season (period {period:g}), standardized: {window} steps → the next value."
    )
    prepared = prepare_seasonal(seed, fractions, n_points, window, period, noise, split)
    return _windowed("seasonal", description, prepared, window, split)


_POINT_OPTIONS = {"n_samples": Option(500, "number of points", None, 20, 100_000)}
_SERIES_OPTIONS = {
    "n_points": Option(1000, "length of the series", None, 50, 1_000_000),
    "window": Option(30, "input steps per example", None, 2, 1000),
    "period": Option(40.0, "steps per cycle", None, 2, 10_000),
    "noise": Option(0.05, "standard deviation of the added noise", None, 0, 5),
    "split": Option(
        "time", "time: val/test are the end of the series; random: windows shuffled", ("time", "random")
    ),
}

BUILTINS = [
    Builtin(
        "gates",
        "Logic gates AND / OR / XOR (/ NAND / NOR) on the unit square's corners; one 0/1 output.",
        Task.BINARY,
        "xor_mlp",
        {
            "gate": Option("xor", "which truth table", tuple(_GATES)),
            "repeat": Option(20, "copies of each corner", None, 4, 100_000),
            "noise": Option(0.05, "jitter added to each copy", None, 0, 1),
        },
        _build_gates,
        prepare_gates,
    ),
    Builtin(
        "moons",
        "Two interleaving half moons (2-D points, 2 classes): a curved boundary.",
        Task.BINARY,
        "xor_mlp",
        {**_POINT_OPTIONS, "noise": Option(0.2, "point jitter", None, 0, 5)},
        _build_moons,
        prepare_moons,
    ),
    Builtin(
        "circles",
        "A circle inside a ring (2-D points, 2 classes): not linearly separable.",
        Task.BINARY,
        "xor_mlp",
        {**_POINT_OPTIONS, "noise": Option(0.1, "point jitter", None, 0, 5)},
        _build_circles,
        prepare_circles,
    ),
    Builtin(
        "spirals",
        "Interleaved spiral arms (2-D points, one class per arm): needs a deep boundary.",
        Task.CLASSIFICATION,
        "",
        {
            "n_samples": Option(600, "number of points", None, 20, 100_000),
            "noise": Option(0.2, "angle jitter", None, 0, 5),
            "classes": Option(3, "number of arms", None, 2, 10),
        },
        _build_spirals,
        prepare_spirals,
    ),
    Builtin(
        "blobs",
        "Gaussian blobs (2-D points, one class per blob).",
        Task.CLASSIFICATION,
        "",
        {
            "n_samples": Option(600, "number of points", None, 20, 100_000),
            "noise": Option(1.0, "spread of each blob", None, 0.01, 20),
            "classes": Option(3, "number of blobs", None, 2, 20),
        },
        _build_blobs,
        prepare_blobs,
    ),
    Builtin(
        "sine",
        "A noisy sine wave cut into windows: predict the next value (forecasting).",
        Task.REGRESSION,
        "gru_timeseries",
        _SERIES_OPTIONS,
        _build_sine,
        prepare_sine,
    ),
    Builtin(
        "seasonal",
        "A noisy trend + seasonal series cut into windows: predict the next value.",
        Task.REGRESSION,
        "gru_timeseries",
        {
            **_SERIES_OPTIONS,
            "period": Option(48.0, "steps per season", None, 4, 10_000),
            "noise": Option(0.2, "noise std", None, 0, 5),
        },
        _build_seasonal,
        prepare_seasonal,
    ),
]
