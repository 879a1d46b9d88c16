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

from ui import charts

UPLOAD_CSV = "Upload a CSV…"
UPLOAD_ZIP = "Upload an image-folder zip…"
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
    """(N, H, W) for a grid: channels averaged, flat square vectors folded back."""
    x = np.asarray(x, dtype=float)
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
def load_choice(choice: DataChoice, seed: int) -> tuple[Any, str | None]:
    """(dataset, None) or (None, a message for the user). Loads once per choice and session."""
    key = (*choice.key, seed)
    cached = st.session_state.get(_STATE)
    if cached and cached[0] == key:
        return cached[1], cached[2]
    dataset, error = load_data(choice, seed)
    st.session_state[_STATE] = (key, dataset, error)
    return dataset, error


def load_data(choice: DataChoice, seed: int) -> tuple[Any, str | None]:
    """Load without caching: (dataset, None), or (None, the loader's message for the user)."""
    from data.datasets import DatasetError, load_dataset

    try:
        if choice.name == UPLOAD_CSV:
            from data.userdata import load_csv

            return load_csv(
                choice.upload, choice.target, seed=seed, name=f"csv:{choice.filename}", **choice.options
            ), None
        if choice.name == UPLOAD_ZIP:
            from data.userdata import load_image_zip

            return load_image_zip(
                choice.upload, seed=seed, name=f"zip:{choice.filename}", **choice.options
            ), None
        return load_dataset(choice.name, seed=seed, **choice.options), None
    except DatasetError as err:
        return None, str(err)


# ---- widgets ---------------------------------------------------------------------------------------------
def render_picker(defaults: dict[str, Any], key: str) -> DataChoice | None:
    """Dataset selectbox, its options, and the upload widgets. None until an upload is complete."""
    from data.datasets import dataset_names

    names = [*dataset_names(), UPLOAD_CSV, UPLOAD_ZIP]
    default = defaults.get("dataset")
    index = names.index(default) if default in names else 0
    name = st.selectbox("Dataset", names, index=index, key=f"{key}_dataset")
    if name == UPLOAD_CSV:
        return _csv_picker(key)
    if name == UPLOAD_ZIP:
        return _zip_picker(key)
    preset = defaults.get("dataset_options", {}) if name == default else {}
    return DataChoice(name, _option_widgets(name, dict(preset), key))


def _option_widgets(name: str, preset: dict[str, Any], key: str) -> dict[str, Any]:
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
            values[option] = _option_widget(option, value, specs.get(option), f"{key}_{name}_{option}")
    return values


def _option_widget(option: str, value: Any, spec: Any, key: str) -> Any:
    help_text = getattr(spec, "doc", "") or None
    choices = getattr(spec, "choices", None)
    if choices:
        return st.selectbox(
            option,
            list(choices),
            index=list(choices).index(value) if value in choices else 0,
            key=key,
            help=help_text,
        )
    if isinstance(value, bool):
        return st.checkbox(option, value=value, key=key, help=help_text)
    low, high = getattr(spec, "minimum", None), getattr(spec, "maximum", None)
    if isinstance(value, int):
        return int(
            st.number_input(
                option,
                value=value,
                step=1,
                key=key,
                help=help_text,
                min_value=int(low) if low is not None else None,
                max_value=int(high) if high is not None else None,
            )
        )
    if isinstance(value, float):
        return float(
            st.number_input(
                option,
                value=value,
                key=key,
                help=help_text,
                format="%g",
                min_value=float(low) if low is not None else None,
                max_value=float(high) if high is not None else None,
            )
        )
    return st.text_input(option, value=str(value), key=key, help=help_text)


def _csv_picker(key: str) -> DataChoice | None:
    upload = st.file_uploader("CSV file", type=["csv"], key=f"{key}_csv")
    if upload is None:
        st.info("Upload a CSV with one row per example and a column to predict.")
        return None
    data = upload.getvalue()
    if too_big(upload.name, data):
        return None
    columns = _csv_columns(data)
    if not columns:
        st.error(f"{upload.name}: no columns found — is it a comma-separated file with a header row?")
        return None
    left, mid, right = st.columns(3)
    target = left.selectbox("Column to predict", columns, index=len(columns) - 1, key=f"{key}_csv_target")
    task = mid.selectbox(
        "Task",
        ["auto", "classification", "binary", "regression"],
        key=f"{key}_csv_task",
        help="auto: a text column or a few whole numbers are classes, anything else a number",
    )
    missing = right.selectbox(
        "Missing values",
        ["impute", "drop", "error"],
        key=f"{key}_csv_missing",
        help="impute: medians for numbers, a '(missing)' category for text",
    )
    return DataChoice(UPLOAD_CSV, {"task": task, "missing": missing}, data, target, upload.name)


def _csv_columns(data: bytes) -> list[str]:
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(io.BytesIO(data), nrows=5).columns]
    except Exception:  # any parse failure means "not a CSV we can read"; load_csv explains in detail
        return []


def _zip_picker(key: str) -> DataChoice | None:
    upload = st.file_uploader("Zip of image folders (one folder per class)", type=["zip"], key=f"{key}_zip")
    left, right = st.columns(2)
    size = int(left.number_input("Image size", 8, 128, 32, step=4, key=f"{key}_zip_size"))
    gray = right.checkbox("Grayscale", value=False, key=f"{key}_zip_gray")
    if upload is None:
        st.info("Upload a .zip whose top-level folders are the class names, each holding images.")
        return None
    data = upload.getvalue()
    if too_big(upload.name, data):
        return None
    return DataChoice(UPLOAD_ZIP, {"size": size, "grayscale": gray}, data, filename=upload.name)


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
