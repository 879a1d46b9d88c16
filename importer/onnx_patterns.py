"""Patterns of several ONNX ops that are one block, found before the ops are read one by one; and constants the
exporter computes in the graph, folded to their values.

- GELU: an exporter without a Gelu op (opset < 20, and LayerLab's own export) writes x · 0.5 · (1 + erf(x / √2)),
  in any of three orders. The ops become one GELU block.
- Constants: TorchScript computes Pad's amounts with ConstantOfShape/Concat/Reshape/Slice/Cast on constants; onnx's
  reference evaluator runs such an op when every input is a small known constant (never a random op).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper


@dataclass(frozen=True)
class Pattern:
    block: str
    source: str  # the value the block reads
    members: frozenset[int]  # indices of the ops it replaces, the last one included
    last: int


def _scalar(values: dict[str, np.ndarray], name: str) -> float | None:
    value = values.get(name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer if int(np.prod(t.dims)) <= 1}
    for op in graph.node:
        if op.op_type == "Constant" and op.attribute and op.attribute[0].name == "value":
            values[op.output[0]] = numpy_helper.to_array(op.attribute[0].t)
    return values


def _other(op: onnx.NodeProto, name: str) -> str | None:
    """The input of a two-input op that isn't ``name``."""
    if len(op.input) != 2 or name not in op.input:
        return None
    return op.input[1] if op.input[0] == name else op.input[0]


def find_gelus(graph: onnx.GraphProto) -> dict[int, Pattern]:
    """GELUs by the index of their last op."""
    values = _constants(graph)
    readers: dict[str, list[int]] = {}
    made: dict[str, int] = {}
    for k, op in enumerate(graph.node):
        for name in op.input:
            readers.setdefault(name, []).append(k)
        for name in op.output:
            made[name] = k
    outputs = {v.name for v in graph.output}

    def only_reader(name: str, op_type: str) -> int | None:
        found = readers.get(name, [])
        ok = len(found) == 1 and name not in outputs and graph.node[found[0]].op_type == op_type
        return found[0] if ok else None

    def near(value: float | None, target: float) -> bool:
        return value is not None and abs(value - target) < 1e-4

    found: dict[int, Pattern] = {}
    for e, erf in enumerate(graph.node):
        if erf.op_type != "Erf" or erf.input[0] not in made:
            continue
        scaled = graph.node[made[erf.input[0]]]
        x = scaled.input[0] if len(scaled.input) == 2 else None
        if scaled.op_type == "Div" and near(_scalar(values, scaled.input[1]), math.sqrt(2)):
            pass
        elif scaled.op_type == "Mul" and x is not None:
            x = next((n for n in scaled.input if near(_scalar(values, _other(scaled, n) or ""), 1 / math.sqrt(2))),
                     None)
        else:
            continue
        add = only_reader(erf.output[0], "Add") if x is not None else None
        if add is None or not near(_scalar(values, _other(graph.node[add], erf.output[0]) or ""), 1.0):
            continue
        pattern = _tail(graph, values, readers, made, only_reader, near, x, add)
        if pattern is not None:
            members, last = pattern
            found[last] = Pattern("GELU", x, frozenset({made[erf.input[0]], e, add, *members}), last)
    return found


def _tail(graph, values, readers, made, only_reader, near, x: str, add: int):  # noqa: ANN001, ANN202
    """The two multiplications after 1 + erf: by x and by 0.5, in either order, or x · 0.5 made first."""
    total = graph.node[add].output[0]
    first = only_reader(total, "Mul")
    if first is None:
        return None
    other = _other(graph.node[first], total)
    if other == x or near(_scalar(values, other or ""), 0.5):  # (x · t) · 0.5 or (0.5 · t) · x
        second = only_reader(graph.node[first].output[0], "Mul")
        if second is None:
            return None
        rest = _other(graph.node[second], graph.node[first].output[0])
        wanted_half = other == x
        if (wanted_half and near(_scalar(values, rest or ""), 0.5)) or (not wanted_half and rest == x):
            return {first, second}, second
        return None
    half = made.get(other or "")  # (x · 0.5) · t
    if half is None or graph.node[half].op_type != "Mul" or len(readers.get(other, [])) != 1:
        return None
    if x in graph.node[half].input and near(_scalar(values, _other(graph.node[half], x) or ""), 0.5):
        return {half, first}, first
    return None


_FOLDABLE = {"ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast", "Unsqueeze", "Squeeze", "Add",
             "Sub", "Mul", "Div", "Neg", "Gather", "Expand", "Sqrt", "Equal", "Where", "Not"}
MAX_FOLDED = 4096


def _grows_too_big(op_type: str, inputs: list[np.ndarray]) -> bool:
    """Ops whose output size is set by a value (a hostile file could ask for 10^12 zeros): checked before running."""
    try:
        if op_type == "ConstantOfShape":
            return float(np.prod(inputs[0].astype(np.float64))) > MAX_FOLDED or bool((inputs[0] < 0).any())
        if op_type == "Expand" and len(inputs) == 2:
            shape = np.broadcast_shapes(inputs[0].shape, tuple(int(d) for d in inputs[1].reshape(-1)))
            return float(np.prod(shape, dtype=np.float64)) > MAX_FOLDED
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def fold(op: onnx.NodeProto, inputs: list[np.ndarray | None]) -> np.ndarray | None:
    """The op's value when every input is a small known constant; None otherwise."""
    if op.op_type not in _FOLDABLE or op.domain not in ("", "ai.onnx") or not inputs:
        return None
    if any(v is None or v.size > MAX_FOLDED for v in inputs) or _grows_too_big(op.op_type, inputs):
        return None
    from onnx.reference import ReferenceEvaluator

    try:
        result = ReferenceEvaluator(op).run(None, dict(zip(op.input, inputs)))[0]
    except Exception:  # noqa: BLE001 — an op the reference can't run: the value stays unknown, as before
        return None
    result = np.asarray(result)
    return result if result.size <= MAX_FOLDED else None
