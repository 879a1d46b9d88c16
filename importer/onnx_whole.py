"""Layers the dynamo exporter writes as many small ops that are one torch layer: ``nn.AdaptiveAvgPool2d((7, 7))``
on a 1×1 map becomes Transpose/GatherND/Where/Gather/Add/Div (torch's decomposition of adaptive pooling). The file
records which module ran each op and its class, so the ops of one such module, read from one computed tensor into
one, are that layer, its output size read off shape inference. Verification against onnxruntime confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import onnx

from importer.onnx_names import module_classes, scoped_module

if TYPE_CHECKING:
    from importer.onnx_import import Reader

_WHOLE = {"AdaptiveAvgPool2d", "AdaptiveAvgPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool1d"}


@dataclass(frozen=True)
class Whole:
    block: str  # the layer block ('AdaptiveAvgPool2d')
    scope: str  # its module path ('avgpool')
    members: frozenset[int]  # the graph's op indices it covers
    inputs: tuple[str, ...]  # values it reads from outside (one of them the computed tensor)
    output: str  # the one value read outside it


def find_wholes(graph: onnx.GraphProto) -> dict[int, Whole]:
    """First op index -> a layer written as several ops, for the layers in ``_WHOLE`` (one output each)."""
    classes = module_classes(graph)
    scopes: dict[str, list[int]] = {}
    for index, op in enumerate(graph.node):
        scope = scoped_module(op)
        if scope and classes.get(scope, "").rsplit(".", 1)[-1] in _WHOLE:
            scopes.setdefault(scope, []).append(index)
    found: dict[int, Whole] = {}
    outside_reads = {name for op in graph.node for name in op.input} | {v.name for v in graph.output}
    for scope, members in scopes.items():
        if len(members) < 2 or members != list(range(members[0], members[-1] + 1)):
            continue  # one op is read as usual; ops of the module interleaved with others aren't one layer
        made = {name for i in members for name in graph.node[i].output}
        inputs = tuple(dict.fromkeys(name for i in members for name in graph.node[i].input
                                     if name and name not in made))
        read_after = {name for k, op in enumerate(graph.node) if k not in members for name in op.input}
        read_after |= {v.name for v in graph.output}
        outputs = [name for name in made if name in read_after and name in outside_reads]
        if len(outputs) == 1:
            block = classes[scope].rsplit(".", 1)[-1]
            found[members[0]] = Whole(block, scope, frozenset(members), inputs, outputs[0])
    return found


def read_whole_layer(reader: Reader, whole: Whole, env: dict[str, Any]) -> bool:
    """Read ``whole`` as one block from its one computed input; False (read op by op) where it doesn't fit."""
    from importer.onnx_import import Tensor

    tensors = [env[name] for name in whole.inputs if isinstance(env.get(name), Tensor)]
    out = reader.shapes.get(whole.output)
    rank = 4 if whole.block.endswith("2d") else 3
    if len(tensors) != 1 or len(tensors[0].shape) != rank or out is None or len(out) != rank:
        return False
    reader.op = next(op for op in reader.ops if whole.output in op.output)
    size = list(out[2:])
    added = reader.add(whole.block, {"output_size": size[0] if len(set(size)) == 1 else size}, [(tensors[0], None)],
                       module=whole.scope)
    env[whole.output] = Tensor(added.node, out)
    return True
