"""The block registry: one ``BlockSpec`` per block type, the single source of truth for what a block is.

The UI builds its widgets from ``params``, validation calls ``infer``, the summary calls ``count`` and
``macs``, codegen calls ``emit``. Tests loop over ``all_blocks()`` and every entry's ``examples``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from builder.params import Param


class Category(str, Enum):
    INPUT = "Input & shape"
    DENSE = "Dense"
    CONV = "Convolution"
    POOL = "Pooling"
    ACTIVATION = "Activation"
    DROPOUT = "Regularization"
    NORM = "Normalization"
    SEQUENCE = "Embedding & sequence"
    RECURRENT = "Recurrent"
    ATTENTION = "Attention"
    MERGE = "Merge"
    TENSOR_OPS = "Tensor ops"  # one torch function, method or operator each (builder.catalog.tensor_ops)
    TENSORS = "Parameters & constants"  # learned tensors and fixed tables as nodes (builder.catalog.tensors)
    BLOCKS = "Blocks"  # definitions: blocks made of blocks (builder.blocks), not catalog entries


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's shape without the batch dimension, and whether it holds floats or token ids.

    ``batched=False`` is a tensor that has no batch dimension at all: positions from ``torch.arange(T)``, a
    learned class token (1, 1, D), a causal mask (T, T). Its ``shape`` is then the whole shape."""

    shape: tuple[int, ...]
    dtype: str = "float"  # "float" | "long" | "bool"
    batched: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        """Rank including the batch dimension (when there is one), the way torch error messages count."""
        return len(self.shape) + (1 if self.batched else 0)

    @property
    def full_shape(self) -> tuple[int | str, ...]:
        """The shape as torch sees it, with "N" for the batch dimension."""
        return ("N", *self.shape) if self.batched else self.shape

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __str__(self) -> str:
        if not self.batched:  # no "N": the one shape that is the same for every sample
            return "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"
        return "(" + ", ".join(["N", *(str(d) for d in self.shape)]) + ")"


@dataclass(frozen=True)
class Fix:
    """A one-click repair the UI can apply: ``action`` is a name understood by ``builder.edits.apply_fix``."""

    label: str
    action: str  # "insert_before" | "set_param" | "remove_edge" | "set_input_dtype"
    args: Mapping[str, Any] = field(default_factory=dict)


class BlockError(Exception):
    """Raised by a shape rule when the inputs don't fit; validation turns it into an Issue on the node."""

    def __init__(self, message: str, fix: Fix | None = None, port: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.port = port


@dataclass(frozen=True)
class Port:
    name: str
    doc: str = ""
    optional: bool = False
    variadic: bool = False  # takes two or more inputs, ordered (Add, Concat, Multiply)


@dataclass(frozen=True)
class Outputs:
    """The named outputs of a block that has several (``BlockSpec.outputs`` gives them for its parameters).

    ``names`` are in the order the torch call returns them; ``main`` is the one an edge without ``source_port``
    carries (an LSTM's ``output`` or, with output='last', its ``h``), or None where no output is the obvious one
    (the pieces of a chunk): every edge from such a block must name its output."""

    names: tuple[str, ...]
    main: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        if self.main is not None and self.main not in self.names:
            raise ValueError(f"the main output {self.main!r} is not one of {self.names}")


@dataclass(frozen=True)
class Call:
    """A constructor call written into generated ``__init__``; every arg is a literal rendered with repr()."""

    func: str  # e.g. "nn.Conv2d", a helper class name defined in codegen.layers, or (nested) "torch.zeros"
    args: tuple[Any, ...] = ()  # literals, or a nested Call (``nn.Parameter(torch.zeros(1, 1, 64))``)
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Emission:
    """How codegen writes one node.

    ``init`` is None for blocks with no module (Add, Concat). ``forward`` is a template of one or more lines;
    placeholders: {out} the output variable, {mod} the module attribute (self.name), one per port name
    ({x}, {memory}, {state}), and {inputs} for a variadic port (a comma-separated list of variables).
    ``helpers`` names classes from codegen.layers that must be copied into the file.
    """

    init: Call | None
    forward: str
    helpers: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()  # extra import lines such as "import math"
    # Blocks with several outputs (``BlockSpec.outputs``). ``unpack`` is the nested tuple of output names in the
    # shape the call returns them (an LSTM: ("output", ("h", "c")); a chunk: ("0", "1")); ``unpacked`` is the
    # template codegen uses when an edge reads an output other than the main one (or the block has no main one):
    # like ``forward`` but ``{unpack}`` stands for the assignment target, which codegen writes as
    # ``out, (h, _)`` with ``_`` for outputs nobody reads. ``reads`` says how a consumer reads one output from its
    # variable ``{var}`` where that is not the variable itself (an LSTM's h of the last layer: "{var}[-1]").
    unpack: tuple[Any, ...] = ()
    unpacked: str = ""
    reads: Mapping[str, str] = field(default_factory=dict)
    # ``init`` is a tensor registered as a buffer, "persistent" (saved) or "transient":
    # ``self.register_buffer("mask", ...)``; forward "{mod}" alone means the attribute is used in place.
    buffer: str | None = None


Inputs = Mapping[str, Any]  # port name -> TensorSpec, or a list of TensorSpec for a variadic port
Resolved = dict[str, Any]  # params with defaults filled in and inferred sizes resolved


@dataclass(frozen=True)
class Example:
    """A parameter set and input specs used by the registry-wide tests."""

    params: Mapping[str, Any]
    inputs: Mapping[str, Any]  # port -> TensorSpec (or list for variadic)


@dataclass(frozen=True)
class BlockSpec:
    type: str
    category: Category
    doc: str
    params: tuple[Param, ...]
    # may fill inferred entries of Resolved in place; a block with ``outputs`` returns {output name: TensorSpec}
    infer: Callable[[Resolved, Inputs], Any]
    emit: Callable[[Resolved, Inputs], Emission]
    count: Callable[[Resolved, Inputs], int] = lambda p, i: 0  # trainable parameters
    macs: Callable[[Resolved, Inputs, TensorSpec], int] = lambda p, i, o: 0  # multiply-accumulates per sample
    ports: tuple[Port, ...] = (Port("x"),)
    examples: tuple[Example, ...] = ()
    # Non-fatal advice (warnings) for inputs that are legal but probably not meant: [(message, fix), ...]
    advise: Callable[[Resolved, Inputs], list[tuple[str, Fix | None]]] | None = None
    torch_class: str | None = None  # the torch.nn class this block is, for docs
    # A tensor without a batch dimension: "rows" works on it as torch's layer does, treating its leading
    # dimension as rows (Embedding on positions (T,), Linear/activations/LayerNorm on a (T, D) table); "native"
    # rules handle it themselves (tensor ops); "refuse" blocks say why they can't take one.
    unbatched: str = "refuse"
    # A compact expression for the canvas (`x * s`, `sum(dim=1)`), from the parameters and, when known, the inputs
    face: Callable[..., str] | None = None
    aliases: tuple[str, ...] = ()  # search words for the palette
    # Parameters as files of earlier releases spelled them, rewritten into today's spelling when a file is read
    # (a conv's padding_style="same" is now torch's padding="same"): old files keep reading the same.
    old_spellings: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # Blocks with several outputs: their names (and the main one) for given parameters; None for one output.
    # Such a block's ``infer`` returns a spec per output and its emission fills ``unpack``/``unpacked``.
    outputs: Callable[[Resolved], Outputs] | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> Resolved:
        return {p.name: p.default for p in self.params}

    @property
    def is_source(self) -> bool:
        return not self.ports


def main_output(block: BlockSpec, params: Resolved) -> str | None:
    """The output an edge without ``source_port`` carries: None for a block with one output; for a block with
    several, its main one, or its first where it has none (that one then stands for the node in tables)."""
    if block.outputs is None:
        return None
    outputs = block.outputs(params)
    return outputs.main or outputs.names[0]


def main_spec(block: BlockSpec, params: Resolved, out: Any) -> TensorSpec:
    """The spec of the main output, from what ``infer`` returned (a spec, or a spec per output)."""
    return out[main_output(block, params)] if block.outputs is not None else out


_REGISTRY: dict[str, BlockSpec] = {}


def register(spec: BlockSpec) -> BlockSpec:
    """Add a block; a duplicate type name is a programming error."""
    if spec.type in _REGISTRY:
        raise ValueError(f"block type {spec.type!r} is registered twice")
    if not spec.examples and spec.ports:
        raise ValueError(f"block type {spec.type!r} needs at least one example for the registry tests")
    _REGISTRY[spec.type] = spec
    return spec


def get_block(type_name: str) -> BlockSpec:
    return _REGISTRY[type_name]


def has_block(type_name: str) -> bool:
    return type_name in _REGISTRY


def all_blocks() -> list[BlockSpec]:
    return list(_REGISTRY.values())
