"""Layer calls (call_module): the simple table in ``modules``, and the layers with several outputs or masks —
recurrent layers, attention, Transformer layers and stacks — plus weight sharing (one module called twice).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from importer.attention_match import Attention
from importer.hand_attention import argument_index
from importer.modules import SIMPLE
from importer.translate import (
    Context,
    Pending,
    Static,
    Tensor,
    resolve_pending,
    submodule,
    tensors_in,
)


def call_module(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    args, kwargs = resolve_pending(args), resolve_pending(kwargs)
    path = str(node.target)
    m = submodule(ctx, node)
    name = type(m).__name__
    label = f"nn.{name} '{path}'"
    x = args[0] if args else next(iter(kwargs.values()), None)
    stateful = next(iter(m.parameters()), None) is not None or next(iter(m.buffers()), None) is not None
    if path in ctx.called and stateful:
        return ctx.unsupported(label, _shared_note(m, path, ctx.called[path]), tensors_in((args, kwargs)))
    ctx.called[path] = ctx.where or "an earlier line"  # a layer without weights (ReLU) may be reused freely
    if isinstance(x, Static) and args and args[0] is x:  # wpe(torch.arange(T)), a layer on a Parameter
        from importer.tensor_nodes import materialize

        made = materialize(ctx, x)
        if made is not None:
            x, args = made, (made, *args[1:])
    if not isinstance(x, Tensor):
        return ctx.unsupported(label, "its input is not computed from the model's inputs", tensors_in((args, kwargs)))
    if path in ctx.traced.attention:
        return _hand_attention(ctx, path, ctx.traced.attention[path], args)
    handler = _SPECIAL.get(name)
    if handler is not None:
        return handler(ctx, node, path, m, args, kwargs)
    if name not in SIMPLE:
        return ctx.unsupported(label, "this torch.nn layer has no LayerLab block yet; replace it with blocks that "
                               "compute the same thing", tensors_in((args, kwargs)))
    block, reader = SIMPLE[name]
    params = reader(m)
    if params == "reshape":
        from importer.functions import reshape_to_recorded

        return reshape_to_recorded(ctx, x)
    if isinstance(params, str):
        return ctx.unsupported(label, f"its setting {params} has no equivalent in the {block} block; change the "
                               "setting or replace the node", [x])
    params = {k: v for k, v in params.items() if v is not None}
    if block == "Bilinear":
        return ctx.out(ctx.add(path, block, params, [(x, "x1"), (args[1], "x2")], module=path))
    return ctx.block(block, params, x, module=path)


def _shared_note(m: nn.Module, path: str, first: str) -> str:
    if isinstance(m, (nn.RNNCellBase,)):
        return (f"it is called again here after {first}: a Python loop over time steps with a cell. Use "
                f"nn.{type(m).__name__.replace('Cell', '')}(batch_first=True) over the whole sequence instead")
    return (f"it is called a second time (first at {first}), so two places share one set of weights; a block owns "
            "its weights: give each call its own module (they then train separately)")


# --- recurrent layers --------------------------------------------------------------------------------------


def _uses_index(node: fx.Node, index: int) -> bool:
    """Whether the trace reads ``node[index]`` and uses it."""
    return any(u.op == "call_function" and u.target.__name__ == "getitem" and u.args[1] == index and u.users
               for u in node.users)


def _recurrent(ctx: Context, node: fx.Node, path: str, m: nn.RNNBase, args: tuple, kwargs: dict) -> Any:
    name = type(m).__name__
    x = args[0]
    label = f"nn.{name} '{path}'"
    if not m.batch_first and (_uses_index(node, 1) or (len(args) > 1 and args[1] is not None)
                              or kwargs.get("hx") is not None):
        return ctx.unsupported(label, "it is built with batch_first=False (time first), and its final or initial "
                               "state is used: time first, the design's leading dimension is time, and a state "
                               "(N, hidden) has no row per time step; construct it with batch_first=True and pass "
                               "batch-first tensors, or use only its output sequence", [x])
    if getattr(m, "proj_size", 0):
        return ctx.unsupported(label, "proj_size has no equivalent in the LSTM block", [x])
    state = args[1] if len(args) > 1 else kwargs.get("hx")
    inputs: list[tuple[Tensor, str | None]] = [(x, "x")]
    if state is not None and not _zeros(state):
        feed = _state_source(state, m)
        if isinstance(feed, str):
            return ctx.unsupported(label, feed, tensors_in((args, kwargs)))
        inputs.append((feed, "state"))
    sequence = _uses_index(node, 0)
    params: dict[str, Any] = {"hidden_size": m.hidden_size, "num_layers": m.num_layers, "bias": m.bias,
                              "bidirectional": m.bidirectional, "dropout": float(m.dropout),
                              "output": "sequence" if sequence else "last"}
    if name == "RNN":
        params["nonlinearity"] = m.nonlinearity
    if not m.batch_first:  # time first, as the model runs it: the block keeps torch's layout
        params["batch_first"] = False
    recorded = ctx.recorded()
    node_id = ctx.add(path, name, params, inputs, module=path)
    seq_value = Tensor(node_id, tuple(recorded[0].shape), recorded[0].dtype)
    h_shape = (recorded[0].shape[0], recorded[0].shape[-1])
    return Pending(lambda p: _pick_recurrent(ctx, name, m, node_id, seq_value, h_shape, sequence, p))


def _zeros(state: Any) -> bool:
    """An initial state of zeros is the default: leave the state port empty."""
    values = state if isinstance(state, (tuple, list)) else (state,)
    return all(isinstance(v, Static) and isinstance(v.value, torch.Tensor) and not v.value.any() for v in values)


class HiddenStates:
    """h_n of a recurrent layer with one layer and one direction: (1, N, H), usable as another's initial state."""

    def __init__(self, last: Tensor, kind: str) -> None:
        self.last, self.kind = last, kind


def _state_source(state: Any, m: nn.RNNBase) -> Tensor | str:
    if isinstance(state, (tuple, list)):
        return ("it starts from an (h, c) pair; LayerLab's LSTM block takes an initial hidden state only (its cell "
                "state starts at zero): pass the encoder's h and let c start at zero, or use GRUs")
    if isinstance(state, Pending):
        state = state.resolve()
    if isinstance(state, HiddenStates) and m.num_layers == 1 and not m.bidirectional:
        return state.last
    return ("its initial state is not the final state of a one-layer, one-direction recurrent layer; LayerLab's "
            "state port takes (N, hidden_size) and starts every layer from it")


def _pick_recurrent(ctx: Context, name: str, m: nn.RNNBase, node_id: str, seq: Tensor, h_shape: tuple[int, ...],
                    sequence: bool, path: tuple) -> Any:
    last_paths = {(1, -1), (1, m.num_layers * (2 if m.bidirectional else 1) - 1)} if name != "LSTM" else \
        {(1, 0, -1), (1, 0, m.num_layers * (2 if m.bidirectional else 1) - 1)}
    if path == (0,):
        return seq
    if not m.batch_first:  # only the sequence is imported time first (see _recurrent)
        return ctx.unsupported(f"{name} output {list(path)}", "it is built with batch_first=False (time first), so "
                               "this picks along time, the design's leading dimension; construct it with "
                               "batch_first=True, pass batch-first tensors and take out[:, -1]", [seq])
    h_path = (1,) if name != "LSTM" else (1, 0)
    last = _last_value(ctx, node_id, seq, h_shape, sequence, m) if path in last_paths or path == h_path else None
    if path in last_paths and last is not None:
        return last
    if path == h_path and m.num_layers == 1 and not m.bidirectional and last is not None:
        return HiddenStates(last, name)
    return ctx.unsupported(f"{name} output {list(path)}", "only the output sequence (out) and the last layer's final "
                           "hidden state (h[-1]) of a one-direction recurrent layer have blocks", [seq])


def _last_value(ctx: Context, node_id: str, seq: Tensor, h_shape: tuple[int, ...], sequence: bool,
                m: nn.RNNBase) -> Tensor | None:
    if not sequence:
        return Tensor(node_id, h_shape, seq.dtype)
    if m.bidirectional:
        return None
    # Both the sequence and h[-1] are used: for one direction, h[-1] is the last step of the sequence.
    if ("last", node_id) not in ctx.memo:
        last_id = ctx.add(f"{node_id}_last", "LastTimeStep", {}, [(seq, None)])
        ctx.memo["last", node_id] = Tensor(last_id, h_shape, seq.dtype)
    return ctx.memo["last", node_id]


# --- attention ------------------------------------------------------------------------------------------


def causal_mask(value: Any, size: int) -> bool:
    """Whether a recorded mask hides exactly the future: True/−inf above the diagonal, nothing else."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (size, size):
        return False
    future = torch.ones(size, size, dtype=torch.bool).triu(1)
    hidden = value if value.dtype == torch.bool else torch.isneginf(value)
    visible_zero = True if value.dtype == torch.bool else bool((value[~future] == 0).all())
    return bool((hidden == future).all()) and visible_zero


def mask_note(ctx: Context, mask: Any, size: int, what: str) -> str | None:
    """None when ``mask`` is absent or causal; otherwise why the call can't be a block."""
    if mask is None or (isinstance(mask, Static) and mask.value is None):
        return None
    if isinstance(mask, Static) and mask.placeholder:
        return (f"its {what} comes from the forward() argument '{mask.placeholder}', a mask passed at call time; "
                "a design has no mask inputs: use causal=True for a look-ahead mask, or drop the mask")
    if isinstance(mask, Static) and causal_mask(mask.value, size):
        return None
    return (f"its {what} is not a look-ahead (causal) mask; LayerLab's attention blocks support no mask or a "
            "causal one (causal=True)")


def _attention(ctx: Context, node: fx.Node, path: str, m: nn.MultiheadAttention, args: tuple, kwargs: dict) -> Any:
    q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")][len(args):])[:3]
    label = f"nn.MultiheadAttention '{path}'"
    tensors = tensors_in((args, kwargs))
    if not m.batch_first:
        return ctx.unsupported(label, "it is built with batch_first=False (time first); construct it with "
                               "batch_first=True and pass (batch, tokens, embedding)", tensors)
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        return ctx.unsupported(label, "kdim/vdim, add_bias_kv or add_zero_attn have no block equivalent", tensors)
    if not (isinstance(k, Tensor) and k == v):
        return ctx.unsupported(label, "keys and values differ; the block attends to one memory", tensors)
    attn_mask = args[5] if len(args) > 5 else kwargs.get("attn_mask")
    for mask, what in ((kwargs.get("key_padding_mask", args[3] if len(args) > 3 else None), "key_padding_mask"),
                       (attn_mask, "attn_mask")):
        note = mask_note(ctx, mask, q.shape[1], what)
        if note:
            return ctx.unsupported(label, note, tensors)
    causal = unwrap_static(attn_mask) is not None or bool(unwrap_static(kwargs.get("is_causal")))
    params = {"num_heads": m.num_heads, "dropout": float(m.dropout), "bias": m.in_proj_bias is not None,
              "causal": causal}
    inputs = [(q, "x")] if k == q else [(q, "x"), (k, "memory")]
    node_id = ctx.add(path, "MultiheadAttention", params, inputs, module=path)
    out = Tensor(node_id, q.shape, q.dtype)
    return Pending(lambda p: out if p == (0,) else ctx.unsupported(
        f"{label} weights", "the attention weights are not an output of the block", [q]))


def _hand_attention(ctx: Context, path: str, found: Attention, args: tuple) -> Any:
    """A submodule that running showed to be a MultiheadAttention (importer.hand_attention): one block,
    its weights read from the submodule's own parameters."""
    query = args[argument_index(found.query)]
    inputs = [(query, "x")] + ([(args[argument_index(found.memory)], "memory")] if found.memory else [])
    node_id = ctx.add(path, "MultiheadAttention", found.params, inputs, module=path)
    ctx.renames[node_id] = {key: f"{path}.{source}" for key, source in found.sources.items()}
    return Tensor(node_id, query.shape, query.dtype)


def unwrap_static(value: Any) -> Any:
    return value.value if isinstance(value, Static) else value


def _transformer_params(ctx: Context, m: nn.Module) -> dict[str, Any] | str:
    if not m.self_attn.batch_first:
        return ("it is built with batch_first=False (time first: its first dimension is time, where a design's is "
                "the batch); construct it with batch_first=True and pass (batch, tokens, embedding)")
    if m.activation_relu_or_gelu not in (1, 2) or m.norm1.eps != 1e-5 or m.linear1.bias is None:
        return "its activation (not relu/gelu), layer_norm_eps or bias=False has no block equivalent"
    return {"nhead": m.self_attn.num_heads, "dim_feedforward": m.linear1.out_features, "dropout": float(m.dropout.p),
            "activation": "relu" if m.activation_relu_or_gelu == 1 else "gelu", "norm_first": m.norm_first}


def _encoder_layer(ctx: Context, node: fx.Node, path: str, m: nn.Module, args: tuple, kwargs: dict) -> Any:
    x = args[0]
    mask = args[1] if len(args) > 1 else kwargs.get("src_mask", kwargs.get("mask"))
    padding = args[2] if len(args) > 2 else kwargs.get("src_key_padding_mask")
    return _layers(ctx, path, [(path, m)], None, x, mask, padding, bool(unwrap_static(kwargs.get("is_causal"))), None)


def _decoder_layer(ctx: Context, node: fx.Node, path: str, m: nn.Module, args: tuple, kwargs: dict) -> Any:
    x, memory = args[0], args[1] if len(args) > 1 else kwargs.get("memory")
    mask = args[2] if len(args) > 2 else kwargs.get("tgt_mask")
    padding = kwargs.get("tgt_key_padding_mask") or kwargs.get("memory_mask") or kwargs.get("memory_key_padding_mask")
    return _layers(ctx, path, [(path, m)], memory, x, mask, padding, bool(unwrap_static(kwargs.get("tgt_is_causal"))),
                   None)


def _stack(ctx: Context, node: fx.Node, path: str, m: nn.Module, args: tuple, kwargs: dict) -> Any:
    """nn.TransformerEncoder / Decoder: its layers one after another, then its final norm."""
    decoder = isinstance(m, nn.TransformerDecoder)
    x = args[0]
    memory = (args[1] if len(args) > 1 else kwargs.get("memory")) if decoder else None
    mask = kwargs.get("tgt_mask" if decoder else "mask", args[2 if decoder else 1] if len(args) > (2 if decoder else 1)
                      else None)
    padding = kwargs.get("src_key_padding_mask") or kwargs.get("tgt_key_padding_mask") or kwargs.get("memory_mask")
    causal = bool(unwrap_static(kwargs.get("tgt_is_causal" if decoder else "is_causal")))
    layers = [(f"{path}.layers.{k}", layer) for k, layer in enumerate(m.layers)]
    return _layers(ctx, path, layers, memory, x, mask, padding, causal, (f"{path}.norm", m.norm) if m.norm else None)


def _layers(ctx: Context, path: str, layers: list[tuple[str, nn.Module]], memory: Any, x: Tensor, mask: Any,
            padding: Any, causal: bool, norm: tuple[str, nn.Module] | None) -> Any:
    label = f"nn.{type(layers[0][1]).__name__} '{path}'"
    tensors = [t for t in (x, memory) if isinstance(t, Tensor)]
    first = _transformer_params(ctx, layers[0][1])  # a time-first stack: say so before judging its mask by time
    if isinstance(first, str):
        return ctx.unsupported(label, first, tensors)
    note = mask_note(ctx, mask, x.shape[1], "mask") or mask_note(ctx, padding, x.shape[1], "padding mask")
    if note is None and padding is not None:
        note = "a padding mask passed at call time has no block equivalent: drop it or pad with a token the model ignores"
    if note:
        return ctx.unsupported(label, note, tensors)
    block = "TransformerDecoderLayer" if memory is not None else "TransformerEncoderLayer"
    value = x
    for layer_path, layer in layers:
        params = _transformer_params(ctx, layer)
        if isinstance(params, str):
            return ctx.unsupported(label, params, tensors)
        params["causal"] = causal or unwrap_static(mask) is not None
        inputs = [(value, "tgt"), (memory, "memory")] if memory is not None else [(value, "x")]
        value = Tensor(ctx.add(layer_path, block, params, inputs, module=layer_path), x.shape, x.dtype)
    if norm is not None:
        norm_path, layer_norm = norm
        params = {"normalized_shape": list(layer_norm.normalized_shape), "eps": layer_norm.eps}
        value = Tensor(ctx.add(norm_path, "LayerNorm", params, [(value, None)], module=norm_path), x.shape, x.dtype)
    return value


_SPECIAL = {
    "RNN": _recurrent, "LSTM": _recurrent, "GRU": _recurrent,
    "MultiheadAttention": _attention,
    "TransformerEncoderLayer": _encoder_layer, "TransformerDecoderLayer": _decoder_layer,
    "TransformerEncoder": _stack, "TransformerDecoder": _stack,
}
