"""MNIST, Fashion-MNIST, CIFAR-10 and Tiny Shakespeare through the loader users run, offline: small files in each
set's original format, written here and served by a local HTTP server on 127.0.0.1 (``realdata_fixtures``).

Downloads report progress, continue where an interrupted one stopped, refuse a corrupted file, and say what to do
when the source can't be reached; a copy torchvision or Keras already downloaded is used in place.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from realdata_fixtures import FIXTURES, FixtureServer, Served

from data import fetch
from data.base import DatasetError, model_input
from data.datasets import dataset_names, load_dataset, suggest_options
from data.realsets import read_idx
from training.batches import Batches

SETS = FIXTURES


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FixtureServer]]:
    """One local server per data set, a table naming them (LAYERLAB_DATA_SOURCES), an empty cache, and a home
    folder without other tools' copies."""
    servers = {key: FixtureServer(Served(make())) for key, (_, make) in SETS.items()}
    try:
        for key, server in servers.items():
            server.table(key, SETS[key][0], tmp_path / "sources.json")
        monkeypatch.setenv(fetch.SOURCES_ENV, str(tmp_path / "sources.json"))
        monkeypatch.setenv(fetch.DATASETS_ENV, str(tmp_path / "cache"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.chdir(tmp_path)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def test_the_real_sets_are_declared_with_the_others() -> None:
    assert {"mnist", "fashion_mnist", "cifar10", "shakespeare"} <= set(dataset_names())


def test_mnist_loads_its_idx_files_as_uint8_until_the_batch(served: dict[str, FixtureServer]) -> None:
    files = served["mnist"].served.files
    images = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.decompress(files["train-labels-idx1-ubyte.gz"])[8:], np.uint8)
    data = load_dataset("mnist", seed=3, fractions=(0.2, 0.15))
    assert data.input_shapes == ((1, 28, 28),) and data.input_dtypes == ("float",)
    assert data.train.inputs[0].dtype == torch.uint8  # a quarter of float32's memory
    assert (len(data.train), len(data.val), len(data.test)) == (480, 120, 100)  # the official 100 test images
    # every training and validation image is one of the file's, with its own label
    known = {images[k].tobytes(): int(labels[k]) for k in range(len(images))}
    for split in (data.train, data.val):
        for x, y in zip(split.inputs[0], split.target):
            assert known[x[0].numpy().tobytes()] == int(y)
    batch = next(Batches(data.train.inputs, data.train.target, torch.device("cpu"), 32).epoch(torch.Generator()))
    x = batch[0][0]
    assert x.dtype == torch.float32 and float(x.min()) >= 0 and float(x.max()) == pytest.approx(250 / 255)
    assert torch.equal(model_input(data.test.inputs[0][:1]) * 255, data.test.inputs[0][:1].float())


def test_cifar10_reads_the_binary_batches_inside_the_tar(served: dict[str, FixtureServer]) -> None:
    data = load_dataset("cifar10", seed=0)
    assert data.input_shapes == ((3, 32, 32),) and data.num_classes == 10
    assert len(data.train) + len(data.val) == 5 * 40 and len(data.test) == 40
    assert data.train.inputs[0].dtype == torch.uint8
    assert data.class_names[:2] == ["airplane", "automobile"]
    # the fixture draws class c's bright bar (250; the noise is below 60) at rows 2c, 2c+1 in every channel:
    # each record's label byte went with its own pixels, channel-major as the format stores them
    for image, label in zip(data.test.inputs[0], data.test.target):
        assert int(image[1, 2 * int(label), 0]) == 250 and int(image[int(label) % 3, 31, int(label)]) == 200


def test_fashion_mnist_and_shakespeare(served: dict[str, FixtureServer]) -> None:
    fashion = load_dataset("fashion_mnist", seed=0)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.input_shapes == ((1, 28, 28),)
    text = served["shakespeare"].served.files["input.txt"]
    data = load_dataset("shakespeare", seed=0, length=16)
    vocab = data.vocab
    first = "".join(vocab[i] for i in data.train.inputs[0][0].tolist())
    assert first == text[:16].decode() and data.pad_id == 0 and vocab[0] == "<pad>"
    assert torch.equal(data.train.inputs[0][0][1:], data.train.target[0][:-1])  # the target is one character on
    assert suggest_options("shakespeare", [(17,)]) == {"length": 17}


def test_a_download_reports_growing_byte_counts(served: dict[str, FixtureServer]) -> None:
    seen: list[tuple[str, int, int]] = []
    paths = fetch.ensure("cifar10", progress=lambda name, done, total: seen.append((name, done, total)))
    size = len(served["cifar10"].served.files["cifar-10-binary.tar.gz"])
    counts = [done for _, done, _ in seen]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == size and len(counts) > 3
    assert {total for _, _, total in seen} == {size}
    assert paths["cifar-10-binary.tar.gz"].stat().st_size == size
    served["cifar10"].served.requests.clear()
    fetch.ensure("cifar10", progress=lambda *a: seen.append(a))  # cached: nothing is fetched again
    assert served["cifar10"].served.requests == []


def test_an_interrupted_download_continues_where_it_stopped(served: dict[str, FixtureServer], tmp_path: Path) -> None:
    server = served["cifar10"].served
    server.cut = 100_000  # the connection drops after 100 kB
    with pytest.raises(DatasetError, match=r"^CIFAR-10 isn't cached and the download failed: .*; put "
                                           r"cifar-10-binary.tar.gz in "):
        fetch.ensure("cifar10", progress=lambda *a: None)
    part = tmp_path / "cache" / "cifar10" / "cifar-10-binary.tar.gz.part"
    assert part.stat().st_size == 100_000 and not part.with_suffix("").exists()
    server.cut = None
    seen: list[int] = []
    fetch.ensure("cifar10", progress=lambda name, done, total: seen.append(done))
    assert server.requests[-1] == ("cifar-10-binary.tar.gz", "bytes=100000-")
    assert seen[0] == 100_000  # counted from where it stopped
    assert (tmp_path / "cache" / "cifar10" / "cifar-10-binary.tar.gz").read_bytes() == \
           server.files["cifar-10-binary.tar.gz"]
    assert not part.exists()


def test_a_corrupted_file_is_refused_and_not_kept(served: dict[str, FixtureServer], tmp_path: Path) -> None:
    served["mnist"].served.corrupt = {"t10k-labels-idx1-ubyte.gz"}
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist")
    message = caught.value.message
    assert message.startswith("MNIST isn't cached and the download failed:")
    assert "t10k-labels-idx1-ubyte.gz is corrupted: its SHA-256 is" in message and "the file was deleted" in message
    folder = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                                                        "train-labels-idx1-ubyte.gz"]


def test_an_unreachable_source_says_where_to_put_the_files(served: dict[str, FixtureServer], tmp_path: Path) -> None:
    served["mnist"].stop()  # nothing listens there any more
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist")
    message = caught.value.message
    folder = tmp_path / "cache" / "mnist"
    assert message.startswith("MNIST isn't cached and the download failed: http://127.0.0.1:")
    assert message.endswith(f"; put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in {folder}")
    assert "refused" in message.lower()


def test_torchvision_and_keras_copies_are_used_in_place(served: dict[str, FixtureServer], tmp_path: Path) -> None:
    home = tmp_path / "home"
    for key, folder in (("mnist", home / "data" / "MNIST" / "raw"),
                        ("fashion_mnist", home / ".keras" / "datasets" / "fashion-mnist")):
        folder.mkdir(parents=True)
        for name, data in served[key].served.files.items():
            (folder / name).write_bytes(data)
        assert fetch.is_cached(key)
        paths = fetch.ensure(key, progress=lambda *a: pytest.fail("nothing should be downloaded"))
        assert {p.parent for p in paths.values()} == {folder}
        assert served[key].served.requests == []
    # a copy that doesn't match its checksum is not used: the file is downloaded instead
    bad = home / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-1] + b"\x01")  # gzip's last byte (length's top byte) is 0 here
    os.utime(bad, ns=(1, 1))  # a changed file is checked again (by size and time; the clock is coarser than a test)
    paths = fetch.ensure("mnist", progress=lambda *a: None)
    assert paths["t10k-labels-idx1-ubyte.gz"] == tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz"


def test_a_damaged_idx_file_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 5]) + b"\x00" * 10))
    with pytest.raises(DatasetError, match="the IDX header says"):
        read_idx(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match="not a readable gzip file"):
        read_idx(path)


def test_the_cache_folder_follows_its_variable_and_layerlabs_data_folder(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from builder.settings import default_data_dir

    monkeypatch.delenv(fetch.DATASETS_ENV, raising=False)
    assert fetch.datasets_dir() == default_data_dir() / "datasets"
    monkeypatch.delenv("LAYERLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert fetch.datasets_dir() == default_data_dir() / "datasets" == tmp_path / "xdg" / "layerlab" / "datasets"
    monkeypatch.setenv(fetch.DATASETS_ENV, str(tmp_path / "mine"))
    assert fetch.datasets_dir() == tmp_path / "mine"


def test_a_sources_table_may_only_name_web_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "t.json"
    table.write_text('{"mnist": {"files": [{"name": "a", "urls": ["file:///etc/passwd"], "size": 1, "sha256": ""}]}}')
    monkeypatch.setenv(fetch.SOURCES_ENV, str(table))
    with pytest.raises(DatasetError, match="every URL must start with http"):
        fetch.source_of("mnist")


def test_the_cli_downloads_into_its_data_dir_with_progress_on_stderr(served: dict[str, FixtureServer], tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cli.main import main

    folder = tmp_path / "chosen"
    code = main(["train", "lenet5", "--dataset", "mnist", "--data-dir", str(folder), "--epochs", "1", "--json",
                 "--db", str(tmp_path / "runs.sqlite")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "MNIST: train-images-idx3-ubyte.gz 0.0 of 0.3 MB" in out.err and "0.3 of 0.3 MB" in out.err
    assert json.loads(out.out)["dataset"] == "mnist"
    assert len(list((folder / "mnist").glob("*.gz"))) == 4
    served["mnist"].stop()  # offline now: the CLI says what to do, without a traceback
    code = main(["train", "lenet5", "--dataset", "mnist", "--data-dir", str(tmp_path / "other"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "MNIST isn't cached and the download failed:" in err and "Traceback" not in err
    assert f"in {tmp_path / 'other' / 'mnist'}" in err


@pytest.mark.parametrize(("template", "real"), [("lenet5", "mnist"), ("mnist_mlp", "mnist"), ("cifar_cnn", "cifar10"),
                                                ("resnet18", "cifar10"), ("resnet_mini", "cifar10"),
                                                ("nanogpt_tiny", "shakespeare")])
def test_templates_train_on_the_real_set_once_it_is_cached(template: str, real: str,
                                                           served: dict[str, FixtureServer]) -> None:
    """Offline they keep their built-in default; once the real set is downloaded the Train tab, the CLI and the
    exported script start from it, and the design fits it (resnet18: CIFAR-10's 3×32×32, not 224×224)."""
    from builder.templates import load_template
    from builder.validate import validate
    from export.script import script_config
    from training.engine import train

    graph = load_template(template)
    offline = script_config(graph).dataset
    assert offline != real
    fetch.ensure(real, progress=lambda *a: None)
    config = script_config(graph, {"epochs": 1})
    assert config.dataset == real
    options = config.dataset_options or suggest_options(real, [tuple(n.params["shape"]) for n in graph.inputs()])
    data = load_dataset(real, seed=0, **options)
    assert validate(graph).valid, validate(graph).errors
    result = train(graph, data, config)
    assert result.status == "finished", result.message
