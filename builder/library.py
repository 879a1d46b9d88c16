"""The built-in block library: blocks made of blocks, shipped as small project files in assets/blocks/.

Each file is a design whose ``definitions`` hold one library block (named like the file) and the blocks it uses,
with a tiny example that uses it, so every library block can be opened, validated and trained like a design.
Adding a library block to a design copies its definitions into the design: edits inside change that design only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from builder.graph import Definition, Graph
from builder.project import load_shipped

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "assets" / "blocks"


@dataclass(frozen=True)
class LibraryBlock:
    name: str
    doc: str
    uses: tuple[str, ...]  # the other definitions it brings along


def library_names() -> list[str]:
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.json"))


@cache
def library_design(name: str) -> Graph:
    """The library file of ``name`` as a design (its example use)."""
    return load_shipped(LIBRARY_DIR / f"{name}.json", library=False)


def library_definitions(name: str) -> dict[str, Definition]:
    """``name``'s definition and every definition it uses; empty when the library has no such block."""
    if name not in library_names():
        return {}
    return dict(library_design(name).definitions)


def library_blocks() -> list[LibraryBlock]:
    blocks = []
    for name in library_names():
        definitions = library_design(name).definitions
        blocks.append(LibraryBlock(name, definitions[name].doc, tuple(n for n in definitions if n != name)))
    return blocks


def add_library_block(graph: Graph, name: str) -> Graph:
    """``graph`` with the library block ``name`` (and what it uses) defined, keeping the design's own versions."""
    definitions = {**library_definitions(name), **graph.definitions}
    return Graph(graph.name, graph.nodes, graph.edges, graph.description, graph.meta, definitions)


def unchanged_library_blocks(graph: Graph) -> set[str]:
    """Definitions of ``graph`` identical to the library's, which a reader can restore from the library alone.

    A library block counts only with everything it uses unchanged too, and only when the design uses it directly
    (the reader restores library blocks from the types of the design's own nodes)."""
    used = {n.type for n in graph.nodes if n.type in graph.definitions}
    unchanged: set[str] = set()
    for name in used:
        library = library_definitions(name)
        if library and all(graph.definitions.get(k) == d for k, d in library.items()):
            unchanged.update(library)
    needed = {n.type for d in graph.definitions.values() if d.name not in unchanged for n in d.graph.nodes}
    return unchanged - needed
