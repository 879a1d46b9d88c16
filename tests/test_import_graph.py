"""The house's layering, read from the code: every import between LayerLab's top-level packages points down.

    ui, cli -> export, importer -> training, data -> codegen -> builder        (shared/DESIGN.md)

Inside ``ui/`` the same holds between its rooms, one per screen (UI_ROOM below): every module lives in a room, and
imports between rooms point down, never in a circle.

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


# ui's rooms, one per screen, and how high each sits: a room may import only rooms below it (and ui.common).
UI_ROOM = {"project": 5, "gallery": 4, "code": 3, "design": 3, "train": 2, "common": 0}


def _ui_graph() -> nx.DiGraph:
    """ui's rooms, an edge for each import from one room into another (with where it is)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(UI_ROOM)
    for path in (REPO / "ui").rglob("*.py"):
        if "node_modules" in path.parts or path.parent == REPO / "ui":
            continue
        room = path.relative_to(REPO / "ui").parts[0]
        for module, line in _imported(path):
            parts = module.split(".")
            if parts[0] == "ui" and len(parts) > 1 and parts[1] != room:
                graph.add_edge(room, parts[1])
                graph[room][parts[1]].setdefault("where", []).append(f"{path.relative_to(REPO)}:{line}")
    return graph


def test_every_ui_module_lives_in_a_room() -> None:
    loose = sorted(p.name for p in (REPO / "ui").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"ui/ modules outside a room (ui/<room>/): {loose}"
    rooms = {p.parent.name for p in (REPO / "ui").glob("*/__init__.py")}
    assert rooms == set(UI_ROOM), f"rooms on disk {sorted(rooms)} vs UI_ROOM {sorted(UI_ROOM)}"


def test_no_circle_between_ui_rooms() -> None:
    graph = _ui_graph()
    assert graph.has_edge("design", "train")  # the test can fail: the inspector shows a run's health and insides
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import circles between ui rooms: " + "; ".join(
        " -> ".join([*c, c[0]]) + " (" + ", ".join(graph[c[0]][c[1 % len(c)]]["where"][:3]) + ")" for c in cycles)
    unknown = sorted(set(graph) - set(UI_ROOM))
    assert not unknown, f"imports of ui packages that are no room: {unknown}"
    upward = [f"{a} -> {b} at {', '.join(d['where'][:3])}" for a, b, d in graph.edges(data=True)
              if UI_ROOM[b] >= UI_ROOM[a]]
    assert not upward, "ui imports that point up (or across) the rooms: " + "; ".join(upward)
