"""ONNX operations the layer blocks don't cover, read as tensor-op blocks: an ONNX op whose name is an op block's
(``Mul`` → mul, ``Exp`` → exp, ``Sqrt`` → sqrt, ``MatMul`` → matmul, ``Pow`` → pow) and that takes only computed
tensors, no attributes, is that block with its inputs on the block's ports in order, when the block has no settings
either (ONNX's Gather, Where and Expand share a name with a block but not its meaning) — the same elementwise
meaning in both (ONNX broadcasts as numpy does, as torch does). A scalar constant on one side is the scalar block
(``x * 0.5``, ``1 - x``, ``x ** 3``). The design is then verified against onnxruntime like every ONNX import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from importer.onnx_import import Reader

_SYMBOLS = {"Mul": "*", "Div": "/", "Add": "+", "Sub": "-", "Pow": "**"}
_BLOCK_NAMES = {"Div": "div"}  # ONNX's name where it isn't the block's lowercased (none today but Div → div)


def op_block(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """The op block this ONNX op is, or None when there is none or it carries settings."""
    from builder.catalog.tensor_ops import OPS

    op_type = reader.op.op_type
    block = _BLOCK_NAMES.get(op_type, op_type.lower())
    if block not in OPS or attrs or OPS[block].params:
        return None  # only blocks without settings: ONNX's Gather, Where and Expand mean other things than torch's
    spec = OPS[block]
    if len(args) == len(spec.ports) and any(hasattr(a, "node") for a in args):
        from importer.onnx_tensor_ops import constant_node

        args = [a if hasattr(a, "node") else constant_node(reader, a) or a for a in args]  # gamma * x: a Parameter
    tensors = [a for a in args if hasattr(a, "node")]
    if len(tensors) == len(args) and len(args) == len(spec.ports) and not any(p.variadic for p in spec.ports):
        return reader.add(block, {}, [(t, p.name if len(spec.ports) > 1 else None)
                                      for t, p in zip(tensors, spec.ports)])
    if len(args) == 2 and len(tensors) == 1 and op_type in _SYMBOLS:
        other = args[1] if tensors[0] is args[0] else args[0]
        value = getattr(other, "value", None)
        if value is None or np.asarray(value).size != 1 or not np.issubdtype(np.asarray(value).dtype, np.number):
            return None
        return reader.add("scalar", {"operator": _SYMBOLS[op_type], "value": float(np.asarray(value).reshape(-1)[0]),
                                     "value_first": other is args[0]}, [(tensors[0], None)])
    return None
