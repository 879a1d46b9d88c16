"""ONNX import: corpus models exported with torch.onnx.export import without running any Python from the file,
and the rebuilt design matches onnxruntime on the file; what has no block stays visible, named by op and node."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from builder.importer import ImportFailure, example_inputs
from builder.importer.onnx_import import import_onnx
from builder.project import load_project, to_json
from builder.validate import validate
from cli.main import EXIT_OK
from tests.test_import import CORPUS, _randomize
from tests.test_import_cli import run

# The vision models match; the sequence models don't import whole from ONNX: an exported LSTM/GRU keeps ONNX's
# time-first layout and gate order, and exported attention is a web of MatMul/Transpose/Reshape across the batch.
MATCHING = ["mlp", "lenet", "resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "unet"]


def exported(name: str) -> bytes:
    factory, shapes, dtypes = CORPUS[name]
    model = _randomize(factory())
    inputs = example_inputs(shapes, dtypes, batch=2, high=40)
    names = [f"input_{k}" for k in range(len(inputs))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter says it is the legacy one
        torch.onnx.export(model, inputs, buffer, dynamo=False, input_names=names,
                          dynamic_axes={n: {0: "batch"} for n in names})
    return buffer.getvalue()


@pytest.mark.parametrize("name", MATCHING)
def test_exported_model_matches_onnxruntime(name):
    result = import_onnx(exported(name))
    assert result.problems == []
    check = result.verification
    assert check.ran and check.same, check.note
    assert check.max_abs_diff <= 1e-5 and check.batch_size == 2
    assert validate(load_project(to_json(result.graph))).valid
    assert result.counts()["parameters"] >= result.counts()["blocks"]  # weights came from the initializers


def test_what_has_no_block_is_named_by_op_and_node():
    result = import_onnx(exported("lstm_classifier"))
    assert not result.verification.ran
    messages = [p.message for p in result.problems]
    assert any("ONNX LSTM at /lstm/LSTM" in m and "layerlab import model.py:Class" in m for m in messages)
    unsupported = [n for n in result.graph.nodes if n.type == "Unsupported"]
    assert unsupported and all(n.params["where"].startswith("/lstm/") for n in unsupported)


def test_a_file_that_is_not_onnx_is_one_plain_message():
    with pytest.raises(ImportFailure) as caught:
        import_onnx(b"def forward(x): return x\n")
    assert "can't be read as ONNX" in str(caught.value)


def test_cli_imports_an_onnx_file_with_its_weights(tmp_path, capsys):
    from safetensors.torch import load_file

    from codegen.loader import build_model
    from codegen.source import generate_model

    path, out, weights = tmp_path / "lenet.onnx", tmp_path / "lenet.json", tmp_path / "lenet.safetensors"
    path.write_bytes(exported("lenet"))
    assert run(str(path), "-o", str(out), "--weights", str(weights)) == EXIT_OK
    printed = capsys.readouterr().out
    assert "imported from onnx" in printed and "same outputs as onnxruntime" in printed
    model = build_model(generate_model(load_project(out.read_text(encoding="utf-8"))))
    model.load_state_dict(load_file(str(weights)), strict=True)
