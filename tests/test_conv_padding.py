"""A convolution's padding in torch's own spelling: ``"padding": "same" | "valid"`` is read from design files,
typed into the inspector, imported from torch and written back, with the shapes and outputs torch gives. Files of
earlier releases (``"padding_style"``) read into the very same design.
"""

from __future__ import annotations

import json

import pytest
import torch
from app_helpers import start_app

from builder.params import ParamError
from builder.project import ProjectError, dump_project, load_project
from builder.share import encode_share
from builder.templates import load_template
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model
from importer import example_inputs, import_module


def design(conv_params: dict, shape=(3, 9, 9), conv: str = "Conv2d") -> dict:
    return {"layerlab": 1, "name": "pad", "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": list(shape)}},
        {"id": "conv", "type": conv, "params": {"out_channels": 4, **conv_params}}],
        "edges": [{"source": "x", "target": "conv"}]}


@pytest.mark.parametrize(("conv", "shape", "word", "kernel", "out"), [
    ("Conv2d", (3, 9, 9), "same", 4, (4, 9, 9)),
    ("Conv2d", (3, 9, 9), "valid", 4, (4, 6, 6)),
    ("Conv1d", (3, 11), "same", 3, (4, 11)),
    ("Conv1d", (3, 11), "valid", 3, (4, 9)),
])
def test_torch_spelling_reads_and_matches_torch(conv, shape, word, kernel, out) -> None:
    graph = load_project(design({"kernel_size": kernel, "padding": word}, shape, conv))
    assert graph.node("conv").params["padding"] == word
    result = validate(graph)
    assert result.valid and result.nodes["conv"].output.shape == out
    source = generate_model(graph)
    assert f"padding={word!r}" in source.code
    model = build_model(source, seed=0)
    assert tuple(model(torch.randn(2, *shape)).shape) == (2, *out)  # what torch itself computes
    assert dump_project(graph)["nodes"][1]["params"]["padding"] == word  # written as read


@pytest.mark.parametrize(("old", "new"), [
    ({"padding_style": "same"}, {"padding": "same"}),
    ({"padding_style": "same", "padding": 2}, {"padding": "same"}),  # the number was ignored then too
    ({"padding_style": "valid", "padding": 2}, {"padding": "valid"}),
    ({"padding_style": "explicit", "padding": 2}, {"padding": 2}),
    ({"padding_style": "explicit"}, {}),
])
def test_old_files_read_into_the_same_design(old, new) -> None:
    before = load_project(design({"kernel_size": 3, **old}))
    now = load_project(design({"kernel_size": 3, **new}))
    assert before == now
    assert validate(before).nodes["conv"].output == validate(now).nodes["conv"].output
    assert "padding_style" not in json.dumps(dump_project(before))  # one spelling written


def test_an_unknown_word_is_refused_with_the_words_it_takes() -> None:
    with pytest.raises(ProjectError) as err:
        load_project(design({"padding": "full"}))
    assert "padding='full' must be a whole number, a list of them, or 'same' or 'valid'" in str(err.value)
    with pytest.raises(ProjectError) as err:  # transposed convolutions pad by number only, as in torch
        load_project(design({"padding": "same"}, conv="ConvTranspose2d"))
    assert "padding='same' must be a whole number" in str(err.value)


def test_same_with_a_stride_names_the_fix() -> None:
    result = validate(load_project(design({"kernel_size": 3, "stride": 2, "padding": "same"})))
    (issue,) = [i for i in result.issues if i.node == "conv"]
    assert "padding 'same' needs stride 1" in issue.message and issue.fix.label == "set stride to 1"


def test_a_torch_model_with_padding_same_imports_in_that_spelling() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding="same"), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 2, 3, padding="valid")).eval()
    result = import_module(model, example_inputs([(3, 8, 8)], ["float"]))
    convs = [n for n in result.graph.nodes if n.type == "Conv2d"]
    assert [n.params["padding"] for n in convs] == ["same", "valid"]
    assert result.verification.same


def test_the_inspector_offers_and_takes_same() -> None:
    at = start_app({"design": encode_share(load_template("digits_cnn"))}, "Build")
    at.session_state["canvas"] = {"id": "pad-1", "kind": "select", "node": "conv1"}
    at.run()
    box = at.text_input(key="param_conv1_padding")
    assert "'same' or 'valid'" in box.label and "same or valid" in box.placeholder
    box.set_value("same").run()
    assert not at.exception
    graph = at.session_state["ll_history"].current
    assert graph.node("conv1").params["padding"] == "same"
    assert validate(graph).valid
    at.text_input(key="param_conv1_padding").set_value("full").run()  # refused, with what it takes
    assert "or same or valid" in at.error[0].value
    assert at.session_state["ll_history"].current.node("conv1").params["padding"] == "same"


def test_param_check_keeps_numbers_as_before() -> None:
    from builder.catalog import get_block

    padding = get_block("Conv2d").param("padding")
    assert padding.check(2) == 2 and padding.check((1, 2)) == [1, 2] and padding.check("same") == "same"
    with pytest.raises(ParamError, match="must be a whole number"):
        get_block("Conv2d").param("padding").check(1.5)
