"""The model summary: per-layer output shape, parameters, multiply-accumulates and memory (as torchinfo).

Collecting rows (``summarize``) and rendering them (``format_summary``) are separate, so the UI can show
the same numbers as a table and the CLI as text or JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from builder.blocks import SEP
from builder.catalog import TensorSpec, get_block
from builder.catalog.registry import main_output
from builder.graph import Graph
from builder.results import NodeInfo
from builder.validate import ValidationResult, human_count, validate

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class SummaryRow:
    node: str
    type: str
    output_shape: list[int] | None  # with the batch dimension as -1, None when unknown
    trainable_params: int
    total_params: int
    macs: int  # multiply-accumulates per sample
    activation_bytes: int  # this layer's output for the chosen batch size
    depth: int = 0  # 0 for the design's own nodes; inside a block, how deep (as torchinfo's depth)
    # A block with several outputs (an LSTM): the others than the main one (``output_shape``), by name.
    outputs: dict[str, list[int]] | None = None


@dataclass(frozen=True)
class Summary:
    name: str
    batch_size: int
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    frozen_params: int  # in nodes and block instances switched to not trainable: they keep their weights
    total_macs: int
    model_mb: float  # parameters as float32
    activations_mb: float  # every layer output for one forward pass of batch_size
    training_mb: float  # rough peak for training with Adam: weights, grads, 2 moments, activations kept for backward
    valid: bool

    def to_dict(self) -> dict:
        """Totals first, then one row per node."""
        data = asdict(self)
        rows = data.pop("rows")
        return {**data, "rows": rows}


def summarize(graph: Graph, batch_size: int = 1, result: ValidationResult | None = None,
              depth: int | None = 0) -> Summary:
    """Rows for the design's nodes; with blocks, ``depth`` levels inside them too (None: down to every layer).

    Totals always come from the layers themselves, so they equal torch's whatever the depth shown."""
    result = result or validate(graph)
    rows = []
    for node in graph.nodes:
        info = result.nodes[node.id]
        rows.append(_row(node.id, node.type, info.output, info.param_count, info.macs, batch_size, 0,
                         node.trainable, _others(info)))
        if node.type in graph.definitions and (depth is None or depth > 0):
            rows.extend(_inner_rows(node.id, result, batch_size, depth, node.trainable))
    top = [r for r in rows if r.depth == 0]
    total = sum(r.total_params for r in top)
    trainable = sum(r.trainable_params for r in top)
    leaves = result.leaves
    activations = sum(_activation(leaves.nodes[n].output, leaves.nodes[n].type, batch_size) for n in leaves.nodes)
    mb = 1024 * 1024
    return Summary(
        name=graph.name, batch_size=batch_size, rows=rows, total_params=total,
        trainable_params=trainable, frozen_params=total - trainable, total_macs=sum(r.macs for r in top),
        model_mb=total * BYTES_PER_VALUE / mb, activations_mb=activations / mb,
        training_mb=(4 * total * BYTES_PER_VALUE + 2 * activations) / mb, valid=result.valid,
    )


def _row(name: str, type_name: str, out: TensorSpec | None, params: int, macs: int, batch_size: int,
         depth: int, trainable: bool, outputs: dict[str, TensorSpec] | None = None) -> SummaryRow:
    named = {k: _with_batch(spec) for k, spec in outputs.items()} if outputs else None
    return SummaryRow(name, type_name, _with_batch(out) if out else None, params if trainable else 0, params, macs,
                      _activation(out, type_name, batch_size), depth, named)


def _others(info: NodeInfo) -> dict[str, TensorSpec] | None:
    """A several-output block's outputs other than its main one (an LSTM's h and c beside its sequence)."""
    if not info.outputs:
        return None
    main = main_output(get_block(info.type), info.params)
    return {name: spec for name, spec in info.outputs.items() if name != main}


def _with_batch(spec: TensorSpec) -> list[int]:
    """The shape with the batch as -1; a tensor without one (positions from arange, a class token) as it is."""
    return [-1, *spec.shape] if spec.batched else list(spec.shape)


def _activation(out: TensorSpec | None, type_name: str, batch_size: int) -> int:
    """Bytes of one layer's output for a batch; a tensor without a batch dimension is computed once."""
    if out is None or type_name == "Input":
        return 0
    return out.numel * (batch_size if out.batched else 1) * BYTES_PER_VALUE


def _inner_rows(instance: str, result: ValidationResult, batch_size: int, depth: int | None,
                trainable: bool) -> list[SummaryRow]:
    """One row per block copy and per layer inside ``instance``, copies summed from their layers."""
    assert result.expansion is not None and result.flat is not None
    flat, expansion = result.flat, result.expansion
    order = {flat_id: k for k, flat_id in enumerate(flat.nodes)}
    inside = [f for f in flat.nodes if expansion.origin[f].top == instance]  # the instance's layers, in order
    entries: list[tuple[str, str, TensorSpec | None, int, int]] = []
    first: dict[str, int] = {}  # row name -> position of its first layer, to list rows in the design's order
    for use in expansion.uses:
        key = use.prefix.rstrip(SEP)
        if key == instance or not use.prefix.startswith(instance + SEP):
            continue
        members = [f for f in inside if f.startswith(use.prefix)]
        entries.append((key, use.definition, flat.nodes[use.output].output,
                        sum(flat.nodes[f].param_count for f in members), sum(flat.nodes[f].macs for f in members)))
        first[key] = order[members[0]] if members else 0
    for flat_id in inside:
        info = flat.nodes[flat_id]
        entries.append((flat_id, info.type, info.output, info.param_count, info.macs))
        first[flat_id] = order[flat_id]
    entries.sort(key=lambda e: (first[e[0]], e[0].count(SEP)))  # a block copy before its own first layer
    rows = []
    for name, kind, out, params, macs in entries:
        level = name[len(instance) + 1:].count(SEP) + 1
        if depth is None or level <= depth:
            rows.append(_row(name, kind, out, params, macs, batch_size, level, trainable,
                             _others(flat.nodes[name]) if name in flat.nodes else None))
    return rows


def format_summary(summary: Summary) -> str:
    """A fixed-width table in the spirit of torchinfo."""
    header = ("Layer (type)", "Output shape", "Param #", "MACs")
    table = [header] + [
        (f"{'  ' * r.depth}{r.node} ({r.type})", _shapes(r), f"{r.total_params:,}", human_count(r.macs))
        for r in summary.rows
    ]
    widths = [max(len(row[k]) for row in table) for k in range(4)]
    rule = "=" * (sum(widths) + 6)

    def line(row: tuple[str, ...]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"

    lines = [rule, line(header), rule, *(line(r) for r in table[1:]), rule]
    lines += [
        f"Total params: {summary.total_params:,}",
        f"Trainable params: {summary.trainable_params:,}",
        *([f"Frozen params: {summary.frozen_params:,}"] if summary.frozen_params else []),
        f"Multiply-accumulates per sample: {human_count(summary.total_macs)}",
        f"Model size: {summary.model_mb:.2f} MB",
        f"Activations (batch {summary.batch_size}): {summary.activations_mb:.2f} MB",
        f"Training memory, rough (Adam, batch {summary.batch_size}): {summary.training_mb:.2f} MB",
        rule,
    ]
    return "\n".join(lines)


def _shapes(row: SummaryRow) -> str:
    """The main output's shape, then the block's other outputs by name: ``(N, 7, 16) · h (N, 16) · c (N, 16)``."""
    main = _shape(row.output_shape)
    if not row.outputs:
        return main
    return " · ".join([main, *(f"{name} {_shape(shape)}" for name, shape in row.outputs.items())])


def _shape(shape: list[int] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("N" if d == -1 else str(d) for d in shape) + ")"
