"""A node's settings in a few words ("out 64 · k 7 · s 2 · pad 3"): one wording for the canvas's node faces
(ui.design.canvas_view) and the exported diagram (export.diagram). Pure Python, no torch."""

from __future__ import annotations

from typing import Any

from builder.catalog import TensorSpec, get_block, has_block
from builder.graph import Graph, Node
from builder.validate import NodeInfo

# Short names keep a node's parameter line under ~26 characters.
SHORT_NAMES = {
    "out_channels": "out", "kernel_size": "k", "stride": "s", "padding": "pad", "out_features": "out",
    "hidden_size": "hidden", "num_layers": "layers", "num_heads": "heads", "nhead": "heads",
    "dim_feedforward": "ff", "num_embeddings": "vocab", "embedding_dim": "dim", "negative_slope": "slope",
    "num_parameters": "n", "num_groups": "groups", "output_size": "size", "scale_factor": "×",
}


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def key_params(node: Node, info: NodeInfo, graph: Graph | None = None, *, set_too: bool = False) -> str:
    """The block's key parameters as one short line, e.g. "out 64 · k 3 · s 1"; for a block made of blocks, its
    own parameters ("planes 128 · s 2 · downsample": a true switch by its name, a false one left out).
    ``set_too``: also every other parameter the design sets (a diagram has room: maxpool's "s 2", "no bias")."""
    if graph is not None and node.type in graph.definitions:
        return _definition_params(node, info, graph)
    if not has_block(node.type):
        return ""
    block = get_block(node.type)
    params = info.params or {**block.defaults(), **node.params}
    if block.face is not None:  # a tensor op shows its expression: `x * y`, `sum(dim=1)`, `[:, 0]`
        return block.face(params, info.inputs)
    parts = [f"{SHORT_NAMES.get(p.name, p.name)} {format_value(params[p.name])}"
             for p in block.params if p.key and params.get(p.name) is not None]
    if set_too:
        for p in block.params:
            value = node.params.get(p.name)
            if p.key or value is None:
                continue
            parts.append(p.name if value is True else f"no {p.name}" if value is False
                         else f"{SHORT_NAMES.get(p.name, p.name)} {format_value(value)}")
    return " · ".join(parts)


def _definition_params(node: Node, info: NodeInfo, graph: Graph) -> str:
    definition = graph.definitions[node.type]
    values = info.params or {**definition.defaults(), **node.params}
    parts = []
    for spec in definition.params:
        value = values.get(spec.name)
        if value is True:
            parts.append(spec.name)
        elif value is not None and value is not False:
            parts.append(f"{SHORT_NAMES.get(spec.name, spec.name)} {format_value(value)}")
    return " · ".join(parts)


def short_shape(spec: TensorSpec | None) -> str:
    """64×8×8 for floats, "20 ids" style for token ids; "?" when unknown (never a blank)."""
    if spec is None:
        return "?"
    dims = "×".join(str(d) for d in spec.shape) or "scalar"
    text = f"{dims} ids" if spec.dtype == "long" else f"{dims} bool" if spec.dtype == "bool" else dims
    return text if spec.batched else f"{text}, no batch"  # positions, a class token: the same for every sample
