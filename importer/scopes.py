"""The user's module tree over a flat import: which design nodes each submodule made, and its local graph.

A flat import has one node per layer call or tensor operation. Each node was made inside some submodule's
forward() (fx's module stack says which); a layer node belongs where its attribute lives (``layer2.0.conv1`` in
``layer2.0``). A submodule becomes a block when it is one: tensors come in, exactly one value leaves. One that
isn't (two results, no tensor input) is *inlined*: its nodes join its parent's, named ``sub_attr``, and keep their
module path (``sub.attr``) as ``Item.path``, so the generated code still holds them there (``codegen.paths``).

Each block-shaped submodule gets a ``Use``: its local graph, whose items are its own design nodes, the blocks of
its child submodules, and a ``Port`` per tensor that comes in. Item ids are the attribute names (``conv1``,
``downsample``, ``0``), so the generated module's state-dict keys are the original's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from builder.graph import PORT, VALUE_NAMES, Graph
from importer.translate import Context, Tensor
from importer.value_names import assigned_names

LocalEdge = tuple[str, str, str | None, str | None]  # (source item, target item, port, source output)


@dataclass
class Scope:
    path: str  # module path, '' for the model
    name: str  # attribute name in the parent
    module: nn.Module | None
    members: list[str] = field(default_factory=list)  # flat node ids made directly here
    children: dict[str, Scope] = field(default_factory=dict)
    inline: bool = False
    nodes: set[str] = field(default_factory=set)  # every flat node id inside, children's too

    @property
    def depth(self) -> int:
        return self.path.count(".") + 1 if self.path else 0


@dataclass
class Item:
    """A node of a local graph: a Port, a design node (``flat``), or the block of a child submodule (``child``)."""

    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    flat: str | None = None
    child: Use | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # The module path of its layer or block below the scope's module, where that is not the id: a layer of an
    # inlined container (``layers.0.0`` for the id ``layers_0_0``) or a name that is no identifier (``block1-0``).
    path: str = ""


@dataclass
class Use:
    """One submodule as a block: its local graph, and how it is fed and read in its parent."""

    scope: Scope
    key: str  # which uses may share a definition: the module's class, or one key for plain containers
    name: str  # the definition's name if this use founds one
    items: list[Item]
    edges: set[LocalEdge]
    output: str  # item id
    output_flat: str  # flat id of the value leaving it
    ports: dict[str, str]  # flat id feeding it from outside -> port id
    sequential: bool  # the module is an nn.Sequential (or a ModuleList-like chain): layers numbered 0, 1, …

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def structure(self) -> dict[str, Item]:
        return {i.id: i for i in self.items}


def scope_tree(flat: Graph, ctx: Context) -> Scope:
    """The tree of submodules that made the flat design's nodes."""
    root_module = ctx.traced.module
    root = Scope("", "", root_module)
    for node in flat.nodes:
        scope = root
        path = home_of(ctx, node.id)
        parts = path.split(".") if path else []
        for k, part in enumerate(parts):
            if part not in scope.children:
                sub = ".".join(parts[: k + 1])
                scope.children[part] = Scope(sub, part, _submodule(root_module, sub))
            scope = scope.children[part]
        scope.members.append(node.id)
    _collect(root)
    return root


def home_of(ctx: Context, node_id: str) -> str:
    """A layer node lives beside its attribute; anything else where the forward() that made it runs."""
    caller = ctx.scopes.get(node_id, "")
    origin = ctx.origins.get(node_id)
    if origin and (not caller or origin.startswith(caller + ".")):
        return origin.rpartition(".")[0]
    return caller


def _submodule(root: nn.Module, path: str) -> nn.Module | None:
    try:
        return root.get_submodule(path)
    except AttributeError:
        return None


def _collect(scope: Scope) -> set[str]:
    scope.nodes = set(scope.members)
    for child in scope.children.values():
        scope.nodes |= _collect(child)
    return scope.nodes


def mark_inline(scope: Scope, flat: Graph) -> None:
    """Mark every submodule that can't be one block (post-order: children decide first)."""
    for child in scope.children.values():
        mark_inline(child, flat)
        inputs, outputs = boundary(child, flat)
        # A block's inputs and output carry a node's main output only (docs/outputs.md): a piece of a chunk that
        # crosses the submodule's border keeps it inline.
        crossing = any(e.source_port is not None and (e.source in child.nodes) != (e.target in child.nodes)
                       for e in flat.edges)
        child.inline = not inputs or len(outputs) != 1 or crossing


def boundary(scope: Scope, flat: Graph) -> tuple[list[str], list[str]]:
    """The flat ids feeding the scope from outside, and those inside whose values leave it (or the model)."""
    inputs: list[str] = []
    outputs: list[str] = []
    feeds_out: set[str] = set()
    for edge in flat.edges:
        if edge.target in scope.nodes and edge.source not in scope.nodes and edge.source not in inputs:
            inputs.append(edge.source)
        if edge.source in scope.nodes and edge.target not in scope.nodes:
            feeds_out.add(edge.source)
    sinks = {n.id for n in flat.sinks()}
    for node in flat.nodes:
        if node.id in scope.nodes and (node.id in feeds_out or node.id in sinks):
            outputs.append(node.id)
    return inputs, outputs


def contents(scope: Scope, prefix: str = "") -> tuple[list[tuple[str, str]], list[tuple[Scope, str]]]:
    """(flat id, id prefix) of the nodes that are the scope's own, and (child, prefix) of its child blocks.

    An inlined child's nodes join with its name as a prefix (``layers_0_``); their module paths stay the
    original's (``Item.path``)."""
    members = [(m, prefix) for m in scope.members]
    children: list[tuple[Scope, str]] = []
    for name, child in scope.children.items():
        if child.inline:
            sub_members, sub_children = contents(child, f"{prefix}{name}_")
            members += sub_members
            children += sub_children
        else:
            children.append((child, prefix))
    return members, children


def module_path(item_id: str, path: str) -> str:
    """The ``Item.path`` of an item with module path ``path`` below its scope: empty where the id says it."""
    return "" if path == item_id and item_id.isidentifier() else path


def _below(scope_path: str, path: str) -> str:
    """``path`` relative to ``scope_path`` ('' when it is not inside)."""
    if not scope_path:
        return path
    return path[len(scope_path) + 1:] if path.startswith(scope_path + ".") else ""


@dataclass
class Builder:
    """Makes the Use of each block-shaped scope (children first: a parent's items point at their uses)."""

    flat: Graph
    ctx: Context
    index: dict[str, int] = field(default_factory=dict)  # flat id -> position in the flat design
    uses: dict[str, Use] = field(default_factory=dict)  # scope path -> its use

    def __post_init__(self) -> None:
        self.index = {n.id: k for k, n in enumerate(self.flat.nodes)}
        self.nodes = {n.id: n for n in self.flat.nodes}

    def build(self, scope: Scope) -> Use:
        members, children = contents(scope)
        child_uses = [(self.build(child), prefix) for child, prefix in children]
        inputs, outputs = boundary(scope, self.flat) if scope.path else ([], [])
        ports = self._ports(scope, inputs)
        taken = set(ports.values())
        reserved = set(scope.module._modules) if scope.module is not None else set()
        items: list[tuple[int, Item]] = []
        item_of: dict[str, str] = {}
        for flat_id, prefix in sorted(members, key=lambda m: self.index[m[0]]):
            node = self.nodes[flat_id]
            wanted = prefix + self._local_name(scope, flat_id, prefix)
            own = self.ctx.origins.get(flat_id) == _join(scope.path, wanted)  # a layer may take its attribute name
            item_id = _unique(wanted, taken, reserved - {wanted} if own else reserved)
            item_of[flat_id] = item_id
            # A name made unique (a layer called twice: relu, relu_1) is no module path of its own; an ONNX
            # file's input is its own origin, but no module.
            path = module_path(item_id, _below(scope.path, self.ctx.origins.get(flat_id, ""))) \
                if item_id == wanted and node.type != "Input" else ""
            items.append((self.index[flat_id], Item(item_id, node.type, dict(node.params), flat=flat_id,
                                                    meta=dict(node.meta), path=path)))
        for use, prefix in child_uses:
            wanted = prefix + use.scope.name
            item_id = _unique(wanted, taken, set())
            for flat_id in use.scope.nodes:
                item_of[flat_id] = item_id
            path = module_path(item_id, _below(scope.path, use.scope.path)) if item_id == wanted else ""
            items.append((self.index[use.output_flat], Item(item_id, "", child=use, path=path,
                                                            meta=self._named(use.scope.path))))
        ordered = [Item(p, PORT) for p in ports.values()] + [i for _, i in sorted(items, key=lambda t: t[0])]
        edges = self._edges(scope, item_of, ports, child_uses)
        output_flat = outputs[0] if outputs else ""
        use = Use(scope, _key(scope), _name(scope), ordered, edges, item_of.get(output_flat, ""), output_flat, ports,
                  _is_container(scope.module))
        self.uses[scope.path] = use
        return use

    def _named(self, path: str) -> dict[str, Any]:
        """A block's value names: the one name its call's line assigns (``x = self.layer1(x)``), if it does."""
        names = assigned_names(self.ctx.traced.call_lines.get(path, ""))
        return {VALUE_NAMES: [names[0]]} if len(names) == 1 and names[0] else {}

    def _local_name(self, scope: Scope, flat_id: str, prefix: str) -> str:
        """A layer is named by its attribute; an operation by what fx called it, without fx's counter."""
        origin = self.ctx.origins.get(flat_id)
        if origin:
            return origin.rpartition(".")[2]
        hint = self.ctx.hints.get(flat_id, flat_id).rpartition(".")[2]
        return re.sub(r"_\d+$", "", hint) or "op"

    def _ports(self, scope: Scope, inputs: list[str]) -> dict[str, str]:
        """A port per incoming tensor, named after forward()'s argument that carried it (else x, x2, …)."""
        named: dict[str, str] = {}
        for arg, fx_node in self.ctx.traced.calls.get(scope.path, []):
            value = self.ctx.env.get(fx_node)
            if isinstance(value, Tensor) and value.node in inputs and value.node not in named and arg.isidentifier():
                named[value.node] = arg
        if len(inputs) == 1:
            return {inputs[0]: "x"}  # one input reads as x everywhere (and an nn.Sequential needs that)
        ports: dict[str, str] = {}
        taken: set[str] = set()
        for k, source in enumerate(inputs, start=1):
            ports[source] = _unique(named.get(source, "x" if k == 1 else f"x{k}"), taken, set())
        return ports

    def _edges(self, scope: Scope, item_of: dict[str, str], ports: dict[str, str],
               child_uses: list[tuple[Use, str]]) -> set[LocalEdge]:
        child_of = {item_of[u.output_flat]: u for u, _ in child_uses}
        edges: set[LocalEdge] = set()
        for edge in self.flat.edges:
            if edge.target not in scope.nodes:
                continue
            source = item_of.get(edge.source) if edge.source in scope.nodes else ports.get(edge.source)
            target = item_of[edge.target]
            if source is None or source == target:
                continue
            child = child_of.get(target)
            port = child.ports.get(edge.source) if child is not None else edge.port
            edges.add((source, target, port, edge.source_port))
        return edges


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


def _unique(wanted: str, taken: set[str], reserved: set[str]) -> str:
    name, k = wanted, 1
    while name in taken or name in reserved:
        name = f"{wanted}_{k}"
        k += 1
    taken.add(name)
    return name


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _is_container(module: nn.Module | None) -> bool:
    return module is None or isinstance(module, _CONTAINERS)


def _key(scope: Scope) -> str:
    """Uses with one key may share a definition: a class of the user's, or any plain container."""
    module = scope.module
    if module is None or type(module) in _CONTAINERS:
        return "container"
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _name(scope: Scope) -> str:
    """The definition's name: the user's class, or for a plain container its attribute (``Layer1``)."""
    if scope.module is not None and type(scope.module) not in _CONTAINERS:
        return type(scope.module).__name__
    words = [p for p in scope.path.split(".") if not p.isdigit()]
    last = words[-1] if words else "block"
    name = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", last) if w) or "Block"
    if not scope.path.split(".")[-1].isdigit():
        return name
    # One numbered item of a container: 'blocks.0' → Block, 'layers.0' → Layer, 'layer1.0' → Layer1Block.
    return name[:-1] if name.endswith("s") and len(name) > 3 else f"{name}Block"
