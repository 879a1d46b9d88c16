"""Copies of one class that differ in a setting (Inception's kernel 1/3/5, a DenseNet layer's growing input, a
TCN's dilation 1/2/4/8) share one block definition with a parameter for what differs, set per instance; copies one
class can't serve become separate definitions with a note; and nothing inside an import reaches the user as a
traceback (the CLI prints words)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from builder.graph import Graph
from builder.project import load_project, to_json
from builder.validate import validate
from cli.import_cmd import register
from cli.main import EXIT_INVALID, CliError
from codegen.loader import build_model
from codegen.source import generate_model
from importer import TRACE_BATCH, ImportFailure, ImportResult, example_inputs, import_module
from tests.import_corpus import differing
from tests.test_import import _randomize


def _import(model: nn.Module, shape: tuple[int, ...]) -> tuple[nn.Module, ImportResult]:
    model = _randomize(model)
    return model, import_module(model, example_inputs([shape], ["float"]))


def _instances(graph: Graph, definition: str) -> list[dict[str, Any]]:
    """Every instance of ``definition`` in the design (top level and inside blocks), its parameters filled in."""
    defaults = {p.name: p.param.default for p in graph.definitions[definition].params}
    graphs = [graph, *(d.graph for d in graph.definitions.values())]
    return [{**defaults, **n.params} for g in graphs for n in g.nodes if n.type == definition]


def _assert_verified(result: ImportResult) -> None:
    """The importer's own check: the rebuilt design gives the original's outputs at another batch size."""
    check = result.verification
    assert check.ran and check.same, check.note
    assert check.max_abs_diff <= 1e-5 and check.batch_size != TRACE_BATCH


def _assert_verified_and_loads(model: nn.Module, result: ImportResult, shape: tuple[int, ...]) -> None:
    """Verified, and the original's state dict loads as it is into the generated module (after the project
    format), which then gives the original's outputs at yet another batch size."""
    _assert_verified(result)
    again = load_project(to_json(result.graph))
    assert validate(again).valid
    rebuilt = build_model(generate_model(again)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    inputs = example_inputs([shape], ["float"], batch=5)
    with torch.no_grad():
        assert torch.allclose(rebuilt(*inputs), model(*inputs), atol=1e-5, rtol=0)


# --- Inception ----------------------------------------------------------------------------------------------

INCEPTION_SHAPE = (3, 17, 17)


def test_inception_basic_convs_share_a_definition_with_kernel_and_padding_parameters():
    _, result = _import(differing.InceptionNet(), INCEPTION_SHAPE)
    assert result.problems == [] and result.notes == []
    basic = result.graph.definitions["BasicConv2d"]
    assert {"kernel_size", "padding", "out_channels"} <= {p.name for p in basic.params}
    conv = next(n for n in basic.graph.nodes if n.id == "conv")
    assert conv.params["kernel_size"] == "$kernel_size" and conv.params["padding"] == "$padding"
    uses = _instances(result.graph, "BasicConv2d")
    assert len(uses) == 8  # the stem and 7 in InceptionA (one definition for both InceptionA blocks)
    assert {(u["kernel_size"], u["padding"]) for u in uses} == {(3, 0), (1, 0), (5, 2), (3, 1)}
    assert len(_instances(result.graph, "InceptionA")) == 2


def test_inception_is_verified():
    _, result = _import(differing.InceptionNet(), INCEPTION_SHAPE)
    _assert_verified(result)  # through the import's own weight mapping (result.origins)


def test_inception_takes_the_original_state_dict_as_it_is():
    model, result = _import(differing.InceptionNet(), INCEPTION_SHAPE)
    _assert_verified_and_loads(model, result, INCEPTION_SHAPE)


def test_inception_c_kernels_and_tuple_paddings_are_parameters():
    _, result = _import(differing.InceptionNet7x7(), (16, 9, 9))
    assert result.problems == [] and result.notes == []
    assert {"kernel_size", "padding"} <= {p.name for p in result.graph.definitions["BasicConv2d"].params}
    uses = _instances(result.graph, "BasicConv2d")
    assert sorted({(repr(u["kernel_size"]), repr(u["padding"])) for u in uses}) == [
        ("1", "0"), ("[1, 7]", "[0, 3]"), ("[7, 1]", "[3, 0]")]
    assert len(_instances(result.graph, "InceptionC")) == 2
    assert "Traceback" not in result.verification.note


def test_inception_c_is_verified():
    _, result = _import(differing.InceptionNet7x7(), (16, 9, 9))
    _assert_verified(result)


# --- DenseNet -----------------------------------------------------------------------------------------------

DENSE_SHAPE = (3, 8, 8)


def test_dense_layers_share_one_definition_whose_input_width_comes_from_the_input():
    model, result = _import(differing.DenseNet(), DENSE_SHAPE)
    assert result.problems == [] and result.notes == []
    assert len(_instances(result.graph, "DenseLayer")) == 4
    # The four copies take 8, 14, 20, 26 channels: read from the tensor that comes in, so no setting differs.
    source = generate_model(result.graph)
    assert "def __init__(self, in_channels: int)" in source.code.split("class DenseLayer")[1].split("class ")[0]
    _assert_verified_and_loads(model, result, DENSE_SHAPE)


# --- TCN ------------------------------------------------------------------------------------------------------

TCN_SHAPE = (3, 40)


@pytest.mark.parametrize("pad", ["constant", "functional"])
def test_tcn_blocks_share_a_definition_with_a_dilation_parameter(pad):
    _, result = _import(differing.TCN(pad), TCN_SHAPE)
    block = result.graph.definitions["TemporalBlock"]
    assert {"dilation", "padding", "downsample"} <= {p.name for p in block.params}
    uses = _instances(result.graph, "TemporalBlock")
    assert [u["dilation"] for u in uses] == [1, 2, 4, 8]
    left = [[2, 0], [4, 0], [8, 0], [16, 0]] if pad != "chomp" else [2, 4, 8, 16]
    assert [u["padding"] for u in uses] == left
    assert [u["downsample"] for u in uses] == [True, False, False, False]  # 3 → 8 channels, then 8 → 8
    assert result.notes == []


@pytest.mark.parametrize("pad", ["constant", "functional"])
def test_tcn_is_verified_and_takes_the_original_state_dict(pad):
    model, result = _import(differing.TCN(pad), TCN_SHAPE)
    _assert_verified_and_loads(model, result, TCN_SHAPE)


def test_a_chomped_tcn_is_the_index_op_and_uses_that_slice_differently_get_their_own_definitions():
    """``x[:, :, :-self.chomp_size]`` is the index op written out in forward(), so a slice that differs between uses
    can't be a block parameter: each TemporalBlock whose chomp differs has a definition of its own, said in the
    notes, and the whole still takes the original's state dict and computes the same."""
    model, result = _import(differing.TCN("chomp"), TCN_SHAPE)
    assert result.problems == []
    graphs = [result.graph, *(d.graph for d in result.graph.definitions.values())]
    slices = sorted({n.params["index"] for g in graphs for n in g.nodes if n.type == "index"})
    assert slices[:4] == [":, :, :-16", ":, :, :-2", ":, :, :-4", ":, :, :-8"]
    assert result.notes and any("index" in note for note in result.notes)
    _assert_verified_and_loads(model, result, TCN_SHAPE)


# --- copies one class can't serve ---------------------------------------------------------------------------


class _ConvNorm(nn.Module):
    def __init__(self, batch_norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4) if batch_norm else nn.GroupNorm(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x)))


class _TwoNorms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = _ConvNorm(True), _ConvNorm(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_copies_with_another_layer_type_become_separate_definitions_with_a_note():
    model, result = _import(_TwoNorms(), (4, 6, 6))
    assert set(result.graph.definitions) == {"ConvNorm", "ConvNorm2"}
    assert result.notes == ["‘b’ (_ConvNorm) is its own block definition ConvNorm2, apart from ConvNorm: its ‘norm’ "
                            "is a GroupNorm where the other has a BatchNorm2d"]
    assert f"  note: {result.notes[0]}" in result.report_lines()
    _assert_verified_and_loads(model, result, (4, 6, 6))


# --- no traceback -------------------------------------------------------------------------------------------


def test_an_error_inside_the_models_own_code_during_import_is_an_import_failure_naming_its_line():
    model = differing.FixedBatch().eval()
    with pytest.raises(ImportFailure) as caught:
        import_module(model, example_inputs([(3, 4)], ["float"]))
    _, start = inspect.getsourcelines(differing.FixedBatch.forward)
    failure = caught.value
    assert failure.where == f"differing.py:{start + 1}"
    assert "verifying the design against the model failed with RuntimeError" in failure.detail
    assert "make that line work for any batch size" in failure.todo


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["import", *argv])
    return args.func(args)


def test_the_cli_prints_words_for_a_failing_model_and_verifies_the_tcn(tmp_path, capsys):
    with pytest.raises(CliError) as caught:
        _cli("tests/import_corpus/differing.py:FixedBatch", "--input", "3x4", "-o", str(tmp_path / "f.json"))
    assert caught.value.code == EXIT_INVALID and "differing.py:" in str(caught.value)
    code = _cli("tests/import_corpus/differing.py:TCN", "--input", "3x40", "-o", str(tmp_path / "tcn.json"))
    printed = capsys.readouterr().out
    assert "Traceback" not in printed
    assert code == 0 and "verified — same outputs" in printed  # codegen binds the $padding parameter


def test_the_app_shows_words_for_a_model_whose_own_line_fails(monkeypatch):
    from tests.test_import_app import _run

    source = Path("tests/import_corpus/differing.py").read_bytes()
    at = _run(monkeypatch, local=True, upload=("differing.py", source))
    at.text_input[0].input("FixedBatch")
    at.text_input[1].input("3x4")
    at.button[0].click().run()
    assert not at.exception
    [error] = at.error
    assert "‘differing.py’ can't be imported: importing FixedBatch at differing.py:" in error.value
    assert "make that line work for any batch size" in error.value


def test_an_error_in_layerlabs_own_code_names_the_model_class_and_the_stage():
    from builder.refs import RefError, parse_ref
    from importer.guard import unexpected

    with pytest.raises(RefError) as raised:  # a real error from inside LayerLab, with LayerLab's frames only
        parse_ref("$")
    # import_module catches in LayerLab's own frame; here the catching frame is this test's, so it is dropped
    err = raised.value.with_traceback(raised.value.__traceback__.tb_next)
    failure = unexpected(differing.FixedBatch(), "grouping submodules into block definitions", err)
    _, start = inspect.getsourcelines(differing.FixedBatch)
    assert failure.where == f"differing.py:{start} (class FixedBatch)"
    assert failure.detail.startswith("grouping submodules into block definitions failed with RefError: '$'")
    assert "the error is in LayerLab, not in FixedBatch's code" in failure.todo
    assert str(failure).startswith(f"importing FixedBatch at differing.py:{start} (class FixedBatch): grouping")
