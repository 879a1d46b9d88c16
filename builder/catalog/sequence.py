"""Embeddings, positional encodings, recurrent layers and the small blocks that shape sequences."""

from __future__ import annotations

from collections.abc import Callable

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
    Example,
    Fix,
    Inputs,
    Outputs,
    Port,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.rules import expect_float, expect_rank, inline, resolve, single
from builder.params import Bool, Choice, Float, Int

F = TensorSpec
SEQ = "(N, T, F)"
MAX = 10_000_000


def _embedding_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    if x.dtype != "long":
        raise BlockError(
            "Embedding needs token ids (long integers) but receives float values {from}",
            fix=Fix("make the Input token ids (long)", "set_input_dtype", {"dtype": "long"}),
            port="x",
        )
    pad = p.get("padding_idx")
    if pad is not None and pad >= p["num_embeddings"]:
        raise BlockError(f"padding_idx={pad} must be below num_embeddings={p['num_embeddings']}",
                         fix=Fix("use id 0 for padding", "set_param", {"name": "padding_idx", "value": 0}))
    return TensorSpec((*x.shape, p["embedding_dim"]))


def _embedding_emit(p: Resolved, inputs: Inputs) -> Emission:
    kwargs = {} if p.get("padding_idx") is None else {"padding_idx": p["padding_idx"]}
    return Emission(Call("nn.Embedding", (p["num_embeddings"], p["embedding_dim"]), kwargs), "{out} = {mod}({x})")


register(
    BlockSpec(
        type="Embedding",
        unbatched="rows",
        category=Category.SEQUENCE,
        doc="Looks up a learned vector for each token id: (N, T) ids → (N, T, embedding_dim).",
        params=(
            Int("num_embeddings", 1000, "Vocabulary size: token ids run from 0 to this minus 1", lo=1, hi=MAX, key=True),
            Int("embedding_dim", 32, "Length of each token's vector", lo=1, hi=100_000, key=True),
            Int("padding_idx", None, "Token id used for padding (its vector stays zero)", lo=0, hi=MAX, optional=True),
        ),
        infer=_embedding_infer,
        emit=_embedding_emit,
        count=lambda p, i: p["num_embeddings"] * p["embedding_dim"],
        examples=(Example({"num_embeddings": 50, "embedding_dim": 8}, {"x": F((12,), "long")}),
                  Example({"num_embeddings": 20, "embedding_dim": 4, "padding_idx": 0}, {"x": F((5,), "long")})),
        torch_class="torch.nn.Embedding",
        aliases=("word vectors", "tokens", "lookup"),
    )
)


def _expect_sequence(block: str, x: TensorSpec) -> None:
    expect_float(block, x)
    fix = None
    if len(x.shape) == 1:
        fix = Fix(f"insert Reshape to ({x.shape[0]}, 1)", "insert_before",
                  {"type": "Reshape", "params": {"shape": [x.shape[0], 1]}})
    expect_rank(block, x, (3,), SEQ + " (batch, time, features)", fix=fix)


def _posenc_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    _expect_sequence("PositionalEncoding", x)
    resolve(p, "d_model", x.shape[-1], "features")
    if x.shape[0] > p["max_len"]:
        raise BlockError(f"the sequence has {x.shape[0]} steps but max_len={p['max_len']}",
                         fix=Fix(f"set max_len to {x.shape[0]}", "set_param", {"name": "max_len", "value": x.shape[0]}))
    return x


register(
    BlockSpec(
        type="PositionalEncoding",
        category=Category.SEQUENCE,
        doc="Adds each position's code to a (N, T, d) sequence so attention can tell order: fixed sinusoids or learned.",
        params=(
            Choice("kind", "sinusoidal", ("sinusoidal", "learned"), "Fixed sine/cosine codes or a learned table", key=True),
            Int("max_len", 512, "Longest sequence it can encode", lo=1, hi=100_000),
            Float("dropout", 0.0, "Dropout after adding the codes", lo=0, hi=1),
            Int("d_model", None, "Inferred from the feature dimension", lo=1, hi=100_000, inferred=True),
        ),
        infer=_posenc_infer,
        emit=lambda p, i: Emission(
            Call("PositionalEncoding", (p["d_model"],),
                 {"max_len": p["max_len"], "learned": p["kind"] == "learned", "dropout": p["dropout"]}),
            "{out} = {mod}({x})", helpers=("PositionalEncoding",), imports=("import math",)),
        count=lambda p, i: p["max_len"] * p["d_model"] if p["kind"] == "learned" else 0,
        examples=(Example({}, {"x": F((10, 8))}), Example({"kind": "learned", "max_len": 16}, {"x": F((10, 6))})),
        aliases=("position", "sinusoidal", "transformer"),
    )
)


def _last_step_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_rank("LastTimeStep", x, (3,), SEQ)
    return TensorSpec((x.shape[1],), x.dtype)


register(
    BlockSpec(
        type="LastTimeStep",
        category=Category.SEQUENCE,
        doc="Keeps only the last step of a sequence: (N, T, F) → (N, F).",
        params=(),
        infer=_last_step_infer,
        emit=lambda p, i: inline("{out} = {x}[:, -1]"),
        examples=(Example({}, {"x": F((7, 5))}),),
        aliases=("last", "select", "many to one"),
    )
)


def _pool_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_float("SequencePool", x)
    expect_rank("SequencePool", x, (3,), SEQ)
    return TensorSpec((x.shape[1],))


register(
    BlockSpec(
        type="SequencePool",
        category=Category.SEQUENCE,
        doc="Mean or max over the time steps: (N, T, F) → (N, F); a sentence vector for classification.",
        params=(Choice("mode", "mean", ("mean", "max"), "How the steps are combined", key=True),),
        infer=_pool_infer,
        emit=lambda p, i: inline("{out} = {x}.mean(dim=1)" if p["mode"] == "mean" else "{out} = {x}.amax(dim=1)"),
        examples=(Example({}, {"x": F((7, 5))}), Example({"mode": "max"}, {"x": F((3, 4))})),
        aliases=("global average", "mean pooling"),
    )
)


def _repeat_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    expect_rank("RepeatVector", x, (2,), "(N, F)")
    return TensorSpec((p["n"], x.shape[0]), x.dtype)


register(
    BlockSpec(
        type="RepeatVector",
        category=Category.SEQUENCE,
        doc="Repeats a vector n times into a sequence: (N, F) → (N, n, F); feeds a decoder RNN.",
        params=(Int("n", 8, "Number of time steps", lo=1, hi=100_000, key=True),),
        infer=_repeat_infer,
        emit=lambda p, i: inline(f"{{out}} = {{x}}.unsqueeze(1).repeat(1, {p['n']}, 1)"),
        examples=(Example({"n": 4}, {"x": F((6,))}),),
        aliases=("repeat", "tile"),
    )
)


# --- Recurrent layers -------------------------------------------------------------------------------------

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _make_recurrent(name: str) -> None:
    def infer(p: Resolved, inputs: Inputs) -> TensorSpec:
        x = inputs["x"]
        _expect_sequence(name, x)
        resolve(p, "input_size", x.shape[-1], "features per step")
        width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
        state = inputs.get("state")
        if not p["batch_first"] and (p["output"] == "last" or state is not None):
            # Time first, the design's leading dimension is time: a final state (N, H) or an initial one has no
            # row per time step, so it can't be a tensor of this design.
            raise BlockError("with batch_first off (time first), only output 'sequence' and no initial state are "
                             "possible: the final state is (N, H), not one row per time step",
                             fix=Fix("read batch first", "set_param", {"name": "batch_first", "value": True}))
        if state is not None and state.shape != (p["hidden_size"],):
            raise BlockError(
                f"the initial state must be (N, {p['hidden_size']}) (hidden_size) but receives {state} {{from}}",
                port="state",
            )
        if p["dropout"] > 0 and p["num_layers"] == 1:
            raise BlockError("dropout between layers needs num_layers ≥ 2",
                             fix=Fix("set dropout to 0", "set_param", {"name": "dropout", "value": 0.0}))
        # h and c: the last layer's final state, both directions side by side (what 'last' returns), so they are
        # batch-first tensors like every other value on the canvas.
        return {name: TensorSpec((x.shape[0], width) if name == "output" else (width,)) for name in _outputs(name)}

    def count(p: Resolved, inputs: Inputs) -> int:
        g, h, d = _GATES[name], p["hidden_size"], 2 if p["bidirectional"] else 1
        total = 0
        for layer in range(p["num_layers"]):
            size_in = p["input_size"] if layer == 0 else h * d
            total += d * g * (h * size_in + h * h + (2 * h if p["bias"] else 0))
        return total

    def macs(p: Resolved, inputs: Inputs, out: TensorSpec) -> int:
        steps = inputs["x"].shape[0]
        g, h, d = _GATES[name], p["hidden_size"], 2 if p["bidirectional"] else 1
        per_step = sum(d * g * h * ((p["input_size"] if k == 0 else h * d) + h) for k in range(p["num_layers"]))
        return steps * per_step

    register(
        BlockSpec(
            type=name,
            category=Category.RECURRENT,
            doc={
                "RNN": "Simple recurrent layer: a hidden state updated at every time step.",
                "LSTM": "Long short-term memory: gated recurrent layer that keeps long-range information.",
                "GRU": "Gated recurrent unit: an LSTM with fewer gates; often as good and faster.",
            }[name] + " output 'sequence' gives (N, T, H), 'last' the final hidden state (N, H).",
            params=(
                Int("hidden_size", 64, "Size of the hidden state", lo=1, hi=100_000, key=True),
                Int("num_layers", 1, "Stacked recurrent layers", lo=1, hi=64, key=True),
                Choice("output", "sequence", ("sequence", "last"), "Whole sequence, or the final hidden state", key=True),
                Bool("bidirectional", False, "Also read the sequence backwards (doubles the output width)"),
                Float("dropout", 0.0, "Dropout between stacked layers", lo=0, hi=1),
                Bool("bias", True, "Learnable biases"),
                *((Choice("nonlinearity", "tanh", ("tanh", "relu"), "Activation of the hidden state"),) if name == "RNN" else ()),
                Bool("batch_first", True, "Read (N, T, F). Off: (T, N, F), PyTorch's default, for imported models "
                     "that run time first (the design's leading dimension is then time)"),
                Int("input_size", None, "Inferred from the features per step", lo=1, hi=100_000, inferred=True),
            ),
            infer=infer,
            emit=lambda p, i: _recurrent_emit(name, p, i),
            count=count,
            macs=macs,
            ports=(Port("x", "the input sequence (N, T, F)"),
                   Port("state", "optional initial hidden state (N, hidden_size), e.g. an encoder's last state", optional=True)),
            examples=(
                Example({"hidden_size": 8}, {"x": F((5, 3))}),
                Example({"hidden_size": 6, "num_layers": 2, "bidirectional": True, "output": "last", "dropout": 0.1},
                        {"x": F((4, 3))}),
                Example({"hidden_size": 5, "output": "sequence"}, {"x": F((4, 3)), "state": F((5,))}),
            ),
            torch_class=f"torch.nn.{name}",
            aliases=("recurrent", "sequence", "time series", "memory"),
            outputs=_recurrent_outputs(name),
        )
    )


def _recurrent_outputs(name: str) -> Callable[[Resolved], Outputs]:
    def outputs(p: Resolved) -> Outputs:
        return Outputs(_outputs(name), "output" if p["output"] == "sequence" else "h")

    outputs.__doc__ = ("`output` is the whole sequence (N, T, H), `h`" + (" and `c` are" if name == "LSTM" else " is")
                       + " the last layer's final state (N, H) (both directions side by side when bidirectional); "
                       "the main output follows the `output` setting: `output` for 'sequence', `h` for 'last'.")
    return outputs


def _outputs(name: str) -> tuple[str, ...]:
    """What torch's recurrent layers return, flattened: (output, h_n), or (output, (h_n, c_n)) for an LSTM."""
    return ("output", "h", "c") if name == "LSTM" else ("output", "h")


def _recurrent_emit(name: str, p: Resolved, inputs: Inputs) -> Emission:
    kwargs = {"batch_first": True} if p["batch_first"] else {}  # off: torch's own default, time first
    for key, default in (("num_layers", 1), ("bias", True), ("dropout", 0.0), ("bidirectional", False),
                         ("nonlinearity", "tanh")):
        if key in p and p[key] != default:
            kwargs[key] = p[key]
    call = Call(f"nn.{name}", (p["input_size"], p["hidden_size"]), kwargs)
    lines = []
    state_arg = ""
    if "state" in inputs:
        copies = p["num_layers"] * (2 if p["bidirectional"] else 1)
        # One initial state per layer and direction: the same vector starts each of them.
        repeat = f".repeat({copies}, 1, 1).contiguous()" if copies > 1 else ""
        lines.append(f"{{h0}} = {{state}}.unsqueeze(0){repeat}")
        state_arg = ", ({h0}, torch.zeros_like({h0}))" if name == "LSTM" else ", {h0}"
    before = lines[:]
    if p["output"] == "sequence":
        lines.append(f"{{out}}, _ = {{mod}}({{x}}{state_arg})")
    else:
        target = "_, ({h}, _)" if name == "LSTM" else "_, {h}"
        lines.append(f"{target} = {{mod}}({{x}}{state_arg})")
        lines.append(f"{{out}} = {_last('{h}', p)}")
    # When an edge reads h or c: one unpacking call, `out, (h, c) = self.lstm(x)`, and h read as `h[-1]`.
    unpacked = "\n".join([*before, f"{{unpack}} = {{mod}}({{x}}{state_arg})"])
    unpack = ("output", ("h", "c")) if name == "LSTM" else ("output", "h")
    reads = {state: _last("{var}", p) for state in _outputs(name)[1:]}
    return Emission(call, "\n".join(lines), unpack=unpack, unpacked=unpacked, reads=reads)


def _last(var: str, p: Resolved) -> str:
    """The last layer's final state from a (layers × directions, N, H) state tensor, directions side by side."""
    return f"torch.cat([{var}[-2], {var}[-1]], dim=1)" if p["bidirectional"] else f"{var}[-1]"


for _name in ("RNN", "LSTM", "GRU"):
    _make_recurrent(_name)
