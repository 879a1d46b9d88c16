"""Writing a project file: the design as JSON with only the keys that carry information (the reader is
``builder.project``). Each file gets the lowest version that can say it, so older releases open what they can:
version 1 for a plain design, 2 with block definitions, 3 where an edge reads a named output (``source_port``) or
a node is frozen (``"trainable": false``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from builder.graph import BlockParam, Container, Definition, Edge, Graph, Node

FORMAT_VERSION = 3  # 2 adds block definitions, 3 edges that read a named output of a block and frozen nodes


def format_version(graph: Graph) -> int:
    """The lowest version that can hold ``graph``."""
    graphs = [graph, *(d.graph for d in graph.definitions.values())]
    if any(e.source_port is not None for g in graphs for e in g.edges):
        return 3
    if any(not n.trainable for g in graphs for n in g.nodes):  # an older release refuses the key
        return 3
    return 2 if graph.definitions else 1


def dump_project(graph: Graph) -> dict[str, Any]:
    """The project as a JSON-ready dict, with only the keys that carry information."""
    data: dict[str, Any] = {"layerlab": format_version(graph), "name": graph.name}
    if graph.description:
        data["description"] = graph.description
    if graph.meta:
        data["meta"] = _plain(graph.meta)
    if graph.definitions:
        data["definitions"] = {name: dump_definition(d) for name, d in graph.definitions.items()}
    data["nodes"] = [dump_node(n) for n in graph.nodes]
    data["edges"] = [dump_edge(e) for e in graph.edges]
    return data


def dump_node(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "type": node.type}
    if node.params:
        out["params"] = dict(node.params)
    if node.repeat != 1:
        out["repeat"] = node.repeat
    if node.when is not None:
        out["when"] = node.when
    if not node.trainable:  # written only when frozen: a file without it reads as before
        out["trainable"] = False
    if node.pos is not None:
        out["pos"] = [round(node.pos[0], 1), round(node.pos[1], 1)]
    if node.meta:
        out["meta"] = _plain(node.meta)
    return out


def dump_edge(edge: Edge) -> dict[str, Any]:
    out = {"source": edge.source, "target": edge.target}
    if edge.port is not None:
        out["port"] = edge.port
    if edge.source_port is not None:
        out["source_port"] = edge.source_port
    return out


def _plain(value: Any) -> Any:
    """Mapping proxies and tuples back to plain JSON types."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump_definition(definition: Definition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if definition.doc:
        out["doc"] = definition.doc
    out["params"] = [_dump_param(p) for p in definition.params]
    out["output"] = definition.output
    if definition.container is not Container.MODULE:
        out["container"] = definition.container.value
    out["nodes"] = [dump_node(n) for n in definition.graph.nodes]
    out["edges"] = [dump_edge(e) for e in definition.graph.edges]
    return out


def _dump_param(block_param: BlockParam) -> dict[str, Any]:
    p = block_param.param
    out: dict[str, Any] = {"name": p.name, "kind": p.kind.value, "default": p.default}
    for key in ("minimum", "maximum"):
        if getattr(p, key) is not None:
            out[key] = getattr(p, key)
    if p.choices:
        out["choices"] = list(p.choices)
    if p.doc:
        out["doc"] = p.doc
    if block_param.first_only:
        out["first_only"] = True
    return out


def to_json(graph: Graph, indent: int | None = 2) -> str:
    return json.dumps(dump_project(graph), indent=indent, ensure_ascii=False)
