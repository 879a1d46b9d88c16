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
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
import torch
from torch import nn

from builder.validate import ValidationResult
from codegen.source import ModelSource
from data.base import model_input
from training.attention import (
    AttentionLayer,
    AttentionMap,
    attention_layers,
    op_attention_layers,
    watch_attention,
    watch_op_attention,
)


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
    watched = _inner_modules(source, result) if statements else dict(source.attributes)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            captured = _run(model, inputs, statements or [], watched)
            captured.update(_in_place(model, source, result))
            attention = _attention(model, source, inputs, _types(result))
    finally:
        model.train(was_training)
    missing: dict[str, str] = {}
    for node_id in [*result.order, *(result.flat.order if result.flat else [])]:
        value = captured.get(node_id)
        if isinstance(value, torch.Tensor) and node_id not in result.nodes and \
                tuple(value.shape[1:]) != result.leaves.nodes[node_id].output.shape:
            # a layer whose node keeps only part of what its module returns (an LSTM's last state)
            missing[node_id] = "its layer's module returns more than the node's output; look at the block's output"
        elif isinstance(value, torch.Tensor):
            info = result.nodes.get(node_id) or result.leaves.nodes[node_id]
            outputs[node_id] = _one(value, info.output is None or info.output.batched)
        elif node_id not in outputs:
            missing[node_id] = _why_missing(node_id, result, statements is not None)
    return Inspection(outputs, attention, missing)


def _in_place(model: nn.Module, source: ModelSource, result: ValidationResult) -> dict[str, torch.Tensor]:
    """Top-level Parameters and Buffers: the model's own tensors (a class token), read by their attribute."""
    found: dict[str, torch.Tensor] = {}
    for node_id, info in result.nodes.items():
        attr = source.attributes.get(node_id)
        if info.type in IN_PLACE and attr:
            found[node_id] = model.get_parameter(attr) if info.type == "Parameter" else model.get_buffer(attr)
    return found


def _inner_modules(source: ModelSource, result: ValidationResult) -> dict[str, str]:
    """Layers inside blocks made of blocks (flat id -> module path): watched by hooks on their modules."""
    return {flat_id: path for flat_id, path in source.module_paths.items() if flat_id not in result.nodes}


def _why_missing(node_id: str, result: ValidationResult, traced: bool) -> str:
    if node_id in result.nodes and traced:
        return "its output was not a tensor"
    if node_id in result.nodes:
        return "this block has no module of its own to watch"
    return "inside a block, only layers with a module of their own are seen (an Add or a reshape is not)"


def _types(result: ValidationResult) -> dict[str, str]:
    """Flat id -> block type over the expanded design (its own nodes where it has no blocks made of blocks)."""
    return {node_id: info.type for node_id, info in result.leaves.nodes.items()}


def _attention(model: nn.Module, source: ModelSource, inputs: tuple[torch.Tensor, ...],
               types: dict[str, str]) -> dict[str, list[AttentionMap]]:
    """Per-head weights of every attention layer, keyed by its layer (flat id inside blocks) and by the
    top-level node holding it. Self- or cross-attention is read from the call itself (query is key or not);
    attention op nodes (``types``: flat id -> block type) from their calls' own arguments."""
    layers = attention_layers(model, source)
    ops = op_attention_layers(source, types)
    if not layers and not ops:
        return {}
    maps: dict[str, list[AttentionMap]] = {}

    def keep(layer: AttentionLayer, found: AttentionMap) -> None:
        maps.setdefault(layer.top, []).append(found)
        if layer.layer != layer.top:
            maps.setdefault(layer.layer, []).append(found)

    handles = watch_attention(model, layers, keep)
    try:
        with watch_op_attention(model, ops, keep):
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return maps


def _one(tensor: torch.Tensor, batched: bool = True) -> np.ndarray:
    """The first example of a batch as a CPU array (floats as float32, token ids as int64); a tensor without a
    batch dimension (positions, a Parameter) whole."""
    value = (tensor.detach()[0] if batched else tensor.detach()).cpu()
    return value.numpy() if value.dtype in (torch.int64, torch.int32, torch.bool) else value.float().numpy()


# -- which statement computes which node ----------------------------------------------------------------------
# `(N, 10)`, or a shape without a batch (positions from arange: `(17,)`, `(17, 64)`)
_SHAPE_COMMENT = re.compile(r"#\s*(\((?:N|\d+)(?:, \d+)*,?\))\s*$")
IN_PLACE = ("Parameter", "Buffer")  # used as self.cls_token where read: no statement; read from the model


def node_statements(source: ModelSource, result: ValidationResult) -> list[_Statement] | None:
    """Where each top-level node's value is complete in the model class's forward, and its variable.

    Generated code ends each node's lines with its output shape as a comment (``x = self.fc(x)  # (N, 10)``),
    in validation order; every such comment must name the shape validation found for that node, so a layout
    this doesn't understand gives None (and the caller falls back on hooks) instead of wrong pictures. A node
    inside a loop (a repeated block fed a second input) is read when the loop is done.
    """
    forward = _forward_def(source)
    if forward is None:
        return None
    lines = source.code.splitlines()
    nodes = [n for n in result.order if n not in {i.node for i in source.inputs}
             and result.nodes[n].type not in IN_PLACE]
    found: list[_Statement] = []
    for statement in forward.body:
        for inner in ast.walk(statement):
            if not isinstance(inner, ast.stmt) or isinstance(inner, (ast.For, ast.While, ast.If, ast.With)):
                continue
            line = lines[(inner.end_lineno or inner.lineno) - 1]
            marker = _SHAPE_COMMENT.search(line)
            unpacked = _UNPACKED_COMMENT.search(line) if marker is None else None
            if marker is None and unpacked is None:
                continue
            if len(found) >= len(nodes):
                return None
            info = result.nodes[nodes[len(found)]]
            if unpacked is not None:  # a node with several outputs: its main value is the one named plainly
                var = _main_variable(unpacked.group(1), info)
            else:
                var = _assigned_name(inner)
                if var is None or marker.group(1) != str(info.output):
                    return None
            found.append(_Statement(nodes[len(found)], statement.end_lineno or statement.lineno, var))
    return found if len(found) == len(nodes) else None


# `x, (h, c) = self.lstm(x)  # x: (N, 7, 16), h[-1]: (N, 16)`: each output read, with its shape
_UNPACKED_COMMENT = re.compile(r"#\s*((?:[\w\[\]\-() ]+: \(N(?:, \d+)*\)(?:, )?)+)\s*$")


def _main_variable(comment: str, info: Any) -> str:
    """The variable holding a several-output node's main value in an unpacking line; "" when the code keeps it in
    none (only h is read): the value is then reported missing rather than read from the wrong variable."""
    for label, shape in re.findall(r"([\w\[\]\-() ]+): (\(N(?:, \d+)*\))", comment):
        if label.isidentifier() and shape == str(info.output):
            return label
    return ""


def _forward_def(source: ModelSource) -> ast.FunctionDef | None:
    tree = ast.parse(source.code)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == source.class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    return item
    return None


def _assigned_name(statement: ast.stmt) -> str | None:
    """``out = ...`` -> "out"; ``out, _ = ...`` -> "out" (templates put the node's output first)."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    if isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    return target.id if isinstance(target, ast.Name) else None


# -- reading the values ---------------------------------------------------------------------------------------
def _run(model: nn.Module, inputs: tuple[torch.Tensor, ...], statements: list[_Statement],
         watched: dict[str, str]) -> dict[str, Any]:
    """One forward pass: top-level nodes read from forward's variables (line tracer), ``watched`` modules
    (key -> module path) through forward hooks."""
    captured: dict[str, Any] = {}
    handles = []
    for key, path in watched.items():
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        handles.append(module.register_forward_hook(_keeper(captured, key)))
    try:
        if statements:
            _traced(model, inputs, statements, captured)
        else:
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def _traced(model: nn.Module, inputs: tuple[torch.Tensor, ...], statements: list[_Statement],
            captured: dict[str, Any]) -> None:
    """Run forward, reading each node's variable as soon as its last statement has run."""
    code = type(model).forward.__code__
    pending = sorted(statements, key=lambda s: s.line)

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


def _keeper(captured: dict[str, Any], key: str) -> Callable:
    def hook(_module: nn.Module, _args: tuple, output: Any) -> None:
        captured[key] = output[0] if isinstance(output, tuple) else output
    return hook


# -- where the model and the example come from ----------------------------------------------------------------
def example(split: Any, index: int, input_order: tuple[int, ...] | None = None) -> tuple[torch.Tensor, ...]:
    """Example ``index`` of a dataset split (``data.base.Split``) as a batch of one per model input;
    ``input_order`` is the task plan's (which data input feeds which forward argument)."""
    count = len(split)
    if not 0 <= index < count:
        raise IndexError(f"example {index} is outside the split's {count} examples (0..{count - 1})")
    order = input_order or tuple(range(len(split.inputs)))
    return tuple(model_input(split.inputs[k][index:index + 1]) for k in order)


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
