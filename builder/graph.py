"""The graph model: nodes, edges and the graph they make. Plain immutable values.

Edits never mutate a graph; they return a new one (see ``builder.edits``), which makes undo a list of
snapshots and lets the UI compare before and after cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Any

from builder.params import Param

# Blocks that feed the model rather than end it: one that feeds nothing is not an output (validation warns).
SOURCE_TYPES = frozenset({"Input", "Parameter", "Buffer"})


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
    repeat: int = 1  # an instance of a block definition may be repeated ×N in a chain
    when: str | None = None  # inside a definition: present only when this bool parameter is true
    trainable: bool = True  # False: frozen, its weights keep their values while the rest trains (top level only)

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
    """A tensor flowing from ``source`` into ``target``; ``port`` names which input of the target it feeds.

    ``source_port`` names which output of the source it carries, for blocks with several outputs (an LSTM's
    ``h``, a chunk's ``"1"``; see ``builder.catalog.registry.Outputs``); None is the source's main output, the
    only one most blocks have. Format version 3 writes it."""

    source: str
    target: str
    port: str | None = None
    source_port: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.target)


class Container(str, Enum):
    """How a definition becomes code: a module with named layers, or an ``nn.Sequential`` (keys 0, 1, 2, …)."""

    MODULE = "module"
    SEQUENTIAL = "sequential"


PORT = "Port"  # the node type of a definition's inputs; not a catalog block

# A node's ``meta`` key for the module path its layer or block keeps in the generated code, below its class:
# an imported model's ``transformer.wte`` (an nn.ModuleDict), ``layers.0.0`` (nn.ModuleLists) or ``block1-0`` (a
# name that is no identifier), so the original's state dict loads by its own keys. Absent: the id names it.
MODULE_PATH = "module_path"
MAX_MODULE_PATH = 200


# A node's ``meta`` key for the names the model's own code gave its value (``q, k, v = ….split(…)``: one name per
# output; ``k = k.view(…)``: one), read from the traced line by the importer, so the generated forward says ``q``
# where torch.fx only knew ``getitem_1``. Absent: codegen names the value by its flow and its node.
VALUE_NAMES = "value_names"
MAX_VALUE_NAME = 64


def value_names_problem(value: Any) -> str | None:
    """Why ``value`` can't be a node's value names (None when it can): a list of Python identifiers, "" for an
    output the code left unnamed (``out, _ = …``)."""
    if not isinstance(value, list) or not value or len(value) > 64:
        return "must be a list of 1 to 64 names"
    if any(not isinstance(v, str) or len(v) > MAX_VALUE_NAME or (v and not v.isidentifier()) for v in value):
        return f"must hold Python identifiers of at most {MAX_VALUE_NAME} characters (or \"\" for no name)"
    return None


def module_path_problem(value: Any) -> str | None:
    """Why ``value`` can't be a module path (None when it can): dot-separated names as torch's add_module takes
    them — not empty, printable, no dot inside one."""
    if not isinstance(value, str) or not value or len(value) > MAX_MODULE_PATH:
        return f"must be non-empty text of at most {MAX_MODULE_PATH} characters"
    if any(not part or not part.isprintable() for part in value.split(".")):
        return "must be module names joined by dots, each one non-empty and printable"
    return None


@dataclass(frozen=True)
class BlockParam:
    """A parameter of a block definition: the same typed spec as a catalog block's, plus how repeats use it."""

    param: Param
    first_only: bool = False  # in a repeat, only the first copy takes the instance's value; the rest the default

    @property
    def name(self) -> str:
        return self.param.name


@dataclass(frozen=True)
class Definition:
    """A block made of blocks: a named sub-graph used like a catalog block, once or repeated.

    Its inputs are its nodes of type ``Port`` (in node order, named by their ids); its value is the output of
    ``output``. Inner parameters may refer to the definition's parameters (``"$planes"``, ``"$planes * 4"``).
    """

    name: str
    graph: Graph
    params: tuple[BlockParam, ...] = ()
    output: str = ""
    container: Container = Container.MODULE
    doc: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))

    @property
    def inputs(self) -> list[str]:
        return [n.id for n in self.graph.nodes if n.type == PORT]

    def param(self, name: str) -> BlockParam:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.param.default for p in self.params}


@dataclass(frozen=True)
class Graph:
    """A whole design. Node order is meaningful: outputs and several inputs are listed in node order."""

    name: str = "model"
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)  # free-form: training defaults, notes
    definitions: Mapping[str, Definition] = field(default_factory=dict)  # blocks made of blocks, by name

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(self.edges))
        object.__setattr__(self, "meta", _frozen(self.meta))
        object.__setattr__(self, "definitions", _frozen(self.definitions))

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    def _index(self) -> tuple[dict[str, Node], dict[str, list[Edge]], dict[str, list[Edge]]]:
        """Nodes by id and edges by end, built on first use: a graph never changes, and a lookup per node or edge
        scanning the whole graph made drawing a 300-node design quadratic. Not a field: equality ignores it."""
        index = self.__dict__.get("_lookup")
        if index is None:
            ins: dict[str, list[Edge]] = {}
            outs: dict[str, list[Edge]] = {}
            for e in self.edges:
                ins.setdefault(e.target, []).append(e)
                outs.setdefault(e.source, []).append(e)
            nodes: dict[str, Node] = {}
            for n in self.nodes:
                nodes.setdefault(n.id, n)  # the first of a repeated id, as a scan found it (validation reports it)
            index = (nodes, ins, outs)
            object.__setattr__(self, "_lookup", index)
        return index

    def node(self, node_id: str) -> Node:
        return self._index()[0][node_id]  # KeyError(node_id) for an unknown id

    def has_node(self, node_id: str) -> bool:
        return node_id in self._index()[0]

    def in_edges(self, node_id: str) -> list[Edge]:
        return list(self._index()[1].get(node_id, ()))

    def out_edges(self, node_id: str) -> list[Edge]:
        return list(self._index()[2].get(node_id, ()))

    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Input"]

    def sinks(self) -> list[Node]:
        """The graph's outputs: nodes with no outgoing edge, in node order."""
        sources = {e.source for e in self.edges}
        return [n for n in self.nodes if n.id not in sources and n.type not in SOURCE_TYPES]

    def with_nodes(self, nodes: Iterable[Node]) -> Graph:
        return replace(self, nodes=tuple(nodes))

    def with_edges(self, edges: Iterable[Edge]) -> Graph:
        return replace(self, edges=tuple(edges))

    def with_definition(self, definition: Definition) -> Graph:
        return replace(self, definitions={**self.definitions, definition.name: definition})

    def replace_node(self, node: Node) -> Graph:
        return self.with_nodes(node if n.id == node.id else n for n in self.nodes)
