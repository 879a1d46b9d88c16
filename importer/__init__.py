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


class _Stage:
    """The step an import is at, so an unforeseen error names it (tracing, grouping into blocks, verifying)."""

    def __init__(self) -> None:
        self.name = "tracing forward()"

    def __call__(self, name: str) -> None:
        self.name = name


def _import(module: nn.Module, example: tuple[torch.Tensor, ...], verify: bool, stage: _Stage) -> ImportResult:
    from importer.calls import dispatch
    from importer.hierarchy import build_hierarchy
    from importer.trace import TraceFailure, trace
    from importer.translate import translate

    stage("tracing forward()")
    try:
        traced = trace(module, example)
    except TraceFailure as failure:  # torch.fx can't follow forward(): torch.export may (importer.export_fallback)
        from importer.export_fallback import import_exported

        stage("reading the model through torch.export")
        result = import_exported(module, example, failure, verify)
        if result is None:
            raise
        return result
    stage("turning the traced operations into blocks")
    flat, ctx = translate(traced, dispatch)
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
