"""Block classes are right for every input, not only the one they were drawn with (issue 18).

Hypothesis draws random valid designs — chains of the catalog's layers with residual and concatenated branches, on
images, sequences and flat features of several sizes — groups a random run of them into a block with
``group_edits.group``, uses that block 1–3 times on inputs of different widths, and checks against real torch:

1. the generated module equals the validator: output shape and parameter count;
2. the generated block class is right for another input: the same design with another input size (which the
   validator accepts) is generated, its block class is swapped for the first design's class, and the model built
   from it still has the validator's output shape and parameter count.
A class bound by coinciding values (``kernel_size=in_channels``) fails the second check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builder.graph import Edge, Graph, Node
from builder.group_edits import group
from builder.templates import load_template
from builder.validate import validate
from codegen.source import generate_model

CASES = 2000  # issue 18 asks for at least 2,000 in CI
BLOCK = "Unit"
OUTER = "Outer"  # a block holding a Unit and what follows it: a block made of blocks


@dataclass(frozen=True)
class Family:
    """Layers that take and give one kind of tensor, and how to change the width between uses."""

    name: str
    shapes: tuple[tuple[int, ...], ...]  # input shapes without the batch; the last is the width that varies
    width_dim: int  # which dimension is the width (channels or features)
    layers: tuple[tuple[str, dict[str, Any]], ...]  # (type, params) a unit may be
    keeps_width: tuple[tuple[str, dict[str, Any]], ...]  # layers a residual branch may hold
    transition: str  # the layer that changes the width between uses of the block


def _convs() -> tuple[tuple[str, dict[str, Any]], ...]:
    out = []
    for width in (3, 4, 8):
        for kernel, padding in ((1, 0), (3, 1), (3, 0)):
            out.append(("Conv2d", {"out_channels": width, "kernel_size": kernel, "padding": padding}))
    out.append(("Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 1, "bias": False}))
    out.append(("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}))
    return tuple(out)


IMAGES = Family(
    "images", ((3, 12, 12), (1, 10, 10), (4, 9, 9), (2, 16, 16)), 0,
    (*_convs(), ("BatchNorm2d", {}), ("ReLU", {}), ("GELU", {}), ("Dropout", {"p": 0.1}),
     ("GroupNorm", {"num_groups": 1}), ("MaxPool2d", {"kernel_size": 2, "stride": 1})),
    (("BatchNorm2d", {}), ("ReLU", {}), ("Dropout", {"p": 0.2}), ("InstanceNorm2d", {"affine": True})),
    "Conv2d",
)
FEATURES = Family(
    "features", ((5,), (8,), (3,), (16,)), 0,
    (("Linear", {"out_features": 5}), ("Linear", {"out_features": 8}), ("Linear", {"out_features": 3, "bias": False}),
     ("ReLU", {}), ("Tanh", {}), ("LayerNorm", {}), ("BatchNorm1d", {}), ("Dropout", {"p": 0.1})),
    (("LayerNorm", {}), ("ReLU", {}), ("Dropout", {"p": 0.3})),
    "Linear",
)
SEQUENCES = Family(
    "sequences", ((6, 8), (4, 12), (5, 4)), 1,
    (("Linear", {"out_features": 8}), ("Linear", {"out_features": 4}), ("LayerNorm", {}), ("GELU", {}),
     ("MultiheadAttention", {"num_heads": 1}), ("Dropout", {"p": 0.1})),
    (("LayerNorm", {}), ("MultiheadAttention", {"num_heads": 1}), ("ReLU", {})),
    "Linear",
)
FAMILIES = (IMAGES, FEATURES, SEQUENCES)


@dataclass
class Draft:
    """A design being drawn: a chain of units, each one layer or a small branch that joins back."""

    nodes: list[Node]
    edges: list[Edge]
    last: str
    units: list[list[str]]  # node ids of each unit, in order

    def add(self, type_name: str, params: dict[str, Any], sources: list[str], port_names: bool = False) -> str:
        node_id = f"n{len(self.nodes)}"
        self.nodes.append(Node(node_id, type_name, params))
        for k, source in enumerate(sources):
            self.edges.append(Edge(source, node_id, str(k + 1) if port_names else None))
        return node_id


@st.composite
def unit(draw: st.DrawFn, family: Family, draft: Draft) -> None:
    """One unit after ``draft.last``: a layer, a residual branch (x + f(x)) or two branches concatenated."""
    kind = draw(st.sampled_from(["layer", "layer", "layer", "residual", "concat"]))
    start = len(draft.nodes)
    if kind == "layer":
        type_name, params = draw(st.sampled_from(family.layers))
        draft.last = draft.add(type_name, dict(params), [draft.last])
    elif kind == "residual":
        branch = draft.last
        for type_name, params in draw(st.lists(st.sampled_from(family.keeps_width), min_size=1, max_size=2)):
            branch = draft.add(type_name, dict(params), [branch])
        draft.last = draft.add("Add", {}, [draft.last, branch], port_names=True)
    else:
        widths = draw(st.lists(st.sampled_from([2, 3, 5]), min_size=2, max_size=2))
        dim = 1 + family.width_dim  # with the batch
        branches = [draft.add(family.transition, _transition(family, w), [draft.last]) for w in widths]
        draft.last = draft.add("Concat", {"dim": dim}, branches, port_names=True)
    draft.units.append([n.id for n in draft.nodes[start:]])


def _transition(family: Family, width: int) -> dict[str, Any]:
    if family.transition == "Conv2d":
        return {"out_channels": width, "kernel_size": 1}
    return {"out_features": width}


@st.composite
def grouped_design(draw: st.DrawFn) -> tuple[Graph, Family]:
    """A random chain of units, a run of them grouped into a block, the block used 1–3 times."""
    family = draw(st.sampled_from(FAMILIES))
    shape = draw(st.sampled_from(family.shapes))
    draft = Draft([Node("x", "Input", {"shape": list(shape)})], [], "x", [])
    for _ in range(draw(st.integers(1, 2))):
        draw(unit(family, draft))
    first = len(draft.units)
    for _ in range(draw(st.integers(1, 3))):
        draw(unit(family, draft))
    chosen = [node_id for u in draft.units[first:] for node_id in u]
    after = len(draft.units)
    for _ in range(draw(st.integers(0, 1))):
        draw(unit(family, draft))
    graph = Graph("random", tuple(draft.nodes), tuple(draft.edges))
    graph, instance = group(graph, chosen, BLOCK)
    reused = BLOCK
    following = [node_id for u in draft.units[after:] for node_id in u]
    if following and draw(st.booleans()):
        graph, instance = group(graph, [instance, *following], OUTER)
        reused = OUTER
    tail = _sink(graph)
    for _ in range(draw(st.integers(0, 2))):  # more uses, each on an input of another width
        width = draw(st.sampled_from([2, 3, 4, 6, 7]))
        graph, tail = _append(graph, tail, family.transition, _transition(family, width))
        graph, tail = _append(graph, tail, reused, {})
    return graph, family


def _sink(graph: Graph) -> str:
    return next(n.id for n in graph.nodes if not graph.out_edges(n.id))


def _append(graph: Graph, after: str, type_name: str, params: dict[str, Any]) -> tuple[Graph, str]:
    node_id = f"m{len(graph.nodes)}"
    graph = replace(graph, nodes=(*graph.nodes, Node(node_id, type_name, params)),
                    edges=(*graph.edges, Edge(after, node_id)))
    return graph, node_id


def _with_input(graph: Graph, shape: tuple[int, ...]) -> Graph:
    nodes = tuple(n.with_params(shape=list(shape)) if n.type == "Input" else n for n in graph.nodes)
    return replace(graph, nodes=nodes)


def _namespace(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec(compile(code, "<generated>", "exec"), namespace)  # noqa: S102 — our own generated, gated source
    return namespace


def _check_model(namespace: dict[str, Any], source: Any, result: Any) -> None:
    """The model built from ``namespace`` has the validator's output shape and parameter count."""
    torch.manual_seed(0)
    model = namespace[source.class_name]().eval()
    expected_params = sum(info.param_count for info in result.leaves.nodes.values())
    assert sum(p.numel() for p in model.parameters()) == expected_params
    with torch.no_grad():
        out = model(*namespace["example_inputs"](2))
    sink = result.nodes[_sink(result.graph)].output
    assert tuple(out.shape) == (2, *sink.shape)


def _other_input(graph: Graph, family: Family) -> Graph | None:
    """The same design on an input of another size that it accepts, or None if it accepts no other."""
    shape = tuple(next(n for n in graph.nodes if n.type == "Input").params["shape"])
    for other in family.shapes:
        if other != shape and len(other) == len(shape):
            candidate = _with_input(graph, other)
            if validate(candidate).valid:
                return candidate
    return None


@settings(max_examples=CASES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_design())
def test_block_class_matches_validator_and_serves_another_input(case: tuple[Graph, Family]) -> None:
    graph, family = case
    result = validate(graph)
    assume(result.valid)  # a draw can shrink a small image to nothing; the generator stays simple instead
    source = generate_model(graph, result)
    own = _namespace(source.code)
    _check_model(own, source, result)

    other = _other_input(graph, family)
    if other is None:
        return
    other_result = validate(other)
    other_source = generate_model(other, other_result)
    namespace = _namespace(other_source.code)
    for name in (BLOCK, OUTER):  # the first design's classes, asked to serve another input
        if name in own:
            namespace[name] = own[name]
    _check_model(namespace, other_source, other_result)


def test_cifar_cnn_conv_block_keeps_its_kernel_size() -> None:
    """Issue 18's case: conv1, relu1 and pool1 of cifar_cnn grouped as ConvBlock; the input's 3 channels are
    ``in_channels`` and the kernel's 3 stays 3, so the class serves a 1-channel input too."""
    graph, _ = group(load_template("cifar_cnn"), ["conv1", "relu1", "pool1"], "ConvBlock")
    code = generate_model(graph).code
    assert "nn.Conv2d(in_channels, 32, kernel_size=3)" in code
    block = _namespace(code)["ConvBlock"]
    gray = block(1)
    assert gray.conv1.weight.shape == (32, 1, 3, 3)
    assert tuple(gray(torch.zeros(2, 1, 32, 32)).shape) == (2, 32, 15, 15)


@pytest.mark.parametrize("name", ["resnet18", "unet_small", "transformer_classifier"])
def test_template_block_classes_serve_the_sizes_their_parameters_say(name: str) -> None:
    """A library block's class takes its sizes from its parameters and its input, never from a coincidence:
    built with other values than the template's, every class still runs."""
    code = generate_model(load_template(name)).code
    namespace = _namespace(code)
    if name == "resnet18":
        block = namespace["BasicBlock"](24, planes=40, stride=2, downsample=True)
        assert tuple(block(torch.zeros(1, 24, 8, 8)).shape) == (1, 40, 4, 4)
    elif name == "unet_small":
        up = namespace["UNetUp"](12, 5, out_channels=7)
        assert tuple(up(torch.zeros(1, 12, 4, 4), torch.zeros(1, 5, 8, 8)).shape) == (1, 7, 8, 8)
    else:
        layer = namespace["TransformerEncoderBlock"](d_model=24, heads=3, dim_feedforward=40)
        assert tuple(layer(torch.zeros(2, 5, 24)).shape) == (2, 5, 24)
