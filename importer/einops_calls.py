"""einops' ``rearrange`` and ``repeat`` → op blocks. einops itself says what a pattern does on a given shape: a
view, a permutation and a reshape (its recipe), which are the view, permute and reshape op blocks, the batch kept
first; ``repeat(cls_token, '1 1 d -> b 1 d', b=b)`` is the expand block reading the batch from the input. The result
is run on the recorded values and kept only when it gives what the trace recorded.

Written by hand because einops describes a pattern, not a torch call; its recipe is einops' own (a private
function, so anything unexpected there is read as 'no block').
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from importer.translate import Context, Static, Tensor


def einops_call(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    name = getattr(node.target, "__name__", "")
    if name == "rearrange" and len(args) >= 2 and isinstance(args[0], Tensor):
        return _rearrange(ctx, node, args[0], args[1], kwargs)
    if name == "repeat" and len(args) >= 1:
        return _repeat(ctx, node, args[0])
    return None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Static) else value


def _rearrange(ctx: Context, node: fx.Node, x: Tensor, pattern: Any, kwargs: dict) -> Any:
    from importer.op_blocks import real_of

    recorded = ctx.traced.values.get(node)
    pattern = _plain(pattern)
    if not x.batched or not isinstance(recorded, torch.Tensor) or not isinstance(pattern, str):
        return None
    try:
        import einops.einops as recipes

        axes = [(k, int(_plain(v))) for k, v in kwargs.items()]
        recipe = recipes._prepare_transformation_recipe(pattern, "rearrange", tuple(k for k, _ in axes), len(x.shape))
        init, order, reduced, added, final, _ = recipes._reconstruct_from_shape_uncached(recipe, list(x.shape), axes)
    except Exception:  # noqa: BLE001 — einops' private recipe changed or refused: no block
        return None
    if reduced or added or (order is not None and order[0] != 0):
        return None
    steps: list[tuple[str, dict[str, Any]]] = []
    if init is not None and list(init) != list(x.shape):
        steps.append(("view", {"shape": list(init[1:]), "keep_batch": True}))
    if order is not None and list(order) != sorted(order):
        steps.append(("permute", {"dims": list(order)}))
    if final is not None:
        steps.append(("reshape", {"shape": list(final[1:]), "keep_batch": True}))
    value = real_of(ctx, x)
    for op, params in steps:  # the check: these steps on the recorded input give the recorded output
        value = value.permute(*params["dims"]) if op == "permute" else value.reshape(value.size(0), *params["shape"])
    if value.shape != recorded.shape or not torch.equal(value, recorded):
        return None
    out = x
    for op, params in steps:
        node_id = ctx.add(node.name, op, params, [(out, None)])
        out = Tensor(node_id, (), recorded.dtype)
    return Tensor(out.node, tuple(recorded.shape), recorded.dtype) if steps else x


def _repeat(ctx: Context, node: fx.Node, x: Any) -> Any:
    """A model tensor of batch size 1 repeated to the batch: ``x.expand(like.size(0), -1, ...)``."""
    from importer.tensor_nodes import materialize

    recorded = ctx.traced.values.get(node)
    if not isinstance(x, Static) or not isinstance(x.value, torch.Tensor) or not isinstance(recorded, torch.Tensor):
        return None
    like = next((v for v in ctx.env.values() if isinstance(v, Tensor) and v.batched and
                 any(n.id == v.node and n.type == "Input" for n in ctx.nodes)), None)
    table = x.value
    if like is None or recorded.dim() < 2 or recorded.shape[0] != ctx.traced.batch:
        return None
    if tuple(recorded.shape[1:]) == tuple(table.shape):  # '... d -> b ... d': a new leading dimension
        sizes = [-1] * table.dim()
    elif table.dim() == recorded.dim() and table.shape[0] == 1 and tuple(recorded.shape[1:]) == tuple(table.shape[1:]):
        sizes = [-1] * (table.dim() - 1)  # '1 n d -> b n d'
    else:
        return None
    if not torch.equal(recorded, table.expand(recorded.shape)):
        return None
    made = materialize(ctx, x)
    if made is None:
        return None
    node_id = ctx.add(node.name, "expand", {"sizes": sizes}, [(made, "x"), (like, "like")])
    return Tensor(node_id, tuple(recorded.shape), recorded.dtype)
