"""The placeholder an import leaves where an operation has no block: visible, named, and always an error.

It keeps the imported design whole (nothing is dropped silently) while blocking export and training until the
user replaces it. Its text parameters are shown and saved, never turned into code: it has no emission.
"""

from __future__ import annotations

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Category,
    Emission,
    Example,
    Inputs,
    Port,
    Resolved,
    TensorSpec,
    register,
)
from builder.params import Text

F = TensorSpec


def describe(p: Resolved) -> str:
    """'torch.roll at model.py:42: <what was found and what to do>' — the one message for the node."""
    where = f" at {p['where']}" if p["where"] else ""
    if p["note"]:
        return f"{p['op']}{where}: {p['note']}"
    return (f"{p['op']}{where} has no LayerLab block; replace this node with blocks that compute the same thing, "
            "or change the model")


def _infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    raise BlockError(describe(p))


def _emit(p: Resolved, inputs: Inputs) -> Emission:
    raise BlockError(describe(p))  # unreachable: validation reports the node as an error first


register(BlockSpec(
    type="Unsupported",
    category=Category.INPUT,
    doc="An operation an import could not turn into a block. Replace it before exporting or training.",
    params=(
        Text("op", "an operation", "What the imported model did here, e.g. torch.roll", key=True),
        Text("where", "", "Where: the file and line of the model's source, or the ONNX node", key=True),
        Text("note", "", "What was found and what to do about it"),
    ),
    ports=(Port("x", "the operation's first tensor input", optional=True),
           Port("y", "a second tensor input", optional=True),
           Port("z", "a third tensor input", optional=True)),
    infer=_infer,
    emit=_emit,
    examples=(Example({"op": "torch.roll", "where": "model.py:12"}, {"x": F((4,))}),),
    aliases=("import", "unknown"),
))
