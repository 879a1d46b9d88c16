"""Blocks with no torch.nn class, as small modules. Codegen copies a class's source into the generated file
(with ``inspect.getsource``), so the class here and the one in an exported file are the same code.

This module imports only torch and the standard library, like the files it feeds.
"""

import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """Adds a code for each position to a (N, T, d_model) sequence: fixed sinusoids or a learned table."""

    def __init__(self, d_model: int, max_len: int = 512, learned: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if learned:
            self.pe = nn.Parameter(torch.randn(1, max_len, d_model) * 0.02)
        else:
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(1, max_len, d_model)
            pe[0, :, 0::2] = torch.sin(position * div_term)
            pe[0, :, 1::2] = torch.cos(position * div_term[: d_model // 2])
            # Not saved in the state dict: it is a function of the shape, recomputed on load.
            self.register_buffer("pe", pe, persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[:, : x.size(1)])


class StochasticDepth(nn.Module):
    """Drops a residual branch while training (torchvision.ops.StochasticDepth): in 'row' mode each sample's branch is
    zeroed with probability p, in 'batch' mode the whole batch's; what survives is scaled by 1 / (1 - p)."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        return x * noise.div_(survival) if survival > 0.0 else x * noise
