"""The real-world corpus (tests/import_corpus_public, code written by others) imported from PyTorch as a user would.

A ratchet: the number of models that import verified (strict state-dict load into the generated code, same outputs
at another batch size, the saved design valid) may only go up; raise VERIFIED_AT_LEAST when a fix lands. Issue 20's
goal is >= 90 % of the corpus; where it stands is printed by `python bench/bench_import_corpus.py`.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "import_corpus_public"))

from corpus import ENTRIES  # noqa: E402
from corpus_outcome import import_entry  # noqa: E402

# Of 31 (94 %), measured 2026-12-07: verified means what issue 20 says, the ORIGINAL state dict loading strictly, by
# its own key names, into the generated code (it was 28 while weights were copied across under the design's names,
# 23 once strict). Layers keep their module paths through containers (vit-pytorch's layers.0.0, RegNet's 'block1-0',
# nanoGPT/minGPT's transformer.wte); hand-written attention read op by op keeps its names (c_attn, minGPT's
# attn.bias buffer); a plain tensor attribute is a non-persistent buffer (SimpleViT). Not yet: word_language_model.
VERIFIED_AT_LEAST = 29

# Quick ones that exercise this fixes: a package with relative imports, a dataclass config, a CfgNode
# config, an optional forward argument (targets=None) bound to its default.
_QUICK = ("Pytorch-UNet UNet", "examples mnist Net", "nanoGPT GPT", "minGPT GPT")


def _entry(name: str):
    return next(e for e in ENTRIES if e.name == name)


def _run(entry):
    with contextlib.redirect_stdout(io.StringIO()):  # nanoGPT prints its parameter count
        return import_entry(entry)


def test_corpus_has_at_least_30_models():
    assert len(ENTRIES) >= 30
    for entry in ENTRIES:
        assert Path(entry.path_ref.rpartition(":")[0]).is_file(), entry.ref


@pytest.mark.parametrize("name", _QUICK)
def test_quick_models_import_without_traceback(name):
    out = _run(_entry(name))
    assert out["status"] in ("verified", "imported"), out["reason"]


def test_unet_package_imports_verified():
    out = _run(_entry("Pytorch-UNet UNet"))
    assert out["status"] == "verified", out["reason"]


def test_gpt_optional_targets_left_at_default():
    out = _run(_entry("nanoGPT GPT"))
    assert out["status"] != "failed", out["reason"]
    assert any("targets=None" in note for note in out["notes"]), out["notes"]


@pytest.mark.slow
def test_corpus_ratchet_and_no_tracebacks():
    rows = [_run(e) for e in ENTRIES]
    tracebacks = [(r["name"], r["reason"]) for r in rows if r["status"] == "traceback"]
    assert not tracebacks
    verified = [r["name"] for r in rows if r["status"] == "verified"]
    assert len(verified) >= VERIFIED_AT_LEAST, [(r["name"], r["reason"][:200]) for r in rows
                                               if r["status"] != "verified"]


def test_a_per_sample_scalar_output_is_the_squeeze_op_and_verifies():
    # DCGAN's discriminator ends in output.view(-1, 1).squeeze(1): a per-sample scalar, which no layer block holds. It
    # used to import "verified" and save a file `layerlab validate` refused, then failed in words; the squeeze op
    # block holds it, and its multi-GPU guard (`if input.is_cuda and self.ngpu > 1`) reads as the example's.
    out = _run(_entry("examples dcgan Discriminator"))
    assert out["status"] == "verified", out


def test_the_cli_writes_no_design_that_fails_validation(tmp_path):
    import argparse

    from cli.import_cmd import register
    from cli.main import EXIT_INVALID, CliError

    # A plain tensor attribute too large for a design to carry (SimpleViT's, of 512 values, is carried as a
    # non-persistent Buffer): the import keeps an Unsupported node, so the file would not validate.
    model_file = tmp_path / "big_table.py"
    model_file.write_text("import torch\nfrom torch import nn\n\n\nclass Tabled(nn.Module):\n"
                          "    def __init__(self):\n        super().__init__()\n"
                          "        self.table = torch.linspace(0, 1, 130 * 130).reshape(130, 130)\n\n"
                          "    def forward(self, x):\n        return x + self.table\n")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    target = tmp_path / "tabled.json"
    args = parser.parse_args(["import", f"{model_file}:Tabled", "--input", "130x130", "-o", str(target)])
    with pytest.raises(CliError) as caught, contextlib.redirect_stdout(io.StringIO()):
        args.func(args)
    assert caught.value.code == EXIT_INVALID
    assert "not written" in caught.value.lines[0] and "self.table" in caught.value.lines[0], caught.value.lines
    assert "16,900 values" in caught.value.lines[0], caught.value.lines
    assert not target.exists()


def test_googlenet_block_copies_keep_their_own_kernel_sizes():
    # Inception's branch2 (a 1 x 1 then a 3 x 3 BasicConv2d) became a repeat whose later copies default to 3 x 3;
    # the 1 x 1 BasicConv2d elsewhere, which had left kernel_size out as the old default, turned 3 x 3 with it.
    out = _run(_entry("torchvision googlenet"))
    assert out["status"] == "verified", out["reason"]


def test_unet_bilinear_upsampling_with_aligned_corners_imports_verified():
    # Pytorch-UNet's bilinear variant: nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
    out = _run(_entry("Pytorch-UNet UNet (bilinear)"))
    assert out["status"] == "verified", out["reason"]


def _original_and_generated(name: str):
    """The corpus model and the module LayerLab's generated code builds for it."""
    from codegen.loader import build_model
    from codegen.source import generate_model
    from importer import example_inputs, import_module
    from importer.source_file import construct

    entry = _entry(name)
    model = construct(entry.path_ref, entry.args_json).eval()
    dtypes = list(entry.dtypes) + ["float"] * (len(entry.inputs) - len(entry.dtypes))
    with contextlib.redirect_stdout(io.StringIO()):
        result = import_module(model, example_inputs(list(entry.inputs), dtypes, high=max(2, entry.vocab)))
    return model, build_model(generate_model(result.graph)).eval(), result


@pytest.mark.parametrize("name", ["torchvision VisionTransformer (small)", "examples dcgan Generator",
                                  "torchvision shufflenet_v2_x0_5"])
def test_the_original_state_dict_loads_strictly_by_its_own_names(name):
    # torchvision's ViT keeps its learned position table as encoder.pos_embedding (a Parameter node, not a
    # PositionalEncoding's '<node>.pe'); DCGAN keeps self.main (a name the script reserves, not an attribute's);
    # ShuffleNet's branch2, fed the second half of a chunk, stays a block (branch2.0.weight, not branch2_0.weight).
    import torch

    model, generated, result = _original_and_generated(name)
    generated.load_state_dict(model.state_dict(), strict=True)
    entry = _entry(name)
    inputs = torch.randn(3, *entry.inputs[0], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.allclose(generated(inputs), model(inputs), atol=1e-5, rtol=0)
    assert result.verification.same and result.verification.by_name, result.verification.note


def test_a_nested_module_list_keeps_its_keys_and_is_verified_by_them():
    # vit-pytorch's nested ModuleList (transformer.layers.0.0) came back as attributes layers_0_0, and its original
    # state dict did not load; the generated code now keeps the ModuleLists (tests/test_import_module_paths.py has
    # the design whose weights fit only under its own names, not called verified).
    out = _run(_entry("vit-pytorch ViT"))
    assert out["status"] == "verified", out
    assert out["reason"].endswith("the original state dict loads strictly by its own names"), out


def test_len_of_a_tensor_traces_and_a_time_first_stack_says_so():
    # word_language_model's TransformerModel: `len(src)` is src.shape[0] (it used to stop the trace with torch's raw
    # "'len' is not supported"); what stops it now is its time-first layers, named with the line and what to do.
    out = _run(_entry("examples word_language_model Transformer"))
    assert out["status"] == "imported", out
    assert out["first"].startswith("nn.TransformerEncoderLayer 'encoder' at model.py:142: it is built with "
                                   "batch_first=False"), out["first"]
    assert "construct it with batch_first=True" in out["first"]


def test_simplevit_position_table_and_mingpt_mask_have_their_places():
    # SimpleViT's pos_embedding, a plain tensor made in __init__, is a non-persistent buffer carrying its values (the
    # original's state dict lacks it, and still loads); minGPT's causal-mask buffer attn.bias is a Buffer node of
    # the attention's class. What may remain is only the containers' names (another fix).
    import torch

    model, generated, result = _original_and_generated("vit-pytorch SimpleViT")
    assert result.problems == [] and result.verification.same, result.verification.note
    assert torch.equal(generated.pos_embedding, model.pos_embedding)
    assert "pos_embedding" not in generated.state_dict()
    out = _run(_entry("minGPT GPT"))
    assert out["status"] == "verified" or "no place in the design" not in out["reason"], out["reason"]
    model, generated, result = _original_and_generated("minGPT GPT")
    assert result.verification.same, result.verification.note
    masks = sorted(k for k in model.state_dict() if k.endswith(".attn.bias"))  # transformer.h.0.attn.bias, ...
    assert len(masks) == 2 and len([k for k in generated.state_dict() if k.endswith(".attn.bias")]) == 2
