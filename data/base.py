"""Value types shared by the built-in datasets and the user's own data, and the seeded split.

Every loader returns fresh tensors: raw arrays may be cached (they are never mutated), tensors never are, so
one caller's in-place edits can't leak into another's data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch

FRACTIONS = (0.15, 0.15)  # validation and test shares: the defaults of the val/test_fraction training settings
# Test examples every class keeps when it has enough rows. Below 5, one example moves that class's share of the
# accuracy by 20 % or more: a 3-example test set scores only 0, 1/3, 2/3 or 1, which says nothing about the model.
MIN_PER_CLASS = 5


class DatasetError(ValueError):
    """A dataset can't be built: unknown name, bad option, unusable user file. The message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Task(str, Enum):
    CLASSIFICATION = "classification"  # target int64 (N,), one logit per class
    BINARY = "binary"  # target float32 (N, 1) of 0/1, one logit
    REGRESSION = "regression"  # target float32 (N, k)
    SEQUENCE = "sequence"  # target int64 (N, T) token ids, pad_id where ignored
    RECONSTRUCTION = "reconstruction"  # target float32, same shape as the input


@dataclass
class Split:
    inputs: tuple[torch.Tensor, ...]  # one tensor per model input, float32 or int64 (token ids), on CPU
    target: torch.Tensor

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass
class Dataset:
    name: str
    description: str
    task: Task
    input_shapes: tuple[tuple[int, ...], ...]  # per input, without batch
    input_dtypes: tuple[str, ...]  # "float" | "long"
    input_names: tuple[str, ...]  # e.g. ("x",), ("src", "tgt")
    train: Split
    val: Split
    test: Split
    num_classes: int | None = None  # classification; 2 for BINARY (which still has one logit)
    class_names: list[str] | None = None
    vocab_size: int | None = None
    pad_id: int | None = None
    vocab: list[str] | None = None  # id -> token text
    default_template: str = ""
    # Plotting and reporting aids: "bounds" (2-D sets), "series" (time series), "target_mean"/"target_std"
    # (standardized regression targets), "feature_names", "notes" (what a user-data loader changed).
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """One dataset option: its default and the values it accepts (the UI builds its widget from this)."""

    default: Any
    doc: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, dataset: str, name: str, value: Any) -> Any:
        """``value`` as the default's type (CLI options arrive as strings); DatasetError when it doesn't fit."""
        kind = type(self.default)
        try:
            converted = _convert(kind, value)
        except (TypeError, ValueError):
            raise DatasetError(f"{dataset}: option ‘{name}’ {self._expects()}, got {value!r}") from None
        if self.choices is not None and converted not in self.choices:
            raise DatasetError(f"{dataset}: option ‘{name}’ {self._expects()}, got {value!r}")
        low_ok = self.minimum is None or converted >= self.minimum
        if not low_ok or (self.maximum is not None and converted > self.maximum):
            raise DatasetError(f"{dataset}: option ‘{name}’ {self._expects()}, got {value!r}")
        return converted

    def _expects(self) -> str:
        if self.choices is not None:
            return "must be one of " + ", ".join(self.choices)
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(type(self.default), "text")
        if self.minimum is not None and self.maximum is not None:
            return f"must be {kind} from {self.minimum:g} to {self.maximum:g}"
        return f"must be {kind}"


def _convert(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ValueError(value)
    if kind is int:
        number = float(value)  # accepts "8", 8.0; refuses 8.5 below
        if isinstance(value, bool) or not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value)
        if not np.isfinite(number):
            raise ValueError(value)
        return number
    return str(getattr(value, "value", value)).strip().lower()  # Task.RECONSTRUCTION -> "reconstruction"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    task: Task
    default_template: str
    options: dict[str, Any]  # option name -> default
    specs: dict[str, Option] = field(default_factory=dict)  # option name -> what it accepts


@dataclass(frozen=True)
class Builtin:
    """A registered dataset: ``build(seed, fractions, **options)`` gets every option, already checked.

    ``prepare`` (with ``fixed`` arguments) is its preparation as a plain function of numpy, torch, pandas and
    scikit-learn only, returning (inputs, target, split indices, info): the app wraps it in a Dataset and an
    exported training script carries its source, so both train on the same numbers.
    """

    name: str
    description: str
    task: Task
    default_template: str
    options: dict[str, Option]
    build: Callable[..., Dataset]
    prepare: Callable[..., Any] | None = None
    fixed: tuple[tuple[str, Any], ...] = ()

    def info(self) -> DatasetInfo:
        defaults = {k: o.default for k, o in self.options.items()}
        return DatasetInfo(
            self.name, self.description, self.task, self.default_template, defaults, self.options
        )

    def resolve(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise DatasetError(f"{self.name}: unknown option ‘{unknown[0]}’ (options: {known})")
        values = {k: o.default for k, o in self.options.items()}
        for key, value in options.items():
            values[key] = self.options[key].coerce(self.name, key, value)
        return values


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """Independent streams for generating data (1) and splitting it (2): changing one never shifts the other."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, stream])


def split_indices(
    n: int, seed: int, labels: np.ndarray | None = None, fractions: tuple[float, float] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/val/test indices (~70/15/15: ``fractions`` are val and test), stratified by ``labels``, seeded.

    Per class we round the val/test share; a class too small to share stays in train (a user's CSV may have
    a class with one row, where sklearn's stratified split would refuse). Val and test are never empty.
    Stratified, every class keeps at least MIN_PER_CLASS test examples while one still remains for training;
    a class too small for that keeps what it can, and ``small_split`` says so.
    """
    rng = rng_for(seed, 2)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        order = rng.permutation(group)
        n_val = int(round(len(order) * fractions[0]))
        n_test = int(round(len(order) * fractions[1]))
        if len(order) - n_val - n_test < 1:  # keep at least one example of every class for training
            n_val = n_test = (len(order) - 1) // 2
        if labels is not None and fractions[1] > 0:  # enough test examples to judge each class by
            n_test = max(n_test, min(MIN_PER_CLASS, len(order) - n_val - 1))
        parts[0].append(order[n_val + n_test :])
        parts[1].append(order[:n_val])
        parts[2].append(order[n_val : n_val + n_test])
    train, val, test = (np.concatenate(p).astype(np.int64) for p in parts)
    train, val = _never_empty(train, val, rng)
    train, test = _never_empty(train, test, rng)
    return rng.permutation(train), rng.permutation(val), rng.permutation(test)


def _never_empty(
    train: np.ndarray, other: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if len(other) or len(train) < 2:
        return train, other
    pick = int(rng.integers(len(train)))
    return np.delete(train, pick), train[pick : pick + 1]


def small_split(split: Split, task: Task, class_names: Sequence[str] | None, num_classes: int | None = None,
                what: str = "test") -> str | None:
    """Why ``split`` is too small to judge a model by, in words; None when it is not. Classes: a class with
    fewer than MIN_PER_CLASS examples in it; other tasks: fewer than 2 × MIN_PER_CLASS examples."""
    if task in (Task.CLASSIFICATION, Task.BINARY):
        counts = np.bincount(split.target.reshape(-1).long().numpy(), minlength=max(len(class_names or ()), num_classes or 0))
        thin = [(c, int(k)) for c, k in enumerate(counts) if k < MIN_PER_CLASS]
        if not thin:
            return None
        names = list(class_names or [])
        listed = ", ".join(f"{k} of ‘{names[c] if c < len(names) else c}’" for c, k in thin)
        return (f"The {what} set holds only {listed} (fewer than {MIN_PER_CLASS} per class): too few to tell a "
                f"good model from a lucky one. More data would give every class {MIN_PER_CLASS}.")
    if len(split) < 2 * MIN_PER_CLASS:
        return (f"The {what} set holds only {len(split)} examples (fewer than {2 * MIN_PER_CLASS}): too few to "
                "tell a good model from a lucky one.")
    return None


def ordered_split(
    n: int, fractions: tuple[float, float] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chronological 70/15/15 split (time series: overlapping windows would leak across a random split)."""
    n_test = max(1, int(round(n * fractions[1])))
    n_val = max(1, int(round(n * fractions[0])))
    idx = np.arange(n, dtype=np.int64)
    return idx[: n - n_val - n_test], idx[n - n_val - n_test : n - n_test], idx[n - n_test :]


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """A new CPU tensor (float32, int64 ids, or uint8 pixels) that owns its memory."""
    array = np.asarray(array)
    if array.dtype == np.uint8:  # pixels stay bytes until a batch is formed (``model_input``)
        return torch.tensor(array, dtype=torch.uint8)
    dtype = torch.int64 if np.issubdtype(array.dtype, np.integer) else torch.float32
    return torch.tensor(array, dtype=dtype)


def model_input(tensor: torch.Tensor) -> torch.Tensor:
    """What a model is given: uint8 pixels as float32 in [0, 1] (done per batch: a data set keeps a quarter
    of float32's memory), anything else as it is."""
    return tensor.float().div_(255.0) if tensor.dtype == torch.uint8 else tensor


def make_splits(
    inputs: Sequence[np.ndarray], target: np.ndarray, indices: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[Split, Split, Split]:
    """Index every array by each split's indices; each split gets its own tensors."""
    return tuple(  # type: ignore[return-value]
        Split(tuple(to_tensor(x[idx]) for x in inputs), to_tensor(target[idx])) for idx in indices
    )


def input_meta(inputs: Sequence[np.ndarray]) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """Per-input shape without the batch dimension, and "float" | "long" (uint8 pixels reach the model as float)."""
    shapes = tuple(tuple(int(s) for s in x.shape[1:]) for x in inputs)
    dtypes = tuple("long" if np.issubdtype(x.dtype, np.integer) and x.dtype != np.uint8 else "float" for x in inputs)
    return shapes, dtypes


def standardize(features: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features scaled by the training rows' mean and std (constant columns are only centred)."""
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return ((features - mean) / std).astype(np.float32), mean, std


def bounds_of(points: np.ndarray, margin: float = 0.1) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x_min, x_max), (y_min, y_max)) around 2-D points, widened by ``margin`` of the range."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * margin + 1e-6
    return (
        (float(low[0] - pad[0]), float(high[0] + pad[0])),
        (float(low[1] - pad[1]), float(high[1] + pad[1])),
    )


def assemble(
    inputs: Sequence[np.ndarray],
    target: np.ndarray,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray],
    **fields: Any,
) -> Dataset:
    """A Dataset from whole arrays and split indices: the splits, input shapes and dtypes follow from them."""
    train, val, test = make_splits(inputs, target, indices)
    shapes, dtypes = input_meta(inputs)
    note = small_split(test, Task(fields["task"]), fields.get("class_names"), fields.get("num_classes"))
    if note:  # shown with the data (``ui.train.train_data.render_preview``) and taken into account by the results
        extras = dict(fields.get("extras") or {})
        fields["extras"] = {**extras, "notes": [*(extras.get("notes") or []), note]}
    return Dataset(input_shapes=shapes, input_dtypes=dtypes, train=train, val=val, test=test, **fields)
