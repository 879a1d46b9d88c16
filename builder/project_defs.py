"""Format version 2: reading and writing block definitions (blocks made of blocks) in a project file.

A definition is written like a small design — ``nodes`` and ``edges`` — plus the parameters it declares, the id of
the node whose value it returns, and how it becomes code. ``builder.project`` reads the design itself and hands the
reading of each definition's graph back through ``read_graph``, so both use one reader; it also writes them.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from builder.blocks import PORT_SPEC, definition_order, definition_spec, unused_output
from builder.catalog import get_block, has_block
from builder.catalog.registry import BlockSpec
from builder.graph import PORT, BlockParam, Container, Definition, Edge, Graph, Node
from builder.params import Kind, Param, ParamError
from builder.refs import RefError, parse_ref

DEFINITION_KEYS = ("doc", "params", "output", "container", "nodes", "edges")
PARAM_KEYS = ("name", "kind", "default", "doc", "minimum", "maximum", "choices", "first_only")
MAX_DEFINITIONS = 64
MAX_REPEAT = 64
NAME = re.compile(r"^[A-Z][A-Za-z0-9_]{0,47}$")  # it becomes a Python class name

ReadGraph = Callable[[Mapping[str, Any], "Scope", list[str]], tuple[list[Node], list[Edge]]]


@dataclass
class Scope:
    """What a node may be and refer to where it is read: the design's top level, or inside one definition."""

    where: str  # prefix of messages: "" or "definitions.BasicBlock."
    definitions: dict[str, Definition]
    params: dict[str, BlockParam] | None = None  # the enclosing definition's, when inside one
    failed: set[str] = field(default_factory=set)  # definitions that could not be read (their problems are told)

    def block(self, type_name: str) -> BlockSpec | None:
        if type_name in self.definitions:
            return definition_spec(self.definitions[type_name])
        if type_name == PORT and self.params is not None:
            return PORT_SPEC
        if type_name == "Input" and self.params is not None:
            return None  # inside a block the inputs are Ports
        return get_block(type_name) if has_block(type_name) else None

    def check_ref(self, where: str, what: str, value: str, problems: list[str]) -> bool:
        if self.params is None:
            problems.append(f"{where}: {what}={value!r}: a $reference is only allowed inside a block definition")
            return False
        try:
            ref = parse_ref(value)
        except RefError as err:
            problems.append(f"{where}: {what}: {err}")
            return False
        unknown = sorted(ref.names - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            problems.append(f"{where}: {what}={value!r} names {', '.join(unknown)}, which the block does not declare; "
                            f"its parameters: {known}")
            return False
        return True


def read_repeat(where: str, raw: Any, is_instance: bool, problems: list[str]) -> int:
    if raw == 1:
        return 1
    if not is_instance:
        problems.append(f"{where}: only a block made of blocks can be repeated (repeat={raw!r})")
    elif not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_REPEAT:
        problems.append(f"{where}: repeat must be a whole number from 1 to {MAX_REPEAT}, not {raw!r}")
    else:
        return raw
    return 1


def read_trainable(where: str, raw: Any, scope: Scope, problems: list[str]) -> bool:
    """A node's ``trainable`` switch (absent: true, as in files written before it existed)."""
    if raw is True:
        return True
    if raw is not False:
        problems.append(f"{where}: trainable must be true or false, not {raw!r}")
    elif scope.params is not None:
        problems.append(f"{where}: trainable=false freezes a node of the design or a whole block instance; inside "
                        "a block definition it would freeze every instance: set it on the instance instead")
    else:
        return False
    return True


def read_when(where: str, raw: Any, scope: Scope, problems: list[str]) -> str | None:
    if raw is None:
        return None
    if scope.params is None:
        problems.append(f"{where}: when={raw!r} is only allowed inside a block definition")
    elif raw not in scope.params or scope.params[raw].param.kind is not Kind.BOOL:
        flags = ", ".join(n for n, p in scope.params.items() if p.param.kind is Kind.BOOL) or "none"
        problems.append(f"{where}: when={raw!r} must name a true/false parameter of the block; it has: {flags}")
    else:
        return raw
    return None


def read_definitions(raw: Any, used: set[str], problems: list[str], read_graph: ReadGraph,
                     library: Callable[[str], Mapping[str, Definition]] | None) -> dict[str, Definition]:
    """Every definition in the file (plus library blocks the file uses without copying), dependencies first."""
    if not isinstance(raw, Mapping):
        problems.append('"definitions" must be an object mapping block names to definitions')
        return {}
    if len(raw) > MAX_DEFINITIONS:
        problems.append(f'"definitions" holds {len(raw)} blocks; the limit is {MAX_DEFINITIONS}')
        return {}
    names = [n for n in raw if _name_ok(n, problems)]
    order = _dependency_order({n: raw[n] for n in names}, problems)
    definitions: dict[str, Definition] = {}
    for name in order:
        definition = _read_definition(name, raw[name], definitions, problems, read_graph)
        if definition is not None:
            definitions[name] = definition
    if library is not None:
        for type_name in sorted(used - set(definitions) - set(raw)):
            if not has_block(type_name):
                definitions.update({k: v for k, v in library(type_name).items() if k not in definitions})
    return definitions


def _name_ok(name: str, problems: list[str]) -> bool:
    if not NAME.match(name) or keyword.iskeyword(name):
        problems.append(f"definitions: the block name {name!r} must start with a capital letter and hold only "
                        "letters, digits and _ (it becomes a Python class name)")
        return False
    if has_block(name):
        problems.append(f"definitions: {name!r} is already a built-in block type; choose another name")
        return False
    return True


def _dependency_order(raw: Mapping[str, Any], problems: list[str]) -> list[str]:
    """Definitions before the ones that use them; a block that uses itself (directly or not) is refused."""
    shallow = {name: Definition(name, Graph(nodes=tuple(_shallow_nodes(item)))) for name, item in raw.items()}
    order = definition_order(shallow)
    if order and isinstance(order[0], list):
        cycle = order[0]
        path = " → ".join([*cycle, cycle[0]])
        problems.append(f"definitions: a block may not contain itself: {path}")
        return []
    return order  # type: ignore[return-value]


def _shallow_nodes(item: Any) -> list[Node]:
    nodes = item.get("nodes") if isinstance(item, Mapping) else None
    if not isinstance(nodes, list):
        return []
    return [Node(str(n.get("id")), n["type"]) for n in nodes if isinstance(n, Mapping) and isinstance(n.get("type"), str)]


def _read_definition(name: str, item: Any, known: dict[str, Definition], problems: list[str],
                     read_graph: ReadGraph) -> Definition | None:
    where = f"definitions.{name}"
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object with params, nodes and edges")
        return None
    for key in item:
        if key not in DEFINITION_KEYS:
            problems.append(f"{where}: unknown key {key!r}; a definition has {', '.join(DEFINITION_KEYS)}")
    before = len(problems)
    params = _read_block_params(where, item.get("params", []), problems)
    scope = Scope(f"{where}.", known, {p.name: p for p in params})
    nodes, edges = read_graph(item, scope, problems)
    graph = Graph(name, tuple(nodes), tuple(edges))
    output = _read_output(where, item.get("output"), graph, problems)
    container = _read_container(where, item.get("container", "module"), problems)
    doc = item.get("doc", "")
    if not isinstance(doc, str) or len(doc) > 2000:
        problems.append(f"{where}: doc must be text of at most 2000 characters")
        doc = ""
    if len(problems) > before:
        return None
    definition = Definition(name, graph, tuple(params), output, container, doc)
    _check_shape(where, definition, problems)
    return definition


def _read_output(where: str, raw: Any, graph: Graph, problems: list[str]) -> str:
    ids = graph.node_ids
    if raw is None:
        sinks = [n.id for n in graph.sinks() if n.type != PORT]
        if len(sinks) == 1:
            return sinks[0]
        problems.append(f"{where}: say which node's value the block returns (\"output\": one of {', '.join(ids)})")
        return ""
    if raw not in ids:
        problems.append(f"{where}: output {raw!r} is not one of its nodes ({', '.join(ids)})")
        return ""
    return raw


def _read_container(where: str, raw: Any, problems: list[str]) -> Container:
    try:
        return Container(raw)
    except ValueError:
        problems.append(f"{where}: container must be 'module' or 'sequential', not {raw!r}")
        return Container.MODULE


def _check_shape(where: str, definition: Definition, problems: list[str]) -> None:
    """What a definition must be to work as one block: inputs, one output, no loose ends."""
    if not definition.inputs:
        problems.append(f"{where}: a block needs at least one input (a node of type Port)")
    for loose in unused_output(definition):
        problems.append(f"{where}: ‘{loose}’ leads nowhere; connect it towards ‘{definition.output}’ or remove it")
    if definition.container is Container.SEQUENTIAL and not _is_chain(definition):
        problems.append(f"{where}: a 'sequential' block must be a single chain from its one input to its output")


def _is_chain(definition: Definition) -> bool:
    graph = definition.graph
    if len(definition.inputs) != 1 or len(graph.edges) != len(graph.nodes) - 1:
        return False
    outs: dict[str, int] = {}
    ins: dict[str, int] = {}
    for e in graph.edges:
        outs[e.source] = outs.get(e.source, 0) + 1
        ins[e.target] = ins.get(e.target, 0) + 1
    return max(outs.values(), default=0) <= 1 and max(ins.values(), default=0) <= 1


def _read_block_params(where: str, raw: Any, problems: list[str]) -> list[BlockParam]:
    if not isinstance(raw, list):
        problems.append(f"{where}: params must be a list of parameters")
        return []
    params: list[BlockParam] = []
    for index, item in enumerate(raw):
        param = _read_block_param(f"{where}.params[{index}]", item, problems)
        if param is not None:
            if any(p.name == param.name for p in params):
                problems.append(f"{where}: the parameter {param.name!r} is declared twice")
                continue
            params.append(param)
    return params


def _read_block_param(where: str, item: Any, problems: list[str]) -> BlockParam | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object with a name, a kind and a default")
        return None
    unknown = [k for k in item if k not in PARAM_KEYS]
    name, kind = item.get("name"), item.get("kind")
    if unknown:
        problems.append(f"{where}: unknown key {unknown[0]!r}; a parameter has {', '.join(PARAM_KEYS)}")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or len(name) > 40:
        problems.append(f"{where}: the name must be a short identifier (letters, digits, _), not {name!r}")
        return None
    kinds = [k.value for k in Kind]
    if kind not in kinds:
        problems.append(f"{where} ({name}): kind must be one of {', '.join(kinds)}, not {kind!r}")
        return None
    try:
        param = Param(name, Kind(kind), None, doc=str(item.get("doc", ""))[:300], minimum=item.get("minimum"),
                      maximum=item.get("maximum"), choices=tuple(item.get("choices", ())))
        param = replace(param, default=param.check(item.get("default")))
    except (ParamError, TypeError, ValueError) as err:
        problems.append(f"{where} ({name}): default: {err}")
        return None
    return BlockParam(param, bool(item.get("first_only", False)))
