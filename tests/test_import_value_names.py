"""An imported model's forward keeps the names its own code gave its values (issue 22, polish: generated code reads
as a careful person wrote it). torch.fx keeps operations, not local variables: nanoGPT's
``q, k, v = self.c_attn(x).split(self.n_embd, dim=2)`` used to come out as ``x1, x2, x3`` and ``transpose_1``. The
importer reads the names back from each traced line (``meta.value_names``) and codegen uses them wherever that
overwrites no value still needed. Real torch: every import here is checked by its outputs, at another batch size.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from builder.graph import VALUE_NAMES
from builder.project import ProjectError, load_project, to_json
from codegen.loader import build_model
from codegen.source import generate_model
from importer import example_inputs, import_module
from importer.onnx_import import import_onnx
from importer.source_file import construct
from importer.value_names import assigned_names
from tests.import_corpus_public.corpus import ENTRIES
from tests.test_import_onnx_ops import onnx_file


@pytest.mark.parametrize(("line", "names"), [
    ("x = self.conv1(x)", ("x",)),
    ("q, k, v  = self.c_attn(x).split(self.n_embd, dim=2)", ("q", "k", "v")),
    ("out += identity", ("out",)),
    ("y: torch.Tensor = self.proj(y)", ("y",)),
    ("out, _ = self.lstm(x)", ("out", "")),
    ("return self.fc(x)", ()),  # no assignment
    ("self.cache = x", ()),  # an attribute, not a local
    ("x[:, 0] = y", ()),
    ("x = torch.cat((a,", ()),  # the first line of a statement over several
    ("", ()),
])
def test_the_names_a_line_assigns(line: str, names: tuple[str, ...]) -> None:
    assert assigned_names(line) == names


class Attention(nn.Module):
    """nanoGPT's CausalSelfAttention, cut to its shapes."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    """A pre-norm residual block whose lines name `x` while `x` is still needed: those names can't be kept."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln(x))
        h = self.fc(x)
        a, _ = h.chunk(2, dim=-1)
        gate = torch.sigmoid(a)
        x = x * torch.cat([gate, gate], dim=-1)
        return x


def _import(model: nn.Module, shape: tuple[int, ...]):
    torch.manual_seed(0)
    result = import_module(model.eval(), example_inputs([shape], ["float"]))
    assert result.verification.same and result.verification.by_name, result.verification.note
    return result


def _same_outputs(model: nn.Module, graph, shape: tuple[int, ...], batch: int = 3) -> None:
    rebuilt = build_model(generate_model(graph)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-6)


def test_hand_written_attention_reads_with_its_own_names() -> None:
    torch.manual_seed(0)
    model = Attention()
    result = _import(model, (5, 16))
    code = generate_model(result.graph).code
    assert "q, k, v = x.split(16, dim=2)" in code, code
    for line in ("k = k.reshape(k.size(0), 5, 2, 8)", "k = k.permute(0, 2, 1, 3)", "q = q.permute(",
                 "v = v.permute(", "att = q @ att", "att = self.softmax(att)", "y = att @ v", "y = self.c_proj(y)"):
        assert line in code, (line, code)
    assert "x1" not in code and "transpose_" not in code, code
    _same_outputs(model, result.graph, (5, 16))


def test_a_name_whose_value_is_still_needed_is_not_taken() -> None:
    """``x = x + self.attn(self.ln(x))``: the norm and the attention can't be written to ``x`` (the sum still reads
    it); ``a, _ = …chunk(…)`` keeps ``a`` and leaves the unread half unnamed."""
    torch.manual_seed(0)
    model = Block()
    result = _import(model, (5, 16))
    code = generate_model(result.graph).code
    block = code[code.index("class Block"):]
    assert "x = self.ln(x)" not in block and "x = self.attn(x)" not in block, block
    assert "h = self.fc(x)" in block and "a, _ = h.chunk(2, dim=-1)" in block, block
    assert "gate = self.sigmoid(a)" in block and "x = x * gate" in block, block
    _same_outputs(model, result.graph, (5, 16))


def test_the_names_survive_the_project_file_and_a_bad_one_is_refused() -> None:
    torch.manual_seed(0)
    graph = _import(Attention(), (5, 16)).graph
    text = to_json(graph)
    assert VALUE_NAMES in text
    again = load_project(text)
    assert generate_model(again).code == generate_model(graph).code
    data = json.loads(text)
    node = next(n for n in data["nodes"] if VALUE_NAMES in n.get("meta", {}))
    node["meta"][VALUE_NAMES] = ["x = 1; import os"]
    with pytest.raises(ProjectError) as err:
        load_project(json.dumps(data))
    assert f"({node['id']!r}): meta.{VALUE_NAMES} must hold Python identifiers" in str(err.value), str(err.value)


def _corpus_code(name: str) -> str:
    entry = next(e for e in ENTRIES if e.name == name)
    with contextlib.redirect_stdout(io.StringIO()):  # nanoGPT prints its parameter count
        model = construct(entry.path_ref, entry.args_json).eval()
    torch.manual_seed(0)
    dtypes = list(entry.dtypes) + ["float"] * (len(entry.inputs) - len(entry.dtypes))
    result = import_module(model, example_inputs(list(entry.inputs), dtypes, high=max(2, entry.vocab)))
    assert result.verification.same and result.verification.by_name, result.verification.note
    return generate_model(result.graph).code


def test_nanogpt_reads_as_nanogpt() -> None:
    code = _corpus_code("nanoGPT GPT")
    for line in ("q, k, v = x.split(32, dim=2)", "y = F.scaled_dot_product_attention(q, k, v, is_causal=True)",
                 "y = self.resid_dropout(y)", "tok_emb = self.transformer.wte(idx)",
                 "pos_emb = self.transformer.wpe(positions)", "x = tok_emb + pos_emb",
                 "logits = self.lm_head(logits)"):
        assert line in code, (line, code)


def test_vit_pytorch_names_what_map_unpacks() -> None:
    """``q, k, v = map(lambda t: rearrange(t, 'b n (h d) -> b h n d', h = self.heads), qkv)``: one result per
    name, in order (the pieces map() takes from ``qkv`` are read again on the line: no results of it)."""
    code = _corpus_code("vit-pytorch ViT")
    for line in ("q = qkv1.view(", "q = q.permute(0, 2, 1, 3)", "k = k.permute(0, 2, 1, 3)", "v = v.permute(",
                 "dots = q @ dots", "attn = self.attend(dots)", "out = attn @ v", "x = self.to_patch_embedding(img)",
                 # `x = x + self.pos_embedding[:(n + 1)]`: `x` is still read, so the slice takes its parameter's name
                 "pos_embedding = self.pos_embedding[:17]", "x = x + pos_embedding"):
        assert line in code, (line, code)
    assert "rearrange_" not in code and "getitem" not in code, code


class Down(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class TinyUNet(nn.Module):
    """Pytorch-UNet's forward in small, with a split of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.inc = Down(4)
        self.down1 = Down(4)
        self.down2 = Down(4)
        self.outc = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        a, b = x3.chunk(2, dim=1)
        gated = a * torch.sigmoid(b)
        x = torch.cat([gated, x3[:, :2]], dim=1) + x1
        logits = self.outc(x)
        return logits


def test_an_onnx_file_from_the_dynamo_exporter_keeps_its_names_too() -> None:
    """The dynamo exporter records each frame's code beside file and line; the names come from that text, never from
    the file it names. A block takes the line of its parent's forward() that called it."""
    torch.manual_seed(0)
    model = TinyUNet().eval()
    result = import_onnx(onnx_file(model, torch.randn(2, 4, 8, 8), True))
    assert result.verification.same, result.verification.note
    code = generate_model(result.graph).code
    for line in ("x1 = self.inc(x)", "x2 = self.down1(x1)", "x3 = self.down2(x2)", "x = x + x1",
                 "logits = self.outc(x)"):
        assert line in code, (line, code)
    # the exporter's optimizer rewrites the chunk into a Split with no stack trace: its pieces keep codegen's names
    assert "x31, x32 = x3.chunk(2, dim=1)" in code and "gated = x31 * gated" in code, code
