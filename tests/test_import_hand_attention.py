"""Attention written by hand, imported from PyTorch: a submodule computing exactly what nn.MultiheadAttention does
(nanoGPT's CausalSelfAttention) becomes one MultiheadAttention block whose weights are its own parameters; one that
computes something else is named by op and source line, with what to do — never a silent constant."""

from __future__ import annotations

import torch

from codegen.loader import build_model
from codegen.source import generate_model
from importer import import_module
from importer.verify import carry_weights
from tests.import_corpus.hand_attention import HandWrittenGPT, OddAttentionModel


def test_nanogpt_style_attention_becomes_one_multihead_attention_block():
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
