"""ONNX import of sequence models: exported LSTMs/GRUs come back as one batch-first block per module (stacked ops
merged, torch's gate order), attention as one MultiheadAttention per module found by running the file, and the
original's own state dict loads into the rebuilt design. What still has no block is named by op and node."""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest
import torch
from torch import nn

from builder.block_edits import edit_inside
from builder.blocks import expand
from builder.edits import set_param
from builder.templates import load_template
from codegen.loader import build_model
from codegen.source import generate_model
from export.files import export_bytes
from importer import example_inputs
from importer.onnx_import import import_onnx
from importer.verify import carry_weights
from tests.import_corpus.hand_attention import HandWrittenGPT, OddAttentionModel
from tests.test_import import CORPUS, _randomize
from tests.test_import_onnx import exported

SEQUENCE = ["lstm_classifier", "gru_forecaster", "seq2seq", "transformer_classifier", "gpt"]


def _export(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> bytes:
    names = [f"input_{k}" for k in range(len(inputs))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), inputs, buffer, dynamo=False, input_names=names,
                          dynamic_axes={n: {0: "batch"} for n in names})
    return buffer.getvalue()


def _nodes(result) -> dict[str, tuple[str, dict]]:
    """Every layer of the design, blocks expanded, by its path."""
    return {n.id: (n.type, n.params) for n in expand(result.graph).flat.nodes}


@pytest.mark.parametrize("name", SEQUENCE)
def test_the_original_state_dict_loads_into_the_design_read_from_onnx(name):
    """The exporter keeps module paths in node names, so the design's layers carry the original's names and its own
    state dict carries over key by key, nothing left (GPT's bare position table is renamed, as in the PyTorch
    import)."""
    factory, shapes, dtypes = CORPUS[name]
    original = _randomize(factory())
    result = import_onnx(exported(name))
    assert result.verification.same, result.verification.note
    source = generate_model(result.graph)
    rebuilt = build_model(source).eval()
    original_state = dict(original.state_dict())
    if name == "gpt":
        original_state["positions.pe"] = original_state.pop("positions")
    state, unused = carry_weights(source, rebuilt, original_state, result.origins, result.renames)
    assert unused == [] and set(result.state) == set(original_state)
    rebuilt.load_state_dict(state, strict=True)
    inputs = example_inputs(shapes, dtypes, batch=5, high=40)
    with torch.no_grad():
        assert torch.allclose(rebuilt(*inputs), original(*inputs), atol=1e-5, rtol=0)


def test_a_stacked_lstm_is_one_block_giving_its_last_state():
    nodes = _nodes(import_onnx(exported("lstm_classifier")))
    assert list(nodes) == ["input_0", "embed", "lstm", "head"]
    kind, params = nodes["lstm"]
    assert kind == "LSTM" and params["num_layers"] == 2 and params["hidden_size"] == 24 and params["output"] == "last"


def test_an_encoder_state_starts_the_decoder():
    result = import_onnx(exported("seq2seq"))
    nodes = _nodes(result)
    assert nodes["encoder"][1]["output"] == "last" and nodes["decoder"][1]["output"] == "sequence"
    assert any(e.source == "encoder" and e.target == "decoder" and e.port == "state" for e in result.graph.edges)


def test_attention_modules_become_multihead_attention_blocks():
    nodes = _nodes(import_onnx(exported("gpt")))
    attention = {k: v[1] for k, v in nodes.items() if v[0] == "MultiheadAttention"}
    assert set(attention) == {"blocks.0.attn", "blocks.1.attn"}
    assert all(p["num_heads"] == 4 and p["causal"] for p in attention.values())
    assert nodes["positions"][0] == "PositionalEncoding" and nodes["positions"][1]["kind"] == "learned"
    classifier = _nodes(import_onnx(exported("transformer_classifier")))
    assert classifier["encoder.layers.0.self_attn"][1]["causal"] is False
    assert classifier["positions"][1]["kind"] == "sinusoidal"


class BidirectionalTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.rnn = nn.GRU(8, 12, num_layers=2, bidirectional=True, batch_first=True)
        self.out = nn.Linear(24, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.embed(tokens))[0])


class ReluRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(4, 6, nonlinearity="relu", batch_first=True, bias=False)
        self.out = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x)[0][:, -1])


class BidirectionalStates(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 5, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return torch.cat([h[-2], h[-1]], dim=1)


@pytest.mark.parametrize("model, inputs, kinds", [
    (BidirectionalTagger(), (torch.randint(0, 30, (2, 7)),), {"GRU"}),
    (ReluRNN(), (torch.randn(2, 9, 4),), {"RNN"}),
    (HandWrittenGPT(), (torch.randint(0, 20, (2, 6)),), {"MultiheadAttention"}),
], ids=["bidirectional_two_layer_gru", "relu_rnn_without_bias", "hand_written_causal_attention"])
def test_more_sequence_layers_import_and_match_onnxruntime(model, inputs, kinds):
    torch.manual_seed(0)
    result = import_onnx(_export(model, inputs))
    assert result.problems == [], [p.message for p in result.problems]
    assert result.verification.same and result.verification.max_abs_diff <= 1e-5, result.verification.note
    assert kinds <= {kind for kind, _ in _nodes(result).values()}
    params = {kind: p for kind, p in _nodes(result).values()}
    if "GRU" in kinds:
        assert params["GRU"]["bidirectional"] and params["GRU"]["num_layers"] == 2
    if "RNN" in kinds:
        assert params["RNN"]["nonlinearity"] == "relu" and params["RNN"]["bias"] is False
        assert params["RNN"]["output"] == "last"
    if "MultiheadAttention" in kinds:
        assert params["MultiheadAttention"]["num_heads"] == 2 and params["MultiheadAttention"]["causal"]


def test_attention_that_is_not_multihead_attention_comes_back_op_by_op():
    """No MultiheadAttention computes it, so it is read op by op: its MatMuls of two computed tensors are the matmul
    block (issue 20), verified against onnxruntime."""
    result = import_onnx(_export(OddAttentionModel(), (torch.randint(0, 20, (2, 6)),)))
    assert result.problems == [], [p.message for p in result.problems]
    assert result.verification.same, result.verification.note
    assert "MultiheadAttention" not in {kind for kind, _ in _nodes(result).values()}
    assert "matmul" in {kind for kind, _ in _nodes(result).values()}


class TwoLayerBidirectional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.fc(torch.cat([h[-2], h[-1]], dim=1))


class SequenceAndStates(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 5, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, _) = self.lstm(x)
        return out[:, -1] + torch.cat([h[-2], h[-1]], dim=1)


def _default_export(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), inputs, buffer, dynamic_shapes=[{0: torch.export.Dim.AUTO}] * len(inputs))
    return buffer.getvalue()


@pytest.mark.parametrize("model, inputs", [(BidirectionalStates(), (torch.randn(2, 4, 3),)),
                                           (TwoLayerBidirectional(), (torch.randint(0, 30, (2, 7)),))],
                         ids=["one_layer", "two_layers"])
@pytest.mark.parametrize("exporter", [_export, _default_export], ids=["dynamo_false", "default"])
def test_both_final_states_of_a_bidirectional_layer_are_its_last_output(model, inputs, exporter):
    """torch.cat([h[-2], h[-1]], dim=1) is what the block's 'last' output gives for a bidirectional layer."""
    result = import_onnx(exporter(model, inputs))
    assert result.problems == [], [p.message for p in result.problems]
    assert result.verification.same and result.verification.batch_size == 5, result.verification.note
    [lstm] = [p for kind, p in _nodes(result).values() if kind == "LSTM"]
    assert lstm["bidirectional"] and lstm["output"] == "last" and lstm["num_layers"] == model.lstm.num_layers


def test_a_layerlab_bidirectional_lstm_comes_back_from_its_own_onnx_export():
    design = set_param(load_template("lstm_text"), "lstm2", "bidirectional", True)
    result = import_onnx(export_bytes(design, "onnx"))
    assert result.problems == [] and result.verification.same, result.verification.note
    assert _nodes(result)["lstm2"][1]["output"] == "last" and _nodes(result)["lstm2"][1]["bidirectional"]


def test_reading_both_the_sequence_and_the_final_states_of_a_bidirectional_layer_says_why():
    result = import_onnx(_export(SequenceAndStates(), (torch.randn(2, 4, 3),)))
    assert not result.verification.ran
    assert any("both the output sequence and the final states of a bidirectional layer" in p.message
               for p in result.problems), [p.message for p in result.problems]


class StateToTwoLayers(nn.Module):
    """An encoder's last state starting every layer (and direction) of a two-layer decoder, as LayerLab's state
    port does: state.unsqueeze(0).repeat(layers * directions, 1, 1)."""

    def __init__(self, bidirectional: bool) -> None:
        super().__init__()
        self.enc = nn.GRU(3, 6, batch_first=True)
        self.dec = nn.GRU(3, 6, num_layers=2, batch_first=True, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _, h = self.enc(x)
        copies = 2 * (2 if self.dec.bidirectional else 1)
        return self.dec(y, h[-1].unsqueeze(0).repeat(copies, 1, 1).contiguous())[0]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_direction", "bidirectional"])
@pytest.mark.parametrize("exporter", [_export, _default_export], ids=["dynamo_false", "default"])
def test_one_state_starting_every_layer_is_the_state_port_of_one_block(bidirectional, exporter):
    result = import_onnx(exporter(StateToTwoLayers(bidirectional), (torch.randn(2, 5, 3), torch.randn(2, 4, 3))))
    assert result.problems == [] and result.verification.same, result.verification.note
    nodes = _nodes(result)
    assert nodes["dec"][1]["num_layers"] == 2 and nodes["dec"][1]["bidirectional"] is bidirectional
    assert any(e.source == "enc" and e.target == "dec" and e.port == "state" for e in result.graph.edges)


def test_a_layerlab_encoder_decoder_with_two_layer_lstms_comes_back_from_its_own_onnx_export():
    design = load_template("seq2seq_lstm")
    for block in ("LSTMEncoder", "LSTMDecoder"):
        design = edit_inside(design, block, set_param, "rnn", "num_layers", 2)
    result = import_onnx(export_bytes(design, "onnx"))
    assert result.problems == [] and result.verification.same, result.verification.note
