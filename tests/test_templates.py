"""The shipped templates: the required set, each valid with no issue, described, with training defaults,
and each the architecture its name promises."""

from __future__ import annotations

import json

import pytest

import codegen  # noqa: F401 - registers the meta-tensor shape oracle the op templates' blocks use
from builder.project import ProjectError, to_json
from builder.templates import TEMPLATE_DIR, list_templates, load_design, load_template, template_names
from builder.validate import validate
from data.datasets import dataset_names

REQUIRED = {
    "perceptron", "mnist_mlp", "cifar_cnn", "digits_mlp", "digits_cnn", "lenet5", "resnet_mini", "rnn_text",
    "lstm_text", "gru_timeseries", "lstm_timeseries", "autoencoder", "seq2seq_lstm", "transformer_classifier",
    "transformer_seq2seq",
}
TRAINING_KEYS = {"dataset", "epochs", "lr", "optimizer", "batch_size"}


def types(name: str) -> list[str]:
    return [n.type for n in load_template(name).nodes]


def leaf_types(name: str) -> list[str]:
    """Block types of every layer, inside blocks made of blocks too."""
    return [info.type for info in validate(load_template(name)).leaves.nodes.values()]


def test_every_required_template_is_shipped():
    assert set(template_names()) >= REQUIRED
    assert template_names() == sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


@pytest.mark.parametrize("name", template_names())
def test_template_is_valid_described_and_trainable(name):
    graph = load_template(name)
    assert graph.name == name
    result = validate(graph)
    assert result.issues == [], [i.message for i in result.issues]
    assert 20 <= len(graph.description) <= 300 and graph.description.endswith(".")
    training = graph.meta["training"]
    assert set(training) >= TRAINING_KEYS, f"meta.training lacks {TRAINING_KEYS - set(training)}"
    assert training["dataset"] in dataset_names() or training["dataset"] == "image_zip"  # resnet18: your images
    assert isinstance(training["epochs"], int) and 1 <= training["epochs"] <= 1000
    assert 0 < training["lr"] < 1
    assert isinstance(training["batch_size"], int) and 1 <= training["batch_size"] <= 1024
    assert all(n.pos is None or len(n.pos) == 2 for n in graph.nodes)


@pytest.mark.parametrize("name", template_names())
def test_template_file_is_written_as_layerlab_writes_it(name):
    """Files stay diff-friendly: what LayerLab saves equals the file, up to empty params objects."""
    on_disk = json.loads((TEMPLATE_DIR / f"{name}.json").read_text(encoding="utf-8"))
    for node in on_disk["nodes"]:
        if node.get("params") == {}:
            del node["params"]
    assert json.loads(to_json(load_template(name))) == on_disk


def test_list_templates_gives_descriptions_and_layers():
    infos = {t.name: t for t in list_templates()}
    assert set(infos) == set(template_names())
    assert infos["perceptron"].layers == ("Input", "Linear")
    assert all(t.description for t in infos.values())


def test_perceptron_is_two_inputs_to_one_output():
    graph = load_template("perceptron")
    result = validate(graph)
    assert graph.inputs()[0].params["shape"] == [2]
    (out,) = result.outputs()
    assert result.nodes[out].output.shape == (1,)
    assert result.total_params == 3


def test_seed_models_have_the_seed_counts():
    assert validate(load_template("cifar_cnn")).total_params == 167_562
    assert validate(load_template("mnist_mlp")).total_params == 109_386
    assert types("cifar_cnn") == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                                  "Linear", "ReLU", "Linear"]
    assert types("mnist_mlp").count("Dropout") == 2


def test_digits_templates_take_8x8_digits():
    assert load_template("digits_mlp").inputs()[0].params["shape"] == [64]
    assert load_template("digits_cnn").inputs()[0].params["shape"] == [1, 8, 8]


def test_families_are_what_their_names_promise():
    assert "Add" in leaf_types("resnet_mini") and "BatchNorm2d" in leaf_types("resnet_mini")
    assert types("resnet_mini").count("BasicBlock") == 2
    assert types("lenet5").count("Conv2d") == 2 and "AvgPool2d" in types("lenet5")
    assert types("rnn_text") == ["Input", "Embedding", "RNN", "Linear"]
    assert types("lstm_text") == ["Input", "Embedding", "LSTM", "LSTM", "Linear"]
    assert "GRU" in types("gru_timeseries")
    lstm = next(n for n in load_template("lstm_timeseries").nodes if n.type == "LSTM")
    assert lstm.params["num_layers"] == 2 and lstm.params["hidden_size"] == 50
    transformer = types("transformer_classifier")
    assert {"Embedding", "PositionalEncoding", "TransformerEncoderBlock", "SequencePool", "Linear"} <= set(transformer)
    assert {"MultiheadAttention", "LayerNorm", "Add", "Dropout"} <= set(leaf_types("transformer_classifier"))


def test_se_resnet_gates_channels_with_tensor_ops():
    """The Squeeze-and-Excitation gate is written in ops inside the residual block: mean over H, W, a bottleneck,
    a sigmoid, the gate viewed to (N, C, 1, 1) and multiplied into the block's output."""
    result = validate(load_template("se_resnet"))
    assert types("se_resnet").count("SEBasicBlock") == 2
    assert str(result.leaves.nodes["layer2.gate_4d"].output) == "(N, 32, 1, 1)"
    assert str(result.leaves.nodes["layer2.scale"].output) == "(N, 32, 4, 4)"
    assert {"mean", "view", "mul", "Sigmoid", "Add"} <= set(leaf_types("se_resnet"))


def test_vit_tiny_puts_a_class_token_before_its_patches():
    """Patches from a strided convolution, a learned class token in front, a learned position table added, and the
    class token's output classified: the Parameters keep ViT's state-dict names."""
    result = validate(load_template("vit_tiny"))
    shapes = {n: str(result.nodes[n].output) for n in ("tokens", "cls", "seq", "embedded", "cls_out", "head")}
    assert shapes == {"tokens": "(N, 16, 32)", "cls": "(N, 1, 32)", "seq": "(N, 17, 32)",
                      "embedded": "(N, 17, 32)", "cls_out": "(N, 32)", "head": "(N, 10)"}
    params = {n.id: n.params["shape"] for n in load_template("vit_tiny").nodes if n.type == "Parameter"}
    assert params == {"cls_token": [1, 1, 32], "pos_embed": [1, 17, 32]}


def test_nanogpt_tiny_takes_positions_from_arange():
    """Positions are torch.arange over the input's length, embedded by wpe (no batch dimension) and added to the
    token embeddings; attention is scaled_dot_product_attention with is_causal, inside the repeated Block."""
    graph = load_template("nanogpt_tiny")
    result = validate(graph)
    assert result.nodes["pos"].sources == {"x": ["idx"]} and result.nodes["pos"].output.dtype == "long"
    shapes = {n: str(result.nodes[n].output) for n in ("wte", "pos", "wpe", "x", "lm_head")}
    assert shapes == {"wte": "(N, 17, 64)", "pos": "(17,)", "wpe": "(17, 64)", "x": "(N, 17, 64)",
                      "lm_head": "(N, 17, 66)"}
    attention = [i for i in result.leaves.nodes.values() if i.type == "scaled_dot_product_attention"]
    assert len(attention) == 2 and all(i.params["is_causal"] for i in attention)
    assert str(attention[0].output) == "(N, 4, 17, 16)"
    ours, gpt = (dict(load_template(n).meta["training"]) for n in ("nanogpt_tiny", "gpt_tiny"))
    for name in ("dataset_options", "real_dataset", "real_settings"):  # 66 ids: Tiny Shakespeare's, once cached
        ours.pop(name)
    assert ours == gpt  # compared under the same settings


def test_autoencoder_squeezes_through_a_latent_code():
    graph = load_template("autoencoder")
    result = validate(graph)
    widths = [result.nodes[n.id].output.shape[-1] for n in graph.nodes]
    assert min(widths) < widths[0] == widths[-1]  # encoder → latent → decoder back to the input size


def test_encoder_decoder_templates_are_two_blocks():
    seq2seq = load_template("seq2seq_lstm")
    assert len(seq2seq.inputs()) == 2
    assert types("seq2seq_lstm") == ["Input", "Input", "LSTMEncoder", "LSTMDecoder"]
    assert any(e.port == "state" for e in seq2seq.edges)  # the encoder's final state starts the decoder
    transformer = load_template("transformer_seq2seq")
    assert types("transformer_seq2seq") == ["Input", "Input", "TransformerEncoder", "TransformerDecoder"]
    result = validate(transformer)
    assert result.nodes["decoder"].sources == {"tokens": ["tgt"], "memory": ["encoder"]}
    inner = result.leaves.nodes  # each decoder layer's cross-attention reads the encoder's output
    assert inner["decoder.layers.cross_attn"].sources["memory"] == ["encoder.layers.norm2"]


def test_unknown_template_and_design_references():
    with pytest.raises(ProjectError) as caught:
        load_template("nope")
    assert caught.value.problems == ["no template named 'nope'; see `layerlab templates`"]
    with pytest.raises(FileNotFoundError, match="'nope' is neither a template name nor a file"):
        load_design("nope")


def test_load_design_reads_a_path_too(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(to_json(load_template("perceptron")), encoding="utf-8")
    assert load_design(str(path)) == load_template("perceptron")
    with pytest.raises(FileNotFoundError):
        load_design(str(tmp_path / "missing.json"))
