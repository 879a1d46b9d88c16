"""The real data sets a course trains on: MNIST, Fashion-MNIST, CIFAR-10 and Tiny Shakespeare.

Downloaded once (``data.fetch``), then read from their original files with numpy: IDX in gzip, CIFAR-10's binary
batches straight out of the tar.gz (nothing is extracted to disk and nothing is unpickled: the Python version of
CIFAR-10 is a pickle, so the binary one is used), the plain text. Images stay uint8 (a quarter of float32's
memory: 184 MB for CIFAR-10 instead of 737 MB) until a batch is formed, where ``data.base.model_input`` scales
them to [0, 1]. The official test images are the test set; the validation share comes out of the training images.
"""

from __future__ import annotations

import gzip
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from data.base import Builtin, Dataset, DatasetError, Option, Task, assemble, ordered_split, rng_for
from data.fetch import ensure, source_of

MAX_GUNZIP = 100_000_000  # bytes of one IDX file unpacked (MNIST's biggest is 47 MB)
CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte, then 1024 red, 1024 green, 1024 blue bytes
CIFAR_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
IMAGE_SETS = {  # name -> (channels, side, class names)
    "mnist": (1, 28, [str(d) for d in range(10)]),
    "fashion_mnist": (1, 28, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot"]),
    "cifar10": (3, 32, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip-compressed, as published) as a uint8 array of its dimensions."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read(MAX_GUNZIP + 1)
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path} is not a readable gzip file ({err})") from None
    if len(raw) > MAX_GUNZIP:
        raise DatasetError(f"{path} unpacks to more than {MAX_GUNZIP:,} bytes: not an MNIST-style file")
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DatasetError(f"{path} is not an IDX file of bytes (its header is {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if ndim == 0 or len(raw) != header + int(np.prod(dims)):
        raise DatasetError(f"{path}: the IDX header says {dims} but the file holds {len(raw) - header:,} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_cifar_binary(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train images, labels), (test images, labels)) from cifar-10-binary.tar.gz, read in memory: only the six
    batch files are read, each a regular file of whole 3,073-byte records."""
    parts = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for name in CIFAR_BATCHES:
                member = archive.getmember(f"cifar-10-batches-bin/{name}")
                if not member.isfile() or member.size % CIFAR_RECORD or member.size > 10_000 * CIFAR_RECORD:
                    raise DatasetError(f"{path}: {name} is not a batch of CIFAR-10 records")
                handle = archive.extractfile(member)
                records = np.frombuffer(handle.read(), dtype=np.uint8).reshape(-1, CIFAR_RECORD)
                parts[name] = (records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64))
    except KeyError as err:
        raise DatasetError(f"{path} lacks {err.args[0]}: not the binary version of CIFAR-10") from None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetError(f"{path} is not a readable tar.gz file ({err})") from None
    train = [parts[n] for n in CIFAR_BATCHES[:-1]]
    return ((np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), parts["test_batch.bin"])


def official_split(train_labels: np.ndarray, n_test: int, seed: int,
                   val_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The published test images as the test set; ``val_fraction`` of each class's training images (seeded)
    for validation, the rest for training."""
    rng = rng_for(seed, 2)
    val = [rng.permutation(np.flatnonzero(train_labels == c)) for c in np.unique(train_labels)]
    val = np.concatenate([v[:max(1, int(round(len(v) * val_fraction)))] for v in val])
    train = np.setdiff1d(np.arange(len(train_labels)), val)
    test = np.arange(len(train_labels), len(train_labels) + n_test, dtype=np.int64)
    return rng.permutation(train).astype(np.int64), rng.permutation(val).astype(np.int64), test


def prepare_images(
    name: str, seed: int, fractions: tuple[float, float], flat: bool = False
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Images (N, C, H, W) as uint8, or flat (N, C·H·W) for an MLP, and their labels: the official training
    images then the test images."""
    files = ensure(name)
    stamp = tuple((key, str(path), path.stat().st_mtime_ns) for key, path in sorted(files.items()))
    train_x, train_y, test_x, test_y = _read_images(name, stamp)
    indices = official_split(train_y, len(test_y), seed, fractions[0])
    images = np.concatenate([train_x, test_x])
    return [images.reshape(len(images), -1) if flat else images], np.concatenate([train_y, test_y]), indices, {}


@lru_cache(maxsize=2)
def _read_images(name: str, stamp: tuple[tuple[str, str, int], ...]) -> tuple[np.ndarray, ...]:
    """(train images, labels, test images, labels) from the files in ``stamp`` (name, path, mtime): parsed once
    per process while the files stay the same (CIFAR-10's gzip alone takes seconds), returned read-only."""
    files = {key: Path(path) for key, path, _ in stamp}
    if name == "cifar10":
        (train_x, train_y), (test_x, test_y) = read_cifar_binary(files["cifar-10-binary.tar.gz"])
    else:
        train_x, test_x = (read_idx(files[f"{p}-images-idx3-ubyte.gz"])[:, None] for p in ("train", "t10k"))
        train_y, test_y = (read_idx(files[f"{p}-labels-idx1-ubyte.gz"]).astype(np.int64) for p in ("train", "t10k"))
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DatasetError(f"{name}: the files hold different numbers of images and labels")
    for array in (train_x, train_y, test_x, test_y):
        array.setflags(write=False)
    return train_x, train_y, test_x, test_y


def prepare_shakespeare(
    seed: int, fractions: tuple[float, float], length: int
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """The text cut into windows of ``length`` characters (ids; 0 is padding), each target the window one
    character on; split in reading order (windows side by side would leak across a random split)."""
    raw = np.frombuffer(ensure("shakespeare")["input.txt"].read_bytes(), dtype=np.uint8)
    alphabet = np.unique(raw)
    ids = np.searchsorted(alphabet, raw).astype(np.int64) + 1
    count = (len(ids) - 1) // length
    if count < 3:
        raise DatasetError(f"shakespeare: the text is too short for windows of {length} characters")
    tokens = ids[:count * length].reshape(count, length)
    target = ids[1:count * length + 1].reshape(count, length)
    return [tokens], target, ordered_split(count, fractions), {"vocab": ["<pad>", *(chr(b) for b in alphabet)]}


def _build_images(name: str, seed: int, fractions: tuple[float, float], flat: bool) -> Dataset:
    inputs, labels, indices, _ = prepare_images(name, seed, fractions, flat)
    channels, side, classes = IMAGE_SETS[name]
    if inputs[0].shape[1:] != ((channels * side * side,) if flat else (channels, side, side)):
        raise DatasetError(f"{name}: expected images of {channels}×{side}×{side}, the files hold "
                           f"{'×'.join(map(str, inputs[0].shape[1:]))}")
    title = source_of(name).title
    return assemble(inputs, labels, indices, name=name, task=Task.CLASSIFICATION, input_names=("x",),
                    description=f"{title}: {len(indices[0]) + len(indices[1]):,} training and {len(indices[2]):,} "
                    f"test images of {channels}×{side}×{side}, {len(classes)} classes; downloaded once.",
                    num_classes=len(classes), class_names=classes, default_template=_TEMPLATES[name])


def _build_shakespeare(seed: int, fractions: tuple[float, float], length: int) -> Dataset:
    inputs, target, indices, info = prepare_shakespeare(seed, fractions, length)
    return assemble(inputs, target, indices, name="shakespeare", task=Task.SEQUENCE, input_names=("tokens",),
                    description=f"Tiny Shakespeare: {len(target):,} windows of {length} characters; predict each "
                    f"next character ({len(info['vocab']) - 1} distinct); downloaded once.",
                    vocab_size=len(info["vocab"]), pad_id=0, vocab=info["vocab"], default_template="nanogpt_tiny")


_TEMPLATES = {"mnist": "lenet5", "fashion_mnist": "lenet5", "cifar10": "cifar_cnn"}
_DESCRIPTIONS = {
    "mnist": "MNIST: 70,000 handwritten digits, 1×28×28; downloaded once (11 MB).",
    "fashion_mnist": "Fashion-MNIST: 70,000 photos of clothes in 10 classes, 1×28×28; downloaded once (31 MB).",
    "cifar10": "CIFAR-10: 60,000 colour photos in 10 classes, 3×32×32; downloaded once (170 MB).",
}

BUILTINS = [
    *(Builtin(name, _DESCRIPTIONS[name], Task.CLASSIFICATION, _TEMPLATES[name],
              {"flat": Option(False, "True: each image as one vector of pixels, for an MLP; False: C×H×W images")},
              lambda seed, fractions, flat, _name=name: _build_images(_name, seed, fractions, flat), prepare_images,
              (("name", name),))
      for name in IMAGE_SETS),
    Builtin("shakespeare", "Tiny Shakespeare: 1.1 million characters of plays, for next-character prediction; "
            "downloaded once (1 MB).", Task.SEQUENCE, "nanogpt_tiny",
            {"length": Option(64, "characters per window", None, 4, 1024)}, _build_shakespeare, prepare_shakespeare),
]
