"""ONNX ops read as existing blocks (issue 20): padding, instance norm, pixel shuffle, upsampling, the erf form of
GELU. Each is a real torch module exported by both exporters (the default dynamo one and TorchScript's); the design
read back is built as a torch module, the ORIGINAL's state dict loads into it strictly, and it computes what the
original computes at another batch size. What only a tensor-operation block would fit is refused in words."""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import pytest
import torch
from torch import nn

from builder.graph import Edge, Graph, Node
from codegen.loader import build_model
from codegen.source import generate_model
from export.files import export_bytes
from importer.onnx_import import import_onnx
from importer.verify import carry_weights
from tests.test_import import _randomize

EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]


def onnx_file(model: nn.Module, x: torch.Tensor, dynamo: bool, **options) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporters talk
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), buffer, dynamo=dynamo, **options)
    return buffer.getvalue()


def same_module(model: nn.Module, shape: tuple[int, ...], dynamo: bool, **options):
    """Export, import, rebuild: the original's own weights load strictly and the outputs agree (≤ 1e-5)."""
    model = _randomize(model)
    result = import_onnx(onnx_file(model, torch.randn(2, *shape), dynamo, **options))
    assert result.problems == [], [p.message for p in result.problems]
    assert result.verification.same, result.verification.note
    source = generate_model(result.graph)
    rebuilt = build_model(source).eval()
    state, unused = carry_weights(source, rebuilt, dict(model.state_dict()), result.origins, result.renames)
    assert unused == []
    rebuilt.load_state_dict(state, strict=True)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert (rebuilt(x) - model(x)).abs().max().item() <= 1e-5
    return result


def block_types(result) -> list[str]:
    return [n.type for n in result.graph.nodes]


class Padded(nn.Module):
    def __init__(self, pad: nn.Module, dims: int = 2) -> None:
        super().__init__()
        self.pad = pad
        self.conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("pad, dims, block", [
    (nn.ReflectionPad2d((1, 2, 0, 3)), 2, "ReflectionPad2d"),
    (nn.ReplicationPad2d(2), 2, "ReplicationPad2d"),
    (nn.ConstantPad2d((1, 0, 2, 1), 0.5), 2, "ConstantPad2d"),
    (nn.ReflectionPad1d((2, 1)), 1, "ReflectionPad1d"),
    (nn.CircularPad2d(1), 2, "CircularPad2d"),
])
def test_padding_comes_back_as_its_padding_block(pad, dims, block, dynamo):
    if block == "CircularPad2d" and not dynamo:
        pytest.skip("TorchScript writes circular padding as Slice and Concat, which have no blocks yet")
    shape = (3, 8, 8) if dims == 2 else (3, 9)
    result = same_module(Padded(pad, dims), shape, dynamo)
    assert block in block_types(result)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_zero_padding_is_a_zero_pad_or_the_convolutions_own(dynamo):
    """TorchScript keeps ZeroPad2d; the dynamo exporter folds it into the next convolution's padding."""
    result = same_module(Padded(nn.ZeroPad2d(2)), (3, 8, 8), dynamo)
    assert block_types(result) == (["Input", "Conv2d"] if dynamo else ["Input", "ZeroPad2d", "Conv2d"])


class Normed(nn.Module):
    def __init__(self, norm: nn.Module, dims: int = 2) -> None:
        super().__init__()
        self.conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(3, 4, 3)
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x)))


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("norm, dims", [(nn.InstanceNorm2d(4, affine=True), 2), (nn.InstanceNorm2d(4), 2),
                                        (nn.InstanceNorm1d(4, affine=True, eps=1e-3), 1)])
def test_instance_norm_comes_back_with_its_affine_setting(norm, dims, dynamo):
    result = same_module(Normed(norm, dims), (3, 8, 8) if dims == 2 else (3, 10), dynamo)
    node = next(n for n in result.graph.nodes if n.type.startswith("InstanceNorm"))
    assert node.id == "norm" and node.params["affine"] == norm.affine
    if dims == 1:
        assert node.params["eps"] == pytest.approx(1e-3)


class SuperResolution(nn.Module):
    """pytorch/examples' super_resolution in small: a convolution to r² channels, then PixelShuffle."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_depth_to_space_is_pixel_shuffle(dynamo):
    result = same_module(SuperResolution(), (3, 6, 6), dynamo)
    assert block_types(result) == ["Input", "Conv2d", "PixelShuffle"]
    assert result.graph.nodes[-1].params["upscale_factor"] == 2


class Upsampled(nn.Module):
    def __init__(self, up: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("mode, factor", [("nearest", 2.0), ("bilinear", 2.0), ("nearest", 3.0)])
def test_resize_is_upsample(mode, factor, dynamo):
    result = same_module(Upsampled(nn.Upsample(scale_factor=factor, mode=mode)), (3, 7, 7), dynamo)
    node = result.graph.nodes[-1]
    assert node.type == "Upsample" and node.params == {"scale_factor": factor, "mode": mode}


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_upsampling_with_aligned_corners_is_upsample_with_align_corners(dynamo):
    up = Upsampled(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True))
    result = same_module(up, (3, 7, 7), dynamo)
    assert [n.params.get("align_corners") for n in result.graph.nodes if n.type == "Upsample"] == [True]


class HandWrittenGelu(nn.Module):
    """BERT's gelu, written out: x * 0.5 * (1.0 + erf(x / sqrt(2)))."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("model", [pytest.param(lambda: nn.Sequential(nn.Linear(6, 5), nn.GELU()), id="nn.GELU"),
                                   pytest.param(HandWrittenGelu, id="hand-written")])
def test_the_erf_form_of_gelu_is_one_gelu_block(model, dynamo):
    """Opset 17 has no Gelu op: both exporters write the erf formula, in different orders."""
    result = same_module(model(), (6,), dynamo, opset_version=17 if not dynamo else 18)
    assert block_types(result)[-1] == "GELU" and "Unsupported" not in block_types(result)


def test_layerlabs_own_gelu_export_comes_back():
    graph = Graph(name="gelu_net", nodes=(Node("x", "Input", {"shape": [6]}), Node("fc", "Linear", {"out_features": 5}),
                                          Node("act", "GELU", {})),
                  edges=(Edge("x", "fc"), Edge("fc", "act")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = import_onnx(export_bytes(graph, "onnx"))
    assert result.problems == [] and block_types(result) == ["Input", "Linear", "GELU"]
    assert result.verification.same and result.verification.max_abs_diff <= 1e-5


class TensorOps(nn.Module):
    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if self.op == "exp":
            return torch.exp(x)
        if self.op == "pow":
            return x ** 3
        if self.op == "split":
            a, b = torch.chunk(x, 2, dim=1)
            return torch.cat([b, a], dim=1)
        if self.op == "randn_like":
            return x + torch.randn_like(x)
        return x[:, 0:1, :].reshape(x.shape[0], -1) if x.dim() == 3 else x[0:1].expand_as(x)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("op, block", [("exp", "exp"), ("pow", "scalar")])
def test_an_onnx_op_named_like_a_tensor_op_block_comes_back_as_that_block(op, block, dynamo):
    """Exp is the exp block, Pow with a constant exponent the scalar block (x ** 3), verified against onnxruntime."""
    result = import_onnx(onnx_file(TensorOps(op), torch.randn(2, 6), dynamo))
    assert result.problems == [] and block in block_types(result), block_types(result)
    assert result.verification.same and result.verification.max_abs_diff <= 1e-5


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("op, words", [("randn_like", "a random draw")])  # split: the chunk block (issue 20)
def test_what_only_a_tensor_operation_would_fit_is_refused_in_words(op, words, dynamo):
    result = import_onnx(onnx_file(TensorOps(op), torch.randn(2, 6), dynamo))
    assert result.problems and any(words in p.message for p in result.problems), [p.message for p in result.problems]
    assert not result.verification.same


class ClassToken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, 0])  # a ViT's class token: a Gather of position 0


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_gathering_one_position_is_the_index_block(dynamo):
    result = same_module(ClassToken(), (5, 6), dynamo)
    assert [n.params["index"] for n in result.graph.nodes if n.type == "index"] == [":, 0"]
