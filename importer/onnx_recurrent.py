"""ONNX's recurrent ops (LSTM, GRU, RNN) → LayerLab's batch-first recurrent blocks.

torch.onnx.export writes a batch-first ``nn.LSTM`` as Transpose(1, 0, 2) → one LSTM op per layer (time first, in
ONNX's gate order) → Squeeze → Transpose back, and its ``h_n`` as a Concat of each op's Y_h. The reader follows those
in-between layouts as values that are not design tensors (``TimeFirst``, ``RecurrentOutput``, ``StackedStates``)
until they come back to batch-first, so the design holds one block per recurrent module: stacked ops merge into
``num_layers``, weights are reordered into torch's gate order, and ``h[-1]`` becomes the block's ``last`` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from importer.onnx_import import Reader, Tensor

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
# Row blocks of ONNX's stacked gate matrices, in torch's order: LSTM iofc → ifgo, GRU zrh → rzn.
_GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_IMPORT_PY = "import the PyTorch module (layerlab import model.py:Class) instead"
_SEQUENCE_AND_STATES = ("both the output sequence and the final states of a bidirectional layer are read; its block "
                        "gives one of the two: use two layers, or only one of them")


@dataclass
class Run:
    """One recurrent block being read: ONNX ops of successive layers merge into it."""

    node: str
    kind: str
    hidden: int
    directions: int
    layers: int
    sequence: Tensor  # the block's batch-first output sequence (N, T, directions * hidden)
    state: str | None  # the node whose value starts every layer and direction (the state port), if any
    y_name: str  # the ONNX name of the last op's Y, to know whether anything else reads it
    last: Tensor | None = None  # the LastTimeStep node made for h[-1], made once
    joined: Tensor | None = None  # a bidirectional block's final states, once its output is 'last'
    sequence_read: bool = False  # its output sequence came back to batch-first

    def both_directions(self, reader: Reader) -> Tensor | str:
        """torch.cat([h[-2], h[-1]], dim=1) of a bidirectional block: its ``last`` output, when nothing reads its
        sequence (one node gives one of the two)."""
        if any(e.source == self.node for e in reader.edges) or self.sequence_read:
            return _SEQUENCE_AND_STATES
        reader.params_of(self.node)["output"] = "last"
        self.joined = type(self.sequence)(self.node, (self.sequence.shape[0], 2 * self.hidden))
        return self.joined

    def last_hidden(self, reader: Reader) -> Tensor | str:
        """h[-1]: for one direction the last step of the sequence (the block's ``last`` output once folded)."""
        if self.directions != 1:
            return ("the final hidden states of a bidirectional layer have no block; use its output sequence (the "
                    "block's 'sequence' output) or its 'last' output, which joins both directions' final states")
        if self.last is None:
            self.last = reader.add("LastTimeStep", {}, [(self.sequence, None)], name=f"{self.node}_last")
        return self.last


@dataclass(frozen=True)
class TimeFirst:
    """A batch-first (N, T, F) tensor seen through Transpose(1, 0, 2): the layout ONNX's recurrent ops read."""

    tensor: Tensor
    via: str | None = None  # the ONNX value, when this came out of a recurrent op (so a next layer can merge)

    @property
    def source(self) -> Tensor:
        return self.tensor


@dataclass(frozen=True)
class RecurrentOutput:
    """An output of one recurrent op: Y (T, directions, N, H), or Y_h / Y_c (directions, N, H) of layer ``layer``."""

    run: Run
    which: str  # "Y", "Y_h" or "Y_c"
    layer: int
    bidirectional_view: bool = False  # Y after Transpose(0, 2, 1, 3): (T, N, directions, H)

    @property
    def source(self) -> Tensor:
        return self.run.sequence


@dataclass(frozen=True)
class StackedStates:
    """Y_h of successive layers concatenated along the first axis: torch's h_n (layers * directions, N, H)."""

    parts: tuple[RecurrentOutput, ...]

    @property
    def source(self) -> Tensor:
        return self.parts[-1].run.sequence


@dataclass(frozen=True)
class DirectionState:
    """h_n[k] of a bidirectional block: the final state (N, H) of one direction of one layer."""

    part: RecurrentOutput
    direction: int

    @property
    def source(self) -> Tensor:
        return self.part.run.sequence


@dataclass(frozen=True)
class StateInput:
    """An (N, H) tensor unsqueezed to (1, N, H), perhaps repeated to (copies, N, H): one initial hidden state on its
    way into recurrent ops (``state.unsqueeze(0).repeat(layers * directions, 1, 1)``, then a slice per layer)."""

    tensor: Tensor
    copies: int = 1

    @property
    def source(self) -> Tensor:
        return self.tensor


LAYOUTS = (TimeFirst, RecurrentOutput, StackedStates, StateInput, DirectionState)


def is_zeros(value: Any) -> bool:
    """An initial state that is absent or all zeros: the block's default."""
    if value is None:
        return True
    if getattr(value, "zeros", False):
        return True
    array = getattr(value, "value", None)
    return array is not None and not hasattr(value, "node") and not np.asarray(array).any()


# --- the recurrent op itself ---------------------------------------------------------------------------------


def recurrent(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """LSTM, GRU or RNN on a time-first input: a new block, or the next layer of the block that fed it."""
    kind = reader.op.op_type
    x = args[0]
    if not isinstance(x, TimeFirst):
        return (f"this {kind} reads a tensor that isn't a batch-first sequence turned time-first "
                f"(layout={attrs.get('layout', 0)}); {_IMPORT_PY}")
    directions = _directions(attrs)
    problem = _unsupported_settings(kind, args, attrs, directions)
    if problem:
        return problem
    weights, bias = _weights(kind, args)
    if weights is None:
        return f"{kind} weights computed in the graph have no block; {_IMPORT_PY}"
    hidden = int(attrs["hidden_size"])
    state = _initial_state(reader, kind, args, directions)
    if isinstance(state, str):
        return state
    run = _stacked_on(reader, x, kind, hidden, directions, bias, state.node if state is not None else None)
    if run is not None:
        layer = _add_layer(reader, run, weights)
    else:
        run, layer = _new_block(reader, x, state, weights, hidden, directions, bias, attrs), 0
    outputs = [RecurrentOutput(run, which, layer) for which in ("Y", "Y_h", "Y_c")]
    return outputs[: len(reader.op.output)]


def _add_layer(reader: Reader, run: Run, weights: tuple) -> int:
    """This op is the next layer of ``run``'s block: one more of num_layers, its weights under _l{k} names."""
    layer = run.layers
    run.layers += 1
    reader.params_of(run.node)["num_layers"] = run.layers
    reader.weights[run.node].update(_layer_weights(run.kind, weights, layer, run.directions))
    run.y_name = reader.op.output[0]
    return layer


def _new_block(reader: Reader, x: TimeFirst, state: Tensor | None, weights: tuple, hidden: int, directions: int,
               bias: bool, attrs: dict[str, Any]) -> Run:
    """A recurrent block for this op (batch first, its first layer), reading ``x`` and starting from ``state``."""
    kind = reader.op.op_type
    params: dict[str, Any] = {"hidden_size": hidden, "num_layers": 1, "output": "sequence",
                              "bidirectional": directions == 2, "dropout": 0.0, "bias": bias}
    if kind == "RNN":
        params["nonlinearity"] = str(attrs.get("activations", ["Tanh"])[0]).lower()
    inputs = [(x.tensor, "x")] + ([(state, "state")] if state is not None else [])
    added = reader.add(kind, params, inputs, _layer_weights(kind, weights, 0, directions))
    sequence = type(added)(added.node, (*x.tensor.shape[:2], directions * hidden))
    run = Run(added.node, kind, hidden, directions, 1, sequence, state.node if state is not None else None,
              reader.op.output[0])
    reader.runs[added.node] = run
    return run


def _unsupported_settings(kind: str, args: list[Any], attrs: dict[str, Any], directions: int) -> str | None:
    if attrs.get("direction", "forward") == "reverse":
        return f"a {kind} that reads the sequence backwards only (direction=reverse) has no block"
    if attrs.get("layout", 0) or "clip" in attrs or attrs.get("input_forget", 0):
        return f"a {kind} with layout, clip or input_forget set has no block equivalent; {_IMPORT_PY}"
    if len(args) > 4 and args[4] is not None:
        return f"a {kind} given sequence lengths (packed sequences) has no block; pad the batch instead"
    if kind == "LSTM" and len(args) > 7 and args[7] is not None:
        return "an LSTM with peephole connections has no block"
    if kind == "GRU" and not attrs.get("linear_before_reset", 0):
        return "a GRU with linear_before_reset=0 computes differently from torch's nn.GRU; it has no block"
    activations = [str(a) for a in attrs.get("activations", [])]
    if kind == "RNN":
        if len(set(activations)) > 1 or (activations and activations[0] not in ("Tanh", "Relu")):
            return f"an RNN with activations {activations} has no block (tanh or relu only)"
    elif activations and activations != _DEFAULT_ACTIVATIONS[kind] * directions:
        return f"a {kind} with activations {activations} has no block (torch's defaults only)"
    return None


def _weights(kind: str, args: list[Any]) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None] | None, bool]:
    arrays = [getattr(a, "value", None) if a is not None and not hasattr(a, "node") else None for a in args[1:4]]
    w, r, b = arrays[0], arrays[1], arrays[2] if len(args) > 3 else None
    if w is None or r is None:
        return None, False
    return (w, r, b), b is not None


def _layer_weights(kind: str, weights: tuple, layer: int, directions: int) -> dict[str, np.ndarray]:
    """torch's names and gate order for one layer: weight_ih_l0, bias_hh_l0_reverse, ..."""
    w, r, b = weights
    order = _GATE_ORDER[kind]
    out: dict[str, np.ndarray] = {}
    for d in range(directions):
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        out[f"weight_ih{suffix}"] = _reorder(w[d], order)
        out[f"weight_hh{suffix}"] = _reorder(r[d], order)
        if b is not None:
            half = b.shape[1] // 2
            out[f"bias_ih{suffix}"] = _reorder(b[d][:half], order)
            out[f"bias_hh{suffix}"] = _reorder(b[d][half:], order)
    return out


def _reorder(matrix: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    blocks = np.split(matrix, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def _initial_state(reader: Reader, kind: str, args: list[Any], directions: int) -> Tensor | str | None:
    """None for zeros; the state port's source; or why the state can't be a block's."""
    h = args[5] if len(args) > 5 else None
    c = args[6] if kind == "LSTM" and len(args) > 6 else None
    if is_zeros(h) and is_zeros(c):
        return None
    if not is_zeros(c):
        return ("it starts from an (h, c) pair; LayerLab's LSTM block takes an initial hidden state only (its cell "
                "state starts at zero): pass the encoder's h and let c start at zero, or use GRUs")
    if directions == 1 and isinstance(h, RecurrentOutput) and h.which == "Y_h" and h.run.layers == 1 \
            and h.run.directions == 1:
        return h.run.last_hidden(reader)
    if isinstance(h, StateInput) and h.copies == directions:  # LayerLab's own state port: one vector everywhere
        return h.tensor
    return ("its initial state is not one (N, hidden_size) vector given to every layer and direction; LayerLab's "
            "state port starts each of them from the same vector (e.g. an encoder's last state)")


def _directions(attrs: dict[str, Any]) -> int:
    return 2 if attrs.get("direction", "forward") == "bidirectional" else 1


def _stacked_on(reader: Reader, x: TimeFirst, kind: str, hidden: int, directions: int, bias: bool,
                state: str | None) -> Run | None:
    """The block this op is the next layer of: it reads that block's sequence, nothing else reads it, and it starts
    from the same state (the block's state port starts every layer from one vector)."""
    run = reader.runs.get(x.tensor.node)
    if run is None or x.via is None or run.state != state or run.kind != kind or run.hidden != hidden \
            or run.directions != directions or reader.params_of(run.node)["bias"] != bias:
        return None
    if run.sequence_read or reader.consumers.get(run.y_name) != 1 or reader.consumers.get(x.via) != 1:
        return None
    if run.last is not None:
        return None  # h[-1] of the lower layer is already used
    return run


# --- the layouts around it -----------------------------------------------------------------------------------


def layout_op(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """An op reading a layout value: the value it makes, or a sentence saying why it has no block."""
    op = reader.op.op_type
    value = next(a for a in args if isinstance(a, LAYOUTS))
    if op in RECURRENT_OPS:
        return recurrent(reader, args, attrs)
    if op == "Transpose" and isinstance(value, TimeFirst) and list(attrs.get("perm", [])) == [1, 0, 2]:
        run = reader.runs.get(value.tensor.node)
        if run is not None and run.joined is not None:
            return _SEQUENCE_AND_STATES
        if run is not None:
            run.sequence_read = True  # the block's sequence is used: no later layer merges into it
        return value.tensor
    if isinstance(value, StateInput) and op in ("Expand", "Tile", "Slice", "Identity") and value is args[0]:
        shape = reader.shapes.get(reader.op.output[0])  # copies of one vector stay copies of it
        if shape and len(shape) == 3 and tuple(shape[1:]) == tuple(value.tensor.shape):
            return StateInput(value.tensor, shape[0])
    if isinstance(value, RecurrentOutput):
        picked = _recurrent_output(reader, value, args, attrs)
        if picked is not None:
            return picked
    if op == "Concat" and all(isinstance(a, DirectionState) for a in args):
        return _join_directions(reader, args, int(attrs.get("axis", 0)))
    if op == "Concat" and int(attrs.get("axis", 0)) == 0 and all(_is_state(a) for a in args):
        return StackedStates(tuple(p for a in args for p in (a.parts if isinstance(a, StackedStates) else (a,))))
    if op == "Gather" and int(attrs.get("axis", 0)) == 0 and isinstance(value, (StackedStates, RecurrentOutput)):
        return _pick_state(reader, value, args[1])
    if isinstance(value, TimeFirst):
        return (f"a time-first (T, N, F) tensor read by {op}: LayerLab's blocks read (N, T, F); {_IMPORT_PY}")
    return (f"{op} on a recurrent layer's {_describe(value)} has no block: only the output sequence and the last "
            f"layer's final hidden state (h[-1]) of a one-direction layer have blocks")


def _recurrent_output(reader: Reader, value: RecurrentOutput, args: list[Any], attrs: dict[str, Any]) -> Any:
    op, run = reader.op.op_type, value.run
    axes = _axes(args, attrs)
    if value.which == "Y" and value.layer == run.layers - 1:
        if op == "Squeeze" and axes == [1] and run.directions == 1:
            return TimeFirst(run.sequence, reader.op.output[0])
        if op == "Transpose" and list(attrs.get("perm", [])) == [0, 2, 1, 3] and not value.bidirectional_view:
            return RecurrentOutput(run, "Y", value.layer, bidirectional_view=True)
        if op == "Reshape" and (value.bidirectional_view or run.directions == 1):  # (T, N, directions * H)
            # A size computed from a dynamic batch may defeat shape inference; the merge is then the only reshape
            # the exporter writes here, and the import's verification would catch anything else.
            shape = reader.shapes.get(reader.op.output[0])
            if shape is None or len(shape) == 3 and shape[2] == run.directions * run.hidden:
                return TimeFirst(run.sequence, reader.op.output[0])
    if value.which == "Y_h" and op == "Squeeze" and axes == [0] and value.layer == run.layers - 1:
        return run.last_hidden(reader)
    if value.which == "Y_h" and op == "Slice" and _whole_first_axis(args) and run.directions == 1:
        return value  # h_n[0:1] of one layer: itself (how the dynamo exporter hands a state on)
    return None


def _whole_first_axis(args: list[Any]) -> bool:
    """A Slice of a one-entry first axis that keeps it: starts 0, ends ≥ 1, along axis 0."""
    bounds = [getattr(a, "value", None) if a is not None and not hasattr(a, "node") else None for a in args[1:4]]
    starts, ends = bounds[0], bounds[1]
    axes = bounds[2] if len(args) > 3 else np.zeros(1)
    if starts is None or ends is None or axes is None:
        return False
    return [int(a) for a in np.asarray(axes).reshape(-1)] == [0] and int(np.asarray(starts).reshape(-1)[0]) == 0 \
        and int(np.asarray(ends).reshape(-1)[0]) >= 1


def _axes(args: list[Any], attrs: dict[str, Any]) -> list[int] | None:
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    array = getattr(args[1], "value", None) if len(args) > 1 and args[1] is not None else None
    return [int(a) for a in np.asarray(array).reshape(-1)] if array is not None else None


def _is_state(value: Any) -> bool:
    return isinstance(value, StackedStates) or isinstance(value, RecurrentOutput) and value.which == "Y_h"


def _pick_state(reader: Reader, value: StackedStates | RecurrentOutput, index: Any) -> Any:
    """h_n[k]: only the last layer's state of a one-direction block (what its ``last`` output gives)."""
    parts = value.parts if isinstance(value, StackedStates) else (value,)
    picked = getattr(index, "value", None) if not hasattr(index, "node") else None
    if picked is None or np.asarray(picked).ndim != 0:
        return "picking hidden states with a computed or multiple index has no block"
    directions = parts[0].run.directions
    if directions == 2:  # torch's h_n: (layers * 2, N, H), forward then backward for each layer
        k = int(picked) % (2 * len(parts))
        return DirectionState(parts[k // 2], k % 2)
    part = parts[int(picked) % len(parts)]  # each part is one layer of a one-direction op
    if part.layer == part.run.layers - 1:
        return part.run.last_hidden(reader)
    return (f"h_n[{int(picked)}] is the state of layer {part.layer + 1} of {part.run.layers}; only the last layer's "
            "final hidden state of a one-direction layer has a block (the layer's 'last' output)")


def _join_directions(reader: Reader, states: list[DirectionState], axis: int) -> Tensor | str:
    """cat([h[-2], h[-1]], dim=1): the last layer's forward and backward final states, the block's ``last``."""
    run = states[0].part.run
    wanted = [(run.layers - 1, 0), (run.layers - 1, 1)]
    if axis not in (1, -1) or [(s.part.layer, s.direction) for s in states] != wanted \
            or any(s.part.run is not run for s in states):
        return ("joining final states other than the last layer's forward then backward state (torch.cat([h[-2], "
                "h[-1]], dim=1)) has no block")
    return run.both_directions(reader)


def _describe(value: Any) -> str:
    if isinstance(value, StackedStates):
        return "stacked hidden states"
    if isinstance(value, DirectionState):
        return "final state of one direction"
    if isinstance(value, StateInput):
        return "initial state"
    return {"Y": "output sequence (time first)", "Y_h": "final hidden state", "Y_c": "final cell state"}[value.which]


def fold_last_steps(nodes: list[list[Any]], edges: list[Any]) -> tuple[list[list[Any]], list[Any]]:
    """A one-direction recurrent block read only through LastTimeStep nodes gives ``last`` itself: one node, as a
    person would draw it (and as the PyTorch importer makes it)."""
    types = {n[0]: n[1] for n in nodes}
    params = {n[0]: n[2] for n in nodes}
    removed: set[str] = set()
    for node_id, kind in types.items():
        if kind not in RECURRENT_OPS or params[node_id].get("bidirectional") or params[node_id]["output"] != "sequence":
            continue
        readers = [e.target for e in edges if e.source == node_id]
        if not readers or any(types[r] != "LastTimeStep" for r in readers):
            continue
        params[node_id]["output"] = "last"
        removed.update(readers)
        edges = [type(e)(node_id, e.target, e.port) if e.source in readers else e for e in edges
                 if e.target not in readers]
    return [n for n in nodes if n[0] not in removed], edges
