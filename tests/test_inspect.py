"""Looking inside a model: every node's output for one example, checked against real torch and a real run."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from builder.edits import add_node, connect
from builder.graph import Graph
from builder.templates import load_template, template_names
from builder.validate import validate
from codegen.loader import build_model, example_batch
from codegen.source import generate_model
from data.datasets import load_dataset
from training.engine import TrainConfig, train
from training.inspect import example, inspect_example, node_statements, run_model, snapshot
from training.runstore import RunStore


def _model(name: str, seed: int = 0):
    graph = load_template(name)
    result = validate(graph)
    source = generate_model(graph, result)
    return graph, result, source, build_model(source, seed=seed)


@pytest.mark.parametrize("name", template_names())
def test_every_node_has_its_validated_shape_and_the_last_is_the_model_output(name: str) -> None:
    _, result, source, model = _model(name)
    inputs = example_batch(source, 1)
    torch.manual_seed(0)  # the same seed before both passes: a VAE draws its noise in forward
    inspection = inspect_example(model, source, result, inputs)
    assert not set(inspection.missing) & set(result.nodes)  # every top-level node is seen
    for node_id in result.order:
        assert inspection.outputs[node_id].shape == result.nodes[node_id].output.shape, node_id
    for node_id, value in inspection.outputs.items():  # layers inside blocks too, by their flat ids
        info = result.nodes.get(node_id) or result.leaves.nodes[node_id]
        assert value.shape == info.output.shape, node_id
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    for node_id, value in zip(source.outputs, outs):
        np.testing.assert_allclose(inspection.outputs[node_id], value[0].numpy(), atol=1e-6)


def _branches():
    """x -> two Linears -> Add: the generated forward reuses x's variable, and Add is an expression."""
    graph, x = add_node(Graph(name="branches"), "Input", params={"shape": [4]})
    graph, a = add_node(graph, "Linear", params={"out_features": 3})
    graph, b = add_node(graph, "Linear", params={"out_features": 3})
    graph, total = add_node(graph, "Add")
    graph = connect(connect(connect(connect(graph, x, a), x, b), a, total), b, total)
    result = validate(graph)
    source = generate_model(graph, result)
    return graph, result, source, build_model(source, seed=0)


def test_functional_and_recurrent_nodes_are_what_the_code_computes() -> None:
    _, result, source, model = _branches()
    inputs = example_batch(source, 1)
    seen = inspect_example(model, source, result, inputs).outputs
    np.testing.assert_allclose(seen["input_1"], inputs[0][0].numpy())  # not the variable's later value
    np.testing.assert_allclose(seen["add_1"], seen["linear_1"] + seen["linear_2"], atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(seen["linear_2"], model.linear_2(inputs[0])[0].numpy(), atol=1e-6)

    _, result, source, model = _model("lstm_text")
    inputs = example_batch(source, 1)
    seen = inspect_example(model, source, result, inputs).outputs
    lstm_id = next(n for n in result.order if result.nodes[n].type == "LSTM")
    embed_id = result.nodes[lstm_id].sources["x"][0]
    lstm = getattr(model, source.attributes[lstm_id])
    with torch.no_grad():
        sequence, (h, _) = lstm(torch.from_numpy(seen[embed_id])[None])
    expected = h[-1, 0] if result.nodes[lstm_id].params["output"] == "last" else sequence[0]
    np.testing.assert_allclose(seen[lstm_id], expected.numpy(), atol=1e-6)


def test_layers_inside_blocks_are_seen_by_their_paths() -> None:
    _, result, source, model = _model("resnet_mini")
    inspection = inspect_example(model, source, result, example_batch(source, 1))
    seen = inspection.outputs
    block = next(n for n in result.order if result.graph.node(n).type in result.graph.definitions)
    inner = sorted(k for k in seen if k.startswith(f"{block}."))
    assert inner, seen.keys()
    first = f"{block}.conv1"
    with torch.no_grad():
        before = result.nodes[block].sources["x"][0]
        expected = model.get_submodule(source.module_paths[first])(torch.from_numpy(seen[before])[None])
    np.testing.assert_allclose(seen[first], expected[0].numpy(), atol=1e-5)
    adds = [k for k in inspection.missing if k.startswith(f"{block}.")]
    assert adds and all("module of their own" in inspection.missing[k] for k in adds)


def test_attention_heads_per_layer_come_with_the_outputs() -> None:
    _, result, source, model = _model("transformer_seq2seq")
    attention = inspect_example(model, source, result, example_batch(source, 1)).attention
    decoder = [n for n in result.order if "decoder" in n.lower()][0]
    assert [m.kind for m in attention[decoder]] == ["self", "cross"] * (len(attention[decoder]) // 2)
    for m in attention[decoder]:
        assert attention[m.node] == [m]  # each layer also under its own path
    for maps in attention.values():
        for m in maps:
            assert m.weights.shape[:2] == (1, 4)
            np.testing.assert_allclose(m.weights.sum(-1), 1.0, atol=1e-5)  # eval mode: rows are distributions


def test_mode_and_tracer_are_restored() -> None:
    _, result, source, model = _model("digits_cnn")
    model.train()
    marker = []

    def tracer(frame, event, arg):
        marker.append(event)
        return None

    sys.settrace(tracer)
    try:
        inspect_example(model, source, result, example_batch(source, 1))
        restored = sys.gettrace()
    finally:
        sys.settrace(None)
    assert restored is tracer and model.training


def test_code_laid_out_otherwise_falls_back_on_module_hooks() -> None:
    _, result, source, _ = _branches()
    # A shape comment that doesn't match validation: the mapping is refused rather than guessed.
    odd = replace(source, code=source.code.replace("out + input_1  # (N, 3)", "out + input_1  # (N, 7)"))
    assert odd.code != source.code
    assert node_statements(source, result) is not None and node_statements(odd, result) is None
    model = build_model(odd, seed=0)
    inspection = inspect_example(model, odd, result, example_batch(odd, 1))
    assert "linear_1" in inspection.outputs
    assert "add_1" in inspection.missing and "no module" in inspection.missing["add_1"]


def test_one_example_at_a_time() -> None:
    _, result, source, model = _model("xor_mlp")
    with pytest.raises(ValueError, match="one example at a time"):
        inspect_example(model, source, result, example_batch(source, 2))


def test_a_recorded_run_is_inspected_with_its_saved_weights(tmp_path) -> None:
    graph = load_template("digits_cnn")
    dataset = load_dataset("digits", seed=0)
    store = RunStore(tmp_path / "runs.sqlite")
    run = train(graph, dataset, TrainConfig(epochs=1, batch_size=64), store=store)
    result = validate(graph)
    inputs = example(dataset.test, 3)
    reloaded = run_model(store, run.run_id, run.source)
    live = snapshot(run.model, run.source)
    a = inspect_example(reloaded, run.source, result, inputs)
    b = inspect_example(live, run.source, result, inputs)
    assert a.outputs["conv1"].shape == (16, 8, 8)
    for node_id in result.order:
        np.testing.assert_allclose(a.outputs[node_id], b.outputs[node_id], atol=1e-6)
    fresh = inspect_example(build_model(run.source, seed=1), run.source, result, inputs)
    assert not np.allclose(fresh.outputs["conv1"], a.outputs["conv1"])  # the weights really were loaded
    with pytest.raises(IndexError, match="outside the split"):
        example(dataset.test, len(dataset.test))


@pytest.mark.parametrize(("shape", "is_input", "kind", "expected"), [
    ((16, 8, 8), False, "images", "maps"), ((24, 64), False, "tokens", "heatmap"), ((10,), False, "table", "bars"),
    ((1,), False, "table", "number"), ((24,), True, "tokens", "tokens"), ((1, 8, 8), True, "images", "image"),
    ((50, 1), True, "series", "series"), ((2,), True, "points", "bars"), ((4, 1, 6), False, "table", "maps"),
])
def test_each_shape_gets_a_view_that_draws(shape, is_input, kind, expected) -> None:
    from ui.train.look_inside import describe, figure_for, view_kind

    view = view_kind(shape, is_input, kind)
    assert view.value == expected
    value = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert describe(view, shape)
    figure = figure_for(value, view, "title", labels=[str(i) for i in range(shape[0])])
    assert (figure is None) == (expected in ("tokens", "number"))
    if expected == "maps":
        assert len([t for t in figure.data if t.type == "heatmap"]) == shape[0]
