"""Import generated source from a real file, so what trains is exactly what the user can export.

torch.jit.script needs real source files (classes made with exec() fail), and a file on disk also makes
tracebacks point at readable lines.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from codegen.source import ModelSource

_DIRECTORY: Path | None = None


def generated_dir() -> Path:
    """A per-process directory for generated modules (created on first use)."""
    global _DIRECTORY
    if _DIRECTORY is None:
        _DIRECTORY = Path(tempfile.mkdtemp(prefix="layerlab_models_"))
    return _DIRECTORY


def import_source(code: str, stem: str = "model", directory: Path | None = None) -> ModuleType:
    """Write ``code`` to ``<directory>/<stem>_<hash>.py`` and import it under a unique module name."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    name = f"layerlab_generated_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = (directory or generated_dir()) / f"{stem}_{digest}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and torch.jit look the module up by name
    spec.loader.exec_module(module)
    return module


def build_model(source: ModelSource, seed: int | None = None) -> nn.Module:
    """An instance of the generated class (seeded for reproducible initial weights when ``seed`` is given)."""
    module = import_source(source.code, source.class_name.lower())
    if seed is None:
        return getattr(module, source.class_name)()
    from codegen.seeding import (
        seeded,  # the lock training runs hold while they draw from the global generator
    )

    with seeded(seed):
        return getattr(module, source.class_name)()


def example_batch(source: ModelSource, batch_size: int = 2) -> tuple[torch.Tensor, ...]:
    module = import_source(source.code, source.class_name.lower())
    return module.example_inputs(batch_size)
