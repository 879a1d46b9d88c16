"""Prove an ONNX import: the design rebuilt from its generated code, given the file's weights, against
onnxruntime running the file itself, on a fresh random batch (of another size than shapes were inferred at)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from importer.report import Verification
from importer.verify import TOLERANCE, carry_weights, rebuild

# Where the file leaves the batch free: a size neither exported with (usually 1 or 2) nor inferred at (3), so a
# batch size baked into the design would show.
VERIFY_BATCH = 5


def verify_onnx(graph: Any, data: bytes, state: dict[str, np.ndarray], batch: int | None) -> Verification:
    import onnxruntime

    batch = batch or VERIFY_BATCH
    built = rebuild(graph, batch)
    if isinstance(built, Verification):
        return built
    source, rebuilt = built
    original = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}  # a writable copy
    try:
        filled, _ = carry_weights(source, rebuilt, original, {n: n for n in source.module_paths}, {})
        rebuilt.load_state_dict(filled, strict=True)
    except RuntimeError as err:  # a weight of another shape: words, as for a PyTorch import (verify.verify)
        return Verification(True, False, None, batch, f"differs: the file's weights don't fit the design "
                            f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})")
    inputs = _fresh(source, batch)
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        feeds = {meta.name: value.numpy() for meta, value in zip(session.get_inputs(), inputs)}
        expected = session.run(None, feeds)
    except Exception as err:  # noqa: BLE001 — the file itself doesn't run: say so, the design is still there
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return Verification(False, False, None, batch, f"not verified: onnxruntime can't run the file ({first})")
    with torch.no_grad():
        got = rebuilt(*inputs)
    got = [t.numpy() for t in (got if isinstance(got, (tuple, list)) else [got])]
    if len(got) != len(expected) or any(a.shape != b.shape for a, b in zip(expected, got)):
        return Verification(True, False, None, batch, f"differs: the file returns {[a.shape for a in expected]}, "
                            f"the design {[b.shape for b in got]}")
    diff = max(float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) for a, b in zip(expected, got))
    same = diff <= TOLERANCE
    note = f"verified — same outputs as onnxruntime at batch size {batch} (max diff {diff:.2g})" if same else \
        f"differs from onnxruntime: max abs difference {diff:.3g} at batch size {batch}, over the {TOLERANCE:g} rule"
    if not same and diff < 1e-3:  # no layer is wrong by this little: the two runtimes' float sums part over depth
        note += ("; a difference this small is float rounding adding up differently over a deep network, not a "
                 "wrong layer: check the design on your own data, or import the PyTorch module "
                 "(layerlab import model.py:Class), which is verified against the original itself")
    return Verification(True, same, diff, batch, note)


def _fresh(source: Any, batch: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for item in source.inputs:
        shape = (batch, *item.shape)
        if item.dtype == "long":
            out.append(torch.randint(0, max(2, item.high), shape, generator=generator))
        else:
            out.append(torch.randn(shape, generator=generator))
    return out
