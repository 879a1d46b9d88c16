"""The house's layering, read from the code: every import between LayerLab's top-level packages points down.

    ui, cli -> export, importer -> training, data -> codegen -> builder        (shared/DESIGN.md)

Imports are parsed with ``ast`` from every module, those inside functions too (a lazy import is still a
dependency), so a circle can't hide behind "it is only imported when needed".
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("builder", "codegen", "training", "data", "importer", "export", "cli", "ui")
# How high each package sits; an import may only point to a lower layer, or across one layer without a circle.
LAYER = {"builder": 0, "codegen": 1, "training": 2, "data": 2, "importer": 3, "export": 3, "cli": 4, "ui": 4,
         "app": 5}


def _modules() -> dict[Path, str]:
    """Each Python file of the packages (and app.py) -> the top-level package it belongs to."""
    found = {path: package for package in PACKAGES for path in (REPO / package).rglob("*.py")
             if "node_modules" not in path.parts}
    found[REPO / "app.py"] = "app"
    return found


def _imported(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
    return out


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from([*PACKAGES, "app"])
    for path, package in _modules().items():
        for module, line in _imported(path):
            target = module.split(".")[0]
            if target in LAYER and target != package:
                where = f"{path.relative_to(REPO)}:{line}"
                if graph.has_edge(package, target):
                    graph[package][target]["where"].append(where)
                else:
                    graph.add_edge(package, target, where=[where])
    return graph


def test_the_parser_sees_lazy_imports() -> None:
    """The test can fail: an import inside a function counts as much as one at the top."""
    found = dict(_imported(REPO / "codegen" / "loader.py"))
    assert "codegen.seeding" in found  # imported inside build_model
    assert _graph().has_edge("export", "training")  # the script generator reads training's code


def test_no_circle_between_top_level_packages() -> None:
    graph = _graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import circles: " + "; ".join(
        " -> ".join([*c, c[0]]) + " (" + ", ".join(graph[c[0]][c[1 % len(c)]]["where"][:3]) + ")" for c in cycles)


def test_every_import_points_down_the_layers() -> None:
    graph = _graph()
    upward = [f"{a} -> {b} at {', '.join(data['where'][:3])}" for a, b, data in graph.edges(data=True)
              if LAYER[b] > LAYER[a]]
    assert not upward, "imports that point up the layers: " + "; ".join(upward)


@pytest.mark.parametrize("forbidden", ["torch", "streamlit"])
def test_builder_imports_neither_torch_nor_streamlit(forbidden: str) -> None:
    hits = [f"{path.relative_to(REPO)}:{line} imports {module}" for path, package in _modules().items()
            if package == "builder" for module, line in _imported(path) if module.split(".")[0] == forbidden]
    assert not hits, "builder/ must stay pure Python: " + "; ".join(hits)
