"""The modern deployable export: a ``torch.export`` ExportedProgram, written with ``torch.export.save`` (.pt2).

The batch dimension is dynamic where the model allows it: ``Dim.AUTO`` lets torch keep it symbolic unless the
model's code fixes it (then the program takes the example's batch size only, and ``batch_is_dynamic`` says so).
A model torch.export can't capture raises ExportError with torch's reason in one line.
Load it with ``torch.export.load(path).module()``; TorchScript (``torch.jit``) is the legacy alternative.
"""

from __future__ import annotations

import io
import warnings
import zipfile

import torch
from torch import nn

from codegen.loader import example_batch
from codegen.source import ModelSource

EXAMPLE_BATCH = 2  # torch specializes sizes 0 and 1, so the example batch that traces a dynamic batch is 2
BATCH_KEY = "layerlab_batch"  # an extra file saying whether the batch is dynamic, read without loading anything


class Pt2Error(ValueError):
    """torch.export could not capture the model: ``reason`` is torch's message, shortened to one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def exported_program(module: nn.Module, args: tuple[torch.Tensor, ...]) -> torch.export.ExportedProgram:
    """The model captured by ``torch.export.export`` on ``args``, with a batch dimension torch may keep dynamic."""
    dynamic = tuple({0: torch.export.Dim.AUTO} for _ in args)
    try:
        with warnings.catch_warnings():
            # torch.export warns about every op it decomposes; the capture either works or raises
            warnings.simplefilter("ignore", UserWarning)
            return torch.export.export(module.eval(), args, dynamic_shapes=dynamic, strict=False)
    except Exception as err:  # torch raises many types here (Unsupported, UserError, TypeError, ...)
        raise Pt2Error(_first_line(err)) from None


def batch_is_dynamic(program: torch.export.ExportedProgram) -> bool:
    """Whether every input's batch dimension stayed symbolic (any batch size runs), not fixed to the example's
    (a size torch specialized may still be a SymInt, with a constant value)."""
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    inputs = set(program.graph_signature.user_inputs)
    shapes = [node.meta["val"].shape for node in program.graph.nodes if node.op == "placeholder"
              and node.name in inputs]
    return bool(shapes) and all(len(s) > 0 and not is_concrete_int(s[0]) for s in shapes)


def pt2_bytes(module: nn.Module, source: ModelSource, extra_files: dict[str, str]) -> bytes:
    """The .pt2 archive (a zip); ``extra_files`` travel in it as text (the weights label), with BATCH_KEY."""
    program = exported_program(module, example_batch(source, EXAMPLE_BATCH))
    batch = "any batch size" if batch_is_dynamic(program) else f"batch size {EXAMPLE_BATCH} only (the model fixes it)"
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={**extra_files, BATCH_KEY: batch})
    return buffer.getvalue()


def batch_note(data: bytes) -> str | None:
    """What a .pt2 file written here says about its batch ("any batch size"); None when it says nothing."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next((n for n in archive.namelist() if n.endswith(f"/extra/{BATCH_KEY}")), None)
        return archive.read(name).decode("utf-8") if name else None


def _first_line(err: Exception) -> str:
    text = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
