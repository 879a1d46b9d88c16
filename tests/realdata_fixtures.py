"""Small files in each real data set's original format, and a local HTTP server (127.0.0.1 only) that serves
them with HTTP Range support: what the download tests and the run-fidelity test fetch through the loader users run.

The images are not noise: each class draws a different bar pattern, so a model can learn them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from data.realsets import CIFAR_BATCHES


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: 0, 0, 0x08, the number of dimensions, each size big-endian, the data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _images(count: int, channels: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, channels, side, side), dtype=np.uint8)
    for k, label in enumerate(labels):  # class c: a bright bar at row 2c (and column c in colour channel c % 3)
        images[k, :, 2 * label:2 * label + 2, :] = 250
        images[k, label % channels, :, label] = 200
    return images, labels.astype(np.uint8)


def mnist_files(n_train: int = 600, n_test: int = 100, seed: int = 0) -> dict[str, bytes]:
    """The four MNIST files (IDX in gzip) with ``n_train`` / ``n_test`` 28×28 images (MNIST's own 6:1)."""
    files = {}
    for prefix, count, offset in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = _images(count, 1, 28, seed + offset)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images[:, 0]), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    return files


def cifar_files(per_batch: int = 40, seed: int = 0) -> dict[str, bytes]:
    """cifar-10-binary.tar.gz with five training batches and a test batch of ``per_batch`` records each."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for k, name in enumerate(CIFAR_BATCHES):
            images, labels = _images(per_batch, 3, 32, seed + k)
            records = np.concatenate([labels[:, None], images.reshape(per_batch, -1)], axis=1).astype(np.uint8)
            _add(archive, f"cifar-10-batches-bin/{name}", records.tobytes())
        _add(archive, "cifar-10-batches-bin/batches.meta.txt", b"airplane\nautomobile\n")
    return {"cifar-10-binary.tar.gz": buffer.getvalue()}


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def shakespeare_files() -> dict[str, bytes]:
    # Every one of the real text's 65 characters appears, as in the real file, so a design sized for it fits.
    alphabet = "\n !$&',-.3:;?" + "".join(map(chr, range(65, 91))) + "".join(map(chr, range(97, 123)))
    lines = ["First Citizen:", "Before we proceed any further, hear me speak.", "", "All:", "Speak, speak.", alphabet]
    return {"input.txt": ("\n".join(lines) * 40).encode()}


@dataclass
class Served:
    """What the server holds and how it misbehaves: ``cut`` stops a response after that many bytes (the
    connection drops), ``corrupt`` names files sent with one byte flipped; ``requests`` records Range headers."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut: int | None = None
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class FixtureServer:
    """A ThreadingHTTPServer on 127.0.0.1 at a free port; ``stop()`` shuts it down (the handle stops it)."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        if not self.thread.is_alive():
            return  # stopped already (a test took the source away)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def table(self, key: str, title: str, path: Path) -> Path:
        """A LAYERLAB_DATA_SOURCES file naming this server's files for data set ``key`` (checksums of the
        files as they should be, whatever the server sends)."""
        entry = {"title": title, "files": [
            {"name": name, "urls": [self.url + name], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in self.served.files.items()]}
        existing = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**existing, key: entry}))
        return path


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            name = self.path.lstrip("/")
            served.requests.append((name, self.headers.get("Range")))
            if name not in served.files:
                self.send_error(404)
                return
            data = served.files[name]
            if name in served.corrupt:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and int(match.group(1)) < len(data):
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.cut is not None and len(body) > served.cut:
                self.wfile.write(body[:served.cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


FIXTURES = {"mnist": ("MNIST", lambda: mnist_files()), "fashion_mnist": ("Fashion-MNIST", lambda: mnist_files(seed=5)),
            "cifar10": ("CIFAR-10", cifar_files), "shakespeare": ("Tiny Shakespeare", shakespeare_files)}


def serve_all(table: str | Path) -> list[FixtureServer]:
    """A server per real data set, named in the sources table ``table`` (written here)."""
    servers = []
    for key, (title, make) in FIXTURES.items():
        server = FixtureServer(Served(make()))
        servers.append(server)
        server.table(key, title, Path(table))
    return servers
