"""Group and ungroup: selected nodes become a block used once where they were, and an instance becomes plain
layers again.

Group then ungroup gives the design back: the same node ids, parameters, positions and edges (each node's inputs
in the same order), so the generated module has the same state-dict keys. Ungroup renames an inner node only where
its id is taken, and says so (``Ungrouped.renamed``). Like ``builder.edits`` these are pure: each returns a new
design.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from builder.catalog import has_block
from builder.edits import EditError, new_node_id
from builder.graph import MODULE_PATH, PORT, Definition, Edge, Graph, Node
from builder.layered import STEP_Y
from builder.project_defs import NAME as DEFINITION_NAME
from builder.refs import resolve_params


def block_name(text: str) -> str:
    """The block (class) name for what the user typed: kept exactly when it already is one (``ResMLP``,
    ``My_Block``); otherwise its words joined with their first letters capitalised (``my block`` → ``MyBlock``)."""
    text = text.strip()
    if DEFINITION_NAME.match(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text)
    name = "".join(w[:1].upper() + w[1:] for w in words)[:48]
    if name and not name[0].isalpha():
        name = ("Block" + name)[:48]
    return name


def group(graph: Graph, node_ids: Iterable[str], name: str) -> tuple[Graph, str]:
    """Turn the selected nodes into a new block definition used once where they were.

    Its inputs are the tensors entering the selection (one Port per outside node feeding it); its output is the one
    selected node whose value leaves the selection. ``name`` is made a valid block name by ``block_name`` (the
    instance's type says what it became). Inside, the nodes keep their ids, settings and positions; the instance
    sits at their centre, so ``ungroup`` puts them back where they were."""
    wanted = set(node_ids)
    selected = [n for n in graph.nodes if n.id in wanted]
    typed, name = name, block_name(name)
    _check_group(graph, selected, name, typed)
    chosen = {n.id for n in selected}
    _check_ports_crossing(graph, chosen)
    output = _group_output(graph, selected, chosen)
    sources = list(dict.fromkeys(e.source for e in graph.edges if e.target in chosen and e.source not in chosen))
    ports = {source: _port_name(k, source, chosen) for k, source in enumerate(sources)}
    inner_nodes = [Node(p, PORT) for p in ports.values()] + selected
    # In the edges' own order: a node's inputs are read in edge order (Concat), so each keeps its order.
    inner_edges = [replace(e, source=ports.get(e.source, e.source)) for e in graph.edges if e.target in chosen]
    definition = Definition(name, Graph(name, tuple(inner_nodes), tuple(inner_edges)), output=output)
    instance = new_node_id(graph, name)
    kept = [n for n in graph.nodes if n.id not in chosen]
    position = min(k for k, n in enumerate(graph.nodes) if n.id in chosen)
    kept.insert(position, Node(instance, name, pos=_centre(selected)))
    edges = _outer_edges(graph, chosen, instance, ports)
    return replace(graph, nodes=tuple(kept), edges=tuple(edges)).with_definition(definition), instance


def _check_ports_crossing(graph: Graph, chosen: set[str]) -> None:
    """A block's inputs and its output carry a node's main output only (``builder.blocks``): an edge that reads
    another output (an LSTM's h) may run inside the selection, not across its border."""
    for e in graph.edges:
        if e.source_port is not None and (e.source in chosen) != (e.target in chosen):
            raise EditError(f"the edge ‘{e.source}’ → ‘{e.target}’ reads the output '{e.source_port}' of ‘{e.source}’ "
                            "and crosses the selection's border; a block's inputs and output carry a node's main "
                            "output only: select both ends, or neither")


def _group_output(graph: Graph, selected: list[Node], chosen: set[str]) -> str:
    """The one selected node whose value is used outside the selection or is an output of the model."""
    leaving = [e.source for e in graph.edges if e.source in chosen and e.target not in chosen]
    used = {e.source for e in graph.edges}
    model_outputs = [n.id for n in selected if n.id not in used]
    outputs = list(dict.fromkeys(leaving + model_outputs))
    if len(outputs) > 1:
        raise EditError(f"a block has one output, but the selection sends out {_names(outputs)}: "
                        "select so that one node's value leaves it")
    return outputs[0] if outputs else selected[-1].id


def _outer_edges(graph: Graph, chosen: set[str], instance: str, ports: dict[str, str]) -> list[Edge]:
    """The design's edges with the selection replaced by ``instance``, each edge where it was (a node's inputs
    keep their order); the edges into the selection become one per outside source, where the first of them was."""
    edges: list[Edge] = []
    fed: set[str] = set()
    for e in graph.edges:
        if e.source in chosen and e.target in chosen:
            continue
        if e.target in chosen:
            if e.source not in fed:
                fed.add(e.source)
                edges.append(Edge(e.source, instance, ports[e.source] if len(ports) > 1 else None))
        elif e.source in chosen:
            edges.append(Edge(instance, e.target, e.port))
        else:
            edges.append(e)
    return edges


def _check_group(graph: Graph, selected: list[Node], name: str, typed: str) -> None:
    if not selected:
        raise EditError("select the nodes to group first")
    if not DEFINITION_NAME.match(name):
        raise EditError(f"{typed.strip()!r} can't name a block: it needs letters (it becomes a Python class name)")
    if keyword.iskeyword(name):
        raise EditError(f"{name!r} is a Python keyword and can't name a block; choose another name")
    if has_block(name) or name == PORT:
        raise EditError(f"{name!r} is already a built-in block type; choose another name")
    if name in graph.definitions:
        raise EditError(f"this design already has a block named {name!r}")
    inputs = [n.id for n in selected if n.type == "Input"]
    if inputs:
        raise EditError(f"{_names(inputs)} is where data enters the model; leave Inputs out of a block")


def _port_name(index: int, source: str, taken: set[str]) -> str:
    name = "x" if index == 0 else f"input{index + 1}"
    while name in taken:
        name += "_"
    return name


def _centre(nodes: Iterable[Node]) -> tuple[float, float] | None:
    spots = [n.pos for n in nodes if n.pos is not None]
    if not spots:
        return None
    return (sum(p[0] for p in spots) / len(spots), sum(p[1] for p in spots) / len(spots))


def _names(ids: list[str]) -> str:
    return " and ".join(f"‘{i}’" for i in ids)


@dataclass(frozen=True)
class Ungrouped:
    """What ``ungroup_report`` did: the design, and the layers that could not have their usual name."""

    graph: Graph
    renamed: dict[str, str] = field(default_factory=dict)  # usual id -> the id given, where the usual one was taken

    def note(self) -> str:
        """The renames in words, for the UI ("" when none)."""
        return " ".join(f"‘{usual}’ was renamed ‘{given}’ because another node is already called ‘{usual}’."
                        for usual, given in self.renamed.items())


def ungroup(graph: Graph, node_id: str) -> Graph:
    """Replace an instance by its definition's nodes (one copy per repeat), parameters written out."""
    return ungroup_report(graph, node_id).graph


def ungroup_report(graph: Graph, node_id: str) -> Ungrouped:
    """Replace an instance by its definition's nodes (one copy per repeat), parameters written out; also says
    which layers were renamed.

    A single instance's layers keep their ids (``conv1``) where free; the copies of a repeat ×N are named by their
    path in the generated module (``layer1.0.conv1`` → ``layer1_0_conv1``). A taken id gets the first free
    ``_2``, ``_3``… Pinned layers land where they sit relative to the instance. Blocks inside stay blocks; the
    definition stays in the design for its other instances (and the palette)."""
    node = graph.node(node_id)
    if node.type not in graph.definitions:
        raise EditError(f"‘{node_id}’ is a {node.type}, not a block made of blocks")
    definition = graph.definitions[node.type]
    instance_values = {**definition.defaults(), **node.params}
    copy = _Copy(set(graph.node_ids) - {node_id}, _offset(node, definition))
    feed = _entering(graph, node_id, definition)
    output = ""
    for k in range(node.repeat):
        values = instance_values if k == 0 else {**instance_values, **{p.name: p.param.default for p in
                                                                       definition.params if p.first_only}}
        prefix = f"{node_id}_{k}_" if node.repeat > 1 else ""
        output = copy.add(definition, values, prefix, feed, shift=k * _height(definition))
        if definition.inputs:
            feed = {**feed, definition.inputs[0]: output}
    at = graph.node_ids.index(node_id)
    nodes = [*graph.nodes[:at], *copy.nodes, *graph.nodes[at + 1:]]
    return Ungrouped(replace(graph, nodes=tuple(nodes), edges=tuple(_edges_back(graph, node_id, output, copy.edges))),
                     copy.renamed)


def _entering(graph: Graph, node_id: str, definition: Definition) -> dict[str, str]:
    """Port of the definition -> the outside node feeding it."""
    if len(definition.inputs) > 1 and any(e.port is None for e in graph.in_edges(node_id)):
        return _ports_in_order(graph, node_id, definition)
    return {e.port or (definition.inputs[0] if definition.inputs else ""): e.source for e in graph.in_edges(node_id)}


def _edges_back(graph: Graph, node_id: str, output: str, inner: list[Edge]) -> list[Edge]:
    """The design's edges with the instance replaced: what it fed now reads ``output``, in the same place (a
    node's inputs keep their order); the inner edges go where the instance's first input edge was."""
    edges: list[Edge] = []
    placed = False
    for e in graph.edges:
        if e.target == node_id:
            if not placed:
                edges += inner
                placed = True
        elif e.source == node_id:
            edges.append(Edge(output, e.target, e.port))
        else:
            edges.append(e)
    return edges if placed else edges + inner


def _offset(node: Node, definition: Definition) -> tuple[float, float] | None:
    """How far the inside's pinned layers move to sit around the instance as they sat around its centre (group
    put the instance there); None when the instance itself is not pinned, so they follow the layout as it did."""
    centre = _centre(n for n in definition.graph.nodes if n.type != PORT)
    if node.pos is None or centre is None:
        return None
    return (node.pos[0] - centre[0], node.pos[1] - centre[1])


def _height(definition: Definition) -> float:
    """How far down each further copy of a repeat goes, so pinned copies don't sit on each other."""
    ys = [n.pos[1] for n in definition.graph.nodes if n.pos is not None and n.type != PORT]
    return max(ys) - min(ys) + STEP_Y if ys else 0.0


class _Copy:
    """Copies of a definition's nodes written into the design, with the ids they got."""

    def __init__(self, taken: set[str], offset: tuple[float, float] | None) -> None:
        self.taken = taken
        self.offset = offset
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.renamed: dict[str, str] = {}

    def add(self, definition: Definition, values: dict[str, Any], prefix: str, feed: dict[str, str],
            shift: float = 0.0) -> str:
        """One copy of ``definition``'s nodes; returns the id holding its output."""
        rename: dict[str, str] = dict(feed)  # inner id -> outer id (ports map to what feeds them)
        for inner in definition.graph.nodes:
            if inner.type == PORT:
                continue
            if inner.when is not None and not values.get(inner.when):
                source = definition.graph.in_edges(inner.id)[0].source
                rename[inner.id] = rename.get(source, source)
                continue
            rename[inner.id] = self._id(prefix + inner.id)
            self.nodes.append(Node(rename[inner.id], inner.type, resolve_params(inner.params, values),
                                   pos=self._pos(inner.pos, shift), meta=_meta(inner, prefix), repeat=inner.repeat))
        order = {n.id: k for k, n in enumerate(definition.graph.nodes)}
        for edge in sorted(definition.graph.edges, key=lambda e: order[e.target]):
            target = definition.graph.node(edge.target)
            if target.when is not None and not values.get(target.when):
                continue  # bypassed: its consumers read its input directly
            self.edges.append(replace(edge, source=rename[edge.source], target=rename[edge.target]))
        return rename[definition.output]

    def _id(self, usual: str) -> str:
        given = _free(usual, self.taken)
        if given != usual:
            self.renamed[usual] = given
        return given

    def _pos(self, pos: tuple[float, float] | None, shift: float) -> tuple[float, float] | None:
        if pos is None or self.offset is None:
            return None
        # Adding 0.0 keeps a coordinate exactly, so group → ungroup gives back the very positions.
        return (pos[0] + self.offset[0], pos[1] + self.offset[1] + shift)


def _meta(inner: Node, prefix: str) -> Mapping[str, Any]:
    """An inner node's meta; a copy of a repeat, named by its path (``layer1_0_conv1``), keeps no module path of
    the block's (every copy would claim the same one)."""
    if not prefix or MODULE_PATH not in inner.meta:
        return inner.meta
    return {k: v for k, v in inner.meta.items() if k != MODULE_PATH}


def _ports_in_order(graph: Graph, node_id: str, definition: Definition) -> dict[str, str]:
    free = [p for p in definition.inputs]
    found = {}
    for edge in graph.in_edges(node_id):
        port = edge.port if edge.port in free else free[0]
        free.remove(port)
        found[port] = edge.source
    return found


def _free(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    taken.add(candidate)
    return candidate


