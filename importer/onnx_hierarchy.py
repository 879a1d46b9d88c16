"""An ONNX import's module tree → blocks made of blocks, with the PyTorch importer's own grouping.

torch.onnx.export keeps each op's module path (in its name, or in its metadata), so the reader knows which
submodule made each design node. The dynamo exporter also records each module's class: uses of one class then share
a definition named after it (``BasicBlock``), as in the PyTorch import. The TorchScript exporter keeps no classes:
uses share a definition when their structure is the same, named after attributes (``Layer1Block``). Nothing here
runs the file's code: the tree is read off names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from builder.graph import Graph
from importer.hierarchy import Hierarchy, build_hierarchy

_CONTAINERS = {f"torch.nn.modules.container.{c.__name__}": c for c in (nn.Sequential, nn.ModuleList, nn.ModuleDict)}


@dataclass
class _ModuleTree:
    """The module tree an ONNX file keeps: class names at most (the dynamo exporter's metadata), no modules.

    A submodule is a stand-in of its class's name, so uses of one class share a definition named after it, as in
    the PyTorch import; where the file names no class, every submodule is unknown (a plain container)."""

    classes: dict[str, str]  # module path -> qualified class name
    _modules: dict[str, Any] = field(default_factory=dict)  # no attribute names are taken

    def get_submodule(self, path: str) -> Any:
        qualified = self.classes.get(path)
        if qualified is None:
            raise AttributeError(path)
        if qualified in _CONTAINERS:
            return _CONTAINERS[qualified]()
        module, _, name = qualified.rpartition(".")
        if not name.isidentifier():
            raise AttributeError(path)
        stand_in = type(name, (), {"__module__": module, "__qualname__": name, "_modules": {}})
        return stand_in()


@dataclass
class _Traced:
    module: _ModuleTree
    calls: dict[str, list] = field(default_factory=dict)
    call_lines: dict[str, str] = field(default_factory=dict)  # module path -> the line that called it (dynamo)


@dataclass
class NameContext:
    """What the grouping reads from a PyTorch trace, read instead off the exported names."""

    origins: dict[str, str]  # node id -> the module it is (a layer: its weights' path)
    scopes: dict[str, str]  # node id -> the module whose forward made it
    hints: dict[str, str]
    traced: _Traced
    env: dict = field(default_factory=dict)


def onnx_hierarchy(flat: Graph, module_of: dict[str, str], classes: dict[str, str],
                   call_lines: dict[str, str] | None = None) -> Hierarchy:
    """``flat``'s nodes grouped by the modules that made them (``module_of``: node id -> module path; ``classes``:
    module path -> class name, where the file has them; ``call_lines``: module path -> the line that called it)."""
    origins = {node: path for node, path in module_of.items() if path and node == path}
    origins |= {n.id: n.id for n in flat.nodes if n.type == "Input"}  # inputs keep the file's names
    scopes = {node: "" if node in origins else path for node, path in module_of.items()}
    traced = _Traced(_ModuleTree(classes), call_lines=call_lines or {})
    context = NameContext(origins, scopes, {n: n for n in module_of}, traced)
    return build_hierarchy(flat, context)
