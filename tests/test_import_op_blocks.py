"""Traced torch calls come back as the tensor-op blocks and Parameter/Buffer nodes (importer.op_blocks,
importer.tensor_nodes): each model imports verified at another batch size, its original state dict loads strictly
into the generated code, and the design holds the op blocks its code was written with."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from builder.catalog.tensor_ops import OPS
from builder.project import load_project, to_json
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model
from importer import example_inputs, import_module
from importer.op_blocks import op_index


class SEGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        s = torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))
        return (x * s).exp().flatten(1)


class AttentionPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(6, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.score(h), dim=1)
        return (w * h).sum(1)


class ClassTokenNet(nn.Module):
    """A class token (a Parameter) expanded to the batch, x[:, 0], a LayerScale gamma and F.layer_norm with a
    weight. (A learned position table added whole is a Parameter node under its own name, so the state dict loads.)"""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 8)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
        self.gamma = nn.Parameter(torch.rand(8))
        self.ln_weight = nn.Parameter(torch.rand(8))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        x = torch.cat([self.cls_token.expand(x.size(0), -1, -1), x], dim=1)
        x = F.layer_norm(x * self.gamma, (8,), self.ln_weight)
        return self.head(x[:, 0])


class GPTPositions(nn.Module):
    """wte(idx) + wpe(torch.arange(T)), a causal mask buffer that isn't saved, and a chunk into two halves."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(20, 8)
        self.wpe = nn.Embedding(5, 8)
        self.register_buffer("mask", torch.tril(torch.ones(5, 5)), persistent=False)
        self.fc = nn.Linear(8, 8)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        scores = x @ x.transpose(1, 2)
        a, b = self.fc(scores @ x).chunk(2, dim=-1)
        return torch.cat([b, a.exp()], dim=-1) * self.mask[:t, :t].sum(-1, keepdim=True)


CASES = [
    (SEGate, [(3, 6, 6)], ["float"], {"mul", "exp"}),
    (AttentionPool, [(5, 6)], ["float"], {"mul", "sum"}),
    (ClassTokenNet, [(5, 4)], ["float"], {"Parameter", "expand", "cat", "mul", "layer_norm", "index"}),
    (GPTPositions, [(5,)], ["long"], {"arange", "chunk", "Concat", "exp", "Buffer", "index", "matmul"}),
]


@pytest.mark.parametrize("factory, shapes, dtypes, expected", CASES, ids=[c[0].__name__ for c in CASES])
def test_tensor_ops_import_verified_and_take_the_original_state_dict(factory, shapes, dtypes, expected):
    torch.manual_seed(0)
    model = factory().eval()
    result = import_module(model, example_inputs(shapes, dtypes, high=5))
    assert result.problems == [], [str(p) for p in result.problems]
    assert result.verification.same, result.verification.note
    assert "no place in the design" not in result.verification.note
    graphs = [result.graph, *(d.graph for d in result.graph.definitions.values())]
    types = {n.type for g in graphs for n in g.nodes}
    assert expected <= types, types
    again = load_project(to_json(result.graph))  # the saved file reads back and validates
    assert validate(again).valid
    rebuilt = build_model(generate_model(again)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)  # the original's names, as they are
    inputs = example_inputs(shapes, dtypes, batch=4, high=5)
    with torch.no_grad():
        assert torch.allclose(rebuilt(*inputs), model(*inputs), atol=1e-5, rtol=0)


def test_the_index_of_torch_names_is_read_from_every_op_blocks_own_call():
    index = op_index()
    named = {t for types in index.values() for t in types}
    assert named == set(OPS)  # every op block is reachable by its torch name
    assert {"mul", "scalar"} <= set(index["mul"])  # x * y, and x * 0.5 (the scalar block's operator choices)
    assert "scalar" in index["truediv"] and "scalar" in index["pow"]
    assert index["getitem"] == ("index",) and "sum" in index["sum"] and "chunk" in index["chunk"]


class SinCosTable(nn.Module):
    """SimpleViT's way: a position table computed once in __init__ and kept as a plain attribute (in no state dict),
    moved to the input's device and dtype in forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 8)
        angles = torch.arange(5.0)[:, None] * torch.linspace(0.1, 1.0, 8)[None, :]
        self.pos_embedding = angles.sin()  # (5, 8): a tensor attribute, not a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        x += self.pos_embedding.to(x.device, dtype=x.dtype)
        return x


def test_a_plain_tensor_attribute_is_a_buffer_the_design_carries_and_does_not_save():
    model = SinCosTable().eval()
    result = import_module(model, (torch.randn(2, 5, 4),))
    assert result.problems == [] and result.verification.same and result.verification.by_name, \
        result.verification.note
    buffer = next(n for n in result.graph.nodes if n.type == "Buffer")
    assert buffer.id == "pos_embedding" and buffer.params["fill"] == "values" and not buffer.params["persistent"]
    # float32's shortest decimals (0.84147096, not 0.8414709568023682), which read back as the same bits
    assert torch.equal(torch.tensor(buffer.params["values"]).reshape(5, 8), model.pos_embedding)
    code = generate_model(result.graph).code
    assert 'self.register_buffer("pos_embedding", torch.reshape(torch.tensor((' in code, code
    assert ")), (5, 8)), persistent=False)" in code, code
    rebuilt = build_model(generate_model(result.graph)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)  # the table is in neither state dict
    assert torch.equal(rebuilt.pos_embedding, model.pos_embedding)
    x = torch.randn(3, 5, 4)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert validate(load_project(to_json(result.graph))).valid  # the values survive the file


def test_a_tensor_attribute_too_large_to_carry_says_so():
    model = SinCosTable().eval()
    model.proj = nn.Linear(4, 3000)
    model.pos_embedding = torch.rand(6, 3000)  # 18,000 values: more than a Buffer node carries
    result = import_module(model, (torch.randn(2, 6, 4),))
    assert len(result.problems) == 1, result.problems
    text = str(result.problems[0])
    assert "self.pos_embedding" in text and "18,000 values, more than the 16,384" in text, text
