"""When torch.fx can't follow forward(), torch.export often can: ``len(x)``, unpacking a tensor, Python that looks
at sizes. torch's ONNX exporter runs torch.export and writes the graph with each op's module path and class, so the
model is exported in memory and read by the ONNX reader — module tree, classes, LSTMs and attention included — and
the design is then verified against the original module itself, at another batch size than the one exported.

Weights come from the exported graph (keyed by the design's layers), not from the module's state dict: the exporter
may fold a BatchNorm into the convolution before it, so the design can hold fewer layers than the module.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn

from importer.report import ImportResult
from importer.trace import TraceFailure


def import_exported(module: nn.Module, example: tuple[torch.Tensor, ...], failure: TraceFailure,
                    verify: bool = True) -> ImportResult | None:
    """The design of ``module`` through torch.export; None when torch.export can't follow it either."""
    from importer.onnx_import import import_onnx
    from importer.verify import verify as check

    data = _export(module.eval(), example)
    if data is None:
        return None
    result = import_onnx(data, verify=False)
    result.source = "torch.export"
    result.param_count = sum(p.numel() for p in module.parameters())
    result.note = f"torch.fx could not follow forward() ({failure.detail}), so torch.export traced it"
    if verify:
        weights = {k: torch.from_numpy(v.copy()) for k, v in (result.state or {}).items()}
        result.verification = check(result.graph, module, int(example[0].shape[0]), example, result.origins, {},
                                    weights=weights)
    return result


def _export(module: nn.Module, example: tuple[torch.Tensor, ...]) -> bytes | None:
    """The module as ONNX bytes, its batch left free where torch.export allows (so it verifies at another size)."""
    for dynamic in ([{0: torch.export.Dim.AUTO}] * len(example), None):
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter talks
                warnings.simplefilter("ignore")
                torch.onnx.export(module, tuple(example), buffer, dynamic_shapes=dynamic)
        except Exception:  # noqa: BLE001 — torch.export can't follow it either: the fx failure is what to report
            continue
        return buffer.getvalue()
    return None
