"""The data loaders a generated training script can carry, one small function each.

Every loader is fixed text written here (no user text inside): it defines ``load_builtin(seed)`` returning
``(inputs, target)`` in the data's natural shape — features (N, F) float or token ids (N, T) long, and class
ids (N,) long or values (N, k) float. The script's common code splits, scales and reshapes them for the model.
Values that depend on the model (sizes, vocabularies) go in through ``literal()`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from string import Template
from typing import Any

from codegen.source import literal


class DataKind(str, Enum):
    CLASSES = "classes"  # a class id per sample
    VALUES = "values"  # real-valued targets
    SEQUENCE = "sequence"  # a token id per position


@dataclass(frozen=True)
class ScriptDataset:
    name: str
    description: str
    kind: DataKind
    features: int | None  # values per sample; None when they follow the model (windows, token sequences)
    classes: int | None = None
    targets: int = 1  # values per sample for DataKind.VALUES
    tokens: bool = False  # inputs are token ids
    standardize: bool = False  # scale each feature with the training split's mean and std
    options: tuple[str, ...] = ()  # dataset_options the loader accepts


DATASETS: dict[str, ScriptDataset] = {d.name: d for d in (
    ScriptDataset("digits", "scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes)", DataKind.CLASSES, 64, 10,
                  options=("flat", "size", "task")),
    ScriptDataset("iris", "scikit-learn's iris flowers (150 samples, 4 features, 3 classes)", DataKind.CLASSES, 4, 3,
                  standardize=True),
    ScriptDataset("wine", "scikit-learn's wine recognition set (178 samples, 13 features, 3 classes)",
                  DataKind.CLASSES, 13, 3, standardize=True),
    ScriptDataset("breast_cancer", "scikit-learn's breast cancer set (569 samples, 30 features, 2 classes)",
                  DataKind.CLASSES, 30, 2, standardize=True),
    ScriptDataset("diabetes", "scikit-learn's diabetes progression set (442 samples, 10 features, standardized target)",
                  DataKind.VALUES, 10, standardize=True),
    ScriptDataset("moons", "two interleaving half circles (1,000 points, 2 classes)", DataKind.CLASSES, 2, 2,
                  options=("n_samples", "noise")),
    ScriptDataset("circles", "a circle inside a circle (1,000 points, 2 classes)", DataKind.CLASSES, 2, 2,
                  options=("n_samples", "noise")),
    ScriptDataset("spirals", "interleaved spiral arms, one class per arm (2-D points)", DataKind.CLASSES, 2, 3,
                  options=("n_samples", "noise", "classes")),
    ScriptDataset("blobs", "Gaussian blobs, one class per blob (2-D points)", DataKind.CLASSES, 2, 3,
                  options=("n_samples", "noise", "classes")),
    ScriptDataset("gates", "a logic gate's truth table, repeated with a little noise (2 classes)", DataKind.CLASSES, 2, 2,
                  options=("gate", "noise")),
    ScriptDataset("sine", "windows of a noisy sine wave; predict the next value", DataKind.VALUES, None),
    ScriptDataset("seasonal", "windows of a noisy trend plus season, standardized; predict the next value",
                  DataKind.VALUES, None),
    ScriptDataset("reverse", "random symbol sequences; the target is the sequence reversed", DataKind.SEQUENCE, None,
                  tokens=True),
    ScriptDataset("copy", "random symbol sequences; the target is the same sequence", DataKind.SEQUENCE, None,
                  tokens=True),
    ScriptDataset("sort", "random symbol sequences; the target is the sequence sorted", DataKind.SEQUENCE, None,
                  tokens=True),
    ScriptDataset("csv", "your CSV file (--csv FILE --target COLUMN)", DataKind.CLASSES, None, standardize=True),
    ScriptDataset("sentiment", "generated sentences of word ids with positive/negative words and negation (2 classes)",
                  DataKind.CLASSES, None, 2, tokens=True),
)}

_DIGITS = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """scikit-learn's 8×8 digits (shipped inside scikit-learn), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)$resize
    return (x,), y
'''

_RESIZE = '''
    # The model wants $side×$side images: upsample the 8×8 pixels.
    x = nn.functional.interpolate(x.reshape(-1, 1, 8, 8), size=($side, $side), mode="bilinear", align_corners=False)
    x = x.reshape(len(x), -1)'''

_COLOUR = '''
    x = x.reshape(-1, 1, $side, $side).repeat(1, 3, 1, 1)  # grey to the 3 colour channels the model expects'''

_SKLEARN = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """$doc."""
    from sklearn.datasets import $function

    data = $function()
    x = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=$dtype)$scale
    return (x,), $target
'''

_SHAPES = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """$doc."""
    from sklearn.datasets import $function

    x, y = $function(n_samples=$n_samples, noise=$noise, random_state=seed$extra)
    return (torch.tensor(x, dtype=torch.float32),), torch.tensor(y, dtype=torch.long)
'''

_GATES = '''
GATE = $gate  # and | or | xor | nand | nor


def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """The four corners of the unit square, each repeated 64 times with a little noise; the label is GATE's output."""
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    truth = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0], "nand": [1, 1, 1, 0], "nor": [1, 0, 0, 0]}
    generator = torch.Generator().manual_seed(seed)
    x = corners.repeat(64, 1) + $noise * torch.randn(256, 2, generator=generator)
    y = torch.tensor(truth[GATE], dtype=torch.long).repeat(64)
    return (x,), y
'''

_SINE = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Windows of $window steps of $what; the target is the value right after each window."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(2000, dtype=torch.float32)
    $series
    windows = series.unfold(0, $window + 1, 1)  # (N, window + 1)
    x = windows[:, :-1].unsqueeze(-1)  # (N, window, 1)
    return (x,), windows[:, -1:]
'''

_REVERSE = '''
BOS = 1  # start-of-sequence token id; 0 is padding (PAD_ID) and the symbols are 2 and up


def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Random symbol sequences of length $length; the target is the sequence $how.

    The decoder reads the target shifted right behind a BOS token (teacher forcing).
    """
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(2, $vocab, (4000, $length), generator=generator)
    target = $target
    tgt = torch.cat([torch.full((len(src), 1), BOS), target[:, :-1]], dim=1)
    return (src, tgt), target
'''

_SENTIMENT = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Generated "sentences" of word ids, padded with 0 at the front to $length words.

    Ids 2-11 are positive words, 12-21 negative words, 22 is "not" (it flips the next word) and the rest are
    neutral. A sentence is positive (class 1) when its positive words outweigh its negative ones.
    """
    generator = torch.Generator().manual_seed(seed)
    n, length = 4000, $length
    x = torch.zeros(n, length, dtype=torch.long)
    y = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        size = int(torch.randint(7, length + 1, (1,), generator=generator))
        words = torch.randint(23, $neutral_end, (size,), generator=generator)
        count = 1 + 2 * int(torch.randint(0, 2, (1,), generator=generator))  # 1 or 3: never a tie
        spots = 1 + 2 * torch.randperm((size - 1) // 2, generator=generator)[:count]  # odd: room for a "not"
        score = 0
        for spot in spots.tolist():
            sign = 1 if int(torch.randint(0, 2, (1,), generator=generator)) else -1
            words[spot] = int(torch.randint(2, 12, (1,), generator=generator)) + (0 if sign > 0 else 10)
            if int(torch.randint(0, 3, (1,), generator=generator)) == 0:
                words[spot - 1] = 22  # "not"
                sign = -sign
            score += sign
        x[i, length - size:] = words  # padding first, so a recurrent layer ends on the last word
        y[i] = 1 if score > 0 else 0
    return (x,), y
'''


_CSV_ONLY = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    raise SystemExit("this script trains on a CSV file: pass --csv FILE --target COLUMN")
'''

_SPIRALS = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """$classes interleaved spiral arms of 2-D points, one class per arm; noise jitters the angle."""
    generator = torch.Generator().manual_seed(seed)
    classes, per_class = $classes, $per_class
    radius = torch.linspace(0.0, 1.0, per_class).repeat(classes)
    y = torch.arange(classes).repeat_interleave(per_class)
    angle = 2 * math.pi * y / classes + 4.0 * radius + $noise * torch.randn(len(radius), generator=generator)
    return (torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1),), y
'''

_BLOBS = '''
def load_builtin(seed: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """$classes Gaussian blobs of 2-D points, one class per blob."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=$n_samples, centers=$classes, cluster_std=$noise, random_state=seed)
    return (torch.tensor(x, dtype=torch.float32),), torch.tensor(y, dtype=torch.long)
'''

_SERIES = {
    "sine": ("a noisy sine wave", "series = torch.sin(2 * math.pi * t / 40) + 0.05 * torch.randn(len(t), generator=generator)"),
    "seasonal": ("a noisy trend plus season, standardized",
                 "series = 3 * t / len(t) + torch.sin(2 * math.pi * t / 48) + 0.5 * torch.sin(2 * math.pi * t / 12 + 1)"
                 "\n    series = series + 0.2 * torch.randn(len(t), generator=generator)"
                 "\n    series = (series - series.mean()) / series.std()"),
}
_SEQUENCES = {"reverse": ("reversed", "src.flip(1)"), "copy": ("copied", "src.clone()"),
              "sort": ("sorted", "src.sort(dim=1).values")}

_SKLEARN_SETS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer",
                 "diabetes": "load_diabetes"}


def loader_code(name: str, options: dict[str, Any], input_shapes: tuple[tuple[int, ...], ...],
                token_bound: int) -> str:
    """The ``load_builtin`` function for dataset ``name`` (already checked against the model)."""
    info = DATASETS[name]
    if name == "digits":
        shape = input_shapes[0]
        side = shape[-1] if len(shape) == 3 else round(shape[0] ** 0.5)
        resize = Template(_RESIZE).substitute(side=literal(side)) if side != 8 else ""
        if len(shape) == 3 and shape[0] == 3:
            resize += Template(_COLOUR).substitute(side=literal(side))
        return Template(_DIGITS).substitute(resize=resize)
    if name in _SKLEARN_SETS:
        regression = info.kind is DataKind.VALUES
        return Template(_SKLEARN).substitute(
            doc=info.description, function=_SKLEARN_SETS[name],
            dtype="torch.float32" if regression else "torch.long", target="y.reshape(-1, 1)" if regression else "y",
            scale="\n    y = (y - y.mean()) / y.std()  # standardized: the RMSE is in standard deviations" if regression else "")
    if name in ("moons", "circles"):
        noise = float(options.get("noise", 0.2 if name == "moons" else 0.1))
        return Template(_SHAPES).substitute(
            doc=info.description[0].upper() + info.description[1:], function=f"make_{name}",
            n_samples=literal(int(options.get("n_samples", 1000))), noise=literal(noise),
            extra=", factor=0.5" if name == "circles" else "")
    if name == "gates":
        return Template(_GATES).substitute(gate=literal(str(options.get("gate", "xor"))),
                                           noise=literal(float(options.get("noise", 0.05))))
    if name == "csv":
        return _CSV_ONLY
    if name in _SERIES:
        what, series = _SERIES[name]
        return Template(_SINE).substitute(window=literal(input_shapes[0][0]), what=what, series=series)
    if name in _SEQUENCES:
        how, target = _SEQUENCES[name]
        return Template(_REVERSE).substitute(length=literal(input_shapes[0][0]), vocab=literal(token_bound),
                                             how=how, target=target)
    if name in ("spirals", "blobs"):
        classes = int(options.get("classes", 3))
        n_samples = int(options.get("n_samples", 600))
        noise = float(options.get("noise", 0.2 if name == "spirals" else 1.0))
        if name == "spirals":
            return Template(_SPIRALS).substitute(classes=literal(classes), per_class=literal(max(n_samples // classes, 2)),
                                                 noise=literal(noise))
        return Template(_BLOBS).substitute(classes=literal(classes), n_samples=literal(n_samples), noise=literal(noise))
    neutral_end = min(token_bound, 123)  # 100 neutral words at most: each is seen often enough to learn it's neutral
    return Template(_SENTIMENT).substitute(length=literal(input_shapes[0][0]), neutral_end=literal(neutral_end))
