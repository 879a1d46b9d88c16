"""``x + self.pe[:, : x.size(1)]``: a table of position codes added to a sequence becomes a PositionalEncoding.

A learned table (an nn.Parameter) is the block's learned kind and its values copy over; a fixed table (a buffer)
is the sinusoidal kind when its values are the standard sine/cosine codes, which the block recomputes.
"""

from __future__ import annotations

from typing import Any

import torch

from builder.importer.translate import Context, Static, Tensor


def _table(ctx: Context, origin: str) -> tuple[torch.Tensor, bool] | None:
    """The whole table the slice came from, and whether it is learned."""
    module = ctx.traced.module
    try:
        return module.get_parameter(origin).detach(), True
    except AttributeError:
        pass
    try:
        return module.get_buffer(origin), False
    except AttributeError:
        return None


def _sinusoids(length: int, width: int) -> torch.Tensor:
    from codegen.layers import PositionalEncoding  # the block's own table: one definition of the formula

    return PositionalEncoding(width, max_len=length).pe[0]


def positional_encoding(ctx: Context, x: Tensor, added: Static) -> Any:
    """A PositionalEncoding node, or None when the constant is not a slice of a (1, L, d) or (L, d) table."""
    if len(x.shape) != 3 or added.origin is None:
        return None
    found = _table(ctx, added.origin)
    if found is None:
        return None
    table, learned = found
    rows = table.reshape(-1, table.shape[-1]) if table.dim() == 3 and table.shape[0] == 1 else table
    steps, width = x.shape[1], x.shape[2]
    if rows.dim() != 2 or rows.shape[1] != width or rows.shape[0] < steps:
        return None
    if not torch.equal(added.value.reshape(-1, width), rows[:steps]):
        return None  # not the first T rows of the table
    params = {"kind": "learned" if learned else "sinusoidal", "max_len": int(rows.shape[0])}
    if not learned and not torch.allclose(rows, _sinusoids(rows.shape[0], width), atol=1e-6):
        return None
    node_id = ctx.add(ctx.fx_node.name, "PositionalEncoding", params, [(x, None)])
    if learned:
        ctx.renames[node_id] = {"pe": added.origin}
    return ctx.out(node_id)
