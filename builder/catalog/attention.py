"""Attention: MultiheadAttention (self and cross) and the Transformer encoder and decoder layers."""

from __future__ import annotations

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
    Example,
    Fix,
    Inputs,
    Port,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.rules import expect_float, expect_rank, resolve
from builder.params import Bool, Choice, Float, Int

F = TensorSpec
SEQ = "(N, T, E) (batch, tokens, embedding)"
MASK = "{mask} = nn.Transformer.generate_square_subsequent_mask({x}.size(1), device={x}.device)"


def _check_heads(width: int, heads: int, heads_name: str, width_name: str) -> None:
    if width % heads:
        divisors = [h for h in range(1, width + 1) if width % h == 0]
        best = min(divisors, key=lambda h: (abs(h - heads), h))
        raise BlockError(
            f"{width_name}={width} must be divisible by {heads_name}={heads}",
            fix=Fix(f"set {heads_name} to {best} (a divisor of {width})", "set_param", {"name": heads_name, "value": best}),
        )


def _check_sequence(block: str, spec: TensorSpec, port: str) -> None:
    expect_float(block, spec)
    try:
        expect_rank(block, spec, (3,), SEQ)
    except BlockError as err:
        raise BlockError(err.message, err.fix, port) from None


def _check_memory(block: str, memory: TensorSpec, width: int) -> None:
    _check_sequence(block, memory, "memory")
    if memory.shape[-1] != width:
        raise BlockError(f"{block}'s memory must have {width} features like the query, but receives {memory} {{from}}",
                         port="memory")


def _attention_macs(width: int, q_len: int, k_len: int, ff: int = 0) -> int:
    projections = 2 * q_len * width * width + 2 * k_len * width * width
    return projections + 2 * q_len * k_len * width + 2 * q_len * width * ff


# --- MultiheadAttention -----------------------------------------------------------------------------------


def _mha_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = inputs["x"]
    _check_sequence("MultiheadAttention", x, "x")
    resolve(p, "embed_dim", x.shape[-1], "features")
    _check_heads(p["embed_dim"], p["num_heads"], "num_heads", "embed_dim")
    if "memory" in inputs:
        _check_memory("MultiheadAttention", inputs["memory"], p["embed_dim"])
        if p["causal"]:
            raise BlockError("a causal mask applies to self-attention only; this block attends to a memory",
                             fix=Fix("turn causal off", "set_param", {"name": "causal", "value": False}))
    return x


def _mha_emit(p: Resolved, inputs: Inputs) -> Emission:
    kwargs = {"batch_first": True}
    if p["dropout"]:
        kwargs["dropout"] = p["dropout"]
    if not p["bias"]:
        kwargs["bias"] = False
    call = Call("nn.MultiheadAttention", (p["embed_dim"], p["num_heads"]), kwargs)
    if "memory" in inputs:
        return Emission(call, "{out}, _ = {mod}({x}, {memory}, {memory}, need_weights=False)")
    if p["causal"]:
        return Emission(call, MASK + "\n{out}, _ = {mod}({x}, {x}, {x}, attn_mask={mask}, need_weights=False)")
    return Emission(call, "{out}, _ = {mod}({x}, {x}, {x}, need_weights=False)")


register(
    BlockSpec(
        type="MultiheadAttention",
        category=Category.ATTENTION,
        doc="Scaled dot-product attention with several heads. One input: self-attention; "
            "a second on port 'memory': cross-attention (queries from x, keys and values from memory).",
        params=(
            Int("num_heads", 4, "Parallel attention heads (must divide embed_dim)", lo=1, hi=1024, key=True),
            Float("dropout", 0.0, "Dropout on the attention weights", lo=0, hi=1),
            Bool("causal", False, "Each position sees only earlier ones (self-attention only)"),
            Bool("bias", True, "Learnable projection biases"),
            Int("embed_dim", None, "Inferred from the feature dimension", lo=1, hi=100_000, inferred=True),
        ),
        ports=(Port("x", "queries (N, T, E); also keys and values for self-attention"),
               Port("memory", "optional keys and values (N, S, E) for cross-attention", optional=True)),
        infer=_mha_infer,
        emit=_mha_emit,
        count=lambda p, i: 4 * p["embed_dim"] ** 2 + (4 * p["embed_dim"] if p["bias"] else 0),
        macs=lambda p, i, o: _attention_macs(p["embed_dim"], i["x"].shape[0], i.get("memory", i["x"]).shape[0]),
        examples=(
            Example({"num_heads": 2}, {"x": F((6, 8))}),
            Example({"num_heads": 4, "causal": True}, {"x": F((5, 8))}),
            Example({"num_heads": 2, "bias": False}, {"x": F((4, 6)), "memory": F((7, 6))}),
        ),
        torch_class="torch.nn.MultiheadAttention",
        aliases=("self-attention", "cross-attention", "transformer", "heads"),
    )
)


# --- Transformer layers -----------------------------------------------------------------------------------


def _layer_params(extra_doc: str) -> tuple:
    return (
        Int("nhead", 4, "Attention heads (must divide d_model)", lo=1, hi=1024, key=True),
        Int("dim_feedforward", 2048, "Width of the feed-forward sublayer", lo=1, hi=1_000_000, key=True),
        Float("dropout", 0.1, "Dropout inside the layer", lo=0, hi=1),
        Choice("activation", "relu", ("relu", "gelu"), "Feed-forward activation"),
        Bool("norm_first", False, "Pre-norm (LayerNorm before each sublayer); trains deep stacks more easily"),
        Bool("causal", extra_doc == "decoder", "Each position sees only earlier ones"),
        Int("d_model", None, "Inferred from the feature dimension", lo=1, hi=100_000, inferred=True),
    )


def _layer_call(cls: str, p: Resolved) -> Call:
    kwargs = {"dim_feedforward": p["dim_feedforward"]}
    for key, default in (("dropout", 0.1), ("activation", "relu")):
        if p[key] != default:
            kwargs[key] = p[key]
    kwargs["batch_first"] = True
    if p["norm_first"]:
        kwargs["norm_first"] = True
    return Call(f"nn.{cls}", (p["d_model"], p["nhead"]), kwargs)


def _layer_count(p: Resolved, sublayers: int) -> int:
    d, ff = p["d_model"], p["dim_feedforward"]
    attention = sublayers * (4 * d * d + 4 * d)
    return attention + (d * ff + ff) + (ff * d + d) + (sublayers + 1) * 2 * d


def _encoder_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = inputs["x"]
    _check_sequence("TransformerEncoderLayer", x, "x")
    resolve(p, "d_model", x.shape[-1], "features")
    _check_heads(p["d_model"], p["nhead"], "nhead", "d_model")
    return x


def _encoder_emit(p: Resolved, inputs: Inputs) -> Emission:
    call = _layer_call("TransformerEncoderLayer", p)
    if p["causal"]:
        return Emission(call, MASK + "\n{out} = {mod}({x}, src_mask={mask}, is_causal=True)")
    return Emission(call, "{out} = {mod}({x})")


register(
    BlockSpec(
        type="TransformerEncoderLayer",
        category=Category.ATTENTION,
        doc="One Transformer encoder layer: self-attention then a feed-forward network, each with add & norm.",
        params=_layer_params("encoder"),
        infer=_encoder_infer,
        emit=_encoder_emit,
        count=lambda p, i: _layer_count(p, 1),
        macs=lambda p, i, o: _attention_macs(p["d_model"], i["x"].shape[0], i["x"].shape[0], p["dim_feedforward"]),
        examples=(
            Example({"nhead": 4, "dim_feedforward": 128}, {"x": F((6, 64))}),
            Example({"nhead": 2, "dim_feedforward": 16, "norm_first": True, "activation": "gelu", "causal": True},
                    {"x": F((5, 8))}),
        ),
        torch_class="torch.nn.TransformerEncoderLayer",
        aliases=("transformer", "encoder", "bert", "self-attention"),
    )
)


def _decoder_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    tgt = inputs["tgt"]
    _check_sequence("TransformerDecoderLayer", tgt, "tgt")
    resolve(p, "d_model", tgt.shape[-1], "features")
    _check_heads(p["d_model"], p["nhead"], "nhead", "d_model")
    _check_memory("TransformerDecoderLayer", inputs["memory"], p["d_model"])
    return tgt


def _decoder_emit(p: Resolved, inputs: Inputs) -> Emission:
    call = _layer_call("TransformerDecoderLayer", p)
    if p["causal"]:
        mask = MASK.replace("{x}", "{tgt}")
        return Emission(call, mask + "\n{out} = {mod}({tgt}, {memory}, tgt_mask={mask}, tgt_is_causal=True)")
    return Emission(call, "{out} = {mod}({tgt}, {memory})")


register(
    BlockSpec(
        type="TransformerDecoderLayer",
        category=Category.ATTENTION,
        doc="One Transformer decoder layer: masked self-attention over the target, cross-attention to the "
            "encoder's memory, then a feed-forward network.",
        params=_layer_params("decoder"),
        ports=(Port("tgt", "the target sequence (N, T, E)"), Port("memory", "the encoder output (N, S, E)")),
        infer=_decoder_infer,
        emit=_decoder_emit,
        count=lambda p, i: _layer_count(p, 2),
        macs=lambda p, i, o: (_attention_macs(p["d_model"], i["tgt"].shape[0], i["tgt"].shape[0], p["dim_feedforward"])
                              + _attention_macs(p["d_model"], i["tgt"].shape[0], i["memory"].shape[0])),
        examples=(
            Example({"nhead": 2, "dim_feedforward": 32}, {"tgt": F((5, 16)), "memory": F((7, 16))}),
            Example({"nhead": 4, "dim_feedforward": 8, "causal": False, "norm_first": True},
                    {"tgt": F((3, 8)), "memory": F((4, 8))}),
        ),
        torch_class="torch.nn.TransformerDecoderLayer",
        aliases=("transformer", "decoder", "cross-attention", "seq2seq"),
    )
)
