"""Attention written by hand, imported from PyTorch: read op by op where every op has a block (its layers keep the
original's names); otherwise a submodule computing exactly what nn.MultiheadAttention does becomes one
MultiheadAttention block whose weights are its own parameters; one that computes something else is named by op and
source line, with what to do — never a silent constant."""

from __future__ import annotations

import torch

from codegen.loader import build_model
from codegen.source import generate_model
from importer import import_module
from importer.verify import carry_weights
from tests.import_corpus.hand_attention import (
    FlashAttention,
    GPTOf,
    HandWrittenGPT,
    MaskBufferAttention,
    OddAttentionModel,
)


def test_nanogpt_style_attention_becomes_one_multihead_attention_block():
    # Its mask is made in forward() (torch.triu(torch.ones(t, t))), a constant no block makes: read op by op the
    # masked_fill would be Unsupported, so the module, which running shows to be a MultiheadAttention, is fused.
    torch.manual_seed(0)
    model = HandWrittenGPT().eval()
    result = import_module(model, (torch.randint(0, 20, (2, 6)),))
    assert result.problems == [] and result.verification.same, result.verification.note
    nodes = {n.id: n for n in result.graph.nodes}
    assert nodes["attn"].type == "MultiheadAttention"
    assert dict(nodes["attn"].params) == {"num_heads": 2, "causal": True, "bias": True, "dropout": 0.0}
    source = generate_model(result.graph)
    rebuilt = build_model(source).eval()
    state, unused = carry_weights(source, rebuilt, model.state_dict(), result.origins, result.renames)
    assert unused == []  # qkv and proj became in_proj and out_proj, nothing left over
    rebuilt.load_state_dict(state, strict=True)
    tokens = torch.randint(0, 20, (5, 6))
    with torch.no_grad():
        assert torch.allclose(rebuilt(tokens), model(tokens), atol=1e-5, rtol=0)


def test_attention_with_other_arithmetic_comes_back_as_the_ops_it_is_written_with():
    """Not MultiheadAttention (its scale differs), so each line is its op block: the split, the matmuls, the
    softmax; the design computes the same."""
    result = import_module(OddAttentionModel().eval(), (torch.randint(0, 20, (2, 6)),))
    assert result.problems == [] and result.verification.same, result.verification.note
    graphs = [result.graph, *(d.graph for d in result.graph.definitions.values())]
    types = {n.type for g in graphs for n in g.nodes}
    assert "MultiheadAttention" not in types and {"split", "matmul", "Softmax"} <= types, types


def _generated(result):
    source = generate_model(result.graph)
    return source.code, build_model(source).eval()


def _types(result) -> set[str]:
    graphs = [result.graph, *(d.graph for d in result.graph.definitions.values())]
    return {n.type for g in graphs for n in g.nodes}


def test_attention_whose_ops_all_have_blocks_keeps_its_own_layers_and_names():
    """nanoGPT on PyTorch 2 (F.scaled_dot_product_attention, is_causal): read op by op, not fused, so attn.c_attn
    and attn.c_proj load from the original state dict as they are."""
    torch.manual_seed(0)
    model = GPTOf(FlashAttention).eval()
    result = import_module(model, (torch.randint(0, 20, (2, 6)),))
    assert result.problems == [] and result.verification.same and result.verification.by_name, \
        result.verification.note
    assert "MultiheadAttention" not in _types(result) and "scaled_dot_product_attention" in _types(result)
    code, rebuilt = _generated(result)
    assert "self.c_attn = nn.Linear(" in code and "is_causal=True" in code, code
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    tokens = torch.randint(0, 20, (5, 6))
    with torch.no_grad():
        assert torch.allclose(rebuilt(tokens), model(tokens), atol=1e-5, rtol=0)


def test_a_causal_mask_buffer_used_by_masked_fill_is_kept_under_its_own_name():
    """minGPT: att.masked_fill(self.bias[:, :, :T, :T] == 0, -inf). The buffer is a Buffer node named bias in the
    attention's class, so attn.bias loads strictly; the test and the fill are the masked_fill block's."""
    torch.manual_seed(0)
    model = GPTOf(MaskBufferAttention).eval()
    result = import_module(model, (torch.randint(0, 20, (2, 6)),))
    assert result.problems == [] and result.verification.same and result.verification.by_name, \
        result.verification.note
    assert {"Buffer", "masked_fill"} <= _types(result) and "MultiheadAttention" not in _types(result)
    code, rebuilt = _generated(result)
    assert 'self.register_buffer("bias", torch.zeros(1, 1, 8, 8))' in code, code
    assert '.masked_fill(' in code and '== 0.0, float("-inf"))' in code, code
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    tokens = torch.randint(0, 20, (3, 6))
    with torch.no_grad():
        assert torch.allclose(rebuilt(tokens), model(tokens), atol=1e-5, rtol=0)
