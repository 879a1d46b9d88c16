"""``x + self.pe[:, : x.size(1)]``: a fixed table of position codes added to a sequence becomes a PositionalEncoding.

A fixed table (a buffer) is the block's sinusoidal kind when its values are the standard sine/cosine codes, which
the block recomputes. A learned table (an nn.Parameter) is left to the Parameter node and the add: kept under its
own attribute name (``encoder.pos_embedding``), the original state dict loads into the generated code by its own
keys, which a PositionalEncoding's ``<node>.pe`` would rename.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from importer.translate import Context, Static, Tensor


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


def _sinusoids(length: int, width: int) -> np.ndarray:
    from codegen.layers import PositionalEncoding  # the block's own table: one definition of the formula

    return PositionalEncoding(width, max_len=length).pe[0].numpy()


def table_params(table: np.ndarray, added: np.ndarray, steps: int, width: int,
                 learned: bool | None) -> dict[str, Any] | None:
    """The PositionalEncoding that adds ``added`` — the first ``steps`` rows of a (1, L, d) or (L, d) ``table`` — to
    an (N, steps, width) sequence, or None when it isn't that. ``learned`` None (an ONNX file can't tell a
    parameter from a buffer): sinusoidal when the table holds the standard codes, learned otherwise."""
    rows = table.reshape(-1, table.shape[-1]) if table.ndim == 3 and table.shape[0] == 1 else table
    if rows.ndim != 2 or rows.shape[1] != width or rows.shape[0] < steps:
        return None
    if added.size != steps * width or not np.array_equal(added.reshape(-1, width), rows[:steps]):
        return None  # not the first T rows of the table
    sinusoidal = not learned and np.allclose(rows, _sinusoids(rows.shape[0], width), atol=1e-6)
    if learned is None:
        learned = not sinusoidal
    if not learned and not sinusoidal:
        return None
    return {"kind": "learned" if learned else "sinusoidal", "max_len": int(rows.shape[0])}


def positional_encoding(ctx: Context, x: Tensor, added: Static) -> Any:
    """A PositionalEncoding node, or None when the constant is not a slice of a (1, L, d) or (L, d) table."""
    if len(x.shape) != 3 or added.origin is None:
        return None
    found = _table(ctx, added.origin)
    if found is None:
        return None
    table, learned = found
    if learned:  # a Parameter node keeps the attribute's state-dict key
        return None
    params = table_params(table.detach().numpy(), added.value.detach().numpy(), x.shape[1], x.shape[2], learned)
    if params is None:
        return None
    return ctx.out(ctx.add(ctx.fx_node.name, "PositionalEncoding", params, [(x, None)]))
