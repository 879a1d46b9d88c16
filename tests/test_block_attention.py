"""Attention maps for the attention layers inside blocks: every copy of a repeated block, self and cross,
named by the path the canvas shows. Real torch: a short gpt_tiny run, then the maps of its trained model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from builder.templates import load_template
from codegen.loader import build_model
from codegen.source import generate_model
from data.datasets import load_dataset
from training.attention import attention_layers, capture_attention, label_of, layer_labels
from training.engine import TrainConfig, train
from ui.train.train_insight import attention_views, token_input_of
from ui.train.train_results import has_attention, token_text


@pytest.fixture(scope="module")
def gpt_run():
    """gpt_tiny after one short epoch on next_token (a few hundred sequences: seconds on two cores)."""
    graph = load_template("gpt_tiny")
    data = load_dataset("next_token", seed=0, n_samples=300)
    config = TrainConfig.from_dict({**graph.meta["training"], "epochs": 1})
    return graph, data, train(graph, data, config)


def test_every_copy_of_the_inner_attention_gets_its_causal_maps(gpt_run) -> None:
    _graph, data, result = gpt_run
    batch = tuple(t[:5] for t in data.test.inputs)
    maps = capture_attention(result.model, result.source, batch)
    assert list(maps) == ["blocks"]  # the top-level node holding both copies
    assert [m.node for m in maps["blocks"]] == ["blocks.0.self_attn", "blocks.1.self_attn"]
    length = data.test.inputs[0].shape[1]
    for found in maps["blocks"]:
        assert found.kind == "self"
        assert found.weights.shape == (5, 4, length, length)  # batch × heads × T × T
        assert np.allclose(found.weights.sum(-1), 1.0, atol=1e-5)
        upper = np.triu(np.ones((length, length), dtype=bool), k=1)
        assert np.all(found.weights[..., upper] == 0)  # causal: no token looks at a later one
        assert found.weights[..., ~upper].max() > 0
    assert result.model.training  # captured in eval mode, then put back as it was


def test_views_are_titled_by_the_canvas_path_with_the_example_tokens(gpt_run) -> None:
    graph, data, result = gpt_run
    assert has_attention(graph)  # the attention is only inside the blocks
    views = attention_views(result.model, graph, result.source, result.plan, data.test, 0,
                            token_text(result, data, 0))
    assert [v.title for v in views] == ["blocks[0] › self_attn · self-attention",
                                        "blocks[1] › self_attn · self-attention"]
    tokens = token_text(result, data, 0)["tokens"]
    for view in views:
        assert view.weights.shape == (4, len(tokens), len(tokens))
        assert view.queries == tokens and view.keys == tokens


@pytest.mark.parametrize(("template", "expected"), [
    ("transformer_classifier", [("encoder.0.self_attn", "encoder[0] › self_attn"),
                                ("encoder.1.self_attn", "encoder[1] › self_attn")]),
    ("transformer_seq2seq", [("encoder.layers.self_attn", "encoder › layers › self_attn"),
                             ("decoder.layers.self_attn", "decoder › layers › self_attn"),
                             ("decoder.layers.cross_attn", "decoder › layers › cross_attn")]),
])
def test_each_template_names_its_inner_attention_layers(template: str, expected: list) -> None:
    graph = load_template(template)
    source = generate_model(graph)
    labels = layer_labels(graph)
    layers = attention_layers(build_model(source, seed=0), source)
    assert [(a.layer, label_of(a.layer, labels)) for a in layers] == expected
    assert has_attention(graph)


def test_a_catalog_transformer_layer_reads_as_its_node_then_its_module() -> None:
    labels = {"dec": "dec", "blocks.0.enc": "blocks[0] › enc"}
    assert label_of("dec", labels) == "dec"
    assert label_of("dec.multihead_attn", labels) == "dec › multihead_attn"
    assert label_of("stack.layers.1.self_attn", {"stack": "stack"}) == "stack › layers[1] › self_attn"
    assert label_of("blocks.0.enc.self_attn", labels) == "blocks[0] › enc › self_attn"  # a catalog layer in a block
    assert not has_attention(load_template("digits_mlp"))


def test_a_decoders_queries_come_through_its_tokens_port_whatever_the_edge_order() -> None:
    """The decoder block's query input is its ``tokens`` port: drawing the memory edge first must not label
    the queries with the source's tokens."""
    graph = load_template("transformer_seq2seq")
    reordered = dataclasses.replace(graph, edges=tuple(reversed(graph.edges)))
    assert reordered.in_edges("decoder")[0].port == "memory"
    assert token_input_of(reordered, "decoder", ("tgt", "x", "tokens", None)) == "tgt"
    assert token_input_of(reordered, "decoder", ("memory",)) == "src"


def test_attention_imported_as_an_op_node_has_its_maps_too() -> None:
    """nanoGPT's attention imported op by op (its c_attn / c_proj keep their names) is a scaled_dot_product_attention
    op node with no module to hook: its maps are read from the op's calls, per head, as softmax(q·kᵀ/√d) under the
    causal mask, the same numbers the original computes."""
    import math

    import torch

    from builder.blocks import expand
    from builder.validate import validate
    from importer import import_module
    from tests.import_corpus.hand_attention import FlashAttention, GPTOf
    from training.inspect import inspect_example

    torch.manual_seed(0)
    original = GPTOf(FlashAttention).eval()
    result = import_module(original, (torch.randint(0, 20, (2, 6)),))
    source = generate_model(result.graph)
    model = build_model(source).eval()
    model.load_state_dict(original.state_dict(), strict=True)
    assert has_attention(result.graph)
    tokens = torch.randint(0, 20, (1, 6))
    types = {n.id: n.type for n in expand(result.graph).flat.nodes}
    maps = capture_attention(model, source, (tokens,), types)
    [found] = maps["attn"]
    assert found.node == "attn.scaled_dot_product_attention" and found.kind == "self" and found.heads == 2
    with torch.no_grad():  # the original's own arithmetic, head by head
        x = original.embed(tokens)
        q, k, _ = original.attn.c_attn(x).split(16, dim=2)
        q, k = (z.view(1, 6, 2, 8).transpose(1, 2) for z in (q, k))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
        expected = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
    assert np.allclose(found.weights, expected.numpy(), atol=1e-6)
    inspected = inspect_example(model, source, validate(result.graph), (tokens,))
    assert np.allclose(inspected.attention["attn"][0].weights, found.weights)
    with torch.no_grad():  # watching changed nothing
        assert torch.equal(model(tokens), original(tokens))
