"""The several-outputs mechanism for a block with no main output, the kind chunk/split/unbind blocks are: every
edge must name its piece, the code reads ``x1, x2 = x.chunk(2, dim=1)`` and equals torch.

The block here is registered for these tests only (and removed after), so the catalog's own tests don't see it:
the catalog's chunk/split/unbind blocks are built on this mechanism elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from builder.catalog.registry import (
    _REGISTRY,
    BlockError,
    BlockSpec,
    Category,
    Emission,
    Example,
    Outputs,
    Port,
    TensorSpec,
)
from builder.graph import Edge, Graph, Node
from builder.params import Int
from builder.project import ProjectError, dump_project, load_project, to_json
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model


def _infer(p, inputs):
    x = inputs["x"]
    if x.shape[0] % p["chunks"]:
        raise BlockError(f"{x.shape[0]} features don't split into {p['chunks']} equal pieces")
    return {str(k): TensorSpec((x.shape[0] // p["chunks"], *x.shape[1:]), x.dtype) for k in range(p["chunks"])}


def _emit(p, inputs):
    names = tuple(str(k) for k in range(p["chunks"]))
    return Emission(None, "", unpack=names, unpacked=f"{{unpack}} = {{x}}.chunk({p['chunks']}, dim=1)")


PIECES = BlockSpec(
    type="TestPieces", category=Category.MERGE, doc="Splits features into equal pieces (a test block).",
    params=(Int("chunks", 2, "How many pieces", lo=1, hi=8),), infer=_infer, emit=_emit, ports=(Port("x"),),
    examples=(Example({}, {"x": TensorSpec((8,))}),),
    outputs=lambda p: Outputs(tuple(str(k) for k in range(p["chunks"]))),  # no main output: every edge names one
)


@pytest.fixture(autouse=True)
def pieces_block() -> Iterator[None]:
    _REGISTRY[PIECES.type] = PIECES
    yield
    del _REGISTRY[PIECES.type]


def two_branches(second: str | None = "1") -> Graph:
    return Graph("branches", (
        Node("x", "Input", {"shape": [8]}),
        Node("split", "TestPieces"),
        Node("left", "Linear", {"out_features": 3}),
        Node("right", "Linear", {"out_features": 3}),
        Node("join", "Add"),
    ), (Edge("x", "split"), Edge("split", "left", source_port="0"), Edge("split", "right", source_port=second),
        Edge("left", "join"), Edge("right", "join")))


def test_pieces_read_like_shufflenet_and_equal_torch() -> None:
    graph = two_branches()
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    assert result.nodes["split"].outputs == {"0": TensorSpec((4,)), "1": TensorSpec((4,))}
    source = generate_model(graph, result)
    forward = source.code.split("    def forward(")[-1].split("\n\n")[0].splitlines()[1:]
    assert [line.strip() for line in forward] == [
        "x1, x2 = x.chunk(2, dim=1)  # x1: (N, 4), x2: (N, 4)",
        "x1 = self.left(x1)  # (N, 3)",
        "x2 = self.right(x2)  # (N, 3)",
        "x = x1 + x2  # (N, 3)",  # the pieces' join is the main path again
        "return x",
    ]
    model = build_model(source, seed=0).eval()
    x = torch.randn(5, 8)
    with torch.no_grad():
        a, b = x.chunk(2, dim=1)
        torch.testing.assert_close(model(x), model.left(a) + model.right(b))


def test_an_edge_from_a_block_without_a_main_output_must_name_one() -> None:
    result = validate(two_branches(second=None))
    (issue,) = result.errors
    assert issue.node == "right" and issue.edge == ("split", "right")
    assert issue.message == "the edge from ‘split’: ‘split’ has several outputs (0, 1): the edge must say which it reads"


def test_outputs_follow_the_parameters_in_files_too() -> None:
    graph = two_branches().replace_node(Node("split", "TestPieces", {"chunks": 4}))
    assert load_project(to_json(graph)) == graph
    data = dump_project(graph)
    data["edges"][2]["source_port"] = "4"
    with pytest.raises(ProjectError) as caught:
        load_project(data)
    assert caught.value.problems == [
        "edges[2] ('split' → 'right'): 'split' (TestPieces) has no output '4'; its outputs: 0, 1, 2, 3"]
    unread = Graph("unread", graph.nodes[:2], graph.edges[:1])  # nothing reads it: the model returns its first piece
    source = generate_model(unread)
    assert "x1, _, _, _ = x.chunk(4, dim=1)" in source.code
    with torch.no_grad():
        x = torch.randn(2, 8)
        torch.testing.assert_close(build_model(source)(x), x[:, :2])
