"""Attention written by hand: nanoGPT's CausalSelfAttention (the same arithmetic as nn.MultiheadAttention), and one
that scales its scores differently (not a MultiheadAttention)."""

from __future__ import annotations

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention, written out by hand: a packed qkv Linear, heads, scaled dot product, an output Linear."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, t, c)
        return self.proj(y)


class HandWrittenGPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.attn = CausalSelfAttention()
        self.head = nn.Linear(16, 20)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        return self.head(x + self.attn(x))


class HalfScaledAttention(CausalSelfAttention):
    """Scores divided by 2 instead of √(head size): not what nn.MultiheadAttention computes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = ((q @ k.transpose(-2, -1)) / 2.0).softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(n, t, c))


class OddAttentionModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.attn = HalfScaledAttention()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.attn(self.embed(tokens))


class FlashAttention(nn.Module):
    """nanoGPT's attention as it runs on PyTorch 2: the scaled dot product is F.scaled_dot_product_attention."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(n, t, c))


class MaskBufferAttention(FlashAttention):
    """minGPT's attention: the causal mask is a saved buffer, sliced to the sequence and used by masked_fill."""

    def __init__(self, dim: int = 16, heads: int = 2, block_size: int = 8) -> None:
        super().__init__(dim, heads)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(n, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        y = att.softmax(dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(n, t, c))


class GPTOf(nn.Module):
    """Token embedding, one attention of the given class with a residual, a head."""

    def __init__(self, attention: type[nn.Module]) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.attn = attention()
        self.head = nn.Linear(16, 20)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        return self.head(x + self.attn(x))
