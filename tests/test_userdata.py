"""The user's own data: CSV tables and zips of image folders, including every way such a file can be wrong."""

from __future__ import annotations

import io
import re
import stat
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from data.datasets import DatasetError, Task
from data.userdata import CsvLimits, ZipLimits, load_csv, load_image_zip


# ---- CSV -------------------------------------------------------------------------------------------------
def _table(rows: int = 120, missing_every: int = 0) -> bytes:
    lines = ["age,city,income,bought"]
    for i in range(rows):
        income = "" if missing_every and i % missing_every == 0 else str(1000 + 37 * i)
        lines.append(f"{20 + i % 45},{['paris', 'rome', 'oslo'][i % 3]},{income},{'yes' if i % 3 else 'no'}")
    return "\n".join(lines).encode()


def _fails(message: str, *args, **kwargs) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_csv(*args, **kwargs)


def test_csv_numbers_are_standardized_and_text_is_one_hot():
    data = load_csv(_table(), "bought")
    assert data.task == Task.CLASSIFICATION and data.class_names == ["no", "yes"] and data.num_classes == 2
    assert data.extras["feature_names"] == ["age", "city=oslo", "city=paris", "city=rome", "income"]
    assert data.input_shapes == ((5,),) and data.input_dtypes == ("float",)
    x = data.train.inputs[0]
    numeric = x[:, [0, 4]]
    assert torch.allclose(numeric.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(numeric.std(0, unbiased=False), torch.ones(2), atol=1e-4)
    one_hot = x[:, 1:4]
    assert set(one_hot.unique().tolist()) == {0.0, 1.0} and bool((one_hot.sum(1) == 1).all())
    assert len(data.train) + len(data.val) + len(data.test) == 120
    shares = [float(s.target.float().mean()) for s in (data.train, data.val, data.test)]
    assert max(shares) - min(shares) < 0.06  # stratified: 2/3 "yes" in every split
    again = load_csv(_table(), "bought")
    assert torch.equal(again.test.inputs[0], data.test.inputs[0])


def test_csv_target_column_is_found_case_insensitively_and_reports_the_columns():
    assert load_csv(_table(), " Bought ").extras["target_column"] == "bought"
    _fails(
        "has no column ‘price’ to predict. Its columns: ‘age’, ‘city’, ‘income’, ‘bought’.", _table(), "price"
    )


def test_csv_empty_and_not_csv_files():
    _fails("The CSV file is empty.", b"", "a")
    _fails("The CSV file is empty.", b"  \n\n", "a")
    _fails("has a header line but no data rows", b"a,b\n", "a")
    _fails("holds binary data, not CSV text", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a")
    _fails("could not be read as CSV: Error tokenizing data", b"a,b\n1,2\n1,2,3,4\n", "a")


def test_csv_without_usable_input_columns():
    names = "\n".join(f"person{i},{i % 2}" for i in range(60))
    _fails(
        "No usable input columns besides the target. Other columns: ‘name’ (text with 60 different values",
        f"name,label\n{names}".encode(),
        "label",
    )
    _fails("No usable input columns", b"label\n" + b"\n".join(b"%d" % (i % 2) for i in range(30)), "label")


def test_csv_target_with_one_class():
    rows = "\n".join(f"{i},spam" for i in range(30))
    _fails("The target column ‘kind’ has only one value ('spam')", f"x,kind\n{rows}".encode(), "kind")


def test_csv_missing_values_error_drop_or_impute():
    table = _table(missing_every=10)
    _fails("Missing values in 1 column(s): ‘income’ (12 of 120 rows).", table, "bought", missing="error")
    dropped = load_csv(table, "bought", missing="drop")
    assert len(dropped.train) + len(dropped.val) + len(dropped.test) == 108
    assert "dropped 12 rows" in dropped.extras["notes"][0]
    filled = load_csv(table, "bought")
    assert len(filled.train) + len(filled.val) + len(filled.test) == 120
    assert "filled missing values in ‘income’ (12 of 120 rows)" in filled.extras["notes"][0]
    assert all(bool(torch.isfinite(s.inputs[0]).all()) for s in (filled.train, filled.val, filled.test))
    _fails("missing must be one of impute, drop, error", table, "bought", missing="guess")


def test_csv_rows_without_a_target_are_dropped_with_a_note():
    data = load_csv(_table(missing_every=10), "income")
    assert data.task == Task.REGRESSION and len(data.train) + len(data.val) + len(data.test) == 108
    assert data.extras["notes"] == ["dropped 12 rows with no value in the target column ‘income’"]


def test_csv_regression_target_is_standardized_with_its_scale_kept():
    data = load_csv(_table(), "income")
    assert data.task == Task.REGRESSION and data.train.target.shape == (len(data.train), 1)
    assert data.num_classes is None and abs(float(data.train.target.mean())) < 1e-4
    restored = data.test.target * data.extras["target_std"] + data.extras["target_mean"]
    assert float(restored.min()) >= 1000 and float(restored.max()) <= 1000 + 37 * 119 + 1e-2
    assert load_csv(_table(), "age").task == Task.REGRESSION  # 45 distinct integers: a quantity, not a class
    assert load_csv(_table(), "age", task="classification").num_classes == 45


def test_csv_binary_and_task_errors():
    data = load_csv(_table(), "bought", task="binary")
    assert data.task == Task.BINARY and data.train.target.dtype == torch.float32
    assert data.train.target.shape == (len(data.train), 1)
    _fails("A binary target needs exactly 2 values; ‘city’ has 3.", _table(), "city", task="binary")
    _fails("holds text, so it can't be a regression target", _table(), "city", task="regression")
    many = "\n".join(f"{i},name{i}" for i in range(40))
    _fails(
        "has 40 different text values: too many for automatic classification",
        f"x,who\n{many}".encode(),
        "who",
    )
    _fails("task must be one of auto, classification, binary, regression", _table(), "city", task="cluster")


def test_csv_semicolons_paths_and_limits(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_bytes(_table().replace(b",", b";"))
    data = load_csv(path, "bought")
    assert data.name == "csv:shop.csv" and data.input_shapes == ((5,),)
    _fails("No such file", tmp_path / "nope.csv", "bought")
    _fails("has more than 50 rows, the limit", _table(), "bought", limits=CsvLimits(max_rows=50))
    _fails("only 8 usable rows; at least 10 are needed", _table(rows=8), "bought")
    _fails("has 4 columns; the limit is 3", _table(), "bought", limits=CsvLimits(max_columns=3))
    _fails("would give 5 inputs after one-hot encoding", _table(), "bought", limits=CsvLimits(max_features=4))
    _fails(
        "The CSV file is 2.1 kB; the limit is 100 bytes.", _table(), "bought", limits=CsvLimits(max_bytes=100)
    )


# ---- image zips ------------------------------------------------------------------------------------------
def _png(colour: tuple[int, int, int], size: int = 12, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=fmt)
    return buffer.getvalue()


RED, BLUE = (255, 0, 0), (0, 0, 255)


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "../../etc/passwd")
    return buffer.getvalue()


def _classes(prefix: str = "", per_class: int = 10) -> dict[str, bytes]:
    entries = {f"{prefix}red/{i}.png": _png(RED) for i in range(per_class)}
    entries |= {f"{prefix}blue/{i}.jpg": _png(BLUE, 20, "JPEG") for i in range(per_class)}
    return entries


def _zip_fails(message: str, data: bytes, **kwargs) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_image_zip(data, **kwargs)


def test_zip_folders_become_classes_of_resized_images():
    data = load_image_zip(_zip(_classes()), size=16)
    assert data.class_names == ["blue", "red"] and data.num_classes == 2
    assert data.input_shapes == ((3, 16, 16),) and data.task == Task.CLASSIFICATION
    assert len(data.train) + len(data.val) + len(data.test) == 20 and min(len(data.val), len(data.test)) >= 1
    images, labels = data.train.inputs[0], data.train.target
    red = images[labels == 1].mean(dim=(0, 2, 3))
    blue = images[labels == 0].mean(dim=(0, 2, 3))
    assert red[0] > 0.95 and red[2] < 0.05 and blue[2] > 0.9 and blue[0] < 0.1
    grey = load_image_zip(_zip(_classes()), size=8, grayscale=True)
    assert grey.input_shapes == ((1, 8, 8),) and float(grey.train.inputs[0].max()) <= 1.0
    assert load_image_zip(_zip(_classes()), size=32).default_template == "cifar_cnn"


def test_zip_wrapping_and_nested_folders():
    wrapped = load_image_zip(_zip(_classes("photos/")), size=8)
    assert wrapped.class_names == ["blue", "red"]
    nested = _classes()
    nested |= {f"red/dark/{i}.png": _png((120, 0, 0)) for i in range(4)}
    data = load_image_zip(_zip(nested), size=8)
    assert data.class_names == ["blue", "red"]
    assert len(data.train) + len(data.val) + len(data.test) == 24  # red/dark/* counts as red


def test_zip_skips_non_images_junk_and_loose_files_with_notes():
    entries = _classes() | {
        "README.txt": b"hello",
        "red/notes.csv": b"a,b",
        "__MACOSX/red/._0.png": b"junk",
        ".DS_Store": b"x",
        "loose.png": _png(RED),
    }
    data = load_image_zip(_zip(entries), size=8)
    notes = " | ".join(data.extras["notes"])
    assert "skipped 2 file(s) that are not images: ‘README.txt’, ‘red/notes.csv’" in notes
    assert "ignored 1 image(s) outside any class folder: ‘loose.png’" in notes
    assert len(data.train) + len(data.val) + len(data.test) == 20


def test_zip_unreadable_images_are_skipped_or_refused():
    entries = _classes() | {"red/broken.png": b"not really a png", "blue/empty.jpg": b""}
    data = load_image_zip(_zip(entries), size=8)
    assert any("skipped 2 unreadable image(s)" in n for n in data.extras["notes"])
    _zip_fails("None of the 2 images could be read", _zip({"a/x.png": b"junk", "b/y.png": b"junk"}))


def test_zip_refuses_paths_that_escape_and_symlinks():
    _zip_fails("unsafe path ‘../evil.png’", _zip(_classes() | {"../evil.png": _png(RED)}))
    _zip_fails("unsafe path ‘/etc/cron.png’", _zip(_classes() | {"/etc/cron.png": _png(RED)}))
    _zip_fails("unsafe path ‘red\\..\\..\\x.png’", _zip(_classes() | {"red\\..\\..\\x.png": _png(RED)}))
    _zip_fails("unsafe path ‘C:/x.png’", _zip(_classes() | {"C:/x.png": _png(RED)}))
    _zip_fails("symbolic link ‘red/link.png’", _zip(_classes(), links=("red/link.png",)))


def test_zip_one_class_no_images_and_not_a_zip():
    _zip_fails(
        "The zip has one class folder (‘red’); a classifier needs at least two",
        _zip({f"red/{i}.png": _png(RED) for i in range(5)}),
    )
    _zip_fails("The zip holds no images", _zip({"a/notes.txt": b"x"}))
    _zip_fails("is not a zip file", b"PK\x03\x04 but not really")
    _zip_fails("Image size must be from 4 to 512 pixels, got 2", _zip(_classes()), size=2)


def test_zip_bombs_and_size_limits_are_refused():
    bomb = _zip(_classes() | {"red/huge.png": bytes(5_000_000)})  # 5 MB of zeros packs to ~5 kB
    _zip_fails("‘red/huge.png’ is compressed more than 200×", bomb)
    _zip_fails("the limit per file is 100 bytes", _zip(_classes()), limits=ZipLimits(max_member=100))
    _zip_fails("The zip has 20 entries; the limit is 5", _zip(_classes()), limits=ZipLimits(max_entries=5))
    _zip_fails("choose a smaller image size", _zip(_classes()), size=64, limits=ZipLimits(max_values=1000))
    big = _zip(
        {"a/0.png": _png(RED, 300), "a/1.png": _png(RED), "b/0.png": _png(BLUE), "b/1.png": _png(BLUE)}
    )
    data = load_image_zip(big, size=8, limits=ZipLimits(max_pixels=10_000))  # 300×300 is over: skipped
    assert len(data.train) + len(data.val) + len(data.test) == 3


def test_zip_from_a_path_and_seeded_stratified_split(tmp_path):
    path = tmp_path / "colours.zip"
    path.write_bytes(_zip(_classes(per_class=20)))
    first, again = load_image_zip(path, size=8, seed=5), load_image_zip(str(path), size=8, seed=5)
    assert first.name == "zip:colours.zip"
    assert torch.equal(first.test.inputs[0], again.test.inputs[0])
    # 20 per class: validation 15 % → 3; test would be 3 too, but every class keeps data.base.MIN_PER_CLASS = 5
    assert [int(torch.bincount(s.target).min()) for s in (first.val, first.test)] == [3, 5]
    assert np.isclose(float(first.train.target.float().mean()), 0.5)
