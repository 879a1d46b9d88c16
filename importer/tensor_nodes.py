"""Tensors that are part of the model, met where a traced op uses them: an ``nn.Parameter`` (a class token, a
LayerNorm's weight, a LayerScale gamma) becomes a Parameter node, a buffer a Buffer node, ``torch.arange(T)`` the
positions of an input, and an op on them (``cls_token.expand(n, -1, -1)``) the op block it is.

They are made only when something computed from the inputs uses them (a size read from a weight stays a number),
once per trace node. A Parameter node's id is the attribute's name and its origin the original's path, so the
original state dict loads into the generated code unchanged.
"""

from __future__ import annotations

import torch
from torch import fx

from importer.translate import Context, Static, Tensor

MAX_RANK = 6  # what a Parameter or Buffer node's shape holds


def materialize(ctx: Context, static: Static) -> Tensor | None:
    """The design tensor for a model tensor, or None (nothing added) when it is a constant no node can make."""
    value, node = static.value, static.node
    if not isinstance(value, torch.Tensor) or node is None:
        return None
    made: dict[fx.Node, Tensor | None] = ctx.memo.setdefault("materialized", {})
    if node in made:
        return made[node]
    result = None
    if node.op == "get_attr":
        result = _attribute(ctx, str(node.target), value)
    elif node.op in ("call_function", "call_method"):
        result = _unmoved(ctx, node, value) or _replay(ctx, node)
    if result is None:
        result = _positions(ctx, value)
    made[node] = result
    return result


def _attribute(ctx: Context, target: str, value: torch.Tensor) -> Tensor | None:
    if not 1 <= value.dim() <= MAX_RANK:
        return None
    module = ctx.traced.module
    shape = [int(d) for d in value.shape]
    leaf = target.rpartition(".")[2]
    params = dict(module.named_parameters())
    if target in params:
        node_id = ctx.add(leaf, "Parameter", {"shape": shape, "init": "zeros",
                                              "trainable": bool(params[target].requires_grad)}, [], module=target)
    else:
        persistent = target in module.state_dict()
        fill = _buffer_fill(persistent, value)
        if fill is None:
            return None
        params = {"shape": shape, "fill": fill, "persistent": persistent}
        if fill == "values":
            params["values"] = carried_values(value)
        node_id = ctx.add(leaf, "Buffer", params, [], module=target)
    ctx.unbatched.add(node_id)
    return Tensor(node_id, tuple(shape), value.dtype, batched=False)


def _buffer_fill(persistent: bool, value: torch.Tensor) -> str | None:
    """A saved buffer's values come from the state dict; one that isn't saved must be one the block can make."""
    if not value.is_floating_point():
        return None
    if persistent:
        return "zeros"
    if value.dim() >= 2 and torch.equal(value, torch.tril(torch.ones_like(value))):
        return "causal_mask"
    for fill, make in (("zeros", torch.zeros_like), ("ones", torch.ones_like)):
        if torch.equal(value, make(value)):
            return fill
    return "values" if not too_large_to_carry(value) else None


def too_large_to_carry(value: torch.Tensor) -> str:
    """Why a plain tensor attribute (computed once in __init__, in no state dict: SimpleViT's sin-cos positions)
    can't be a Buffer node that carries its values, in words; '' when it can. The design holds its numbers, so
    it must be float32 (what the Buffer makes), finite (a file holds no infinity) and at most MAX_VALUES."""
    from builder.catalog.tensors import MAX_VALUES

    if value.dtype != torch.float32:
        return f"it is {str(value.dtype).removeprefix('torch.')}, and a Buffer node carries float32 values only"
    if value.numel() > MAX_VALUES:
        return (f"it holds {value.numel():,} values, more than the {MAX_VALUES:,} a design carries in one Buffer "
                "node (its numbers are written into the design and the generated code)")
    if not bool(torch.isfinite(value).all()):
        return "it holds an infinity or NaN, which a design's file can't hold"
    return ""


def carried_values(value: torch.Tensor) -> list[float]:
    """The tensor's values row by row, each the shortest decimal that reads back as the same float32 (the design and
    the generated code stay short, and torch.tensor(...) rebuilds the same bits)."""
    return [float(str(v)) for v in value.detach().cpu().reshape(-1).numpy()]


_MOVES = frozenset({"to", "type", "float", "contiguous", "detach", "clone", "cpu"})


def _unmoved(ctx: Context, node: fx.Node, value: torch.Tensor) -> Tensor | None:
    """``self.pos_embedding.to(device, dtype=x.dtype)``: a move that leaves the values and dtype as they were is the
    tensor it moves (a design's tensors are float32, on the model's device)."""
    if node.op != "call_method" or node.target not in _MOVES or not node.args or not isinstance(node.args[0], fx.Node):
        return None
    source = ctx.env.get(node.args[0])
    if not isinstance(source, Static) or not isinstance(source.value, torch.Tensor):
        return None
    if source.value.dtype != value.dtype or source.value.shape != value.shape or not torch.equal(source.value, value):
        return None
    return materialize(ctx, source)


def _replay(ctx: Context, node: fx.Node) -> Tensor | None:
    """An op whose operands are all model tensors (``cls_token.expand(...)``, ``self.mask[:, :, :T, :T]``), made
    as its op block now that a computed tensor needs it."""
    from importer.op_blocks import map_call

    args = fx.node.map_arg(node.args, ctx.env.__getitem__)
    kwargs = fx.node.map_arg(node.kwargs, ctx.env.__getitem__)
    before = ctx.fx_node
    ctx.fx_node = node
    try:
        found = map_call(ctx, node, args, kwargs)
    finally:
        ctx.fx_node = before
    return found if isinstance(found, Tensor) else None


def _positions(ctx: Context, value: torch.Tensor) -> Tensor | None:
    """``torch.arange(T)`` where T is a size of an input: the arange block on that input."""
    if value.dim() != 1 or value.is_floating_point() or value.dtype == torch.bool or not len(value):
        return None
    if not torch.equal(value, torch.arange(len(value), dtype=value.dtype)):
        return None
    for found in ctx.env.values():
        if isinstance(found, Tensor) and found.batched and any(n.id == found.node and n.type == "Input"
                                                              for n in ctx.nodes):
            for dim, size in enumerate(found.shape[1:], start=1):
                if size == len(value):
                    node_id = ctx.add("positions", "arange", {"dim": dim}, [(found, None)])
                    ctx.unbatched.add(node_id)
                    return Tensor(node_id, (len(value),), torch.long, batched=False)
    return None


def why_not(ctx: Context, values: list[Static]) -> str:
    """Words for an op that failed because a tensor it uses can't be a node: a plain tensor attribute, a buffer that
    isn't saved, a constant made in forward()."""
    for static in values:
        if not isinstance(static.value, torch.Tensor) or static.node is None:
            continue
        reads = [n for n in _ancestors(static.node) if n.op == "get_attr"]  # self.pe.to(x.device): self.pe
        for node in reads[:1]:
            target = str(node.target)
            if target not in dict(ctx.traced.module.named_parameters()) and target not in ctx.traced.module.state_dict():
                value = ctx.traced.values.get(node)
                why = too_large_to_carry(value) if isinstance(value, torch.Tensor) else ""
                return (f"it uses self.{target}, a tensor that is neither an nn.Parameter nor a saved buffer, so its "
                        f"values are in no state dict" + (f", and the design can't carry them: {why}" if why else "")
                        + f"; register it with self.register_buffer('{target.rpartition('.')[2]}', ...) or make it "
                        "an nn.Parameter")
    return ""


def _ancestors(node: fx.Node) -> list[fx.Node]:
    seen, todo = [], [node]
    while todo and len(seen) < 32:
        current = todo.pop()
        seen.append(current)
        todo += [n for n in current.all_input_nodes if n not in seen]
    return seen
