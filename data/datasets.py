"""Built-in datasets for the training engine: a registry of named, seeded, locally generated or shipped sets.

    >>> data = load_dataset("digits", seed=0, flat=True)
    >>> data.train.inputs[0].shape, data.train.target.dtype
    (torch.Size([1257, 64]), torch.int64)

MNIST, Fashion-MNIST, CIFAR-10 and Tiny Shakespeare are downloaded once (``data.realsets``); every other set is
generated or ships in a package. The types live in ``data.base`` and are re-exported here; the user's own
CSV files and image zips are read by ``data.userdata``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data import drawn, lm, realsets, sklearn_sets, text, toy
from data.base import FRACTIONS, Builtin, Dataset, DatasetError, DatasetInfo, Option, Split, Task

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "Option",
    "Split",
    "Task",
    "dataset_info",
    "dataset_names",
    "load_dataset",
    "suggest_options",
]


def _registry() -> dict[str, Builtin]:
    registry: dict[str, Builtin] = {}
    for builtin in (*sklearn_sets.BUILTINS, *realsets.BUILTINS, *toy.BUILTINS, *drawn.BUILTINS, *text.BUILTINS,
                    *lm.BUILTINS):
        if builtin.name in registry:  # a silent overwrite would hide a whole dataset
            raise RuntimeError(f"dataset {builtin.name!r} registered twice")
        registry[builtin.name] = builtin
    return registry


_REGISTRY = _registry()


def dataset_names() -> list[str]:
    """Every built-in dataset name, in catalogue order (real sets first, then classroom sets, then tokens)."""
    return list(_REGISTRY)


def _builtin(name: str) -> Builtin:
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        raise DatasetError(f"no dataset named ‘{name}’; choose one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def dataset_info(name: str) -> DatasetInfo:
    """Description, task, default template and options of a dataset, without loading it."""
    return _builtin(name).info()


def load_dataset(name: str, seed: int = 0, fractions: tuple[float, float] = FRACTIONS, **options: Any) -> Dataset:
    """The named dataset split ~70/15/15 (seeded, stratified for classes; ``fractions`` are the validation
    and test shares); DatasetError for a bad name/option.

    Each call returns new tensors, so callers may move or modify them freely.
    """
    builtin = _builtin(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"{builtin.name}: the seed must be an integer, got {seed!r}")
    return builtin.build(int(seed), _fractions(builtin.name, fractions), **builtin.resolve(options))


def _fractions(name: str, fractions: Any) -> tuple[float, float]:
    try:
        val, test = (float(f) for f in fractions)
    except (TypeError, ValueError):
        raise DatasetError(f"{name}: the split fractions must be two numbers (validation, test), "
                           f"got {fractions!r}") from None
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise DatasetError(f"{name}: the validation and test shares must be above 0 and leave data to train "
                           f"on, got {val:g} and {test:g}")
    return val, test


def builtin_of(name: str) -> Builtin:
    """The registered dataset ``name`` (its preparation function travels into exported scripts)."""
    return _builtin(name)


def suggest_options(
    name: str, input_shapes: list[tuple[int, ...]] | tuple[tuple[int, ...], ...]
) -> dict[str, Any]:
    """Options that make dataset ``name`` produce inputs of ``input_shapes`` (a model's Input nodes, no batch).

    Lets a template drawn for 28×28 or 784 inputs train on digits, a seq2seq model of length 12 on reverse,
    or a GRU with a 50-step window on sine. Returns {} when no option helps (the engine then reports the
    mismatch). Only the first input's shape is used except for the two-input sequence tasks.
    """
    if not input_shapes:
        return {}
    shape = tuple(int(s) for s in input_shapes[0])
    key = str(name).strip().lower()
    if key == "digits":
        return _digit_options(shape)
    if key in ("reverse", "copy", "sort", "sentiment") and len(shape) == 1:
        return {"length": shape[0]}
    if key in ("mnist", "fashion_mnist", "cifar10"):  # fixed sizes: only the layout can follow the model
        return {"flat": len(shape) == 1}
    if key == "shakespeare" and len(shape) == 1 and 4 <= shape[0] <= 1024:
        return {"length": shape[0]}
    if key == "next_token" and len(shape) == 1 and shape[0] % 2 == 1:
        return {"length": (shape[0] - 1) // 2}  # 2·length + 1 tokens
    if key in ("sine", "seasonal") and len(shape) == 2 and shape[1] == 1:
        return {"window": shape[0]}
    return {}


def _digit_options(shape: tuple[int, ...]) -> dict[str, Any]:
    if len(shape) == 3 and shape[1] == shape[2] and shape[0] in (1, 3) and 8 <= shape[1] <= 64:
        return {"flat": False, "size": shape[1], "channels": shape[0]}
    if len(shape) == 1:
        for channels in (1, 3):
            side = round((shape[0] / channels) ** 0.5)
            if side * side * channels == shape[0] and 8 <= side <= 64:
                return {"flat": True, "size": side, "channels": channels}
    return {}
