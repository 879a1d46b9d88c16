"""Bring your own model: a PyTorch module (traced with torch.fx) or an ONNX file becomes a design, verified to
compute the same outputs. Pure Python at import time: torch and onnx load only when an import runs.

    result = import_module(model, (torch.randn(2, 3, 32, 32),))
    result.graph          # the design; Unsupported nodes where an operation has no block
    result.report_lines() # blocks, problems, "verified — same outputs (max diff 0)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from importer.report import ImportFailure, ImportResult, Problem, Verification

if TYPE_CHECKING:
    import torch
    from torch import nn

    from builder.graph import Graph
    from importer.trace import Traced
    from importer.translate import Context

__all__ = ["ImportFailure", "ImportResult", "Problem", "Verification", "import_module", "example_inputs"]

TRACE_BATCH = 2  # the traced batch; verification uses another (1), so a size baked into the design shows up


def example_inputs(shapes: list[tuple[int, ...]], dtypes: list[str], batch: int = TRACE_BATCH,
                   high: int = 2) -> tuple[torch.Tensor, ...]:
    """Random inputs of one sample shape each (without the batch): floats, or token ids below ``high``."""
    import torch

    generator = torch.Generator().manual_seed(0)
    out = []
    for shape, dtype in zip(shapes, dtypes):
        if dtype == "long":
            out.append(torch.randint(0, high, (batch, *shape), generator=generator))
        else:
            out.append(torch.randn((batch, *shape), generator=generator))
    return tuple(out)


def import_module(module: nn.Module, example: tuple[torch.Tensor, ...], verify: bool = True) -> ImportResult:
    """The design of ``module`` traced on ``example`` (batch first); raises ImportFailure when it can't be
    imported, in words (an error nobody foresaw included: see importer.guard), never another exception."""
    from importer.guard import unexpected

    stage = _Stage()
    try:
        result = _import(module, tuple(example), verify, stage)
        stage("checking that the design reads back")
        from importer.saveable import check_saveable

        check_saveable(result.graph, type(module).__name__)
        return result
    except ImportFailure:
        raise
    except Exception as err:  # noqa: BLE001 — the CLI and the app show words, never a traceback
        raise unexpected(module, stage.name, err) from err


def _read(module: nn.Module, example: tuple[torch.Tensor, ...], stage: _Stage) -> tuple[Traced, Graph, Context]:
    """(traced, flat design, context), every submodule read op by op: layers keep the original's names. Where
    attention written by hand left an op with no block, or stopped the trace, it is read again with that attention
    as one MultiheadAttention block each (importer.hand_attention)."""
    from importer.calls import dispatch
    from importer.hand_attention import attention_to_fuse, find_hand_attention
    from importer.trace import TraceFailure, trace
    from importer.translate import translate

    try:
        traced = trace(module, example)
    except TraceFailure:
        fused = find_hand_attention(module, example)
        if not fused:
            raise
        traced = trace(module, example, fused)  # still failing: the failure is elsewhere, and said so
        stage("turning the traced operations into blocks")
        return (traced, *translate(traced, dispatch))
    stage("turning the traced operations into blocks")
    flat, ctx = translate(traced, dispatch)
    fused = attention_to_fuse(module, example, {ctx.scopes.get(n.id, "") for n in ctx.nodes if n.type == "Unsupported"})
    if not fused:
        return traced, flat, ctx
    stage("tracing forward() again, attention written by hand as one block")
    traced = trace(module, example, fused)
    stage("turning the traced operations into blocks")
    return (traced, *translate(traced, dispatch))


class _Stage:
    """The step an import is at, so an unforeseen error names it (tracing, grouping into blocks, verifying)."""

    def __init__(self) -> None:
        self.name = "tracing forward()"

    def __call__(self, name: str) -> None:
        self.name = name


def _import(module: nn.Module, example: tuple[torch.Tensor, ...], verify: bool, stage: _Stage) -> ImportResult:
    from importer.hierarchy import build_hierarchy
    from importer.trace import TraceFailure

    stage("tracing forward()")
    try:
        traced, flat, ctx = _read(module, example, stage)
    except TraceFailure as failure:  # torch.fx can't follow forward(): torch.export may (importer.export_fallback)
        from importer.export_fallback import import_exported

        stage("reading the model through torch.export")
        result = import_exported(module, example, failure, verify)
        if result is None:
            raise
        return result
    stage("grouping submodules into block definitions")
    tree = build_hierarchy(flat, ctx)
    # Weights follow the expanded ids; where they equal the original's module paths no mapping is needed.
    origins = {node: ctx.origins[old] for node, old in tree.flat_ids.items() if old in ctx.origins}
    renames = {node: ctx.renames[old] for node, old in tree.flat_ids.items() if old in ctx.renames}
    inputs = "its first argument is" if len(example) == 1 else f"its first {len(example)} arguments are"
    notes = [f"forward()'s argument {name}={value!r} was left at its default ({inputs} the design's inputs)"
             for name, value in traced.defaults.items()] + ctx.memo.get("notes", []) + tree.notes
    result = ImportResult(tree.graph, ctx.problems, origins, "torch.fx",
                          sum(p.numel() for p in module.parameters()), renames=renames, notes=notes)
    if verify:
        from importer.verify import verify as check

        stage("verifying the design against the model")
        result.verification = check(tree.graph, module, traced.batch, example, origins, renames)
    return result
