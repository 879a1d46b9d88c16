"""The graph model: nodes, edges and the graph they make. Plain immutable values.

Edits never mutate a graph; they return a new one (see ``builder.edits``), which makes undo a list of
snapshots and lets the UI compare before and after cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Node:
    """One block on the canvas. ``params`` holds only what the user set; defaults come from the catalog."""

    id: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    pos: tuple[float, float] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "meta", _frozen(self.meta))

    def with_params(self, **changes: Any) -> Node:
        """A copy with some parameters set; a value of None removes the parameter (back to its default)."""
        params = dict(self.params)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return replace(self, params=params)


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from ``source`` into ``target``; ``port`` names which input of the target it feeds."""

    source: str
    target: str
    port: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.target)


@dataclass(frozen=True)
class Graph:
    """A whole design. Node order is meaningful: outputs and several inputs are listed in node order."""

    name: str = "model"
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)  # free-form: training defaults, notes

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(self.edges))
        object.__setattr__(self, "meta", _frozen(self.meta))

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def has_node(self, node_id: str) -> bool:
        return any(n.id == node_id for n in self.nodes)

    def in_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.target == node_id]

    def out_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node_id]

    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Input"]

    def sinks(self) -> list[Node]:
        """The graph's outputs: nodes with no outgoing edge, in node order."""
        sources = {e.source for e in self.edges}
        return [n for n in self.nodes if n.id not in sources and n.type != "Input"]

    def with_nodes(self, nodes: Iterable[Node]) -> Graph:
        return replace(self, nodes=tuple(nodes))

    def with_edges(self, edges: Iterable[Edge]) -> Graph:
        return replace(self, edges=tuple(edges))

    def replace_node(self, node: Node) -> Graph:
        return self.with_nodes(node if n.id == node.id else n for n in self.nodes)
