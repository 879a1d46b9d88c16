"""The project file format, version 1: reading with one clear line per problem, and writing.

Reading is strict: unknown keys, unknown block types and bad parameter values are reported, never dropped.
Shape problems are not format problems; they are issues found by ``builder.validate``.
See docs/format.md for the contract and builder/schema/layerlab-3.schema.json for the schema.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builder.catalog import all_blocks
from builder.catalog.registry import BlockSpec
from builder.graph import (MODULE_PATH, VALUE_NAMES, Definition, Edge, Graph, Node, module_path_problem,
                           value_names_problem)
from builder.params import ParamError
from builder.project_defs import Scope, read_definitions, read_repeat, read_trainable, read_when

# The writer (builder.project_write) is the other half of the format: callers reach both from here.
from builder.project_write import FORMAT_VERSION, dump_edge, dump_node, dump_project, to_json  # noqa: F401
from builder.refs import is_ref
from builder.settings import settings

# The defaults of LAYERLAB_MAX_FILE_BYTES and LAYERLAB_MAX_NODES (builder.settings); the limits in force are
# read from the settings on each call, so a classroom server can lower them.
MAX_FILE_BYTES = 5_000_000
MAX_NODES = 1000
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 100
MAX_META_BYTES = 10_000

# Tuples, in the order the docs list them (messages name them in this order).
TOP_KEYS = ("layerlab", "name", "description", "nodes", "edges", "meta", "definitions")
NODE_KEYS = ("id", "type", "params", "pos", "meta", "repeat", "when", "trainable")
EDGE_KEYS = ("source", "target", "port", "source_port")


def _keys(keys: tuple[str, ...]) -> str:
    return ", ".join(keys)


class ProjectError(ValueError):
    """A project file that can't be read; ``problems`` has one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _suggest(word: str, options: list[str] | set[str]) -> str:
    match = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _suggest_type(word: str, scope: Scope) -> str:
    """Close spellings first (Conv2D → Conv2d), then other libraries' names from the aliases (Dense → Linear)."""
    if word == "Input" and scope.params is not None:
        return " (inside a block definition, its inputs are nodes of type 'Port')"
    blocks = all_blocks()
    for block in blocks:
        if word.lower() == block.type.lower() or word.lower() in (a.lower() for a in block.aliases):
            return f" (did you mean {block.type!r}?)"
    return _suggest(word, {b.type for b in blocks} | set(scope.definitions))


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text with a size limit; raises ProjectError with the line and column of a syntax error."""
    limit = settings().max_file_bytes
    if len(text) > limit:
        raise ProjectError([f"the file is {len(text):,} bytes; the limit is {limit:,}"])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ProjectError([f"the file is not UTF-8 text (byte {err.start})"]) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise ProjectError([f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"]) from None
    except (ValueError, RecursionError) as err:
        raise ProjectError([f"not valid JSON: {err}"]) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a project file")


def load_shipped(path: Path, library: bool = True) -> Graph:
    """A design file that ships with LayerLab (a template, a library block). The size limit guards the server
    against users' files; applied here, a classroom's small limit made the palette fail on its own library."""
    return load_project(json.loads(path.read_text(encoding="utf-8")), library=library)


def load_project(source: str | bytes | Mapping[str, Any], library: bool = True) -> Graph:
    """Read a project from JSON text or an already-parsed object. Raises ProjectError listing every problem.

    A node may use a block of the built-in library (``builder.library``) without the file defining it; the
    definition is then copied into the design, so saving it makes the file whole (``library=False`` to refuse)."""
    data = parse_json(source) if isinstance(source, (str, bytes)) else source
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ProjectError([f"a project file must be a JSON object, not {type(data).__name__}"])
    _check_version(data.get("layerlab"), problems)
    if problems:  # a wrong version makes the rest meaningless
        raise ProjectError(problems)
    _check_header(data, problems)
    _check_unicode(data, problems)  # text that can't be saved again would fail later, far from its cause
    if "definitions" in data and data.get("layerlab") == 1:
        problems.append('"definitions" (blocks made of blocks) need "layerlab": 2')
    _check_source_ports_version(data, problems)
    definitions = read_definitions(data.get("definitions", {}), _used_types(data), problems, _read_graph,
                                   _library_blocks if library else None)
    failed = set(data["definitions"]) - set(definitions) if isinstance(data.get("definitions"), Mapping) else set()
    nodes, edges = _read_graph(data, Scope("", definitions, failed=failed), problems)
    if problems:
        raise ProjectError(problems)
    name = data.get("name", "model")
    return Graph(name=name, nodes=tuple(nodes), edges=tuple(edges), description=data.get("description", ""),
                 meta=data.get("meta", {}), definitions=definitions)


def _read_graph(data: Mapping[str, Any], scope: Scope, problems: list[str]) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges of the design or of one definition."""
    nodes, all_ids = _read_nodes(data.get("nodes"), problems, scope)
    edges: list[Edge] = []
    if isinstance(data.get("nodes"), list) and len(data["nodes"]) <= settings().max_nodes:  # else every edge would dangle
        edges = _read_edges(data.get("edges", []), {n.id: n for n in nodes}, all_ids, problems, scope)
    return nodes, edges


def _library_blocks(name: str) -> Mapping[str, Definition]:
    from builder.library import library_definitions  # the library's files are themselves read by this module

    return library_definitions(name)


def _used_types(data: Mapping[str, Any]) -> set[str]:
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        return set()
    return {item["type"] for item in nodes if isinstance(item, Mapping) and isinstance(item.get("type"), str)}


def _check_header(data: Mapping[str, Any], problems: list[str]) -> None:
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"unknown top-level key {key!r}{_suggest(str(key), TOP_KEYS)}; "
                            f"the top level has {_keys(TOP_KEYS)}")
    _check_fields(data, problems)


def _check_unicode(data: Mapping[str, Any], problems: list[str]) -> None:
    """Refuse lone surrogates (JSON's "\\ud800"): Python reads them, but no UTF-8 file, download or generated
    module can hold them, so saving or exporting the design would fail."""
    try:  # the common case in one C-speed pass; the walk below only runs to say where the bad text is
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        return
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError; non-JSON values too
        pass
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, Mapping):
            texts = [k for k in value if isinstance(k, str)]
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            texts = []
            stack.extend((f"{where}[{k}]", v) for k, v in enumerate(value))
        else:
            continue
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                char = f"\\u{ord(text[err.start]):04x}"
                problems.append(f"{where or 'the file'}: the text holds {char}, half of a character pair that is "
                                "not valid Unicode; remove it")
                return


def _check_version(version: Any, problems: list[str]) -> None:
    if version is None:
        problems.append('missing "layerlab": 1 (the format version) at the top level')
    elif not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f'"layerlab" must be the format version number 1, 2 or 3, not {version!r}')
    elif version > FORMAT_VERSION:
        problems.append(
            f"this file uses format version {version}; this LayerLab reads version {FORMAT_VERSION}: update LayerLab"
        )


def _check_fields(data: Mapping[str, Any], problems: list[str]) -> None:
    for key, limit in (("name", MAX_NAME_LENGTH), ("description", 2000)):
        value = data.get(key, "")
        if not isinstance(value, str):
            problems.append(f'"{key}" must be text, not {type(value).__name__}')
        elif len(value) > limit:
            problems.append(f'"{key}" is {len(value)} characters; the limit is {limit}')
    meta = data.get("meta", {})
    if not isinstance(meta, Mapping) or len(json.dumps(meta, default=str)) > 10 * MAX_META_BYTES:
        problems.append(f'"meta" must be an object of at most {10 * MAX_META_BYTES:,} bytes')
    if not isinstance(data.get("nodes"), list):
        problems.append('"nodes" must be a list of nodes')
    if not isinstance(data.get("edges", []), list):
        problems.append('"edges" must be a list of edges')


def _read_nodes(raw: Any, problems: list[str], scope: Scope) -> tuple[list[Node], set[str]]:
    """The readable nodes, and every id mentioned (so edges to a node with a bad type aren't reported twice)."""
    if not isinstance(raw, list):
        return [], set()
    limit = settings().max_nodes
    if len(raw) > limit:
        problems.append(f"the graph has {len(raw)} nodes; the limit is {limit}")
        return [], set()
    nodes: list[Node] = []
    seen: set[str] = set()
    mentioned = {item.get("id") for item in raw if isinstance(item, Mapping) and isinstance(item.get("id"), str)}
    for index, item in enumerate(raw):
        node = _read_node(index, item, problems, scope)
        if node is None:
            continue
        if node.id in seen:
            problems.append(f"nodes[{index}]: the id {node.id!r} is used twice; ids must be unique")
            continue
        seen.add(node.id)
        nodes.append(node)
    return nodes, mentioned


def _read_node(index: int, item: Any, problems: list[str], scope: Scope) -> Node | None:
    where = f"{scope.where}nodes[{index}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object with an id and a type")
        return None
    for key in item:
        if key not in NODE_KEYS:
            problems.append(f"{where}: unknown key {key!r}{_suggest(str(key), NODE_KEYS)}; "
                            f"a node has {_keys(NODE_KEYS)}")
    node_id, type_name = item.get("id"), item.get("type")
    if not isinstance(node_id, str) or not node_id.strip() or len(node_id) > MAX_ID_LENGTH:
        problems.append(f"{where}: the id must be non-empty text of at most {MAX_ID_LENGTH} characters, not {node_id!r}")
        return None
    where = f"{where} ({node_id!r})"
    block = scope.block(type_name) if isinstance(type_name, str) else None
    if block is None and isinstance(type_name, str) and type_name in scope.failed:
        return None  # its definition could not be read, and said why
    if block is None:
        hint = _suggest_type(type_name, scope) if isinstance(type_name, str) else ""
        problems.append(f"{where}: unknown block type {type_name!r}{hint}")
        return None
    params = _read_params(where, block, item.get("params", {}), problems, scope)
    pos = _read_pos(where, item.get("pos"), problems)
    meta = item.get("meta", {})
    if not isinstance(meta, Mapping) or len(json.dumps(meta, default=str)) > MAX_META_BYTES:
        problems.append(f"{where}: meta must be an object of at most {MAX_META_BYTES:,} bytes")
        meta = {}
    if MODULE_PATH in meta and (why := module_path_problem(meta[MODULE_PATH])) is not None:
        problems.append(f"{where}: meta.{MODULE_PATH} {why}, not {meta[MODULE_PATH]!r}")
    if VALUE_NAMES in meta and (why := value_names_problem(meta[VALUE_NAMES])) is not None:
        problems.append(f"{where}: meta.{VALUE_NAMES} {why}, not {str(meta[VALUE_NAMES])[:80]!r}")
    repeat = read_repeat(where, item.get("repeat", 1), type_name in scope.definitions, problems)
    when = read_when(where, item.get("when"), scope, problems)
    trainable = read_trainable(where, item.get("trainable", True), scope, problems)
    return Node(id=node_id, type=type_name, params=params or {}, pos=pos, meta=meta, repeat=repeat, when=when,
                trainable=trainable)


def _read_params(where: str, block: BlockSpec, raw: Any, problems: list[str], scope: Scope) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: params must be an object, not {type(raw).__name__}")
        return None
    if block.old_spellings is not None:
        raw = block.old_spellings(raw)
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in block.param_names:
            known = ", ".join(block.param_names) or "none"
            problems.append(
                f"{where}: {block.type} has no parameter {name!r}{_suggest(str(name), set(block.param_names))}; "
                f"its parameters: {known}"
            )
            continue
        if is_ref(value):
            if scope.check_ref(where, f"{block.type} {name}", value, problems):
                params[name] = value
            continue
        try:
            params[name] = block.param(name).check(value)
        except ParamError as err:
            problems.append(f"{where}: {block.type} {err}")
        except OverflowError:  # an integer beyond any float, such as 1 followed by 400 zeros
            problems.append(f"{where}: {block.type} {name} is far too large a number")
    return params


def _read_pos(where: str, raw: Any, problems: list[str]) -> tuple[float, float] | None:
    if raw is None:
        return None
    ok = (
        isinstance(raw, (list, tuple))
        and len(raw) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in raw)
    )
    if not ok:
        problems.append(f"{where}: pos must be [x, y] numbers, not {raw!r}")
        return None
    return (float(raw[0]), float(raw[1]))


def _read_edges(raw: Any, nodes: dict[str, Node], mentioned: set[str], problems: list[str],
                scope: Scope) -> list[Edge]:
    if not isinstance(raw, list):
        return []
    edges: list[Edge] = []
    seen: set[tuple[str, str, str | None]] = set()
    for index, item in enumerate(raw):
        edge = _read_edge(f"{scope.where}edges[{index}]", item, nodes, mentioned, problems, scope)
        if edge is None:
            continue
        key = (edge.source, edge.target, edge.port, edge.source_port)
        if key in seen:
            problems.append(f"{scope.where}edges[{index}]: the edge {edge.source!r} → {edge.target!r} appears twice")
            continue
        seen.add(key)
        edges.append(edge)
    return edges


def _read_edge(where: str, item: Any, nodes: dict[str, Node], mentioned: set[str], problems: list[str],
               scope: Scope) -> Edge | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object with a source and a target")
        return None
    for key in item:
        if key not in EDGE_KEYS:
            problems.append(f"{where}: unknown key {key!r}{_suggest(str(key), EDGE_KEYS)}; "
                            f"an edge has {_keys(EDGE_KEYS)}")
    source, target, port = item.get("source"), item.get("target"), item.get("port")
    source_port = item.get("source_port")
    bad = False
    for role, value in (("source", source), ("target", target)):
        if isinstance(value, str) and value in mentioned and value not in nodes:
            bad = True  # the node itself was reported
        elif not isinstance(value, str) or value not in nodes:
            problems.append(f"{where}: the {role} {value!r} is not a node id{_suggest(str(value), set(nodes))}")
            bad = True
    if bad:
        return None
    if port is not None:
        problem = port_problem(scope.block(nodes[target].type), port)
        if problem:
            problems.append(f"{where} ({source!r} → {target!r}): {problem}")
            return None
    if source_port is not None:
        problem = source_port_problem(scope.block(nodes[source].type), nodes[source], source_port)
        if problem:
            problems.append(f"{where} ({source!r} → {target!r}): {problem}")
            return None
    return Edge(source, target, port, source_port)


def source_port_problem(block: BlockSpec, node: Node, source_port: Any) -> str | None:
    """None if ``source_port`` names an output the source node has (for its parameters), else a message."""
    if not isinstance(source_port, str):
        return f"source_port must be the name of an output of {node.id!r}, not {source_port!r}"
    if block.outputs is None:
        return (f"{node.id!r} ({node.type}) has one output, so source_port {source_port!r} names nothing; "
                "leave source_port out")
    if any(is_ref(v) for v in node.params.values()):
        return None  # inside a block its outputs depend on the block's settings: checked once they are known
    names = block.outputs({**block.defaults(), **node.params}).names
    if source_port not in names:
        return f"{node.id!r} ({node.type}) has no output {source_port!r}; its outputs: {', '.join(names)}"
    return None


def _check_source_ports_version(data: Mapping[str, Any], problems: list[str]) -> None:
    """An edge that reads a named output needs format version 3: an older file can't have meant one."""
    version = data.get("layerlab")
    if not isinstance(version, int) or version >= 3:
        return
    graphs = [data, *(d for d in data["definitions"].values() if isinstance(d, Mapping))] \
        if isinstance(data.get("definitions"), Mapping) else [data]
    for graph in graphs:
        edges = graph.get("edges")
        if isinstance(edges, list) and any(isinstance(e, Mapping) and "source_port" in e for e in edges):
            problems.append(f'an edge has "source_port" (it reads a named output of a block), which needs '
                            f'"layerlab": 3; this file says {version}')
            return


def port_problem(block: BlockSpec, port: Any) -> str | None:
    """None if ``port`` is a valid port name for ``block``, else a message."""
    if not block.ports:
        return f"{block.type} takes no inputs"
    variadic = block.ports[0].variadic
    if variadic:
        if isinstance(port, str) and port.isdigit() and 1 <= int(port) <= 64:
            return None
        return f"{block.type} ports are input numbers '1', '2', …; got {port!r}"
    names = [p.name for p in block.ports]
    if port not in names:
        return f"{block.type} has no port {port!r}; its ports: {', '.join(names)}"
    return None

