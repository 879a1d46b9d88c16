"""The model's own forward names its paths as a block's forward does (issue 22, polish; STYLE: "name the branch
for what it is"). It used to name a path after its first layer and keep that name for everything after it:
``ln_1 = self.attn(ln_1)`` in nanoGPT's Block imported alone, ``down = self.up(down, inc)`` in unet_small,
``x = self.logvar(x)`` returned as the VAE's log-variance. Real torch: each generated model is built from its code
and computes what the original (or the design) computes.
"""

from __future__ import annotations

import contextlib
import io

import torch

from builder.graph import Edge, Graph, Node
from builder.templates import load_template
from codegen.loader import build_model
from codegen.source import generate_model
from importer import example_inputs, import_module
from importer.source_file import construct
from tests.import_corpus_public.corpus import ENTRIES


def _forward(code: str, class_name: str) -> str:
    body = code[code.index(f"class {class_name}("):]
    forward = body[body.index("    def forward"):]
    lines = forward[:forward.index("\n\n")].splitlines()[1:]
    return "\n".join(line.split("  #")[0].strip() for line in lines)  # the statements, without shape comments


def _imported(name: str) -> tuple[torch.nn.Module, str, tuple[torch.Tensor, ...]]:
    entry = next(e for e in ENTRIES if e.name == name)
    with contextlib.redirect_stdout(io.StringIO()):
        model = construct(entry.path_ref, entry.args_json).eval()
    torch.manual_seed(0)
    result = import_module(model, example_inputs(list(entry.inputs), ["float"] * len(entry.inputs)))
    assert result.verification.same and result.verification.by_name, result.verification.note
    code = generate_model(result.graph).code
    rebuilt = build_model(generate_model(result.graph)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    batch = tuple(torch.randn(3, *shape) for shape in entry.inputs)
    with torch.no_grad():
        torch.manual_seed(1)  # a VAE draws its noise: the same draws for both
        ours = _as_tuple(rebuilt(*batch))
        torch.manual_seed(1)
        for mine, theirs in zip(ours, _as_tuple(model(*batch)), strict=True):
            assert torch.allclose(mine, theirs, atol=1e-6)
    return model, code, batch


def _as_tuple(value) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


def test_a_residual_branch_in_the_models_forward_is_out() -> None:
    _, code, _ = _imported("nanoGPT Block (GPT-2 block)")
    forward = _forward(code, "Block")
    for line in ("out = self.ln_1(x)", "out = self.attn(out)", "x = x + out", "out = self.ln_2(x)",
                 "out = self.mlp(out)"):
        assert line in forward, (line, forward)
    assert "ln_1 = " not in forward and "ln_2 = " not in forward, forward


def test_heads_of_a_fork_each_keep_their_name() -> None:
    """pytorch/examples' VAE: ``return self.fc21(h1), self.fc22(h1)`` names nothing, so each head is named after
    its layer; the log-variance is no longer returned in ``h1``, the name of the layer before the fork."""
    _, code, _ = _imported("examples vae VAE")
    forward = _forward(code, "VAE")
    assert "fc21 = self.fc21(h1)" in forward and "fc22 = self.fc22(h1)" in forward, forward
    assert "return h3, fc21, fc22" in forward, forward


def test_templates_read_as_a_person_writes_them() -> None:
    unet = _forward(generate_model(load_template("unet_small")).code, "UnetSmall")
    assert "inc = self.inc(x)\ndown = self.down(inc)\nx = self.up(down, inc)" in unet, unet
    assert "return x" in unet
    vae = _forward(generate_model(load_template("vae")).code, "Vae")
    assert "mu = self.mu(x)" in vae and "logvar = self.logvar(x)" in vae and "return z, mu, logvar" in vae, vae
    # a class token is not a branch of the patches, nor are positions a branch of the token ids
    vit = _forward(generate_model(load_template("vit_tiny")).code, "VitTiny")
    assert "cls = self.cls_token.expand(tokens.size(0), -1, -1)" in vit, vit
    assert "x = torch.cat([cls, tokens], dim=1)" in vit, vit  # the joined sequence goes on as x
    gpt = _forward(generate_model(load_template("nanogpt_tiny")).code, "NanogptTiny")
    assert "wte = self.wte(idx)" in gpt and "x = wte + wpe" in gpt, gpt


def _flat_residual() -> Graph:
    """A residual stage drawn flat (no block): a main path, a downsampled identity, their sum."""
    nodes = (Node("x", "Input", {"shape": [4, 8, 8]}),
             Node("conv1", "Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}),
             Node("relu1", "ReLU"),
             Node("conv2", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
             Node("down", "Conv2d", {"out_channels": 8, "kernel_size": 1, "stride": 2}),
             Node("add", "Add"), Node("relu2", "ReLU"))
    edges = (Edge("x", "conv1"), Edge("conv1", "relu1"), Edge("relu1", "conv2"), Edge("x", "down"),
             Edge("conv2", "add"), Edge("down", "add"), Edge("add", "relu2"))
    return Graph("flat_residual", nodes, edges)


def test_a_residual_stage_drawn_flat_reads_like_torchvisions() -> None:
    source = generate_model(_flat_residual())
    forward = _forward(source.code, source.class_name)
    for line in ("out = self.conv1(x)", "out = self.relu1(out)", "out = self.conv2(out)", "x = self.down(x)",
                 "x = out + x", "x = self.relu2(x)"):
        assert line in forward, (line, forward)
    model = build_model(source).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = torch.relu(model.conv2(model.relu1(model.conv1(x))) + model.down(x))
        assert torch.equal(model(x), expected)
