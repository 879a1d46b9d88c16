"""Models torch.fx can't follow but torch.export can: a type check of the input (`isinstance(x, torch.Tensor)`),
which fx's stand-in tensor fails and torch.export's passes. (`len(x)` no longer stands in: fx reads it as
x.shape[0], as the example had it.)"""

from __future__ import annotations

import torch
from torch import nn


class LenMaskGPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 20)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError("tokens must be a tensor of token ids")
        x = self.embed(tokens)
        steps = len(x[0])
        mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1)
        return self.head(x + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0])


class GuardedConvBN(nn.Module):
    """A type check of the input (fx can't follow it, torch.export can; an `x.is_cuda` or `len(x)` guard fx now
    reads as the example's) before a convolution and its BatchNorm, which torch's ONNX optimiser would fold away."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError("x must be a tensor")
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))
