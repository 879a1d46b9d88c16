"""What every node of a trained model computes for one example: its output tensor, and attention weights.

A node's output is the value its line of the generated ``forward`` leaves in its variable, so blocks that are
plain expressions (Add, Concat, Flatten as ``x.flatten(1)``) and blocks whose output is not their module's
(an LSTM's last state ``h[-1]``) are seen exactly as the code computes them. The forward runs once under a
line tracer (``sys.settrace``, this thread only) that reads the variable when the node's last statement is
done. Which statements belong to which node comes from the catalog's emission of each node, in the
validation's order, the way ``codegen.source`` writes them; when the generated code doesn't match that
(a future code layout), the inspector falls back on forward hooks on the module attributes
(``ModelSource.attributes``) and says which nodes it could not see.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
import torch
from torch import nn

from builder.catalog import get_block
from builder.validate import ValidationResult
from codegen.source import ModelSource
from training.attention import AttentionMap, capture_attention


@dataclass(frozen=True)
class Inspection:
    """One example through the model: outputs keyed by node id, without the batch dimension."""

    outputs: dict[str, np.ndarray]
    attention: dict[str, list[AttentionMap]] = field(default_factory=dict)  # node id -> maps, batch of one
    missing: dict[str, str] = field(default_factory=dict)  # node id -> why its output could not be read

    def output(self, node_id: str) -> np.ndarray | None:
        return self.outputs.get(node_id)


@dataclass(frozen=True)
class _Statement:
    node: str
    line: int  # the last line of the node's last statement in the generated file
    var: str  # the variable that statement assigns: the node's output


def inspect_example(model: nn.Module, source: ModelSource, result: ValidationResult,
                    inputs: tuple[torch.Tensor, ...]) -> Inspection:
    """Run one example (each input with a batch dimension of 1) through ``model`` in eval mode.

    The model's mode is restored afterwards, and no gradient is recorded. ``result`` is the validation of
    the design the model was generated from.
    """
    if any(t.shape[0] != 1 for t in inputs):
        raise ValueError(f"inspect one example at a time: batch sizes {[t.shape[0] for t in inputs]}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    inputs = tuple(t.to(device) for t in inputs)
    outputs: dict[str, np.ndarray] = {i.node: _one(t) for i, t in zip(source.inputs, inputs)}
    statements = node_statements(source, result)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            captured = _traced(model, inputs, statements) if statements else _hooked(model, source, inputs)
        attention = capture_attention(model, source, inputs)
    finally:
        model.train(was_training)
    missing: dict[str, str] = {}
    for node_id in result.order:
        value = captured.get(node_id)
        if isinstance(value, torch.Tensor):
            outputs[node_id] = _one(value)
        elif node_id not in outputs:
            missing[node_id] = ("this block has no module of its own to watch" if statements is None
                                else "its output was not a tensor")
    return Inspection(outputs, attention, missing)


def _one(tensor: torch.Tensor) -> np.ndarray:
    """The first example of a batch as a CPU array (floats as float32, token ids as int64)."""
    value = tensor.detach()[0].cpu()
    return value.numpy() if value.dtype in (torch.int64, torch.int32, torch.bool) else value.float().numpy()


# -- which statement computes which node ----------------------------------------------------------------------
def node_statements(source: ModelSource, result: ValidationResult) -> list[_Statement] | None:
    """The generated forward's statements grouped by node; None when the code is not laid out as expected."""
    forward = _forward_def(source)
    if forward is None:
        return None
    body = [s for s in forward.body if not isinstance(s, ast.Return) and not _is_docstring(s)]
    found: list[_Statement] = []
    position = 0
    for node_id in result.order:
        info = result.nodes[node_id]
        block = get_block(info.type)
        if block.is_source:
            continue
        count = len(block.emit(info.params, info.inputs).forward.split("\n"))
        if position + count > len(body):
            return None
        last = body[position + count - 1]
        var = _assigned_name(last)
        if var is None:
            return None
        found.append(_Statement(node_id, last.end_lineno or last.lineno, var))
        position += count
    return found if position == len(body) else None


def _forward_def(source: ModelSource) -> ast.FunctionDef | None:
    tree = ast.parse(source.code)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == source.class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    return item
    return None


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _assigned_name(statement: ast.stmt) -> str | None:
    """``out = ...`` -> "out"; ``out, _ = ...`` -> "out" (templates put the node's output first)."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    if isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    return target.id if isinstance(target, ast.Name) else None


# -- reading the values ---------------------------------------------------------------------------------------
def _traced(model: nn.Module, inputs: tuple[torch.Tensor, ...], statements: list[_Statement]) -> dict[str, Any]:
    """Run forward, reading each node's variable as soon as its last statement has run."""
    code = type(model).forward.__code__
    pending = sorted(statements, key=lambda s: s.line)
    captured: dict[str, Any] = {}

    def in_forward(frame: FrameType, event: str, _arg: Any) -> Callable | None:
        # A 'line' event comes before its line runs: every statement ending above it is done.
        if event in ("line", "return"):
            while pending and (event == "return" or pending[0].line < frame.f_lineno):
                done = pending.pop(0)
                captured[done.node] = frame.f_locals.get(done.var)
        return in_forward

    def on_call(frame: FrameType, event: str, _arg: Any) -> Callable | None:
        return in_forward if event == "call" and frame.f_code is code else None

    previous = sys.gettrace()  # a debugger or coverage tool gets its tracer back afterwards
    sys.settrace(on_call)
    try:
        model(*inputs)
    finally:
        sys.settrace(previous)
    return captured


def _hooked(model: nn.Module, source: ModelSource, inputs: tuple[torch.Tensor, ...]) -> dict[str, Any]:
    """The fallback: each module attribute's output (the first element of a tuple, as an RNN returns)."""
    captured: dict[str, Any] = {}
    handles = []
    for node_id, attr in source.attributes.items():
        module = getattr(model, attr, None)
        if isinstance(module, nn.Module):
            handles.append(module.register_forward_hook(_keeper(captured, node_id)))
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def _keeper(captured: dict[str, Any], node_id: str) -> Callable:
    def hook(_module: nn.Module, _args: tuple, output: Any) -> None:
        captured[node_id] = output[0] if isinstance(output, tuple) else output
    return hook


# -- where the model and the example come from ----------------------------------------------------------------
def example(split: Any, index: int) -> tuple[torch.Tensor, ...]:
    """Example ``index`` of a dataset split (``data.base.Split``) as a batch of one per model input."""
    count = len(split)
    if not 0 <= index < count:
        raise IndexError(f"example {index} is outside the split's {count} examples (0..{count - 1})")
    return tuple(t[index:index + 1] for t in split.inputs)


def snapshot(model: nn.Module, source: ModelSource) -> nn.Module:
    """A CPU copy of a model that may be training in another thread: its weights now, in its own module,
    so looking inside never switches the training model to eval mode or moves it."""
    from codegen.loader import build_model

    copy = build_model(source)
    copy.load_state_dict({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    return copy.eval()


def run_model(store: Any, run_id: str, source: ModelSource) -> nn.Module:
    """The generated model with run ``run_id``'s saved weights (``training.runstore.RunStore``)."""
    from codegen.loader import build_model

    return store.load_weights(run_id, build_model(source)).eval()
