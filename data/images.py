"""A zip of image folders (one folder per class) as a Dataset, read entirely in memory.

The archive is untrusted: members are never extracted to disk, and an archive with an absolute path, a '..'
component or a symbolic link is refused outright (it was made to escape a folder). Entry counts, declared and
actual sizes, compression ratios and pixel counts are capped, so a zip bomb or an image bomb is refused
before it is inflated. Re-exported by ``data.userdata``.
"""

from __future__ import annotations

import io
import lzma
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from data.base import FRACTIONS, Dataset, DatasetError, Task, assemble, split_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_DRIVE = re.compile(r"^[A-Za-z]:")
_JUNK = ("__MACOSX", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int = 500_000_000  # the zip file itself
    max_entries: int = 50_000
    max_total: int = 2_000_000_000  # all members, uncompressed
    max_member: int = 30_000_000  # one member, uncompressed
    max_ratio: int = 200  # uncompressed / compressed size of one member above 1 MB
    max_pixels: int = 50_000_000  # one image before resizing
    max_values: int = 150_000_000  # images × channels × size² (600 MB of float32)


def size_text(n_bytes: float) -> str:
    """1234567 -> "1.2 MB": sizes in messages, readable whether the limit is 100 bytes or 2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def read_source(data: Any, max_bytes: int, what: str) -> tuple[bytes, str]:
    """(bytes, a label for messages) from bytes, a path, or an uploaded file object (``getvalue``/``read``)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw, label = bytes(data), f"The {what}"
    elif isinstance(data, (str, Path)):
        path = Path(data)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise DatasetError(f"{path.name} is {size_text(size)}; the limit is {size_text(max_bytes)}.")
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DatasetError(f"No such file: {path}") from None
        except IsADirectoryError:
            raise DatasetError(f"{path} is a folder, not a {what}.") from None
        except OSError as err:
            raise DatasetError(f"Can't read {path}: {err.strerror or err}") from None
        label = path.name
    elif hasattr(data, "getvalue") or hasattr(data, "read"):
        raw = data.getvalue() if hasattr(data, "getvalue") else data.read()
        label = str(getattr(data, "name", "") or f"The {what}")
    else:
        raise DatasetError(f"Expected the {what} as bytes or a path, got {type(data).__name__}.")
    if len(raw) > max_bytes:
        raise DatasetError(f"{label} is {size_text(len(raw))}; the limit is {size_text(max_bytes)}.")
    return raw, label


def load_image_zip(
    data: bytes | str | Path | Any,
    size: int = 32,
    grayscale: bool = False,
    *,
    seed: int = 0,
    fractions: tuple[float, float] = FRACTIONS,
    limits: ZipLimits | None = None,
    name: str | None = None,
) -> Dataset:
    """Images (N, 1 or 3, size, size) in [0, 1] labelled by their class folder; split 70/15/15, stratified."""
    limits = limits or ZipLimits()
    raw, label = read_source(data, limits.max_bytes, "zip file")
    inputs, labels, indices, info = prepare_image_zip(raw, label, size, grayscale, seed, fractions, limits)
    return _image_dataset(inputs[0], labels, indices, info["classes"], name or f"zip:{label}", label,
                          info["notes"])


def prepare_image_zip(
    raw: bytes, label: str, size: int, grayscale: bool, seed: int, fractions: tuple[float, float],
    limits: ZipLimits | None = None,
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """The zip's images (N, 1 or 3, size, size) in [0, 1] and their class ids (one folder per class, sorted by
    name), split stratified; ``info`` holds the class names and notes on what was skipped."""
    limits = limits or ZipLimits()
    size = int(size)
    if not 4 <= size <= 512:
        raise DatasetError(f"Image size must be from 4 to 512 pixels, got {size}.")
    # zipfile builds one object per central-directory entry before any check can run: 300,000 empty entries
    # (26 MB) took 1.6 s and 160 MB. Each entry starts with this signature, so counting it bounds them first.
    entries = raw.count(b"PK\x01\x02")
    if entries > limits.max_entries:
        raise DatasetError(f"The zip has {entries:,} entries; the limit is {limits.max_entries:,}.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except Exception:  # noqa: BLE001 - BadZipFile, and NotImplementedError ("zip file version 6.4") and
        # others from a damaged directory: on untrusted bytes every parser failure means "damaged"
        raise DatasetError(f"{label} is not a zip file (or it is damaged).") from None
    notes: list[str] = []
    with archive:
        members = _image_members(archive, limits, notes)
        classes = _class_of(members, notes)
        pixels, labels, names = _decode_all(archive, classes, size, grayscale, limits, notes)
    indices = split_indices(len(pixels), seed, labels, fractions)
    return [pixels], labels, indices, {"classes": names, "notes": notes}


# ---- archive checks --------------------------------------------------------------------------------------
def _image_members(archive: zipfile.ZipFile, limits: ZipLimits, notes: list[str]) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise DatasetError(f"The zip has {len(infos):,} entries; the limit is {limits.max_entries:,}.")
    total = sum(info.file_size for info in infos)
    if total > limits.max_total:
        raise DatasetError(
            f"The zip would unpack to {size_text(total)}; the limit is {size_text(limits.max_total)}."
        )
    images, skipped = [], []
    for info in infos:
        _check_entry(info, limits)
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or any(p.startswith(".") or p in _JUNK for p in parts):
            continue
        if PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES:
            images.append(info)
        else:
            skipped.append(info.filename)
    if skipped:
        notes.append(f"skipped {len(skipped)} file(s) that are not images: {_few(skipped)}")
    if not images:
        raise DatasetError(
            "The zip holds no images (" + ", ".join(IMAGE_SUFFIXES) + "). Put one folder per class "
            "in it, e.g. cats/1.png and dogs/1.png."
        )
    return images


def _check_entry(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    """Refuse the archive for entries made to escape a folder or to inflate without bound."""
    name = info.filename.replace("\\", "/")
    if not name:  # only a damaged directory has one (and ZipInfo.is_dir() would fail on it)
        raise DatasetError("The zip holds an entry without a name: the file is damaged.")
    if name.startswith("/") or _DRIVE.match(name) or ".." in PurePosixPath(name).parts:
        raise DatasetError(
            f"The zip holds an unsafe path ‘{info.filename}’ (absolute or with '..'); "
            "it was refused. Zip the class folders themselves."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DatasetError(
            f"The zip holds a symbolic link ‘{info.filename}’; links are refused. "
            "Zip the image files themselves."
        )
    if info.flag_bits & 0x1:
        raise DatasetError(f"‘{info.filename}’ in the zip is password-protected; zip the images without one.")
    if info.file_size > limits.max_member:
        raise DatasetError(
            f"‘{info.filename}’ is {size_text(info.file_size)} unpacked; the limit per file "
            f"is {size_text(limits.max_member)}."
        )
    if info.file_size > 1_000_000 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise DatasetError(
            f"‘{info.filename}’ is compressed more than {limits.max_ratio}× (a zip bomb?); it was refused."
        )


def _class_of(images: list[zipfile.ZipInfo], notes: list[str]) -> dict[str, list[zipfile.ZipInfo]]:
    """Class = the first folder below the folders every image shares ("data/cats/1.png" -> cats)."""
    paths = [PurePosixPath(i.filename.replace("\\", "/")).parts for i in images]
    depth = 0
    while all(len(p) >= depth + 3 for p in paths) and len({p[depth] for p in paths}) == 1:
        depth += 1  # strip a wrapping folder such as "data/" that all images share
    classes: dict[str, list[zipfile.ZipInfo]] = {}
    loose = []
    for info, parts in zip(images, paths):
        if len(parts) < depth + 2:
            loose.append(info.filename)
        else:
            classes.setdefault(parts[depth], []).append(info)
    if loose:
        notes.append(f"ignored {len(loose)} image(s) outside any class folder: {_few(loose)}")
    if len(classes) < 2:
        found = f"one class folder (‘{next(iter(classes))}’)" if classes else "no class folder"
        raise DatasetError(
            f"The zip has {found}; a classifier needs at least two. Put each class's images "
            "in its own folder, e.g. cats/… and dogs/…."
        )
    return dict(sorted(classes.items()))


# ---- decoding --------------------------------------------------------------------------------------------
def _decode_all(
    archive: zipfile.ZipFile,
    classes: dict[str, list[zipfile.ZipInfo]],
    size: int,
    grayscale: bool,
    limits: ZipLimits,
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    count = sum(len(v) for v in classes.values())
    channels = 1 if grayscale else 3
    if count * channels * size * size > limits.max_values:
        raise DatasetError(
            f"{count:,} images at {size}×{size} would need "
            f"{size_text(count * channels * size * size * 4)}; choose a smaller image size."
        )
    pixels, labels, bad = [], [], []
    for index, members in enumerate(classes.values()):
        for info in members:
            image = _decode(_read_member(archive, info, limits), size, grayscale, limits.max_pixels)
            if image is None:
                bad.append(info.filename)
                continue
            pixels.append(image)
            labels.append(index)
    if bad:
        if not pixels:
            raise DatasetError(f"None of the {len(bad)} images could be read: {_few(bad)}.")
        notes.append(f"skipped {len(bad)} unreadable image(s): {_few(bad)}")
    names = [c for i, c in enumerate(classes) if i in set(labels)]
    if len(names) < 2:
        raise DatasetError(f"Only the class ‘{names[0]}’ has readable images; a classifier needs two.")
    remap = {old: new for new, old in enumerate(sorted(set(labels)))}
    return np.stack(pixels), np.array([remap[i] for i in labels], dtype=np.int64), names


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits) -> bytes | None:
    """The member's bytes, read with a cap so a lying size header can't inflate it; None when damaged."""
    try:
        with archive.open(info) as handle:
            data = handle.read(limits.max_member + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error,
            lzma.LZMAError):  # a damaged archive: an offset before the start, bad deflate or LZMA data, ...
        return None
    if len(data) > limits.max_member:
        raise DatasetError(f"‘{info.filename}’ unpacks to more than its header says; the zip was refused.")
    return data


def _decode(data: bytes | None, size: int, grayscale: bool, max_pixels: int) -> np.ndarray | None:
    """(C, size, size) float32 in [0, 1], or None when the bytes are not a readable image."""
    from PIL import Image

    if not data:
        return None
    mode = "L" if grayscale else "RGB"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                return None  # checked before decoding: the header alone gives the size
            image.draft(mode, (size, size))  # JPEG decodes at a reduced scale: much faster for big photos
            small = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
    except Exception:  # noqa: BLE001 - any decoder failure on untrusted bytes means "unreadable image"
        return None
    array = np.asarray(small, dtype=np.float32) / 255.0
    return array[None] if grayscale else array.transpose(2, 0, 1)


def _image_dataset(
    pixels: np.ndarray,
    labels: np.ndarray,
    indices: tuple[np.ndarray, ...],
    names: list[str],
    name: str,
    label: str,
    notes: list[str],
) -> Dataset:
    shape = pixels.shape[1:]
    template = {(3, 32): "cifar_cnn", (1, 28): "lenet5", (1, 8): "digits_cnn"}.get((shape[0], shape[1]), "")
    return assemble(
        [pixels],
        labels,
        indices,
        name=name,
        description=f"{label}: {len(pixels)} images in {len(names)} classes, {'×'.join(map(str, shape))}.",
        task=Task.CLASSIFICATION,
        input_names=("x",),
        num_classes=len(names),
        class_names=names,
        default_template=template,
        extras={"notes": notes},
    )


def _few(names: list[str], shown: int = 5) -> str:
    text = ", ".join(f"‘{n}’" for n in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")
