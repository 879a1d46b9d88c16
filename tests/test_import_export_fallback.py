"""torch.export as the fallback where torch.fx can't follow forward(): the model is exported in memory and read like
an ONNX file, then verified against the module itself at another batch size; the CLI writes its weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from builder.project import load_project
from codegen.loader import build_model
from codegen.source import generate_model
from importer import ImportFailure, import_module
from tests.test_import_cli import run


def test_a_model_fx_cant_trace_is_read_through_torch_export_and_verified():
    from tests.import_corpus.export_only import LenMaskGPT

    torch.manual_seed(0)
    result = import_module(LenMaskGPT().eval(), (torch.randint(0, 20, (2, 6)),))
    assert result.source == "torch.export" and result.problems == []
    assert "must be a tensor of token ids" in result.note and "so torch.export traced it" in result.report_lines()[1]
    check = result.verification
    assert check.same and check.batch_size == 1, check.note  # against the module, at another batch than traced
    assert {n.id: n.type for n in result.graph.nodes}["attn"] == "MultiheadAttention"
    assert dict(result.graph.node("attn").params)["causal"] is True


def test_what_neither_can_follow_keeps_the_fx_message():
    class Branchy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) if x.sum() > 0 else -x

    with pytest.raises(ImportFailure) as caught:
        import_module(Branchy().eval(), (torch.randn(2, 3),))
    assert caught.value.what == "data-dependent control flow"


def test_the_cli_writes_the_weights_of_a_design_read_through_torch_export(tmp_path, capsys):
    out, weights = tmp_path / "gpt.json", tmp_path / "gpt.safetensors"
    code = run("tests/import_corpus/export_only.py:LenMaskGPT", "--input", "6", "--dtype", "long", "--vocab", "20",
               "-o", str(out), "--weights", str(weights), "--json")
    assert code == 0, capsys.readouterr()
    assert json.loads(capsys.readouterr().out)["source"] == "torch.export"
    model = build_model(generate_model(load_project(out.read_text(encoding="utf-8")))).eval()
    model.load_state_dict(load_file(str(weights)), strict=True)


def test_torch_export_keeps_batchnorm_and_the_original_state_dict():
    from tests.import_corpus.export_only import GuardedConvBN

    torch.manual_seed(0)
    model = GuardedConvBN().eval()
    with torch.no_grad():  # statistics that are not the identity, so a folded or missing BatchNorm shows
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2.0)
    result = import_module(model, (torch.randn(2, 3, 4, 4),))
    assert result.source == "torch.export", result.note
    assert {n.id: n.type for n in result.graph.nodes}["bn"] == "BatchNorm2d"
    # verified with the module's own state dict (strict load by the original's names), at another batch size
    assert result.verification.same and "no place in the design" not in result.verification.note, \
        result.verification.note
    assert result.origins == {"conv": "conv", "bn": "bn", "fc": "fc"}
