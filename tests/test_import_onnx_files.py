"""ONNX files as the exporters write them (issue 20): weights in a separate .onnx.data file (the default exporter's
external data), read only from beside the file; the design named after the file or the model's class, never the
exporter's "main_graph"; a BatchNorm the exporter folded into a convolution said so in words."""

from __future__ import annotations

import contextlib
import io
import warnings

import onnx
import pytest
import torch
from torch import nn

from cli.main import EXIT_OK
from importer import ImportFailure
from importer.onnx_external import folder_reader
from importer.onnx_import import import_onnx
from tests.test_import import _randomize
from tests.test_import_cli import run
from tests.test_import_onnx_ops import onnx_file


class SmallVGG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def write_split(folder, model: nn.Module, x: torch.Tensor, name: str = "vgg.onnx"):
    """The default exporter's two files: the graph, and its weights in name + '.data'."""
    path = folder / name
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(_randomize(model), (x,), str(path), external_data=True)
    assert (folder / f"{name}.data").is_file()
    return path


def test_weights_kept_beside_the_file_are_read_from_there(tmp_path):
    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    result = import_onnx(path.read_bytes(), file_name=path.name, beside=folder_reader(str(tmp_path)))
    assert result.problems == [] and result.verification.same, result.verification.note
    assert result.state["classifier.weight"].shape == (5, 128)


def test_the_cli_reads_the_pair(tmp_path, capsys):
    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    assert run(str(path), "-o", str(tmp_path / "vgg.json")) == EXIT_OK
    assert "same outputs as onnxruntime" in capsys.readouterr().out


def test_one_file_without_its_weights_says_how_to_export_them_inside(tmp_path):
    """The app's upload brings one file: it says which file is missing and how to export without one."""
    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    with pytest.raises(ImportFailure) as caught:
        import_onnx(path.read_bytes(), file_name="vgg.onnx")
    message = str(caught.value)
    assert "‘vgg.onnx’ keeps its weights in a separate file, 'vgg.onnx.data'" in message
    assert "external_data=False" in message


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/w.data", "..\\w.data", "C:\\w.data"])
def test_a_weight_file_named_outside_the_folder_is_refused_before_anything_is_read(tmp_path, location):
    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    model = onnx.load_model_from_string(path.read_bytes())
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    asked: list[str] = []

    def beside(name: str) -> bytes | None:
        asked.append(name)
        return b""

    with pytest.raises(ImportFailure) as caught:
        import_onnx(model.SerializeToString(), beside=beside)
    assert "not a file beside it" in str(caught.value) and asked == []


def test_the_folder_reader_never_leaves_the_folder(tmp_path):
    (tmp_path / "inner").mkdir()
    (tmp_path / "outside.data").write_bytes(b"x")
    read = folder_reader(str(tmp_path / "inner"))
    assert read("../outside.data") is None and read(str(tmp_path / "outside.data")) is None


@pytest.mark.parametrize("dynamo", [True, False])
def test_the_design_is_named_after_the_file_never_main_graph(dynamo):
    data = onnx_file(_randomize(SmallVGG()), torch.randn(2, 3, 8, 8), dynamo)
    assert onnx.load_model_from_string(data).graph.name == "main_graph"
    assert import_onnx(data, file_name="uploads/vgg11_bn.onnx").graph.name == "vgg11_bn"
    unnamed = import_onnx(data).graph.name  # no file name: the model's class where the file records it
    assert unnamed == ("SmallVGG" if dynamo else "onnx_model")


@pytest.mark.parametrize("dynamo", [True, False])
def test_a_batchnorm_folded_into_a_convolution_is_said(dynamo):
    """Both exporters fold BatchNorm into the convolution before it in eval mode. The design computes what the file
    computes (verified), but the layer is gone: a note says so and how to export it kept."""
    result = import_onnx(onnx_file(_randomize(SmallVGG()), torch.randn(2, 3, 8, 8), dynamo))
    assert result.verification.same
    assert "BatchNorm2d" not in str(result.graph)
    notes = [n for n in result.notes if "folded" in n]
    assert len(notes) == 1 and "optimize=False" in notes[0] and "TrainingMode.PRESERVE" in notes[0]
    if dynamo:
        assert "folded a BatchNorm into the convolution before it (‘features.1’ into ‘features.0’)" in notes[0]
    else:  # TorchScript's file doesn't say which BatchNorm
        assert "folded a BatchNorm into the convolution before it (into ‘features.0’)" in notes[0]
    assert any("folded" in line for line in result.report_lines())


@pytest.mark.parametrize("dynamo, options", [(True, {"optimize": False}),
                                             (False, {"training": torch.onnx.TrainingMode.PRESERVE})])
def test_exported_as_the_note_says_the_batchnorm_comes_back(dynamo, options):
    model = _randomize(SmallVGG())
    result = import_onnx(onnx_file(model, torch.randn(2, 3, 8, 8), dynamo, **options))
    assert result.verification.same, result.verification.note
    assert not [n for n in result.notes if "folded" in n]
    assert set(model.state_dict()) - {"features.1.num_batches_tracked"} == set(result.state)


def test_the_app_upload_of_a_file_without_its_weights_says_what_to_do(monkeypatch, tmp_path):
    """The uploader takes one file: the message names the missing .onnx.data and the export that avoids it."""
    from tests.test_import_app import _run

    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    at = _run(monkeypatch, local=False, upload=("vgg.onnx", path.read_bytes()))
    assert not at.exception
    [error] = at.error
    assert "‘vgg.onnx’ can't be imported" in error.value and "'vgg.onnx.data'" in error.value
    assert "external_data=False" in error.value


@pytest.mark.parametrize("key, value, words", [("offset", "abc", "can't be read"),
                                               ("length", "99999999", "run past the end")])
def test_weight_entries_that_dont_fit_their_file_are_refused_in_words(tmp_path, key, value, words):
    path = write_split(tmp_path, SmallVGG(), torch.randn(2, 3, 8, 8))
    model = onnx.load_model_from_string(path.read_bytes())
    tensor = next(t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    entry = next((e for e in tensor.external_data if e.key == key), None) or tensor.external_data.add(key=key)
    entry.value = value
    with pytest.raises(ImportFailure) as caught:
        import_onnx(model.SerializeToString(), beside=folder_reader(str(tmp_path)))
    assert words in str(caught.value)
