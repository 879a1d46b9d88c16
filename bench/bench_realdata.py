"""Benchmark: loading full-size MNIST- and CIFAR-10-format files (synthetic pixels, real sizes), offline. JSON out.

The files are written in their published formats at their published sizes (60,000 + 10,000 MNIST images in IDX
gzip; 50,000 + 10,000 CIFAR-10 records in the binary tar.gz), placed in a temporary cache with a sources table
naming their checksums, then loaded with ``load_dataset`` as the app loads them: first load (SHA-256 check and
parsing), a second load (checked already), and the data set's bytes (uint8 pixels) against float32's.
Nothing is downloaded.

Usage: python bench/bench_realdata.py [--scale 1.0] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


def _write(folder: Path, scale: float) -> dict:
    rng = np.random.default_rng(0)
    table = {}
    mnist = folder / "mnist"
    mnist.mkdir(parents=True)
    files = []
    for prefix, count in (("train", int(60_000 * scale)), ("t10k", int(10_000 * scale))):
        for kind, array in (("images-idx3", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, count, dtype=np.uint8))):
            name = f"{prefix}-{kind}-ubyte.gz"
            data = gzip.compress(_idx(array), compresslevel=1, mtime=0)
            (mnist / name).write_bytes(data)
            files.append({"name": name, "urls": ["http://127.0.0.1:9/" + name], "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()})
    table["mnist"] = {"title": "MNIST", "files": files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            records = rng.integers(0, 256, (int(10_000 * scale), 3073), dtype=np.uint8)
            records[:, 0] %= 10
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = records.nbytes
            archive.addfile(info, io.BytesIO(records.tobytes()))
    data = buffer.getvalue()
    (folder / "cifar10").mkdir()
    (folder / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(data)
    table["cifar10"] = {"title": "CIFAR-10", "files": [{"name": "cifar-10-binary.tar.gz", "urls": ["http://127.0.0.1:9/x"],
                                                       "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the published image counts to write")
    args = parse_args(parser, {"scale": 0.02})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sources.json").write_text(json.dumps(_write(folder, args.scale)))
        os.environ["LAYERLAB_DATA_SOURCES"] = str(folder / "sources.json")
        os.environ["LAYERLAB_DATASETS_DIR"] = str(folder)
        os.environ["HOME"] = str(folder / "home")
        from data.datasets import load_dataset

        out = {"quick": args.quick, "scale": args.scale, "load_average": os.getloadavg()}
        for name in ("mnist", "cifar10"):
            start = time.perf_counter()
            data = load_dataset(name)
            first = time.perf_counter() - start
            start = time.perf_counter()
            load_dataset(name)
            again = time.perf_counter() - start
            pixels = sum(s.inputs[0].numel() for s in (data.train, data.val, data.test))
            out[name] = {"first_load_s": round(first, 2), "second_load_s": round(again, 2),
                         "images": len(data.train) + len(data.val) + len(data.test),
                         "pixel_mb_uint8": round(pixels / 1e6, 1), "pixel_mb_if_float32": round(4 * pixels / 1e6, 1)}
        print(json.dumps(out))


if __name__ == "__main__":
    main()
