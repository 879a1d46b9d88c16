"""Recurrent layers built time first (batch_first=False, PyTorch's default) import as blocks with batch_first off,
and the generated code computes what the original does on sequences of other lengths (issue 20)."""

from __future__ import annotations

import torch
from torch import nn

from codegen.loader import build_model
from codegen.source import generate_model
from importer import import_module
from importer.verify import carry_weights


class TimeFirst(nn.Module):
    """word_language_model's layout: token ids (T, N) through an embedding, two recurrent layers and a decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.rnn = nn.LSTM(8, 12, num_layers=2)
        self.gru = nn.GRU(12, 6, bidirectional=True)
        self.out = nn.Linear(12, 30)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x, _ = self.rnn(self.embed(tokens))
        x, _ = self.gru(x)
        return self.out(x)


class UsesFinalState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(x)
        return h[-1]


def test_time_first_recurrent_layers_import_and_compute_the_same():
    torch.manual_seed(0)
    model = TimeFirst().eval()
    result = import_module(model, (torch.randint(0, 30, (5, 3)),))
    assert result.problems == [] and result.verification.same, result.verification.note
    layers = {n.id: n for n in result.graph.nodes}
    assert dict(layers["rnn"].params)["batch_first"] is False and dict(layers["gru"].params)["batch_first"] is False
    source = generate_model(result.graph)
    assert "nn.LSTM(8, 12, num_layers=2)" in source.code and "batch_first=True" not in source.code
    rebuilt = build_model(source).eval()
    state, left = carry_weights(source, rebuilt, model.state_dict(), result.origins, result.renames)
    rebuilt.load_state_dict(state, strict=True)
    assert left == []
    tokens = torch.randint(0, 30, (9, 4))  # a longer sequence and another batch than traced
    with torch.no_grad():
        assert torch.equal(model(tokens), rebuilt(tokens))


def test_a_time_first_layer_whose_final_state_is_used_is_refused_in_words():
    result = import_module(UsesFinalState().eval(), (torch.randn(6, 2, 4),))
    [problem] = [p for p in result.problems if "GRU" in p.op]
    assert "batch_first=False" in problem.message and "state" in problem.message
