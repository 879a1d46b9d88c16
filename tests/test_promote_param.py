"""Making a layer's setting a parameter of its block: the block gets it with the layer's value, the layer follows
it, every copy computes what it did (same parameter count and outputs), then copies can differ; the design reads
back from its file equal, and what can't be promoted says why."""

from __future__ import annotations

import pytest
import torch

from builder.block_edits import promote_param
from builder.edits import EditError, set_param
from builder.group_edits import group
from builder.project import load_project, to_json
from builder.templates import load_template
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model


def _mlp_with_a_block():
    graph, block = group(load_template("digits_mlp"), ["fc1", "relu1"], "Hidden")
    return graph, graph.node(block)


def test_a_promoted_setting_keeps_every_copy_the_same_then_lets_one_differ():
    graph, instance = _mlp_with_a_block()
    width = graph.definitions["Hidden"].graph.node("fc1").params["out_features"]
    promoted = promote_param(graph, "Hidden", "fc1", "out_features", "width")
    definition = promoted.definitions["Hidden"]
    assert [(p.name, p.param.default) for p in definition.params] == [("width", width)]
    assert definition.graph.node("fc1").params["out_features"] == "$width"
    before, after = validate(graph), validate(promoted)
    assert after.valid and after.total_params == before.total_params
    torch.manual_seed(0)
    old = build_model(generate_model(graph, before)).eval()
    new = build_model(generate_model(promoted, after)).eval()
    new.load_state_dict(old.state_dict(), strict=True)  # same layers, same shapes
    x = torch.randn(3, *graph.node("x").params["shape"])
    assert torch.equal(old(x), new(x))
    assert load_project(to_json(promoted)) == promoted  # the file keeps it
    wider = set_param(promoted, instance.id, "width", width * 2)
    grown = validate(wider)
    assert grown.valid and grown.total_params > after.total_params  # the copy follows its own value


@pytest.mark.parametrize("node, param, as_name, message", [
    ("fc1", "in_features", "", "has no value of its own"),
    ("fc1", "nope", "", "has no parameter 'nope'"),
    ("ghost", "out_features", "", "has no layer ‘ghost’"),
    ("fc1", "out_features", "2wide", "short identifier"),
])
def test_what_cant_be_promoted_says_why(node, param, as_name, message):
    graph, _ = _mlp_with_a_block()
    with pytest.raises(EditError, match=message):
        promote_param(graph, "Hidden", node, param, as_name)


def test_a_setting_can_be_promoted_once():
    graph, _ = _mlp_with_a_block()
    once = promote_param(graph, "Hidden", "fc1", "out_features")
    with pytest.raises(EditError, match="already follows"):
        promote_param(once, "Hidden", "fc1", "out_features", "other")
    with pytest.raises(EditError, match="already has a parameter 'out_features'"):
        promote_param(once, "Hidden", "fc1", "bias", "out_features")
