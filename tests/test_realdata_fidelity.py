"""The exported script and notebook train on the real data sets as the app does: they carry the same loader
(download, checksum, IDX / CIFAR binary parsing, split) and give the engine's per-epoch losses (1e-6).

The files are the MNIST- and CIFAR-format fixtures the session's local server (127.0.0.1) serves
(``tests/conftest.py``); a script run as its own process fetches them itself into an empty cache.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_script_fidelity import _assert_same, _engine, _execute, _parse, _script_run

from builder.templates import load_template
from export.script import generate_notebook, generate_script

SETTINGS = {"epochs": 2, "batch_size": 64}


def _imports(code: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(("template", "dataset"), [("lenet5", "mnist"), ("cifar_cnn", "cifar10")])
def test_script_trains_on_the_real_set_as_the_app_does(template: str, dataset: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    graph = load_template(template)
    config, result = _engine(graph, {**SETTINGS, "dataset": dataset, "dataset_options": {}})
    assert result.status == "finished" and len(result.history) == 2
    code = generate_script(graph, settings=config)
    reader = "def read_cifar_binary" if dataset == "cifar10" else "def read_idx"
    assert f"DATASET = {dataset!r}" in code and reader in code and "def ensure" in code
    assert not {"pickle", "shelve", "joblib"} & _imports(code)  # the binary formats, read with numpy
    assert _imports(code) <= {"__future__", "argparse", "collections", "contextlib", "dataclasses", "functools", "gzip", "hashlib", "http",
                              "json", "math", "os", "pathlib", "sys", "tarfile", "time", "types", "typing", "urllib",
                              "numpy", "torch"}
    epochs, end = _script_run(code, [], capsys)
    _assert_same(result, epochs, end)


def test_script_as_a_process_downloads_into_an_empty_cache(tmp_path: Path) -> None:
    graph = load_template("lenet5")
    config, result = _engine(graph, {**SETTINGS, "dataset": "mnist", "dataset_options": {}})
    (tmp_path / "train.py").write_text(generate_script(graph, settings=config))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(LAYERLAB_DATASETS_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"))
    run = subprocess.run([sys.executable, "-I", "train.py", "--log-json", "--out", ""], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MNIST: train-images-idx3-ubyte.gz" in run.stderr  # its progress, on stderr
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz"]
    _assert_same(result, *_parse(run.stdout))
    # offline: the same message as the app's
    env.update(LAYERLAB_DATASETS_DIR=str(tmp_path / "empty"), LAYERLAB_DATA_SOURCES=str(tmp_path / "gone.json"))
    (tmp_path / "gone.json").write_text('{"mnist": {"title": "MNIST", "files": [{"name": "train-images-idx3-ubyte.gz",'
                                        ' "urls": ["http://127.0.0.1:9/x"], "size": 10, "sha256": "00"}]}}')
    offline = subprocess.run([sys.executable, "-I", "train.py", "--out", ""], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=240)
    assert offline.returncode != 0
    assert "MNIST isn't cached and the download failed: http://127.0.0.1:9/x: " in offline.stderr
    assert "Traceback" not in offline.stderr


def test_executed_notebook_trains_on_mnist_as_the_app_does(tmp_path: Path) -> None:
    graph = load_template("lenet5")
    config, result = _engine(graph, {**SETTINGS, "dataset": "mnist", "dataset_options": {}})
    _assert_same(result, *_execute(generate_notebook(graph, settings=config), [], tmp_path))
