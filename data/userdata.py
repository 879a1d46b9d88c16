"""The user's own data: a CSV table (pick the target column) and a zip of image folders, one folder per class.

Everything is read in memory: no file is written, zip members are never extracted to disk, nothing is
unpickled. Every problem a user can cause ends in a DatasetError whose message names the file, column or
entry and says what to change.

Missing feature values (CSV): ``missing="impute"`` (the default) fills numbers with the training rows'
median and gives text columns a "(missing)" category, and says so in ``extras["notes"]``; ``"drop"`` drops
those rows; ``"error"`` refuses the file and names the columns and counts. Rows without a target value are
always dropped (a label can't be guessed), with a note.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.base import FRACTIONS, Dataset, DatasetError, Task, assemble, split_indices
from data.images import ZipLimits, load_image_zip, read_source

__all__ = ["CsvLimits", "ZipLimits", "load_csv", "load_image_zip"]

_F32_MAX = float(np.finfo(np.float32).max)  # standardized inputs beyond this would become inf in float32
_SNIFF_CHARS = 2048  # the start of the file the delimiter is guessed from: the header and a few rows
AUTO_CLASSES = 20  # task="auto": an integer target with at most this many values is a class label
_TASKS = ("auto", "classification", "binary", "regression")
_MISSING = ("impute", "drop", "error")
SHOWN_ROWS = 20  # test rows kept as the file wrote them, for the predictions table


@dataclass(frozen=True)
class CsvLimits:
    max_bytes: int = 100_000_000
    max_rows: int = 200_000
    max_columns: int = 1_000  # columns in the file
    max_features: int = 5_000  # model inputs after one-hot encoding
    max_categories: int = 50  # distinct values a text column may have to be one-hot encoded
    max_classes: int = 100
    min_rows: int = 10


def load_csv(
    data: bytes | str | Path | Any,
    target: str,
    task: str = "auto",
    *,
    missing: str = "impute",
    seed: int = 0,
    fractions: tuple[float, float] = FRACTIONS,
    limits: CsvLimits | None = None,
    name: str | None = None,
) -> Dataset:
    """A Dataset from CSV bytes, a path or an uploaded file: standardized numbers and one-hot text columns
    predict ``target``. ``task``: auto | classification | binary | regression."""
    limits = limits or CsvLimits()
    raw, label = read_source(data, limits.max_bytes, "CSV file")
    inputs, values, indices, info = prepare_csv(raw, label, target, task, missing, seed, fractions, limits)
    kind, classes, column = Task(info.pop("task")), info.pop("classes"), info["target_column"]
    what = f"{len(classes)} classes" if classes else "a number"
    return assemble(
        inputs,
        values,
        indices,
        name=name or f"csv:{label}",
        description=f"{label}: {info.pop('rows')} rows, {inputs[0].shape[1]} inputs → ‘{column}’ "
        f"({kind.value}, {what}).",
        task=kind,
        input_names=("x",),
        num_classes=len(classes) if classes else None,
        class_names=classes or None,
        extras=info,
    )


def prepare_csv(
    raw: bytes, label: str, target: str, task: str, missing: str, seed: int, fractions: tuple[float, float],
    limits: CsvLimits | None = None,
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """The CSV table's features (imputed, standardized, one-hot) and target, split (stratified for classes).

    ``info`` holds the task decided, class names, feature names, notes on what was changed and, for a number
    target, its mean and std (the target is standardized like the inputs).
    """
    limits = limits or CsvLimits()
    task, missing = _choice("task", task, _TASKS), _choice("missing", missing, _MISSING)
    frame = _parse(raw, label, limits)
    column = _find_column(frame, target, label)
    notes: list[str] = []
    frame = _drop_missing_targets(frame, column, notes)
    kind = _decide_task(frame[column], column, task, limits)
    features = _feature_columns(frame.drop(columns=[column]), limits, notes)
    frame = _handle_missing(frame, features, missing, notes)
    if len(frame) < limits.min_rows:
        raise DatasetError(f"{label}: only {len(frame)} usable rows; at least {limits.min_rows} are needed.")
    classes, labels = _encode_target(frame[column], kind)
    indices = split_indices(len(frame), seed, labels if kind != Task.REGRESSION else None, fractions)
    x, names = _feature_matrix(frame, features, indices[0], limits, label)
    info: dict[str, Any] = {"feature_names": names, "notes": notes, "target_column": column,
                            "test_rows": _original_rows(frame, indices[2][:SHOWN_ROWS])}
    target_values = _target_array(labels, kind, indices[0], info)
    info.update(task=kind.value, classes=classes, rows=len(frame))
    return [x], target_values, indices, info


def _original_rows(frame: pd.DataFrame, rows: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the table as read (before imputing, scaling or one-hot encoding), every column in the file's
    order: a prediction is shown next to what the user wrote, not next to the numbers the model saw. Imputing
    happens later on the feature matrix, so ``frame`` still holds the original values (a gap is None)."""
    records = frame.iloc[[int(i) for i in rows]].to_dict("records")  # each column keeps its own type
    return [{column: None if pd.isna(value) else _plain(value) for column, value in row.items()} for row in records]


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    text = str(getattr(value, "value", value)).strip().lower()
    if text not in allowed:
        raise DatasetError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return text


# ---- reading ---------------------------------------------------------------------------------------------
def _parse(raw: bytes, label: str, limits: CsvLimits) -> pd.DataFrame:
    if not raw.strip():
        raise DatasetError(f"{label} is empty.")
    if b"\x00" in raw[:65536]:
        raise DatasetError(f"{label} holds binary data, not CSV text: export the table as CSV.")
    text = _decode(raw)
    sep = _delimiter(text)
    width = _header_width(text, sep)  # before pandas: renaming duplicate names is quadratic in their number
    if width > limits.max_columns:
        raise DatasetError(f"{label} has {width:,} columns; the limit is {limits.max_columns:,}.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, nrows=limits.max_rows + 1, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{label} has no columns: the first line should name them.") from None
    except (pd.errors.ParserError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetError(f"{label} could not be read as CSV: {first}") from None
    if len(frame) > limits.max_rows:
        raise DatasetError(f"{label} has more than {limits.max_rows:,} rows, the limit; use a sample of it.")
    if frame.shape[1] > limits.max_columns:
        raise DatasetError(f"{label} has {frame.shape[1]:,} columns; the limit is {limits.max_columns:,}.")
    if frame.empty:
        raise DatasetError(f"{label} has a header line but no data rows.")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # never fails: Excel's Western exports are usually cp1252/latin-1


def _header_width(text: str, sep: str) -> int:
    """The number of names in the first record (0 when the csv module can't read it: pandas will say why)."""
    try:
        return len(next(csv.reader(io.StringIO(text), delimiter=sep), []))
    except csv.Error:  # e.g. one quoted field longer than csv.field_size_limit()
        return 0


def _delimiter(text: str) -> str:
    """Comma unless the header clearly uses ; tab or | (European Excel writes ';')."""
    try:  # csv.Sniffer's regexes are quadratic: 64 kB of '"\n' took 90 s; 2 kB takes under 0.1 s
        return csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _find_column(frame: pd.DataFrame, target: str, label: str) -> str:
    wanted = str(target or "").strip()
    if wanted in frame.columns:
        return wanted
    folded = [c for c in frame.columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(f"‘{c}’" for c in list(frame.columns)[:30])
    more = f" and {len(frame.columns) - 30} more" if len(frame.columns) > 30 else ""
    raise DatasetError(f"{label} has no column ‘{wanted}’ to predict. Its columns: {shown}{more}.")


# ---- target ----------------------------------------------------------------------------------------------
def _drop_missing_targets(frame: pd.DataFrame, column: str, notes: list[str]) -> pd.DataFrame:
    empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if empty.all():
        raise DatasetError(f"The target column ‘{column}’ has no values.")
    if empty.any():
        notes.append(f"dropped {int(empty.sum())} rows with no value in the target column ‘{column}’")
    return frame.loc[~empty].reset_index(drop=True)


def _decide_task(values: pd.Series, column: str, task: str, limits: CsvLimits) -> Task:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    distinct = values.nunique()
    if distinct < 2:
        raise DatasetError(
            f"The target column ‘{column}’ has only one value ({_plain(values.iloc[0])!r}): "
            "there is nothing to predict. Pick a column whose values differ."
        )
    if task == "regression":
        if not numeric:
            raise DatasetError(
                f"The target column ‘{column}’ holds text, so it can't be a regression target; "
                "use task ‘classification’."
            )
        return Task.REGRESSION
    if task == "auto":
        with np.errstate(invalid="ignore"):  # an "inf" cell is not a whole number: no warning needed
            integral = numeric and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if numeric and (not integral or distinct > AUTO_CLASSES):
            return Task.REGRESSION
        if not numeric and distinct > AUTO_CLASSES:
            raise DatasetError(
                f"The target column ‘{column}’ has {distinct} different text values: too many "
                f"for automatic classification (at most {AUTO_CLASSES}). Set task "
                "‘classification’ to use them all, or pick another column."
            )
    if distinct > limits.max_classes:
        raise DatasetError(
            f"The target column ‘{column}’ has {distinct} classes; the limit is {limits.max_classes}."
        )
    if task == "binary" and distinct != 2:
        raise DatasetError(f"A binary target needs exactly 2 values; ‘{column}’ has {distinct}.")
    return Task.BINARY if task == "binary" else Task.CLASSIFICATION


def _encode_target(values: pd.Series, kind: Task) -> tuple[list[str], np.ndarray]:
    """(class names, int64 labels) for classes; ([], float64 values) for regression."""
    if kind == Task.REGRESSION:
        return [], values.to_numpy(dtype=np.float64)
    uniques = sorted(values.unique(), key=lambda v: (isinstance(v, str), v))
    lookup = {value: i for i, value in enumerate(uniques)}
    return [str(_plain(v)) for v in uniques], values.map(lookup).to_numpy(dtype=np.int64)


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python value, and 3.0 as 3, for messages and class names."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _target_array(labels: np.ndarray, kind: Task, train: np.ndarray, extras: dict[str, Any]) -> np.ndarray:
    if kind == Task.CLASSIFICATION:
        return labels
    if kind == Task.BINARY:
        return labels.reshape(-1, 1).astype(np.float32)
    # Standardized like the inputs; multiply errors by target_std to report them in the column's units.
    with np.errstate(all="ignore"):  # checked just below: "inf" cells and numbers near 1e308 overflow
        mean, std = float(labels[train].mean()), float(labels[train].std()) or 1.0
        scaled = ((labels - mean) / std).astype(np.float32)
    if not (math.isfinite(mean) and math.isfinite(std) and np.isfinite(scaled).all()):
        bad = int((~np.isfinite(labels)).sum())
        what = f"{bad} infinite value(s)" if bad else "numbers too large to train on"
        raise DatasetError(f"The target column ‘{extras['target_column']}’ holds {what}: fix or remove those rows.")
    extras.update(target_mean=mean, target_std=std)
    return scaled.reshape(-1, 1)


# ---- features --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Feature:
    column: str
    numeric: bool


def _feature_columns(frame: pd.DataFrame, limits: CsvLimits, notes: list[str]) -> list[_Feature]:
    features, ignored = [], []
    for column in frame.columns:
        values = frame[column]
        if values.isna().all():
            ignored.append(f"‘{column}’ (empty)")
        elif pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            features.append(_Feature(column, True))
        elif values.nunique() <= limits.max_categories:
            features.append(_Feature(column, False))
        else:
            ignored.append(f"‘{column}’ (text with {values.nunique()} different values: an ID or free text?)")
    if not features:
        others = "; ".join(ignored) or "none"
        raise DatasetError(
            f"No usable input columns besides the target. Other columns: {others}. Inputs must "
            f"be numbers or text with at most {limits.max_categories} different values."
        )
    if ignored:
        notes.append("ignored " + "; ".join(ignored))
    return features


def _handle_missing(
    frame: pd.DataFrame, features: list[_Feature], missing: str, notes: list[str]
) -> pd.DataFrame:
    counts = {f.column: int(frame[f.column].isna().sum()) for f in features}
    counts = {c: n for c, n in counts.items() if n}
    if not counts:
        return frame
    listing = ", ".join(f"‘{c}’ ({n} of {len(frame)} rows)" for c, n in counts.items())
    if missing == "error":
        raise DatasetError(
            f"Missing values in {len(counts)} column(s): {listing}. Fill them in, or load with "
            "missing='impute' (fill them) or missing='drop' (drop those rows)."
        )
    if missing == "drop":
        keep = frame[list(counts)].notna().all(axis=1)
        notes.append(f"dropped {int((~keep).sum())} rows with missing values in {listing}")
        return frame.loc[keep].reset_index(drop=True)
    notes.append(f"filled missing values in {listing}: numbers with the training median, text as “(missing)”")
    return frame


def _feature_matrix(
    frame: pd.DataFrame, features: list[_Feature], train: np.ndarray, limits: CsvLimits, label: str
) -> tuple[np.ndarray, list[str]]:
    """Numbers imputed and standardized with training-row statistics; text one-hot encoded (0/1)."""
    blocks, names = [], []
    for feature in features:
        values = frame[feature.column]
        if feature.numeric:
            numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
            numbers = np.where(np.isfinite(numbers), numbers, np.nan)  # an "inf" cell is filled like a missing one
            median = np.nanmedian(numbers[train]) if np.isfinite(numbers[train]).any() else 0.0
            numbers = np.where(np.isnan(numbers), median, numbers)
            with np.errstate(all="ignore"):  # numbers near 1e308 overflow the mean or std: kept finite below
                std = numbers[train].std()
                scaled = (numbers - numbers[train].mean()) / (std if 1e-12 < std < np.inf else 1.0)
            blocks.append(np.nan_to_num(np.clip(scaled, -_F32_MAX, _F32_MAX), nan=0.0)[:, None])
            names.append(feature.column)
        else:
            text = values.astype("string").fillna("(missing)").str.strip()
            categories = sorted(text.unique())
            blocks.append(np.stack([(text == c).to_numpy(dtype=np.float64) for c in categories], axis=1))
            names += [f"{feature.column}={c}" for c in categories]
    if len(names) > limits.max_features:
        raise DatasetError(
            f"{label} would give {len(names):,} inputs after one-hot encoding text columns; "
            f"the limit is {limits.max_features:,}. Drop some text columns."
        )
    return np.concatenate(blocks, axis=1).astype(np.float32), names
