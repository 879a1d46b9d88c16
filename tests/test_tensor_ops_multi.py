"""chunk, split and unbind: every example's pieces, as validation infers them (torch on meta tensors) and as the
generated code computes them, equal torch's own call on the same real tensors; a wrong number of pieces is
said in words with the number torch gives; and ShuffleNet's ``x1, x2 = x.chunk(2, dim=1)`` into two branches
validates, reads as written by hand and trains."""

from __future__ import annotations

import pytest
import torch

import codegen  # noqa: F401  (the shape oracle)
from builder.catalog import Category, all_blocks
from builder.graph import Edge, Graph, Node
from builder.project import load_project, to_json
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model
from data.datasets import load_dataset
from training.engine import TrainConfig, train


def _split(p, x):
    sizes = p["sizes"]
    return torch.split(x, sizes[0] if len(sizes) == 1 else sizes, dim=p["dim"])


REFERENCE = {
    "chunk": lambda p, x: torch.chunk(x, p["chunks"], dim=p["dim"]),
    "split": _split,
    "unbind": lambda p, x: torch.unbind(x, dim=p["dim"]),
}
PIECES = [b for b in all_blocks() if b.category is Category.TENSOR_OPS and b.outputs is not None]
CASES = [(b, k, ex) for b in PIECES for k, ex in enumerate(b.examples)]


def test_every_op_with_pieces_has_a_reference_and_several_argument_sets():
    assert {b.type for b in PIECES} == set(REFERENCE)
    assert all(len(b.examples) >= 3 for b in PIECES)


def pieces_graph(block, params, shape) -> Graph:
    """x → the op → one Identity per piece, so the model returns every piece, in order."""
    names = block.outputs({**block.defaults(), **params}).names
    nodes = [Node("x", "Input", {"shape": list(shape)}), Node("op", block.type, dict(params))]
    nodes += [Node(f"p{name}", "Identity") for name in names]
    edges = [Edge("x", "op")] + [Edge("op", f"p{name}", source_port=name) for name in names]
    return Graph(f"pieces_{block.type}", tuple(nodes), tuple(edges))


@pytest.mark.parametrize("block,k,example", CASES, ids=[f"{b.type}-{k}" for b, k, _ in CASES])
def test_pieces_equal_torch(block, k, example):
    graph = pieces_graph(block, example.params, example.inputs["x"].shape)
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    params = {**block.defaults(), **example.params}
    source = generate_model(graph, result)
    assert f"= x.{block.type}(" in source.code
    model = build_model(source, seed=0)
    x = torch.randn(3, *example.inputs["x"].shape, generator=torch.Generator().manual_seed(k))
    with torch.no_grad():
        got = model(x)
    expected = REFERENCE[block.type](params, x)
    assert len(got) == len(expected) == len(result.nodes["op"].outputs)
    for name, out, want in zip(block.outputs(params).names, got, expected):
        spec = result.nodes["op"].outputs[name]
        assert tuple(out.shape) == (3, *spec.shape) and spec.batched and spec.dtype == "float"
        torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert result.nodes["op"].macs == 0  # torch counts no FLOPs for a cut


@pytest.mark.parametrize("type_,params,shape,message,fix", [
    ("chunk", {"chunks": 4}, [6], "chunk: chunk(4, dim=1) of x (N, 6) gives 3 pieces (2, 2, 2), not 4",
     {"name": "chunks", "value": 3}),
    ("split", {"sizes": [3]}, [7], "split: split(3, dim=1) of x (N, 7) gives 3 pieces (3, 3, 1), not 2",
     {"name": "pieces", "value": 3}),
    ("unbind", {"count": 3}, [2, 4], "unbind: unbind(dim=1) of x (N, 2, 4) gives 2 pieces, not 3",
     {"name": "count", "value": 2}),
    ("chunk", {"dim": 0}, [4, 2], "chunk: dim 0 of x (N, 4, 2) is the batch; cut a dimension after it",
     {"name": "dim", "value": 1}),
    ("unbind", {"dim": -2}, [4], "unbind: dim -2 of x (N, 4) is the batch; cut a dimension after it",
     {"name": "dim", "value": 1}),
])
def test_a_wrong_number_of_pieces_is_said_in_words_with_a_fix(type_, params, shape, message, fix):
    graph = Graph("wrong", (Node("x", "Input", {"shape": shape}), Node("op", type_, params)), (Edge("x", "op"),))
    [issue] = validate(graph).errors
    assert (issue.node, issue.message) == ("op", message)
    assert issue.fix is not None and dict(issue.fix.args) == fix


def test_sizes_that_dont_add_up_are_torchs_words():
    graph = Graph("sizes", (Node("x", "Input", {"shape": [7]}), Node("op", "split", {"sizes": [3, 3]})),
                  (Edge("x", "op"),))
    [issue] = validate(graph).errors
    assert issue.message.startswith("split: torch refuses x (N, 7): split_with_sizes expects split_sizes to sum "
                                    "exactly to 7")


def shufflenet_like() -> Graph:
    """A ShuffleNet unit's split: half the channels pass through, the other half is convolved; then joined."""
    return Graph("halves", (
        Node("x", "Input", {"shape": [1, 8, 8]}),
        Node("stem", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
        Node("halves", "chunk", {"chunks": 2, "dim": 1}),
        Node("conv", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}),
        Node("relu", "ReLU"),
        Node("joined", "cat", {"dim": 1}),
        Node("flat", "flatten", {"start_dim": 1}),
        Node("head", "Linear", {"out_features": 10}),
    ), (Edge("x", "stem"), Edge("stem", "halves"), Edge("halves", "joined", "1", source_port="0"),
        Edge("halves", "conv", source_port="1"), Edge("conv", "relu"), Edge("relu", "joined", "2"),
        Edge("joined", "flat"), Edge("flat", "head")))


def test_chunk_into_two_branches_validates_reads_well_and_trains():
    graph = shufflenet_like()
    assert load_project(to_json(graph)) == graph  # the pieces' edges survive a file (format version 3)
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    assert {k: str(v) for k, v in result.nodes["halves"].outputs.items()} == {"0": "(N, 4, 8, 8)",
                                                                             "1": "(N, 4, 8, 8)"}
    source = generate_model(graph, result)
    forward = [line.strip() for line in source.code.split("    def forward(")[-1].split("\n\n")[0].splitlines()[1:]]
    assert forward == [
        "x = self.stem(x)  # (N, 8, 8, 8)",
        "x1, x2 = x.chunk(2, dim=1)  # x1: (N, 4, 8, 8), x2: (N, 4, 8, 8)",
        "x2 = self.conv(x2)  # (N, 4, 8, 8)",
        "x2 = self.relu(x2)  # (N, 4, 8, 8)",
        "x = torch.cat([x1, x2], dim=1)  # (N, 8, 8, 8)",  # the pieces' join is the main path again
        "x = torch.flatten(x, 1)  # (N, 512)",
        "x = self.head(x)  # (N, 10)",
        "return x",
    ], source.code
    model = build_model(source, seed=0)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        a, b = model.stem(x).chunk(2, dim=1)
        want = model.head(torch.flatten(torch.cat([a, torch.relu(model.conv(b))], dim=1), 1))
        torch.testing.assert_close(model(x), want)
    torch.set_num_threads(1)
    run = train(graph, load_dataset("digits", seed=0), TrainConfig(epochs=2, batch_size=64, seed=0))
    assert run.status == "finished", run.message
    losses = [h["train_loss"] for h in run.history]
    assert losses[1] < losses[0], losses
