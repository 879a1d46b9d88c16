"""An ONNX import's module tree → blocks made of blocks, with the PyTorch importer's own grouping.

torch.onnx.export keeps each op's module path in its name, so the reader knows which submodule made each design
node; the file keeps no classes, so uses of submodules share a definition when their structure is the same (as
plain containers do in the PyTorch import) and definitions are named after attributes. Nothing here runs the
file's code: the tree is read off names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.graph import Graph
from builder.importer.hierarchy import Hierarchy, build_hierarchy


class _NoModules:
    """The module tree an ONNX file doesn't carry: every submodule is unknown (so, plain containers)."""

    _modules: dict[str, Any] = {}  # no attribute names are taken

    def get_submodule(self, path: str) -> Any:
        raise AttributeError(path)


@dataclass
class _Traced:
    module: _NoModules = field(default_factory=_NoModules)
    calls: dict[str, list] = field(default_factory=dict)


@dataclass
class NameContext:
    """What the grouping reads from a PyTorch trace, read instead off the exported names."""

    origins: dict[str, str]  # node id -> the module it is (a layer: its weights' path)
    scopes: dict[str, str]  # node id -> the module whose forward made it
    hints: dict[str, str] = field(default_factory=dict)
    traced: _Traced = field(default_factory=_Traced)
    env: dict = field(default_factory=dict)


def onnx_hierarchy(flat: Graph, module_of: dict[str, str]) -> Hierarchy:
    """``flat``'s nodes grouped by the modules that made them (``module_of``: node id -> module path)."""
    origins = {node: path for node, path in module_of.items() if path and node == path}
    origins |= {n.id: n.id for n in flat.nodes if n.type == "Input"}  # inputs keep the file's names
    scopes = {node: "" if node in origins else path for node, path in module_of.items()}
    return build_hierarchy(flat, NameContext(origins, scopes, {n: n for n in module_of}))
