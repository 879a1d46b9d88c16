"""Models whose copies of one class differ in a setting: Inception-style nets (torchvision's BasicConv2d with
kernel 1, 3 and 5, or (1, 7) and (7, 1) with tuple padding), a DenseNet-style block (torchvision's _DenseLayer, in_channels growing per layer) and a
TCN (the TCN paper repo's TemporalBlock, dilation 1, 2, 4, 8, with each way of padding on the left).
Written for these tests with the originals' structure, sized to run fast on a CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --- Inception (torchvision.models.inception) ---------------------------------------------------------------


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 8, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 6, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(6, 8, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 8, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(8, 12, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(12, 12, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionNet(nn.Module):
    """A stem, two InceptionA blocks (pool_features 4 then 8, so their widths differ) and a classifier."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 16, kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(16, pool_features=4)  # 8 + 8 + 12 + 4 = 32 channels out
        self.Mixed_5c = InceptionA(32, pool_features=8)  # 36 out
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(36, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_1a_3x3(x)
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class InceptionC(nn.Module):
    """torchvision's 17 × 17 block: the 7 × 7 factorised into (1, 7) and (7, 1) kernels with tuple padding."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 8, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 8, kernel_size=(7, 1), padding=(3, 0))
        self.branch_pool = BasicConv2d(in_channels, 8, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([branch1x1, branch7x7, branch_pool], 1)


class InceptionNet7x7(nn.Module):
    """Two InceptionC blocks (channels_7x7 4 then 6, as torchvision's Mixed_6b and Mixed_6c differ) and a head."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.Mixed_6b = InceptionC(16, channels_7x7=4)  # 24 channels out
        self.Mixed_6c = InceptionC(24, channels_7x7=6)
        self.fc = nn.Linear(24, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Mixed_6c(self.Mixed_6b(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# --- DenseNet (torchvision.models.densenet) -----------------------------------------------------------------


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bottleneck = self.conv1(self.relu1(self.norm1(x)))
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        return torch.cat([x, new_features], 1)


class _DenseBlock(nn.Sequential):
    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size)
            self.add_module(f"denselayer{i + 1}", layer)


class DenseNet(nn.Module):
    def __init__(self, growth_rate: int = 6, num_init_features: int = 8, bn_size: int = 2, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("denseblock1", _DenseBlock(4, num_init_features, bn_size, growth_rate))
        width = num_init_features + 4 * growth_rate
        self.features.add_module("norm5", nn.BatchNorm2d(width))
        self.classifier = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# --- TCN (locuslab/TCN, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks") ----------


class Chomp1d(nn.Module):
    def __init__(self, chomp_size: int) -> None:
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :-self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    """The paper repo's block, with its left padding done one of three ways (``pad``)."""

    def __init__(self, n_inputs: int, n_outputs: int, kernel_size: int, dilation: int, pad: str = "constant",
                 dropout: float = 0.2) -> None:
        super().__init__()
        padding = (kernel_size - 1) * dilation
        self.pad_mode, self.padding = pad, padding
        if pad == "constant":
            self.pad1 = nn.ConstantPad1d((padding, 0), 0)
            self.pad2 = nn.ConstantPad1d((padding, 0), 0)
        conv_padding = padding if pad == "chomp" else 0
        self.conv1 = nn.Conv1d(n_inputs, n_outputs, kernel_size, padding=conv_padding, dilation=dilation)
        self.relu1 = nn.ReLU()
        self.dropout1 = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(n_outputs, n_outputs, kernel_size, padding=conv_padding, dilation=dilation)
        self.relu2 = nn.ReLU()
        self.dropout2 = nn.Dropout(dropout)
        if pad == "chomp":
            self.chomp1 = Chomp1d(padding)
            self.chomp2 = Chomp1d(padding)
        self.downsample = nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None
        self.relu = nn.ReLU()

    def _left(self, x: torch.Tensor, which: int) -> torch.Tensor:
        if self.pad_mode == "constant":
            return (self.pad1 if which == 1 else self.pad2)(x)
        if self.pad_mode == "functional":
            return F.pad(x, (self.padding, 0))
        return x

    def _chomp(self, x: torch.Tensor, which: int) -> torch.Tensor:
        if self.pad_mode == "chomp":
            return (self.chomp1 if which == 1 else self.chomp2)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout1(self.relu1(self._chomp(self.conv1(self._left(x, 1)), 1)))
        out = self.dropout2(self.relu2(self._chomp(self.conv2(self._left(out, 2)), 2)))
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class TemporalConvNet(nn.Module):
    def __init__(self, num_inputs: int, num_channels: list[int], kernel_size: int = 2, pad: str = "constant") -> None:
        super().__init__()
        layers = []
        for i, out in enumerate(num_channels):
            dilation = 2 ** i
            cin = num_inputs if i == 0 else num_channels[i - 1]
            layers.append(TemporalBlock(cin, out, kernel_size, dilation, pad))
        self.network = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class TCN(nn.Module):
    """The repo's sequence classifier: the last time step of the TCN's output through a Linear (read as
    ``[:, -1]`` of the time-first view, the one last-step read the importer has a block for)."""

    def __init__(self, pad: str = "constant", classes: int = 5) -> None:
        super().__init__()
        self.tcn = TemporalConvNet(3, [8, 8, 8, 8], kernel_size=3, pad=pad)
        self.linear = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.tcn(x).transpose(1, 2)[:, -1])


# --- a model whose own code fails at another batch size than the example's ----------------------------------


class FixedBatch(nn.Module):
    """Traces at batch 2, but its reshape holds the 2: verification, at another size, fails inside forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.reshape(2, 12))  # the batch written in
