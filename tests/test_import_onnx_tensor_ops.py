"""ONNX ops read as the tensor-op blocks with settings (issue 20): a Split is the chunk block with one output per
piece, a float initializer times a computed tensor is a Parameter node feeding the mul block (a layer scale), a
class token's Expand + Concat is a Parameter and the expand block, a Gather of position 0 the index block
(``x[:, 0]``), a bilinear Resize with align_corners Upsample(align_corners=True), and the dynamo exporter's
decomposed adaptive pooling the AdaptiveAvgPool2d layer again. Each is a real torch module exported by both
exporters, rebuilt from the design, the original's own weights loaded strictly, outputs equal at another batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from importer.onnx_import import import_onnx
from tests.test_import_onnx_ops import EXPORTERS, onnx_file, same_module


def all_nodes(graph):
    """Every node of the design, its blocks' insides included."""
    nodes = list(graph.nodes)
    for definition in graph.definitions.values():
        nodes += all_nodes(definition.graph)
    return nodes


class Shuffle(nn.Module):  # ShuffleNet's x1, x2 = x.chunk(2, dim=1)
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return torch.cat((x2, self.conv(torch.cat((x1, x2), 1))[:, :2]), 1)


class LayerScale(nn.Module):  # ConvNeXt's self.layer_scale * x
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.layer_scale = nn.Parameter(torch.rand(4, 1, 1))

    def forward(self, x):
        return self.layer_scale * self.conv(x)


class ClassToken(nn.Module):  # torchvision's VisionTransformer: cat((class_token.expand(n, -1, -1), x), 1)[:, 0]
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.class_token = nn.Parameter(torch.randn(1, 1, 8))

    def forward(self, x):
        x = self.proj(x)
        x = torch.cat((self.class_token.expand(x.shape[0], -1, -1), x), dim=1)
        return x[:, 0]


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_split_is_the_chunk_block_with_its_pieces_wired(dynamo):
    result = same_module(Shuffle(), (4, 5, 5), dynamo)
    nodes = all_nodes(result.graph)
    if dynamo:
        assert [n.params["chunks"] for n in nodes if n.type == "chunk"] == [2]
    else:  # TorchScript writes chunk as two Slices with bounds computed from the shape: x[:, :2], x[:, 2:]
        assert {":, :2", ":, 2:"} <= {n.params["index"] for n in nodes if n.type == "index"}


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_layer_scale_is_a_parameter_named_as_in_the_module(dynamo):
    result = same_module(LayerScale(), (3, 4, 4), dynamo)
    nodes = {n.id: n for n in all_nodes(result.graph)}
    assert nodes["layer_scale"].type == "Parameter" and nodes["layer_scale"].params["shape"] == [4, 1, 1]
    assert "mul" in {n.type for n in nodes.values()}


def test_a_class_token_is_a_parameter_expanded_and_position_0_the_index_block():
    result = same_module(ClassToken(), (5, 6), False)
    nodes = {n.id: n for n in all_nodes(result.graph)}
    assert nodes["class_token"].type == "Parameter"
    assert {"expand", "index"} <= {n.type for n in nodes.values()}
    assert [n.params["index"] for n in nodes.values() if n.type == "index"] == [":, 0"]


def test_the_dynamo_exporter_s_stored_class_token_reads_back_verified():
    """With the batch fixed the dynamo exporter stores the token already expanded (one row per sample, named after
    the op): read as one row expanded again; its name is the file's, not the module's (the file lost it)."""
    model = ClassToken().eval()
    result = import_onnx(onnx_file(model, torch.randn(2, 5, 6), True))
    assert result.problems == [] and result.verification.same, result.verification.note
    assert {"Parameter", "expand", "index"} <= {n.type for n in all_nodes(result.graph)}


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_bilinear_upsampling_with_align_corners(dynamo):
    result = same_module(nn.Sequential(nn.Conv2d(2, 2, 1), nn.Upsample(scale_factor=2, mode="bilinear",
                                                                       align_corners=True)), (2, 5, 5), dynamo)
    upsample = next(n for n in all_nodes(result.graph) if n.type == "Upsample")
    assert upsample.params.get("align_corners") is True and upsample.params["mode"] == "bilinear"


def test_adaptive_pooling_the_dynamo_exporter_decomposes_is_the_layer_again():
    """VGG's AdaptiveAvgPool2d((7, 7)) on a 1×1 map: Transpose/GatherND/Where/Gather/Add/Div in the file."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(196, 2))
    result = same_module(model, (3, 4, 4), True)
    pools = [n for n in all_nodes(result.graph) if n.type == "AdaptiveAvgPool2d"]
    assert [n.params["output_size"] for n in pools] == [7]


class LastStep(nn.Module):  # nanoGPT's inference head: self.lm_head(x[:, [-1], :])
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(x[:, [-1], :])


def test_gathering_a_list_of_positions_keeps_the_dimension():
    result = same_module(LastStep(), (5, 6), False)
    assert [n.params["index"] for n in all_nodes(result.graph) if n.type == "index"] == [":, [-1]"]
