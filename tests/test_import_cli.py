"""`layerlab import`: writes a loadable design and its weights, prints the report, exits 1 with one plain line
(no traceback) when the model can't be imported."""

from __future__ import annotations

import argparse

import pytest
from safetensors.torch import load_file

from builder.project import load_project
from cli.import_cmd import register
from cli.main import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, CliError
from codegen.loader import build_model
from codegen.source import generate_model


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["import", *argv])
    return args.func(args)


def test_import_writes_a_design_and_its_weights(tmp_path, capsys):
    out, weights = tmp_path / "lenet.json", tmp_path / "lenet.safetensors"
    code = run("tests/import_corpus/vision.py:LeNet", "--args", '{"classes": 7}', "--input", "1x28x28",
               "-o", str(out), "--weights", str(weights))
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert "14 blocks" in printed and "verified — same outputs" in printed
    model = build_model(generate_model(load_project(out.read_text(encoding="utf-8"))))
    model.load_state_dict(load_file(str(weights)), strict=True)
    assert model.fc3.out_features == 7


def test_a_model_that_cannot_be_traced_is_one_line(tmp_path):
    with pytest.raises(CliError) as caught:
        run("tests/import_corpus/failures.py:DataDependent", "--input", "4", "-o", str(tmp_path / "x.json"))
    assert caught.value.code == EXIT_INVALID
    [line] = caught.value.lines
    assert "data-dependent control flow at failures.py:" in line


def test_bad_arguments_are_named(tmp_path):
    for argv, words in ((("tests/import_corpus/vision.py:Nope", "--input", "4"), "defines no Nope"),
                        (("tests/import_corpus/vision.py:MLP", "--input", "3xa"), "--input 3xa"),
                        (("tests/import_corpus/vision.py:MLP", "--args", "{", "--input", "20"), "not JSON")):
        with pytest.raises(CliError) as caught:
            run(*argv, "-o", str(tmp_path / "x.json"))
        assert words in caught.value.lines[0]


def test_an_install_without_onnx_gets_a_message_not_a_traceback(tmp_path, monkeypatch):
    """pip --no-deps can leave the onnx package out: importing a file then says what to install."""
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "importer.onnx_import", raising=False)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(CliError) as caught:
        run(str(path), "-o", str(tmp_path / "out.json"))
    assert caught.value.code == EXIT_UNREADABLE
    assert "ONNX support needs the package 'onnx'" in str(caught.value)
