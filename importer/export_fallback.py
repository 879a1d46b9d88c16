"""When torch.fx can't follow forward(), torch.export often can: ``len(x)``, unpacking a tensor, Python that looks
at sizes. torch's ONNX exporter runs torch.export and writes the graph with each op's module path and class, so the
model is exported in memory and read by the ONNX reader — module tree, classes, LSTMs and attention included — and
the design is then verified against the original module itself, at another batch size than the one exported.

The design must take the original's state dict as it is (strictly, by the original's names), or it is not the
user's model any more: the exporter's optimiser folds a BatchNorm into the convolution before it, so the graph is
read unoptimised first (every layer kept) and the optimised one only where that fails; a design is verified with
the module's own state dict, and one that holds folded or renamed weights is refused in words.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn

from importer.report import ImportFailure, ImportResult
from importer.trace import TraceFailure


def import_exported(module: nn.Module, example: tuple[torch.Tensor, ...], failure: TraceFailure,
                    verify: bool = True) -> ImportResult | None:
    """The design of ``module`` through torch.export; None when torch.export can't follow it either."""
    from importer.onnx_import import import_onnx
    from importer.verify import verify as check

    read: list[ImportResult] = []
    for optimize in (False, True):
        data = _export(module.eval(), example, optimize)
        if data is None:
            continue
        result = import_onnx(data, verify=False)
        result.source = "torch.export"
        result.param_count = sum(p.numel() for p in module.parameters())
        result.note = f"torch.fx could not follow forward() ({failure.detail}), so torch.export traced it"
        if not verify:
            return result
        # The module's own state dict, by the original's names: a folded BatchNorm or a renamed weight fails here.
        result.verification = check(result.graph, module, int(example[0].shape[0]), example, result.origins, {})
        if result.verification.same and _holds_every_weight(result.verification.note):
            return result
        read.append(result)
    if not read:
        return None
    kept = read[0]  # unoptimised: every layer the module has, even where a block is missing
    if kept.verification is not None and kept.verification.ran and not kept.verification.same and not kept.problems:
        raise ImportFailure(
            failure.what, failure.where,
            f"{failure.detail}; torch.export could follow it, but the design it gives does not take "
            f"{type(module).__name__}'s own state dict ({kept.verification.note})", failure.todo) from None
    return kept


def _holds_every_weight(note: str) -> bool:
    return "no place in the design" not in note


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], optimize: bool) -> bytes | None:
    """The module as ONNX bytes, its batch left free where torch.export allows (so it verifies at another size)."""
    for dynamic in ([{0: torch.export.Dim.AUTO}] * len(example), None):
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter talks
                warnings.simplefilter("ignore")
                torch.onnx.export(module, tuple(example), buffer, dynamic_shapes=dynamic, optimize=optimize)
        except Exception:  # noqa: BLE001 — torch.export can't follow it either: the fx failure is what to report
            continue
        return buffer.getvalue()
    return None
