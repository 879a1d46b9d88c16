"""Nodes with several outputs in generated code: one call unpacked as a person writes it, the same numbers as a
hand-written module with the same weights, and designs that read only main outputs written as before."""

from __future__ import annotations

import torch
from torch import nn

from builder.graph import BlockParam, Definition, Edge, Graph, Node
from builder.params import Int
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model


def forward_of(code: str) -> list[str]:
    """The model class's forward body, line by line."""
    body = code.split("    def forward(")[-1].split("\n\n")[0]
    return [line.strip() for line in body.splitlines()[1:]]


def design(*nodes: Node, edges: tuple[Edge, ...]) -> Graph:
    return Graph("seq_head", (Node("x", "Input", {"shape": [7, 5]}), *nodes), edges)


class HandWritten(nn.Module):
    """What a person writes for a classifier on an LSTM's last hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


def test_a_linear_on_the_lstm_h_validates_reads_well_and_equals_hand_written_torch() -> None:
    graph = design(Node("lstm", "LSTM", {"hidden_size": 16, "num_layers": 2}), Node("fc", "Linear", {"out_features": 3}),
                   edges=(Edge("x", "lstm"), Edge("lstm", "fc", source_port="h")))
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    assert result.edge_shape(graph.edges[1]).shape == (16,)
    source = generate_model(graph, result)
    assert forward_of(source.code) == [
        "_, (h, _) = self.lstm(x)  # h[-1]: (N, 16)",
        "fc = self.fc(h[-1])  # (N, 3)",
        "return fc",
    ]
    model = build_model(source, seed=0).eval()
    reference = HandWritten().eval()
    reference.load_state_dict(model.state_dict())  # the same names: lstm.weight_ih_l0, …, fc.weight, fc.bias
    x = torch.randn(4, 7, 5)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert ours.shape == (4, 3)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_every_output_read_names_each_and_a_sink_returns_its_main_value() -> None:
    graph = design(Node("lstm", "LSTM", {"hidden_size": 6}), Node("head", "Linear", {"out_features": 2}),
                   Node("cell", "Linear", {"out_features": 4}), Node("last", "LastTimeStep"),
                   edges=(Edge("x", "lstm"), Edge("lstm", "head", source_port="h"),
                          Edge("lstm", "cell", source_port="c"), Edge("lstm", "last")))
    source = generate_model(graph)
    assert forward_of(source.code)[0] == "x, (h, c) = self.lstm(x)  # x: (N, 7, 6), h[-1]: (N, 6), c[-1]: (N, 6)"
    model = build_model(source, seed=0).eval()
    x = torch.randn(3, 7, 5)
    with torch.no_grad():
        head, cell, last = model(x)
        out, (h, c) = model.lstm(x)
        torch.testing.assert_close(head, model.head(h[-1]))
        torch.testing.assert_close(cell, model.cell(c[-1]))
        torch.testing.assert_close(last, out[:, -1])


def test_a_gru_state_and_a_bidirectional_lstm_read_their_last_layer() -> None:
    gru = design(Node("gru", "GRU", {"hidden_size": 8}), Node("fc", "Linear", {"out_features": 2}),
                 edges=(Edge("x", "gru"), Edge("gru", "fc", source_port="h")))
    assert forward_of(generate_model(gru).code)[0] == "_, h = self.gru(x)  # h[-1]: (N, 8)"
    both = design(Node("lstm", "LSTM", {"hidden_size": 4, "bidirectional": True, "output": "last"}),
                  Node("a", "Linear", {"out_features": 2}), Node("b", "Linear", {"out_features": 2}),
                  edges=(Edge("x", "lstm"), Edge("lstm", "a"), Edge("lstm", "b", source_port="c")))
    result = validate(both)
    assert result.nodes["b"].inputs["x"].shape == (8,)
    source = generate_model(both, result)
    model = build_model(source, seed=0).eval()
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        a, b = model(x)
        _, (h, c) = model.lstm(x)
        torch.testing.assert_close(a, model.a(torch.cat([h[-2], h[-1]], dim=1)))
        torch.testing.assert_close(b, model.b(torch.cat([c[-2], c[-1]], dim=1)))


def test_reading_only_the_main_output_writes_the_code_of_before() -> None:
    """An explicit source_port naming the main output is the main output: the one-line form of before."""
    plain = design(Node("lstm", "LSTM", {"hidden_size": 6, "output": "last"}), Node("fc", "Linear", {"out_features": 2}),
                   edges=(Edge("x", "lstm"), Edge("lstm", "fc")))
    named = plain.with_edges((Edge("x", "lstm"), Edge("lstm", "fc", source_port="h")))
    assert generate_model(named).code == generate_model(plain).code
    assert forward_of(generate_model(plain).code)[:2] == ["_, (h, _) = self.lstm(x)", "x = h[-1]  # (N, 6)"]


def test_inside_a_block_a_layer_reads_another_layers_state() -> None:
    inner = Graph("Encoder", (Node("x", "Port"), Node("lstm", "LSTM", {"hidden_size": "$hidden"}),
                              Node("fc", "Linear", {"out_features": 3})),
                  (Edge("x", "lstm"), Edge("lstm", "fc", source_port="h")))
    block = Definition("Encoder", inner, (BlockParam(Int("hidden", 8, "state size", lo=1, hi=64)),), output="fc")
    graph = Graph("two", (Node("x", "Input", {"shape": [7, 5]}), Node("a", "Encoder", {"hidden": 16}),
                          Node("b", "Encoder", {"hidden": 12})),
                  (Edge("x", "a"), Edge("x", "b")), definitions={"Encoder": block})
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    source = generate_model(graph, result)
    assert "        _, (h, _) = self.lstm(x)  # h[-1]: (N, D)\n        out = self.fc(h[-1])  # (N, 3)" in source.code
    model = build_model(source, seed=0).eval()
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        a, b = model(x)
        torch.testing.assert_close(a, model.a.fc(model.a.lstm(x)[1][0][-1]))
        torch.testing.assert_close(b, model.b.fc(model.b.lstm(x)[1][0][-1]))


def test_an_edge_into_a_block_from_a_named_output_is_refused_in_words() -> None:
    inner = Graph("Head", (Node("x", "Port"), Node("fc", "Linear", {"out_features": 3})), (Edge("x", "fc"),))
    graph = design(Node("lstm", "LSTM", {"hidden_size": 6}), Node("head", "Head"),
                   edges=(Edge("x", "lstm"), Edge("lstm", "head", source_port="h")))
    graph = Graph(graph.name, graph.nodes, graph.edges, definitions={"Head": Definition("Head", inner, output="fc")})
    result = validate(graph)
    assert [i.message for i in result.errors] == [
        "head: the edge from ‘lstm’ reads its output 'h', but a block's input takes a node's main output only; "
        "use that output inside the block"]


def test_a_design_reading_the_lstm_state_exports_to_onnx_and_torchscript() -> None:
    import io

    import onnxruntime as ort

    from export.files import export_bytes

    graph = design(Node("lstm", "LSTM", {"hidden_size": 16, "num_layers": 2}), Node("fc", "Linear", {"out_features": 3}),
                   edges=(Edge("x", "lstm"), Edge("lstm", "fc", source_port="h")))
    source = generate_model(graph)
    model = build_model(source, seed=0).eval()
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        expected = model(x)
    onnx = export_bytes(graph, "onnx", model=model)
    got = ort.InferenceSession(onnx).run(None, {"x": x.numpy()})[0]
    assert float((torch.from_numpy(got) - expected).abs().max()) <= 1e-5
    scripted = torch.jit.load(io.BytesIO(export_bytes(graph, "torchscript", model=model)))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), expected)
