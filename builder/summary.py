"""The model summary: per-layer output shape, parameters, multiply-accumulates and memory (as torchinfo).

Collecting rows (``summarize``) and rendering them (``format_summary``) are separate, so the UI can show
the same numbers as a table and the CLI as text or JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from builder.graph import Graph
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


@dataclass(frozen=True)
class Summary:
    name: str
    batch_size: int
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
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


def summarize(graph: Graph, batch_size: int = 1, result: ValidationResult | None = None) -> Summary:
    result = result or validate(graph)
    rows = []
    for node in graph.nodes:
        info = result.nodes[node.id]
        out = info.output
        activation = out.numel * batch_size * BYTES_PER_VALUE if out is not None and node.type != "Input" else 0
        rows.append(SummaryRow(node.id, node.type, [-1, *out.shape] if out else None, info.param_count,
                               info.param_count, info.macs, activation))
    total = sum(r.total_params for r in rows)
    activations = sum(r.activation_bytes for r in rows)
    mb = 1024 * 1024
    return Summary(
        name=graph.name, batch_size=batch_size, rows=rows, total_params=total,
        trainable_params=sum(r.trainable_params for r in rows), total_macs=sum(r.macs for r in rows),
        model_mb=total * BYTES_PER_VALUE / mb, activations_mb=activations / mb,
        training_mb=(4 * total * BYTES_PER_VALUE + 2 * activations) / mb, valid=result.valid,
    )


def format_summary(summary: Summary) -> str:
    """A fixed-width table in the spirit of torchinfo."""
    header = ("Layer (type)", "Output shape", "Param #", "MACs")
    table = [header] + [
        (f"{r.node} ({r.type})", _shape(r.output_shape), f"{r.total_params:,}", human_count(r.macs))
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
        f"Multiply-accumulates per sample: {human_count(summary.total_macs)}",
        f"Model size: {summary.model_mb:.2f} MB",
        f"Activations (batch {summary.batch_size}): {summary.activations_mb:.2f} MB",
        f"Training memory, rough (Adam, batch {summary.batch_size}): {summary.training_mb:.2f} MB",
        rule,
    ]
    return "\n".join(lines)


def _shape(shape: list[int] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("N" if d == -1 else str(d) for d in shape) + ")"
