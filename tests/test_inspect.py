"""Looking inside a model: every node's output for one example, checked against real torch and a real run."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

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
    inspection = inspect_example(model, source, result, inputs)
    assert inspection.missing == {}
    for node_id in result.order:
        assert inspection.outputs[node_id].shape == result.nodes[node_id].output.shape, node_id
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    for node_id, value in zip(source.outputs, outs):
        np.testing.assert_allclose(inspection.outputs[node_id], value[0].numpy(), atol=1e-6)


def test_functional_and_recurrent_nodes_are_what_the_code_computes() -> None:
    graph, result, source, model = _model("resnet_mini")
    seen = inspect_example(model, source, result, example_batch(source, 1)).outputs
    add = result.nodes["b1_add"].sources["inputs"]  # Add has no module: the sum of its two inputs
    np.testing.assert_allclose(seen["b1_add"], seen[add[0]] + seen[add[1]], atol=1e-6)
    np.testing.assert_allclose(seen["flat"], seen["gap"].reshape(-1), atol=1e-7)

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


def test_attention_heads_per_layer_come_with_the_outputs() -> None:
    _, result, source, model = _model("transformer_seq2seq")
    attention = inspect_example(model, source, result, example_batch(source, 1)).attention
    assert [m.kind for m in attention["decoder"]] == ["self", "cross"]
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
    _, result, source, _ = _model("resnet_mini")
    # One statement more in forward than the catalog's emissions account for: the mapping is refused.
    marker = "    def forward(self, "
    head, tail = source.code.split(marker)
    signature, body = tail.split("\n", 1)
    odd = replace(source, code=f"{head}{marker}{signature}\n        _unused = 0\n{body}")
    assert node_statements(source, result) is not None and node_statements(odd, result) is None
    model = build_model(odd, seed=0)
    inspection = inspect_example(model, odd, result, example_batch(odd, 1))
    assert "b1_conv1" in inspection.outputs
    assert "b1_add" in inspection.missing and "no module" in inspection.missing["b1_add"]


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
