"""Every catalog entry, every example: the inferred shape and parameter count equal what real torch does.

The module that runs is the generated source imported from a file, so this also checks codegen per block.
"""

from __future__ import annotations

import pytest
import torch

from builder.catalog import TensorSpec, all_blocks
from builder.graph import Edge, Graph, Node
from builder.validate import validate
from codegen.loader import build_model, example_batch
from codegen.source import generate_model

# Unsupported (an import's placeholder) is an error by design; tests/test_import.py checks its message.
CASES = [(block, k, ex) for block in all_blocks() if block.type != "Unsupported" for k, ex in enumerate(block.examples)]


def test_catalog_is_large_enough_and_covers_the_seeds():
    types = {b.type for b in all_blocks()}
    assert len(types) >= 45
    needed = {
        "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten",
        "Reshape", "Permute", "ReLU", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax",
        "LogSoftmax", "Dropout", "Dropout2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Embedding",
        "RNN", "LSTM", "GRU", "MultiheadAttention", "PositionalEncoding", "TransformerEncoderLayer",
        "TransformerDecoderLayer", "Add", "Concat", "Multiply", "LastTimeStep", "SequencePool",
    }
    assert needed <= types


def test_every_block_documents_itself():
    for block in all_blocks():
        assert block.doc.strip(), block.type
        for param in block.params:
            assert param.doc.strip(), f"{block.type}.{param.name}"
            if not (param.inferred or param.optional):
                assert param.check(param.default) == param.default or isinstance(param.default, list)


def one_block_graph(block, example) -> Graph:
    nodes, edges = [], []
    for port, spec in example.inputs.items():
        specs = spec if isinstance(spec, list) else [spec]
        for k, s in enumerate(specs, start=1):
            node_id = f"in_{port}_{k}"
            if s.batched:
                nodes.append(Node(node_id, "Input", {"shape": list(s.shape), "dtype": s.dtype}))
            else:  # a weight of a functional op (F.linear): a Parameter of the model
                nodes.append(Node(node_id, "Parameter", {"shape": list(s.shape), "init": "normal"}))
            edge_port = str(k) if isinstance(spec, list) else port
            edges.append(Edge(node_id, "block", edge_port))
    nodes.append(Node("block", block.type, dict(example.params)))
    if block.is_source and block.type != "Input":  # a Parameter or Buffer: added to a batch, as a model uses it
        nodes += [Node("x", "Input", {"shape": list(example.params.get("shape", block.defaults()["shape"]))}),
                  Node("use", "add", {})]
        edges += [Edge("x", "use", "x"), Edge("block", "use", "y")]
    return Graph(name=f"test_{block.type}", nodes=tuple(nodes), edges=tuple(edges))


@pytest.mark.parametrize("block,k,example", CASES, ids=[f"{b.type}-{k}" for b, k, _ in CASES])
def test_inferred_shape_and_count_match_torch(block, k, example):
    graph = one_block_graph(block, example)
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    info = result.nodes["use" if "use" in result.nodes else "block"]
    source = generate_model(graph, result)
    model = build_model(source, seed=0)
    model.eval()
    with torch.no_grad():
        out = model(*example_batch(source, batch_size=3))
    assert tuple(out.shape) == ((3, *info.output.shape) if info.output.batched else info.output.shape)
    expected_dtype = torch.long if info.output.dtype == "long" else torch.float32
    assert out.dtype == expected_dtype
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == sum(i.param_count for i in result.nodes.values())  # the block's, and any Parameter's


def test_tensor_spec_prints_with_batch_dimension():
    assert str(TensorSpec((16, 8, 8))) == "(N, 16, 8, 8)"
