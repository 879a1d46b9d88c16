"""What the canvas shows when a block is open: the definition's inside, with the shapes of one copy of it.

Pure functions (no Streamlit), so they are tested alone. The open path is a tuple of ``Step``s from the design down:
``(Step("layer2", "BasicBlock"),)`` shows BasicBlock's inside as used by ``layer2``'s first copy. The whole design
is validated once (``builder.validate``); the open copy's results are read from its flat validation at the copy's
prefix (``layer2.0.``) and renamed to the inside's ids, so the canvas, the inspector and every edit work on the
inside exactly as on a design.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from builder.block_edits import inside
from builder.blocks import SEP, Use
from builder.edits import EditError
from builder.graph import PORT, Definition, Graph, Node
from builder.refs import RefError, parse_ref
from builder.validate import Issue, NodeInfo, ValidationResult


@dataclass(frozen=True)
class Step:
    """One level of the open path: the instance opened, the definition it uses, and which copy's shapes to show."""

    instance: str  # node id in the enclosing graph (the design, or the definition one level up)
    definition: str
    copy: int = 0  # a repeated instance: its copies see different shapes (ResNet's strided first block)


@dataclass
class BlockView:
    graph: Graph  # the open definition's inside (it knows the design's definitions), or the design itself
    result: ValidationResult  # results keyed by the inside's node ids
    steps: tuple[Step, ...] = ()
    prefix: str = ""  # flat-id prefix of the copy shown, e.g. "layer2.0."
    off: dict[str, str] = field(default_factory=dict)  # inner node -> why this copy leaves it out (``when``)

    def flat_id(self, node_id: str) -> str:
        """The node's path in the design and in the generated module (``layer2.0.conv1``)."""
        return self.prefix + node_id


def valid_steps(design: Graph, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The longest start of ``steps`` that still exists (an undo may have removed a block that was open)."""
    kept: list[Step] = []
    scope = design
    for step in steps:
        node = _node(scope, step.instance)
        if node is None or node.type != step.definition or node.type not in design.definitions:
            break
        kept.append(replace(step, copy=min(step.copy, max(1, node.repeat) - 1)))
        scope = design.definitions[node.type].graph
    return tuple(kept)


def _node(graph: Graph, node_id: str) -> Node | None:
    return next((n for n in graph.nodes if n.id == node_id), None)


def scope_of(design: Graph, steps: tuple[Step, ...]) -> Graph:
    """The graph the canvas edits: the design, or the inside of the innermost open definition."""
    return inside(design, steps[-1].definition) if steps else design


def flat_prefix(design: Graph, steps: tuple[Step, ...]) -> str:
    """The flat-id prefix of the copy shown: ``layer2.0.`` for a repeated instance, ``encoder.`` for a single one."""
    prefix, scope = "", design
    for step in steps:
        node = _node(scope, step.instance)
        repeated = node is not None and node.repeat > 1
        prefix += f"{step.instance}{SEP}{step.copy}{SEP}" if repeated else f"{step.instance}{SEP}"
        scope = design.definitions[step.definition].graph
    return prefix


def crumbs(design: Graph, steps: tuple[Step, ...]) -> list[str]:
    """The breadcrumb's words: ``["resnet18", "layer2", "BasicBlock"]``; a repeated copy as ``layer2[1]``."""
    words = [design.name or "model"]
    scope = design
    for step in steps:
        node = _node(scope, step.instance)
        repeated = node is not None and node.repeat > 1
        words += [f"{step.instance}[{step.copy}]" if repeated and step.copy else step.instance, step.definition]
        scope = design.definitions[step.definition].graph
    return words


def steps_to(design: Graph, flat_id: str) -> tuple[tuple[Step, ...], str] | None:
    """The open path that shows the layer ``flat_id`` (``layer2.0.downsample.conv``), and its id there."""
    parts = flat_id.split(SEP)
    steps: list[Step] = []
    scope = design
    k = 0
    while k < len(parts) - 1:
        node = _node(scope, parts[k])
        if node is None or node.type not in design.definitions:
            return None
        copy = 0
        if node.repeat > 1:
            if not parts[k + 1].isdigit():
                return None
            copy, k = int(parts[k + 1]), k + 1
        steps.append(Step(node.id, node.type, copy))
        scope = design.definitions[node.type].graph
        k += 1
    if k != len(parts) - 1 or _node(scope, parts[k]) is None:
        return None
    return tuple(steps), parts[k]


# ---- the open copy's results, in the inside's terms --------------------------------------------------------


def block_view(design: Graph, result: ValidationResult, steps: tuple[Step, ...]) -> BlockView:
    """The view of ``steps`` (valid ones: see ``valid_steps``); the design itself when nothing is open."""
    if not steps:
        return BlockView(design, result)
    graph = scope_of(design, steps)
    prefix = flat_prefix(design, steps)
    expansion, flat = result.expansion, result.leaves
    use = next((u for u in expansion.uses if u.prefix == prefix), None) if expansion else None
    reader = _Reader(graph, prefix, use, flat, result)
    infos = {n.id: reader.info(n) for n in graph.nodes}
    issues = [i for info in infos.values() for i in info.issues]
    order = [n.id for n in graph.nodes if infos[n.id].output is not None]
    view_result = ValidationResult(graph, infos, issues, order, flat=flat, expansion=expansion)
    return BlockView(graph, view_result, steps, prefix, reader.off)


class _Reader:
    """Reads one copy's flat results back onto the inside's nodes."""

    def __init__(self, graph: Graph, prefix: str, use: Use | None, flat: ValidationResult,
                 design_result: ValidationResult) -> None:
        self.graph, self.prefix, self.use, self.flat = graph, prefix, use, flat
        self.values = dict(use.values) if use else {}
        self.from_port = {source: port for port, source in use.port_sources.items()} if use else {}
        self.problems = _problems(design_result, prefix)
        self.uses = design_result.expansion.uses if design_result.expansion else []
        self.off: dict[str, str] = {}
        self.infos: dict[str, NodeInfo] = {}

    def local(self, flat_id: str | None) -> str | None:
        """A flat id in the inside's terms: its own node, the nested block holding it, or the port it enters by."""
        if flat_id is None:
            return None
        if flat_id.startswith(self.prefix):
            return flat_id[len(self.prefix):].split(SEP)[0]
        return self.from_port.get(flat_id, flat_id)

    def info(self, node: Node) -> NodeInfo:
        if node.id in self.infos:
            return self.infos[node.id]
        if node.type == PORT:
            source = self.use.port_sources.get(node.id) if self.use else None
            found = self.flat.nodes.get(source) if source else None
            info = NodeInfo(node.id, PORT, output=found.output if found else None)
        elif node.when is not None and self.use is not None and not self.values.get(node.when):
            info = self._off(node)
        elif node.type in self.graph.definitions:
            info = self._nested(node)
        else:
            info = self._plain(node)
        self.infos[node.id] = info
        return info

    def _off(self, node: Node) -> NodeInfo:
        """A ``when`` layer this copy leaves out: its value is its input's (ResNet's shortcut without downsample)."""
        self.off[node.id] = f"off here: {node.when} is false"
        edges = self.graph.in_edges(node.id)
        upstream = self.info(self.graph.node(edges[0].source)) if len(edges) == 1 else None
        return NodeInfo(node.id, node.type, output=upstream.output if upstream else None)

    def _plain(self, node: Node) -> NodeInfo:
        found = self.flat.nodes.get(self.prefix + node.id)
        if found is None:  # the expansion could not place it (a bad reference to a block parameter)
            return NodeInfo(node.id, node.type, issues=[Issue(node.id, m, code="ports") for m in
                                                        self.problems.get(node.id, [])])
        info = replace(found, id=node.id, sources=self._sources(found.sources),
                       issues=[self._issue(node.id, i) for i in found.issues],
                       blocked_by=self.local(found.blocked_by), inputs=dict(found.inputs), params=dict(found.params))
        if found.blocked_by and found.output is not None:  # checked on a shape presumed after a faulty layer
            if found.blocked_by.startswith(self.prefix):  # of this copy: it waits for that layer's fix
                return replace(info, output=None, param_count=0, macs=0)
            info.blocked_by = None  # of an earlier copy, which shows its own error: this copy keeps its shapes
        return info

    def _nested(self, node: Node) -> NodeInfo:
        """A block inside the open block: its copies' layers folded onto it, as the design folds its instances."""
        head = self.prefix + node.id + SEP
        members = [info for flat_id, info in self.flat.nodes.items() if flat_id.startswith(head)]
        counted = [i for i in members if i.output is not None and not self._waits(i)]
        uses = [u for u in self.uses if u.instance == self.prefix + node.id]
        output = self.flat.nodes.get(uses[-1].output) if uses else None
        info = NodeInfo(node.id, node.type, output=output.output if output and not self._waits(output) else None,
                        params=dict(uses[0].values) if uses else {}, partial=len(counted) < len(members),
                        param_count=sum(i.param_count for i in counted), macs=sum(i.macs for i in counted))
        if uses:
            info.sources = {port: [self.local(source) or source] for port, source in uses[0].port_sources.items()}
            info.inputs = {port: self._output_of(source) for port, source in uses[0].port_sources.items()}
        for member in members:
            for issue in member.issues:
                label = member.id[len(self.prefix):].replace(SEP, " › ")
                info.issues.append(replace(self._issue(node.id, issue), message=f"{label}: {issue.message}"))
        info.issues += [Issue(node.id, m, code="ports") for m in self.problems.get(node.id, [])]
        return info

    def _waits(self, info: NodeInfo) -> bool:
        """Checked on a presumed shape after a faulty layer of the copy shown (see ``_plain``)."""
        return bool(info.blocked_by) and info.output is not None and info.blocked_by.startswith(self.prefix)

    def _output_of(self, flat_id: str) -> object:
        found = self.flat.nodes.get(flat_id)
        return found.output if found else None

    def _sources(self, sources: dict[str, list[str]]) -> dict[str, list[str]]:
        return {port: [self.local(s) or s for s in found] for port, found in sources.items()}

    def _issue(self, node_id: str, issue: Issue) -> Issue:
        """A flat issue on the inside's node; ``inner`` keeps its flat id, which ``fix_inside`` needs."""
        edge = issue.edge and (self.local(issue.edge[0]) or "", self.local(issue.edge[1]) or "")
        return replace(issue, node=node_id, edge=edge, inner=issue.inner or issue.node)


def _problems(result: ValidationResult, prefix: str) -> dict[str, list[str]]:
    """Expansion problems of the open copy (``layer2[0] › conv1: …``), by the inside's node id."""
    expansion = result.expansion
    if expansion is None or not prefix:
        return {}
    parts = prefix.rstrip(SEP).split(SEP)
    label_parts: list[str] = []
    k = 0
    while k < len(parts):
        if k + 1 < len(parts) and parts[k + 1].isdigit():
            label_parts.append(f"{parts[k]}[{parts[k + 1]}]")
            k += 2
        else:
            label_parts.append(parts[k])
            k += 1
    head = " › ".join(label_parts) + " › "
    found: dict[str, list[str]] = {}
    for messages in expansion.problems.values():
        for message in messages:
            if message.startswith(head):
                rest = message[len(head):]
                found.setdefault(rest.split(" › ")[0].split(":")[0], []).append(message)
    return found


def inside_rows(design: Graph, result: ValidationResult, steps: tuple[Step, ...], node_id: str) -> list[str]:
    """What is inside the instance ``node_id`` of the view ``steps``, one short Markdown line per layer
    (its first copy's output shape and parameters): the inspector's list."""
    scope = scope_of(design, steps)
    node = _node(scope, node_id)
    if node is None or node.type not in design.definitions:
        return []
    view = block_view(design, result, (*steps, Step(node_id, node.type)))
    rows = []
    for inner in view.graph.nodes:
        if inner.type == PORT:
            continue
        info = view.result.nodes[inner.id]
        shape = "×".join(map(str, info.output.shape)) if info.output is not None else "?"
        when = f" (when {inner.when})" if inner.when else ""
        size = f" · {info.param_count:,} params" if info.param_count else ""
        rows.append(f"`{inner.id}` {inner.type}{when} → `{shape}`{size}")
    return rows


def set_param_ref(graph: Graph, node_id: str, name: str, text: str, definition: Definition) -> Graph:
    """Inside ``definition``: make a layer's parameter follow the block's parameters (``"$planes * 4"``).

    ``builder.edits.set_param`` checks typed values only; a reference is checked here against the block's own
    parameter names (its value is checked per copy by validation)."""
    node = graph.node(node_id) if graph.has_node(node_id) else None
    if node is None:
        raise EditError(f"there is no node ‘{node_id}’")
    try:
        ref = parse_ref(text.strip())
    except RefError as err:
        raise EditError(str(err)) from None
    known = {p.name for p in definition.params}
    unknown = sorted(ref.names - known)
    if unknown:
        raise EditError(f"{definition.name} has no parameter {', '.join(map(repr, unknown))}; its parameters: "
                        f"{', '.join(sorted(known)) or 'none'}")
    return graph.replace_node(node.with_params(**{name: text.strip()}))
