"""Blocks made of blocks against real torch: ResNet-18 with torchvision's names, a Transformer stack against
nn.TransformerEncoder, every library block, and every template built on blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from builder.library import library_design, library_names
from builder.summary import summarize
from builder.templates import load_template
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model

BLOCK_TEMPLATES = ["nanogpt_tiny", "resnet18", "resnet_mini", "se_resnet", "seq2seq_lstm", "transformer_classifier", "transformer_seq2seq",
                   "unet_small", "vit_tiny"]


# --- a reference with torchvision's structure, written by hand (torchvision does not import beside our torch) ---

class RefBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class RefResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 1)
        self.layer2 = self._make_layer(128, 2)
        self.layer3 = self._make_layer(256, 2)
        self.layer4 = self._make_layer(512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [RefBasicBlock(self.inplanes, planes, stride, downsample), RefBasicBlock(planes, planes)]
        self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial running statistics, so eval-mode outputs exercise every buffer that was copied."""
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) + 0.5)


def test_resnet18_has_torchvisions_keys_count_and_outputs() -> None:
    graph = load_template("resnet18")
    assert len(graph.nodes) <= 15
    result = validate(graph)
    assert result.valid
    assert result.total_params == 11_181_642  # torchvision's resnet18(num_classes=10): the template is for CIFAR-10
    ours = build_model(generate_model(graph, result)).eval()
    torch.manual_seed(0)
    reference = RefResNet18(num_classes=10).eval()
    _randomize_batchnorm(reference)
    ref_state = reference.state_dict()
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in ref_state.items()}
    ours.load_state_dict(ref_state, strict=True)
    for x in (torch.randn(2, 3, 32, 32), torch.randn(2, 3, 224, 224)):  # CIFAR-10's size, and photos'
        with torch.no_grad():
            assert torch.allclose(ours(x), reference(x), atol=1e-5, rtol=0)
    assert sum(p.numel() for p in ours.parameters()) == 11_181_642


def test_resnet18_code_has_one_class_per_definition_and_no_line_per_layer() -> None:
    code = generate_model(load_template("resnet18")).code
    assert code.count("class BasicBlock(nn.Module):") == 1
    assert code.count("class Downsample(nn.Sequential):") == 1
    assert "layer3_1" not in code and "layer2.0" not in code
    assert code.count("BasicBlock(") <= 8  # one construction per stage and copy, no layer written out twice
    assert len(code.splitlines()) < 120


def test_six_encoder_blocks_equal_nn_transformer_encoder() -> None:
    """TransformerEncoderBlock ×6 against nn.TransformerEncoder(nn.TransformerEncoderLayer, 6): key mapping is the
    identity after the prefix (`encoder.{i}.` ↔ `layers.{i}.`): self_attn, linear1, linear2, norm1, norm2."""
    graph = load_template("transformer_classifier")
    encoder = graph.node("encoder")
    d_model, heads, ff = 64, 4, 128
    graph = graph.replace_node(encoder.__class__(encoder.id, encoder.type, {**encoder.params, "dropout": 0.0},
                                                 repeat=6))
    result = validate(graph)
    assert result.valid, result.errors
    block_params = sum(result.leaves.nodes[f].param_count for f in result.leaves.nodes if f.startswith("encoder."))
    layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True)
    reference = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False).eval()
    assert block_params == sum(p.numel() for p in reference.parameters())
    model = build_model(generate_model(graph, result)).eval()
    mapped = {f"layers.{k[len('encoder.'):]}": v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    reference.load_state_dict(mapped, strict=True)
    x = torch.randn(3, 24, d_model)
    with torch.no_grad():
        ours = model.encoder(x)
        theirs = reference(x)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", library_names())
def test_library_block_matches_torch(name: str) -> None:
    """Every library block: valid, its counted parameters are the module's, its inferred shape is torch's."""
    graph = library_design(name)
    result = validate(graph)
    assert result.valid, [i.message for i in result.errors]
    source = generate_model(graph, result)
    model = build_model(source).eval()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == result.total_params
    inputs = _example(source, batch=3)
    with torch.no_grad():
        out = model(*inputs)
    assert tuple(out.shape) == (3, *result.nodes["block"].output.shape)


@pytest.mark.parametrize("name", BLOCK_TEMPLATES)
def test_block_template_shapes_follow_torch(name: str) -> None:
    """Every node inside every block: the validator's shape is what the generated module computes."""
    graph = load_template(name)
    result = validate(graph)
    assert result.valid
    source = generate_model(graph, result)
    model = build_model(source).eval()
    seen: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())
    hooks = [modules[path].register_forward_hook(_recorder(seen, flat_id))
             for flat_id, path in source.module_paths.items() if path in modules]
    with torch.no_grad():
        model(*_example(source, batch=2))
    for hook in hooks:
        hook.remove()
    checked = 0
    for flat_id, shape in seen.items():
        info = result.leaves.nodes.get(flat_id)
        if info is None or info.type in ("MultiheadAttention", "LSTM", "GRU", "RNN"):
            continue  # a block (checked through its layers), or a tuple output post-processed in forward
        batch = (2,) if info.output.batched else ()  # positions from arange, and what embeds them, have none
        assert shape == (*batch, *info.output.shape), flat_id
        checked += 1
    assert checked >= 3


def _recorder(seen: dict[str, tuple[int, ...]], flat_id: str):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor):
            seen[flat_id] = tuple(output.shape)
    return hook


def _example(source, batch: int) -> tuple[torch.Tensor, ...]:
    tensors = []
    for item in source.inputs:
        if item.dtype == "long":
            tensors.append(torch.randint(2, item.high, (batch, *item.shape)))
        else:
            tensors.append(torch.randn(batch, *item.shape))
    return tuple(tensors)


def test_summary_is_hierarchical_and_totals_equal_torch() -> None:
    graph = load_template("resnet_mini")
    model = build_model(generate_model(graph))
    collapsed = summarize(graph)
    leaves = summarize(graph, depth=None)
    torch_total = sum(p.numel() for p in model.parameters())
    assert collapsed.total_params == leaves.total_params == torch_total
    assert [r.node for r in collapsed.rows][:6] == ["x", "stem", "stem_bn", "stem_relu", "layer1", "layer2"]
    assert any(r.node == "layer2.downsample.conv" for r in leaves.rows)
    assert len(leaves.rows) > len(collapsed.rows)
