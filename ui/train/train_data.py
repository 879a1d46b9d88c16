"""The Train panel's data section: pick a built-in dataset (with options) or upload a CSV / image zip, and
preview it. The pure helpers at the top decide what to show; the ``render_*`` functions draw it.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from data.sources import SOURCES
from ui.train import charts, draw_data
from ui.train.data_download import render_download
from ui.train.train_state import (
    drop_upload,
    keep,
    kept,
    lost_upload,
    on_upload_change,
    store_upload,
    stored_upload,
)

UPLOAD_CSV = "Upload a CSV…"
UPLOAD_ZIP = "Upload an image-folder zip…"
DRAWN = "drawn"  # the built-in dataset drawn on a board (ui.train.draw_data) rather than set by options
_STATE = (
    "ll_train_dataset"  # (key, Dataset | None, error | None): one dataset per session, reloaded on change
)


@dataclass(frozen=True)
class DataChoice:
    """What the user picked; ``key`` changes whenever the loaded data would."""

    name: str
    options: dict[str, Any]
    upload: bytes | None = None
    target: str | None = None
    filename: str = ""

    @property
    def key(self) -> tuple:
        digest = hashlib.sha256(self.upload).hexdigest()[:16] if self.upload else None
        return (self.name, tuple(sorted(self.options.items())), digest, self.target)


# ---- pure helpers ------------------------------------------------------------------------------------
def preview_kind(dataset: Any) -> str:
    """images | points | series | tokens | table: how to show a few examples of ``dataset``."""
    shape = tuple(dataset.input_shapes[0])
    dtype = dataset.input_dtypes[0]
    if dataset.extras.get("series") is not None:
        return "series"
    if dtype == "long" or dataset.vocab:
        return "tokens"
    if len(shape) == 3 or (len(shape) == 2 and shape[0] > 2 and shape[1] > 2 and dataset.name != "sine"):
        return "images"
    if shape == (2,) and dataset.task.value in ("classification", "binary"):
        return "points"
    if (
        len(shape) == 1
        and _square_side(shape[0])
        and shape[0] >= 16
        and "feature_names" not in dataset.extras
    ):
        return "images"  # flat pixels (digits with flat=True)
    return "table"


def _square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n else None


def as_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) in [0, 1] for a grid: channels averaged, flat square vectors folded back."""
    x = np.asarray(x)
    x = x / 255.0 if x.dtype == np.uint8 else x.astype(float)
    if x.ndim == 4:
        return x.mean(axis=1)
    if x.ndim == 2:
        side = _square_side(x.shape[1]) or 1
        return x.reshape(len(x), side, -1)
    return x


def decode(ids: Any, vocab: list[str] | None, pad_id: int | None = None, sep: str = " ") -> str:
    """Token ids as text, padding dropped; ids without a vocabulary print as numbers."""
    out = []
    for i in np.asarray(ids).reshape(-1).tolist():
        if pad_id is not None and i == pad_id:
            continue
        out.append(vocab[i] if vocab and 0 <= i < len(vocab) else str(i))
    return sep.join(out)


def class_label(dataset: Any, index: int) -> str:
    names = dataset.class_names or []
    return names[index] if 0 <= index < len(names) else str(index)


def labels_of(dataset: Any, split: Any) -> np.ndarray | None:
    """Class ids per example (for colouring), or None for tasks without classes."""
    if dataset.task.value in ("classification", "binary"):
        return split.target.reshape(-1).long().numpy()
    return None


def token_examples(dataset: Any, n: int = 5) -> list[dict[str, str]]:
    """A few examples as text: each input, and the target (a sequence, or a class name)."""
    rows = []
    split = dataset.train
    for k in range(min(n, len(split))):
        row = {
            name: decode(x[k], dataset.vocab, dataset.pad_id)
            for name, x in zip(dataset.input_names, split.inputs)
        }
        target = split.target[k]
        if dataset.task.value == "sequence":
            row["target"] = decode(target, dataset.vocab, dataset.pad_id)
        else:
            row["target"] = class_label(dataset, int(target.reshape(-1)[0]))
        rows.append(row)
    return rows


# ---- loading --------------------------------------------------------------------------------------------
def load_choice(choice: DataChoice, seed: int, fractions: tuple[float, float] | None = None
                ) -> tuple[Any, str | None]:
    """(dataset, None) or (None, a message for the user). Loads once per choice, seed and split, per session.
    ``fractions``: the validation and test shares (the settings val_fraction and test_fraction)."""
    key = (*choice.key, seed, fractions)
    cached = st.session_state.get(_STATE)
    if cached and cached[0] == key:
        return cached[1], cached[2]
    dataset, error = load_data(choice, seed, fractions)
    st.session_state[_STATE] = (key, dataset, error)
    return dataset, error


def loaded_dataset() -> Any:
    """The dataset the Train tab loaded last in this session (None before it loaded one): the Code tab's
    training script reads an uploaded file's columns and encoding from it."""
    cached = st.session_state.get(_STATE)
    return cached[1] if cached else None


def load_data(choice: DataChoice, seed: int, fractions: tuple[float, float] | None = None
              ) -> tuple[Any, str | None]:
    """Load without caching: (dataset, None), or (None, the loader's message for the user)."""
    from data.datasets import DatasetError, load_dataset

    split = {} if fractions is None else {"fractions": fractions}  # the same split the exported script makes
    try:
        if choice.name == UPLOAD_CSV:
            from data.userdata import load_csv

            return load_csv(
                choice.upload, choice.target, seed=seed, name=f"csv:{choice.filename}", **split, **choice.options
            ), None
        if choice.name == UPLOAD_ZIP:
            from data.userdata import load_image_zip

            return load_image_zip(
                choice.upload, seed=seed, name=f"zip:{choice.filename}", **split, **choice.options
            ), None
        return load_dataset(choice.name, seed=seed, **split, **choice.options), None
    except DatasetError as err:
        return None, str(err)


# ---- widgets ---------------------------------------------------------------------------------------------
TARGET_NAMES = ("target", "label", "class", "y")  # column names that say "predict me"
KEY = "ll_data_"  # widget keys of the data picker


def target_guess(columns: list[str]) -> str | None:
    """The column named like a target (target, label, class, y; any case), or None: then the user is asked."""
    for wanted in TARGET_NAMES:
        found = [c for c in columns if c.strip().lower() == wanted]
        if found:
            return found[0]
    return None


def render_picker(defaults: dict[str, Any]) -> DataChoice | None:
    """Dataset selectbox, its options, and the upload widgets. None until an upload is complete and, for a CSV,
    its target column chosen. Every choice survives tab switches (``ui.train.train_state``)."""
    from data.datasets import dataset_names

    names = [*dataset_names(), UPLOAD_CSV, UPLOAD_ZIP]
    default = defaults.get("dataset")
    given = kept(f"{KEY}dataset", default if default in names else names[0], names, arg="index")
    name = keep(f"{KEY}dataset", st.selectbox("Dataset", names, key=f"{KEY}dataset", **given))
    if name == UPLOAD_CSV:
        return _csv_picker()
    if name == UPLOAD_ZIP:
        return _zip_picker()
    preset = defaults.get("dataset_options", {}) if name == default else {}
    if name in SOURCES and not render_download(name, KEY):  # MNIST, CIFAR-10, ...: the download step first
        return None
    if name == DRAWN:  # points clicked onto the plane instead of option fields
        options = draw_data.render_drawing(dict(preset), f"{KEY}drawn")
        return None if options is None else DataChoice(name, options)
    return DataChoice(name, _option_widgets(name, dict(preset)))


def _option_widgets(name: str, preset: dict[str, Any]) -> dict[str, Any]:
    from data.datasets import dataset_info

    info = dataset_info(name)
    st.caption(info.description)
    specs = getattr(info, "specs", {}) or {}
    if not info.options:
        return {}
    values = {}
    columns = st.columns(min(4, len(info.options)))
    for i, (option, default) in enumerate(info.options.items()):
        value = preset.get(option, default)
        with columns[i % len(columns)]:
            values[option] = _option_widget(option, value, specs.get(option), f"{KEY}{name}_{option}")
    return values


def _option_widget(option: str, value: Any, spec: Any, key: str) -> Any:
    help_text = getattr(spec, "doc", "") or None
    choices = getattr(spec, "choices", None)
    if choices:
        given = kept(key, value, list(choices), arg="index")
        return keep(key, st.selectbox(option, list(choices), key=key, help=help_text, **given))
    given = kept(key, value)
    if isinstance(value, bool):
        return keep(key, st.checkbox(option, key=key, help=help_text, **given))
    low, high = getattr(spec, "minimum", None), getattr(spec, "maximum", None)
    if isinstance(value, int):
        return keep(key, int(st.number_input(
            option, step=1, key=key, help=help_text, **given,
            min_value=int(low) if low is not None else None, max_value=int(high) if high is not None else None)))
    if isinstance(value, float):
        return keep(key, float(st.number_input(
            option, key=key, help=help_text, format="%g", **given,
            min_value=float(low) if low is not None else None,
            max_value=float(high) if high is not None else None)))
    st.session_state[key] = str(st.session_state[key])
    return keep(key, st.text_input(option, key=key, help=help_text))


def _upload(kind: str, label: str, types: list[str]) -> tuple[str, bytes] | None:
    """The uploader, or the file of ``kind`` uploaded earlier in this session (kept across tab switches)."""
    key = f"{KEY}{kind}_file"
    upload = st.file_uploader(label, type=types, key=key, on_change=on_upload_change, args=(kind, key))
    if upload is not None:
        store_upload(kind, upload.name, upload.getvalue())  # also without a change event (first draw)
        return upload.name, upload.getvalue()
    earlier = stored_upload(kind)
    if earlier is None:
        lost = lost_upload(kind)
        if lost:  # uploads live in memory only (docs/saving.md): the settings came back, the file did not
            st.warning(f"Upload **{lost}** again: uploaded files are kept only while the page is open, never "
                       "on the server's disk. Your other settings came back.")
        return None
    left, right = st.columns([4, 1])
    left.caption(f"Using **{earlier[0]}** ({len(earlier[1]) / 1024:,.1f} KB), uploaded earlier in this session. "
                 "Upload another file to replace it.")
    right.button("Forget it", key=f"{KEY}{kind}_forget", on_click=drop_upload, args=(kind,))
    return earlier


def _csv_picker() -> DataChoice | None:
    upload = _upload("csv", "CSV file", ["csv"])
    if upload is None:
        st.info("Upload a CSV with one row per example and a column to predict.")
        return None
    filename, data = upload
    if too_big(filename, data):
        return None
    columns = _csv_columns(data)
    if not columns:
        st.error(f"{filename}: no columns found — is it a comma-separated file with a header row?")
        return None
    target = _target_picker(columns)
    left, right = st.columns(2)
    given = kept(f"{KEY}csv_task", "auto", _CSV_TASKS, arg="index")
    task = keep(f"{KEY}csv_task", left.selectbox(
        "Task", _CSV_TASKS, key=f"{KEY}csv_task", **given,
        help="auto: a text column or a few whole numbers are classes, anything else a number"))
    given = kept(f"{KEY}csv_missing", "impute", _CSV_MISSING, arg="index")
    missing = keep(f"{KEY}csv_missing", right.selectbox(
        "Missing values", _CSV_MISSING, key=f"{KEY}csv_missing", **given,
        help="impute: medians for numbers, a '(missing)' category for text"))
    if target is None:
        return None
    return DataChoice(UPLOAD_CSV, {"task": task, "missing": missing}, data, target, filename)


_CSV_TASKS = ["auto", "classification", "binary", "regression"]
_CSV_MISSING = ["impute", "drop", "error"]


def _target_picker(columns: list[str]) -> str | None:
    """The column to predict: pre-selected only when one is named like a target, else the user must choose."""
    key = f"{KEY}csv_target"
    guess = target_guess(columns)
    given = kept(key, guess, columns, allow_none=True, arg="index")
    target = keep(key, st.selectbox("Column to predict", columns, key=key, **given,
                                    placeholder="Choose the column the model should predict"))
    if target is None:
        st.warning("Which column should the model predict? No column is named target, label, class or y, "
                   "so LayerLab won't guess: choose it above.")
    elif target == guess:
        st.caption(f"‘{guess}’ is selected because of its name: choose another column if the model should "
                   "predict something else.")
    return target


def _csv_columns(data: bytes) -> list[str]:
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(io.BytesIO(data), nrows=5).columns]
    except Exception:  # any parse failure means "not a CSV we can read"; load_csv explains in detail
        return []


def _zip_picker() -> DataChoice | None:
    upload = _upload("zip", "Zip of image folders (one folder per class)", ["zip"])
    left, right = st.columns(2)
    given = kept(f"{KEY}zip_size", 32)
    size = keep(f"{KEY}zip_size", int(left.number_input("Image size", 8, 128, step=4, key=f"{KEY}zip_size", **given)))
    given = kept(f"{KEY}zip_gray", False)
    gray = keep(f"{KEY}zip_gray", right.checkbox("Grayscale", key=f"{KEY}zip_gray", **given))
    if upload is None:
        st.info("Upload a .zip whose top-level folders are the class names, each holding images.")
        return None
    filename, data = upload
    if too_big(filename, data):
        return None
    return DataChoice(UPLOAD_ZIP, {"size": size, "grayscale": gray}, data, filename=filename)


def upload_limit_bytes() -> int:
    """settings().max_upload_mb in bytes: MiB, as Streamlit counts its server.maxUploadSize."""
    from builder.settings import settings

    return settings().max_upload_mb * 1024 * 1024


def too_big(name: str, data: bytes) -> bool:
    """Refuse (with a message) an upload over the server's limit; Streamlit's own maxUploadSize may be set
    higher than LayerLab's max_upload_mb."""
    limit = upload_limit_bytes()
    if len(data) <= limit:
        return False
    st.error(f"‘{name}’ is {len(data) / 2**20:.1f} MB; uploads on this server are limited to "
             f"{limit // 2**20} MB (setting max_upload_mb, LAYERLAB_MAX_UPLOAD_MB).")
    return True


def render_preview(dataset: Any, key: str) -> None:
    """A glance at the data: sizes, then a few examples drawn the way that suits them."""
    sizes = f"{len(dataset.train)} train · {len(dataset.val)} validation · {len(dataset.test)} test"
    shapes = ", ".join(
        f"{n} {tuple(s)} {d}"
        for n, s, d in zip(dataset.input_names, dataset.input_shapes, dataset.input_dtypes)
    )
    st.caption(f"**{dataset.task.value}** · {sizes} · inputs: {shapes}")
    for note in dataset.extras.get("notes", []) or []:
        st.caption(f"ℹ️ {note}")
    kind = preview_kind(dataset)
    split = dataset.train
    if kind == "images":
        n = min(16, len(split))
        labels = labels_of(dataset, split)
        titles = [class_label(dataset, int(labels[i])) if labels is not None else "" for i in range(n)]
        st.plotly_chart(
            charts.image_grid(as_images(split.inputs[0][:n].numpy()), titles, columns=8),
            key=f"{key}_preview_images",
        )
    elif kind == "points":
        st.plotly_chart(
            charts.scatter_preview(split.inputs[0].numpy(), labels_of(dataset, split), dataset.class_names),
            key=f"{key}_preview_points",
        )
    elif kind == "series":
        st.plotly_chart(
            charts.series_chart(np.asarray(dataset.extras["series"]).reshape(-1), title=dataset.name),
            key=f"{key}_preview_series",
        )
    elif kind == "tokens":
        st.dataframe(token_examples(dataset), hide_index=True, width="stretch")
    else:
        _table_preview(dataset)


def _table_preview(dataset: Any) -> None:
    import pandas as pd

    x = dataset.train.inputs[0][:8].reshape(min(8, len(dataset.train)), -1).numpy()
    names = dataset.extras.get("feature_names") or [f"x{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=names[: x.shape[1]])
    target = dataset.train.target[:8]
    if dataset.task.value in ("classification", "binary"):
        frame["target"] = [class_label(dataset, int(t)) for t in target.reshape(-1).tolist()]
    elif target.dim() <= 2 and target.numel() == len(frame) * (target.shape[1] if target.dim() == 2 else 1):
        frame["target"] = target.reshape(len(frame), -1)[:, 0].numpy()
    st.dataframe(frame, hide_index=True, width="stretch")
