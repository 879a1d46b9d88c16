"""The real data sets' files, fetched once into a cache folder: found where they already are, else downloaded.

A download is resumable (HTTP Range: a ``.part`` file left by an interrupted one is continued), verified (size
and SHA-256 from ``data.sources``) and atomic (the ``.part`` file is renamed only once it checks out), and it
reports its progress to a callback: a progress bar in the app, lines on stderr in the CLI and in an exported
training script, which carries this module's code (standard library only) and so fetches the same files the
same way. A copy another tool already downloaded (torchvision's ``MNIST/raw``, Keras's ``~/.keras/datasets``)
is used in place when its checksum matches.

Where: ``LAYERLAB_DATASETS_DIR``, else ``datasets`` in LayerLab's data folder (``LAYERLAB_DATA_DIR``, else the
platform's user data folder). ``LAYERLAB_DATA_SOURCES`` may name a JSON file of replacement entries for the
table (a local mirror; the tests' fixtures): the table in ``data.sources`` itself never changes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from data.base import DatasetError
from data.sources import DATASETS_ENV, SOURCES, Remote, Source

SOURCES_ENV = "LAYERLAB_DATA_SOURCES"
CHUNK = 1 << 16
TIMEOUT_S = 30
Progress = Callable[[str, int, int], None]  # (file name, bytes so far, bytes in all)
_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime) of files whose SHA-256 matched, this process
_COUNTS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def datasets_dir() -> Path:
    """The cache folder: LAYERLAB_DATASETS_DIR, else ``datasets`` in LayerLab's data folder (the same folder
    as ``builder.settings.default_data_dir``: a test keeps the two equal)."""
    chosen = os.environ.get(DATASETS_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("LAYERLAB_DATA_DIR")
    if base:
        return Path(base).expanduser() / "datasets"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "layerlab" / "datasets"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "layerlab" / "datasets"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layerlab" / "datasets"


def source_of(key: str) -> Source:
    """The table's entry for data set ``key``, or the one LAYERLAB_DATA_SOURCES gives for it."""
    override = os.environ.get(SOURCES_ENV)
    if override:
        replaced = _read_override(Path(override))
        if key in replaced:
            return replaced[key]
    if key not in SOURCES:
        raise DatasetError(f"no downloadable data set named ‘{key}’; choose one of: {', '.join(SOURCES)}")
    return SOURCES[key]


def _read_override(path: Path) -> dict[str, Source]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        found = {}
        for key, entry in table.items():
            files = tuple(Remote(str(f["name"]), tuple(str(u) for u in f["urls"]), int(f["size"]), str(f["sha256"]))
                          for f in entry["files"])
            if any(not u.startswith(("http://", "https://")) for f in files for u in f.urls):
                raise ValueError("every URL must start with http:// or https://")
            if any(Path(f.name).name != f.name or f.name.startswith(".") for f in files):
                raise ValueError("a file name must be a plain name, without folders")
            found[str(key)] = Source(str(entry.get("title", key)), files, str(entry.get("page", "")))
        return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DatasetError(f"{SOURCES_ENV}={path}: can't use this table of data sources ({err})") from None


def elsewhere(key: str, name: str) -> list[Path]:
    """Where other tools keep a copy of this file in its original format (torchvision's ``root/MNIST/raw``
    under the usual roots, Keras's ``~/.keras/datasets/fashion-mnist``). Keras's MNIST (an .npz) and both
    tools' CIFAR-10 (the pickled Python version) are other formats: not used."""
    home = Path.home()
    roots = (Path("data"), home / "data", home / ".cache" / "torchvision")
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}.get(key)
    places = [root / folder / "raw" / name for root in roots] if folder else []
    if key == "fashion_mnist":
        places.append(home / ".keras" / "datasets" / "fashion-mnist" / name)
    if key == "cifar10":
        places += [root / name for root in roots]
    return places


def is_cached(key: str) -> bool:
    """Every file of ``key`` is in the cache (or elsewhere) at its published size: cheap, no checksum (that
    is checked when the data is loaded)."""
    source = source_of(key)
    folder = datasets_dir() / key
    return all(any(_size(p) == f.size for p in (folder / f.name, *elsewhere(key, f.name))) for f in source.files)


def with_cached_data(training: Mapping[str, Any]) -> dict[str, Any]:
    """A design's ``meta.training`` with its ``real_dataset`` (e.g. lenet5's "mnist") as the data set once that
    is cached; until then its own (offline) data set. ``real_settings`` are the settings that go with the real
    set (nanogpt_tiny: Tiny Shakespeare in windows of its 17 positions, and fewer epochs over 65,000 windows).
    The Train tab, ``layerlab train`` and the exported script all start from this."""
    values = dict(training)
    real = values.get("real_dataset")
    if isinstance(real, str) and real in SOURCES and values.get("dataset") != real and is_cached(real):
        values.update(dataset=real, dataset_options={})
        values.update(values.get("real_settings") or {})
    return values


def ensure(key: str, progress: Progress | None = None) -> dict[str, Path]:
    """The path of each of ``key``'s files, downloading the missing ones into the cache folder; DatasetError
    (naming the data set, the error and where to put the files) when one can't be had."""
    source = source_of(key)
    folder = datasets_dir() / key
    found: dict[str, Path] = {}
    for remote in source.files:
        path = next((p for p in (folder / remote.name, *elsewhere(key, remote.name)) if _verified(p, remote)), None)
        if path is None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                path = download(remote, folder / remote.name, progress or stderr_progress(source.title))
            except (DownloadError, OSError) as err:
                raise DatasetError(_offline_message(source, folder, err)) from None
        found[remote.name] = path
    return found


def _offline_message(source: Source, folder: Path, err: Exception) -> str:
    names = [f.name for f in source.files]
    what = names[0] if len(names) == 1 else f"the {_COUNTS.get(len(names), len(names))} files ({', '.join(names)})"
    reason = str(err) if isinstance(err, DownloadError) else (getattr(err, "strerror", None) or str(err))
    return f"{source.title} isn't cached and the download failed: {reason}; put {what} in {folder}"


class DownloadError(Exception):
    """Every URL of a file failed; the message says how, URL by URL."""


def download(remote: Remote, dest: Path, progress: Progress) -> Path:
    """``remote`` at ``dest``: continued from ``dest``.part where one is left, checked, then renamed."""
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in remote.urls:
        try:
            _transfer(url, part, remote, progress)
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url}: {_reason(err)}")
            continue
        problem = _mismatch(part, remote)
        if problem:
            part.unlink(missing_ok=True)  # a wrong file is never kept, so the next try starts clean
            failures.append(f"{url}: {problem}; the file was deleted")
            continue
        os.replace(part, dest)
        _remember(dest)
        return dest
    raise DownloadError("; ".join(failures))


def _transfer(url: str, part: Path, remote: Remote, progress: Progress) -> None:
    """Fetch ``url`` into ``part``, from where an earlier attempt stopped when the server accepts a Range."""
    have = _size(part) or 0
    if have > remote.size:
        part.unlink()
        have = 0
    if have == remote.size:
        return  # complete already (renamed once it checks out)
    headers = {"User-Agent": "LayerLab"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        if have and response.status != 206:
            have = 0  # the server sent the whole file: start over
        done = have
        progress(remote.name, done, remote.size)
        with open(part, "ab" if have else "wb") as out:
            while chunk := response.read(CHUNK):
                if done + len(chunk) > remote.size:
                    raise ValueError(f"the server sent more than the {remote.size:,} bytes published")
                out.write(chunk)
                done += len(chunk)
                progress(remote.name, done, remote.size)
    if done < remote.size:
        raise ValueError(f"the transfer stopped at {done:,} of {remote.size:,} bytes (run again to continue it)")


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(getattr(err.reason, "strerror", None) or err.reason)
    return str(err) or type(err).__name__


def _mismatch(path: Path, remote: Remote) -> str | None:
    """Why ``path`` isn't ``remote`` (size, then SHA-256), or None."""
    size = _size(path)
    if size != remote.size:
        return f"{remote.name} is {size:,} bytes, not the {remote.size:,} published"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != remote.sha256:
        return f"{remote.name} is corrupted: its SHA-256 is {digest.hexdigest()}, not the {remote.sha256} published"
    return None


def _verified(path: Path, remote: Remote) -> bool:
    """``path`` holds ``remote`` (checked once per process while the file stays unchanged)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    if (str(path), stat.st_size, stat.st_mtime_ns) in _VERIFIED:
        return True
    if _mismatch(path, remote) is not None:
        return False
    _remember(path)
    return True


def _remember(path: Path) -> None:
    stat = path.stat()
    _VERIFIED.add((str(path), stat.st_size, stat.st_mtime_ns))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def stderr_progress(title: str) -> Progress:
    """Progress as lines on stderr: one per file at each tenth, so a log stays short."""
    shown: dict[str, int] = {}

    def report(name: str, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if shown.get(name) != tenth:
            shown[name] = tenth
            print(f"{title}: {name} {done / 1e6:.1f} of {total / 1e6:.1f} MB", file=sys.stderr, flush=True)

    return report
