"""The summary's numbers against torch itself: parameters, MACs, per-node shapes and activation memory.

The module measured is the generated source imported from a file (codegen), so the numbers a user sees
are checked against the model that would train.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from builder.graph import Edge, Graph, Node
from builder.summary import format_summary, summarize
from builder.templates import load_template, template_names
from builder.validate import validate
from codegen.loader import build_model, example_batch
from codegen.source import generate_model

BATCH = 3


def built(name: str):
    graph = load_template(name)
    source = generate_model(graph)
    return graph, source, build_model(source, seed=0)


def test_cifar_cnn_has_the_seed_parameter_count_as_torch_does():
    graph, _, model = built("cifar_cnn")
    summary = summarize(graph)
    assert summary.total_params == summary.trainable_params == 167_562
    assert sum(p.numel() for p in model.parameters()) == 167_562
    assert summary.model_mb == pytest.approx(167_562 * 4 / 2**20)
    assert "Total params: 167,562" in format_summary(summary)


def test_mnist_mlp_has_the_seed_parameter_count_as_torch_does():
    graph, _, model = built("mnist_mlp")
    summary = summarize(graph)
    assert summary.total_params == 109_386
    assert sum(p.numel() for p in model.parameters()) == 109_386
    assert [r.type for r in summary.rows].count("Dropout") >= 1


def _two_layer(params_conv: dict, params_fc: dict) -> Graph:
    return Graph("macs", (Node("x", "Input", {"shape": [3, 32, 32]}), Node("conv", "Conv2d", params_conv),
                          Node("flat", "Flatten"), Node("fc", "Linear", params_fc)),
                 (Edge("x", "conv"), Edge("conv", "flat"), Edge("flat", "fc")))


def test_macs_of_conv2d_and_linear_equal_a_hand_computation_and_torch():
    graph = _two_layer({"out_channels": 32, "kernel_size": 3}, {"out_features": 10})
    rows = {r.node: r for r in summarize(graph).rows}
    # Conv2d: every output value (32 × 30 × 30) is a sum over in_channels × kernel (3 × 3 × 3).
    assert rows["conv"].macs == 32 * 30 * 30 * (3 * 3 * 3) == 777_600
    # Linear: every output feature is a sum over all in_features.
    assert rows["fc"].macs == 32 * 30 * 30 * 10 == 288_000
    assert rows["flat"].macs == 0
    source = generate_model(graph)
    model = build_model(source, seed=0)
    with FlopCounterMode(display=False) as counter:
        model(*example_batch(source, batch_size=1))
    assert counter.get_total_flops() == 2 * (777_600 + 288_000)  # torch counts a MAC as two FLOPs


def test_strided_grouped_conv_macs():
    graph = _two_layer({"out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 2, "groups": 1},
                       {"out_features": 4, "bias": False})
    rows = {r.node: r for r in summarize(graph).rows}
    assert rows["conv"].output_shape == [-1, 8, 16, 16]
    assert rows["conv"].macs == 8 * 16 * 16 * 3 * 5 * 5
    assert rows["fc"].total_params == 8 * 16 * 16 * 4


def test_lstm_macs_equal_a_hand_computation():
    rows = {r.node: r for r in summarize(load_template("lstm_text")).rows}
    # 4 gates, each a (input + hidden) × hidden product, at each of the 24 steps.
    assert rows["lstm1"].macs == 4 * (32 * 64 + 64 * 64) * 24
    assert rows["lstm2"].macs == 4 * (64 * 32 + 32 * 32) * 24


# torch's counter misses fused LSTM kernels and the CPU attention kernel of the decoder's masked attention.
# Tensor-op blocks count what torch's counter counts for them (nanogpt_tiny's attention is in).


def _uncounted(name: str) -> bool:
    leaves = validate(load_template(name)).leaves  # the layers inside blocks too
    return any(info.type in ("LSTM", "TransformerDecoderLayer")
               or (info.type == "MultiheadAttention" and info.params.get("causal")) for info in leaves.nodes.values())


COUNTED = [n for n in template_names() if not _uncounted(n)]


@pytest.mark.parametrize("name", COUNTED)
def test_total_macs_equal_torch_flop_counter(name):
    graph, source, model = built(name)
    model.train()  # the training path of attention goes through counted matrix products
    # Attention on the math kernel: CPU's fused kernel (taken when dropout is 0, as in vit_tiny) is not counted by
    # FlopCounterMode, the math kernel's matrix products are.
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):  # two samples: resnet18 at
        model(*example_batch(source, batch_size=2))  # 32×32 ends in 1×1 maps, where BatchNorm in training mode
        # needs more than one value
    assert summarize(graph).total_macs * 2 * 2 == counter.get_total_flops()  # MACs are per sample


def _record_outputs(model: nn.Module, attributes: dict[str, str]) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    for node_id, attr in attributes.items():
        if isinstance(getattr(model, attr), nn.Parameter):  # a class token: a tensor, not a module to watch
            continue
        def hook(module, args, out, node_id=node_id):
            seen[node_id] = out[0] if isinstance(out, tuple) else out
        getattr(model, attr).register_forward_hook(hook)
    return seen


@pytest.mark.parametrize("name", template_names())
def test_per_node_shapes_params_and_memory_equal_the_real_module(name):
    graph, source, model = built(name)
    summary = summarize(graph, batch_size=BATCH)
    rows = {r.node: r for r in summary.rows}
    seen = _record_outputs(model, source.attributes)
    model.eval()
    batch = example_batch(source, batch_size=BATCH)
    with torch.no_grad():
        outputs = model(*batch)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    for model_input, tensor in zip(source.inputs, batch):
        assert rows[model_input.node].output_shape == [-1, *tensor.shape[1:]]
    for node_id, tensor in zip(source.outputs, outputs):
        assert rows[node_id].output_shape == [-1, *tensor.shape[1:]], node_id
    assert seen.keys() == {k for k, a in source.attributes.items() if not isinstance(getattr(model, a), nn.Parameter)}
    for node_id, tensor in seen.items():
        node = graph.node(node_id)
        if node.params.get("output") == "last":  # the node keeps the last step; the module returns all
            tensor = tensor[:, -1]
        if rows[node_id].output_shape[:1] != [-1]:  # no batch dimension: wpe(torch.arange(T)) is (T, D)
            assert rows[node_id].output_shape == list(tensor.shape), node_id
            assert rows[node_id].activation_bytes == tensor.numel() * tensor.element_size(), node_id
            continue
        assert rows[node_id].output_shape == [-1, *tensor.shape[1:]], node_id
        assert rows[node_id].activation_bytes == tensor.numel() * tensor.element_size(), node_id
        module = getattr(model, source.attributes[node_id])
        assert rows[node_id].total_params == sum(p.numel() for p in module.parameters()), node_id
        assert rows[node_id].trainable_params == sum(p.numel() for p in module.parameters() if p.requires_grad)
    for node_id in rows.keys() - source.attributes.keys():
        assert rows[node_id].total_params == 0, f"{node_id} has parameters but no module"
    assert summary.total_params == sum(p.numel() for p in model.parameters())


def test_totals_and_json_shape():
    summary = summarize(load_template("mnist_mlp"), batch_size=32)
    data = summary.to_dict()
    assert list(data)[:3] == ["name", "batch_size", "total_params"]
    assert list(data)[-1] == "rows"
    assert data["total_params"] == 109_386
    assert len(data["rows"]) == len(summary.rows)
    assert data["rows"][1]["output_shape"] == [-1, 128]
    activations = sum(r.activation_bytes for r in summary.rows)
    assert activations == 32 * 4 * sum(r.output_shape[1] for r in summary.rows if r.type != "Input")
    assert summary.activations_mb == pytest.approx(activations / 2**20)
    assert summary.training_mb == pytest.approx((4 * 109_386 * 4 + 2 * activations) / 2**20)


def test_summary_of_an_invalid_graph_marks_unknown_shapes():
    graph = Graph("bad", (Node("x", "Input", {"shape": [1, 28, 28]}), Node("flat", "Flatten"), Node("conv", "Conv2d")),
                  (Edge("x", "flat"), Edge("flat", "conv")))
    summary = summarize(graph)
    assert not summary.valid
    assert summary.rows[2].output_shape is None and summary.rows[2].total_params == 0
    conv_line = next(line for line in format_summary(summary).splitlines() if line.startswith("conv (Conv2d)"))
    assert conv_line.split()[2:] == ["?", "0", "0"]


def test_several_inputs_and_outputs_match_the_model():
    graph = Graph("two_heads", (
        Node("image", "Input", {"shape": [1, 8, 8]}), Node("extra", "Input", {"shape": [5]}),
        Node("conv", "Conv2d", {"out_channels": 4}), Node("flat", "Flatten"), Node("cat", "Concat"),
        Node("head_a", "Linear", {"out_features": 3}), Node("head_b", "Linear", {"out_features": 1})),
        (Edge("image", "conv"), Edge("conv", "flat"), Edge("flat", "cat", "1"), Edge("extra", "cat", "2"),
         Edge("cat", "head_a"), Edge("cat", "head_b")))
    summary = summarize(graph, batch_size=BATCH)
    rows = {r.node: r for r in summary.rows}
    source = generate_model(graph)
    model = build_model(source, seed=0)
    with torch.no_grad():
        head_a, head_b = model(*example_batch(source, batch_size=BATCH))
    assert [i.node for i in source.inputs] == ["image", "extra"]
    assert rows["cat"].output_shape == [-1, 4 * 6 * 6 + 5]
    assert rows["head_a"].output_shape == [-1, *head_a.shape[1:]] == [-1, 3]
    assert rows["head_b"].output_shape == [-1, *head_b.shape[1:]] == [-1, 1]
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == (4 * 9 + 4) + 149 * 3 + 3 + 149 + 1
