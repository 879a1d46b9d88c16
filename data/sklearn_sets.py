"""The real data sets that ship inside scikit-learn: digits, iris, wine, breast_cancer, diabetes.

The raw arrays are cached (read once per process, never mutated); every load builds new tensors.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from data.base import (
    Builtin,
    Dataset,
    Option,
    Task,
    assemble,
    split_indices,
    standardize,
)


@cache
def _raw(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(features, target, feature names, class names) exactly as scikit-learn ships them; read-only."""
    from sklearn import datasets as sk  # imported late: sklearn costs ~0.5 s at import

    bunch = getattr(sk, f"load_{name}")()
    features = np.asarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target)
    features.setflags(write=False)
    target.setflags(write=False)
    classes = tuple(str(c) for c in getattr(bunch, "target_names", ()))
    return features, target, tuple(str(f) for f in bunch.feature_names), classes


def _digit_images(size: int, channels: int) -> np.ndarray:
    """(N, channels, size, size) float32 in [0, 1]; upsampled with bilinear interpolation when size > 8."""
    pixels, _, _, _ = _raw("digits")
    images = torch.tensor(pixels / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp_(0.0, 1.0).repeat(1, channels, 1, 1).numpy()


def prepare_digits(
    seed: int, fractions: tuple[float, float], flat: bool, size: int, channels: int, task: str
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Digit images (or flat pixels) and their labels, split stratified; for reconstruction the target is x."""
    _, labels, _, _ = _raw("digits")
    labels = labels.astype(np.int64)
    images = _digit_images(size, channels)
    x = images.reshape(len(images), -1) if flat else images
    indices = split_indices(len(x), seed, labels, fractions)
    if task == "reconstruction":
        return [x], x, indices, {"labels": labels}
    return [x], labels, indices, {}


def prepare_tabular(
    name: str, seed: int, fractions: tuple[float, float]
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """A scikit-learn classification table, features standardized with the training rows' statistics."""
    features, target, feature_names, classes = _raw(name)
    labels = target.astype(np.int64)
    indices = split_indices(len(features), seed, labels, fractions)
    x, _, _ = standardize(features, indices[0])
    return [x], labels, indices, {"feature_names": list(feature_names), "classes": list(classes)}


def prepare_diabetes(
    seed: int, fractions: tuple[float, float]
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Diabetes progression; features and target standardized with the training rows' statistics."""
    features, target, feature_names, _ = _raw("diabetes")
    indices = split_indices(len(features), seed, None, fractions)
    x, _, _ = standardize(features, indices[0])
    y, mean, std = standardize(target.reshape(-1, 1), indices[0])
    # target = (value - mean) / std: multiply an RMSE by std to report it in disease-progression units
    info = {"feature_names": list(feature_names), "target_mean": float(mean[0]), "target_std": float(std[0])}
    return [x], y, indices, info


def _build_digits(seed: int, fractions: tuple[float, float], flat: bool, size: int, channels: int,
                  task: str) -> Dataset:
    inputs, target, indices, info = prepare_digits(seed, fractions, flat, size, channels, task)
    shape_text = "×".join(map(str, inputs[0].shape[1:]))
    common = dict(name="digits", input_names=("x",), class_names=[str(d) for d in range(10)])
    if task == Task.RECONSTRUCTION.value:
        labels = info["labels"]
        extras = {"labels": {part: torch.tensor(labels[idx]) for part, idx in zip(("train", "val", "test"), indices)}}
        return assemble(inputs, target, indices, task=Task.RECONSTRUCTION, default_template="autoencoder",
                        description=f"Handwritten digits ({shape_text}) to reconstruct: the target is the input.",
                        extras=extras, **common)
    return assemble(
        inputs, target, indices, task=Task.CLASSIFICATION, num_classes=10,
        description=f"1,797 real handwritten digits from scikit-learn as {shape_text} pixels in [0, 1]; 10 classes.",
        default_template="digits_mlp" if flat else "digits_cnn", **common)


def _build_tabular(name: str, seed: int, fractions: tuple[float, float]) -> Dataset:
    inputs, labels, indices, info = prepare_tabular(name, seed, fractions)
    classes = info.pop("classes")
    return assemble(inputs, labels, indices, name=name, description=_DESCRIPTIONS[name], task=Task.CLASSIFICATION,
                    input_names=("x",), num_classes=len(classes), class_names=classes, extras=info)


def _build_diabetes(seed: int, fractions: tuple[float, float]) -> Dataset:
    inputs, y, indices, info = prepare_diabetes(seed, fractions)
    return assemble(inputs, y, indices, name="diabetes", description=_DESCRIPTIONS["diabetes"],
                    task=Task.REGRESSION, input_names=("x",), extras=info)


_DESCRIPTIONS = {
    "iris": "Iris flowers (scikit-learn): 150 examples, 4 standardized measurements, 3 species.",
    "wine": "Wines (scikit-learn): 178 examples, 13 standardized chemical measurements, 3 cultivars.",
    "breast_cancer": "Breast tumours (scikit-learn): 569 examples, 30 standardized features, malignant or benign.",
    "diabetes": "Diabetes progression (scikit-learn): 442 patients, 10 standardized features; "
    "predict the standardized progression one year later.",
}

_DIGIT_OPTIONS = {
    "flat": Option(False, "True: 64 (or size×size) values per image for an MLP; False: 1×8×8 images"),
    "size": Option(
        8, "image side in pixels; above 8 the images are upsampled (28 fits LeNet-5)", None, 8, 64
    ),
    "channels": Option(1, "colour channels (3 repeats the grey image, for RGB models)", None, 1, 3),
    "task": Option(
        "classification",
        "classification, or reconstruction (target = input)",
        ("classification", "reconstruction"),
    ),
}

BUILTINS = [
    Builtin(
        "digits",
        "1,797 real 8×8 handwritten digits shipped in scikit-learn, as images (1×8×8) or flat (64); 10 classes.",
        Task.CLASSIFICATION,
        "digits_cnn",
        _DIGIT_OPTIONS,
        _build_digits,
        prepare_digits,
    ),
    *(
        Builtin(
            name,
            _DESCRIPTIONS[name],
            Task.CLASSIFICATION,
            "",
            {},
            lambda seed, fractions, _name=name: _build_tabular(_name, seed, fractions),
            prepare_tabular,
            (("name", name),),
        )
        for name in ("iris", "wine", "breast_cancer")
    ),
    Builtin("diabetes", _DESCRIPTIONS["diabetes"], Task.REGRESSION, "", {}, _build_diabetes, prepare_diabetes),
]
