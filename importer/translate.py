"""Turn a recorded torch.fx trace into a design: one node per layer call or tensor operation.

Values flowing through the trace are of three kinds: ``Tensor`` (made by a design node from the inputs), ``Static``
(sizes, constants, buffers, masks: anything that does not depend on the inputs' values, kept as recorded) and
``Pending`` (a recurrent or attention call whose result is chosen by indexing, ``out, (h, c) = self.lstm(x)``).
Handlers in ``modules`` and ``functions`` map one call each; what none maps becomes an Unsupported node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from builder.catalog.unsupported import describe
from builder.graph import VALUE_NAMES, Edge, Graph, Node
from builder.project import MAX_ID_LENGTH
from importer.report import Problem, unique_id
from importer.trace import Traced
from importer.value_names import names_per_item, value_names


@dataclass(frozen=True)
class Tensor:
    node: str  # the design node whose output this is
    shape: tuple[int, ...]  # as recorded, batch first (the whole shape where batched is False)
    dtype: torch.dtype
    source_port: str | None = None  # which output of the node, for blocks with several (a chunk's "1")
    batched: bool = True  # False: a Parameter, a Buffer, positions: no batch dimension, ops broadcast it


@dataclass(frozen=True)
class Static:
    value: Any
    origin: str | None = None  # the parameter or buffer it was read from (get_attr), if any
    placeholder: str | None = None  # the forward() argument it is, for values the design can't take as inputs
    node: fx.Node | None = None  # the trace node that made it: a Parameter read, or an op on one, made a node later


@dataclass
class Pending:
    """A call whose outputs are picked by indexing; ``pick`` turns an index path into a value (once per path)."""

    pick: Callable[[tuple[Any, ...]], Any]
    path: tuple[Any, ...] = ()
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def index(self, item: Any) -> Pending:
        return Pending(self.pick, (*self.path, item), self.cache)

    def resolve(self, path: tuple[Any, ...] | None = None) -> Any:
        path = self.path if path is None else path
        if path not in self.cache:
            self.cache[path] = self.pick(path)
        return self.cache[path]


@dataclass
class Context:
    traced: Traced
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # node id -> module path (weights)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)  # node id -> {its key: the original's key}
    called: dict[str, str] = field(default_factory=dict)  # module path -> where it was first called
    ids: set[str] = field(default_factory=set)
    memo: dict[Any, Any] = field(default_factory=dict)  # values made once per trace, e.g. an LSTM's last step
    fx_node: fx.Node | None = None  # the trace node being translated
    # For the module hierarchy (importer.hierarchy): the submodule whose forward() made each design node,
    # the name it was made under, and what each trace node turned into.
    scopes: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)
    env: dict[fx.Node, Any] = field(default_factory=dict)
    unbatched: set[str] = field(default_factory=set)  # nodes whose output has no batch dimension (a Parameter)
    item_names: dict[fx.Node, str] = field(default_factory=dict)  # one name per item a line unpacks (value_names)

    # --- reading the trace -------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return self.fx_node.meta.get("where", ("", ""))[0] if self.fx_node is not None else ""

    @property
    def code(self) -> str:
        return self.fx_node.meta.get("where", ("", ""))[1] if self.fx_node is not None else ""

    def recorded(self) -> Any:
        return self.traced.values.get(self.fx_node)

    def out(self, node_id: str) -> Tensor | Static:
        """The value of the node just added, shaped as recorded."""
        value = self.recorded()
        if isinstance(value, torch.Tensor):
            return Tensor(node_id, tuple(value.shape), value.dtype, batched=node_id not in self.unbatched)
        return Static(value)

    # --- writing the design ------------------------------------------------------------------------------

    def new_id(self, text: str) -> str:
        return unique_id(text, self.ids, MAX_ID_LENGTH - 4)

    def add(self, name: str, type_name: str, params: dict[str, Any], inputs: list[tuple[Tensor, str | None]],
            module: str | None = None) -> str:
        """Add a design node fed by ``inputs`` [(value, port)]; ``module`` is the path whose weights it holds."""
        node_id = self.new_id(name)
        meta: dict[str, Any] = {"source": self.where} if self.where else {}
        names = value_names(self.code, self.recorded()) or (
            [self.item_names[self.fx_node]] if self.fx_node in self.item_names else [])
        if names:
            meta[VALUE_NAMES] = names
        self.nodes.append(Node(node_id, type_name, params, meta=meta))
        self.scopes[node_id] = caller_scope(self.fx_node)
        self.hints[node_id] = name
        if inputs and not any(value.batched for value, _ in inputs):
            self.unbatched.add(node_id)  # made from Parameters or positions only: still no batch dimension
        for value, port in inputs:
            self.edges.append(Edge(value.node, node_id, port, value.source_port))
        if module is not None:
            self.origins[node_id] = module
        return node_id

    def block(self, type_name: str, params: dict[str, Any], x: Tensor, module: str | None = None,
              name: str | None = None) -> Tensor | Static:
        """The common case: one block on one input, its value as recorded."""
        return self.out(self.add(name or module or self.fx_node.name, type_name, params, [(x, None)], module))

    def unsupported(self, op: str, note: str = "", inputs: list[Tensor] | None = None) -> Tensor | Static:
        """A visible placeholder for what has no block, and the problem that names it."""
        params = {"op": op[:200], "where": self.where, "note": note[:480]}
        tensors = [v for v in (inputs or []) if isinstance(v, Tensor)][:3]
        node_id = self.add(self.fx_node.name, "Unsupported", params, list(zip(tensors, ("x", "y", "z"))))
        self.problems.append(Problem(op, self.where, describe(params)))
        recorded = self.recorded()
        if isinstance(recorded, (tuple, list)):  # out, h = <unsupported>(x): each part comes from the placeholder
            return Pending(lambda path: _part(node_id, recorded, path))
        return self.out(node_id)


def _part(node_id: str, recorded: Any, path: tuple[Any, ...]) -> Tensor | Static:
    value = recorded
    for index in path:
        value = value[index]
    return Tensor(node_id, tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else Static(value)


def tensors_in(values: Any) -> list[Tensor]:
    """Every Tensor in a nest of args (lists, tuples, dicts)."""
    found: list[Tensor] = []
    fx.node.map_aggregate(values, lambda v: found.append(v) if isinstance(v, Tensor) else None)
    return found


def resolve_pending(values: Any) -> Any:
    """Indexing results chosen so far (``h[-1]``) become the values they stand for."""
    return fx.node.map_aggregate(values, lambda v: v.resolve() if isinstance(v, Pending) else v)


def unwrap(value: Any) -> Any:
    """Static values as plain Python (nested); Tensors and Pending stay as they are."""
    return fx.node.map_aggregate(value, lambda v: v.value if isinstance(v, Static) else v)


def translate(traced: Traced, handlers: Callable[[Context, fx.Node, tuple, dict], Any]) -> tuple[Graph, Context]:
    """Walk the trace in order; ``handlers`` maps one call_module / call_function / call_method node."""
    ctx = Context(traced, item_names=names_per_item(traced.graph.graph.nodes, traced.values))
    env = ctx.env
    for node in traced.graph.graph.nodes:
        ctx.fx_node = node
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "placeholder":
            env[node] = _placeholder(ctx, node)
        elif node.op == "get_attr":
            env[node] = Static(ctx.recorded(), origin=str(node.target), node=node)
        elif node.op == "output":
            _outputs(ctx, args[0])
        else:
            env[node] = handlers(ctx, node, args, kwargs)
    name = type(traced.module).__name__
    return Graph(name=name, nodes=tuple(ctx.nodes), edges=tuple(ctx.edges)), ctx


def caller_scope(node: fx.Node | None) -> str:
    """The module path whose forward() holds ``node`` ('' for the model's own): the innermost entry of fx's
    module stack, not counting the layer a call_module node calls."""
    stack = list(node.meta.get("nn_module_stack", {}).values()) if node is not None else []
    if stack and node.op == "call_module":
        stack = stack[:-1]
    return str(stack[-1][0]) if stack else ""


def _placeholder(ctx: Context, node: fx.Node) -> Tensor | Static:
    value = ctx.recorded()
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool or value.dim() == 0:
        return Static(value, placeholder=node.name)
    dtype = "long" if not value.is_floating_point() else "float"
    node_id = ctx.add(node.name, "Input", {"shape": list(value.shape[1:]), "dtype": dtype}, [])
    return Tensor(node_id, tuple(value.shape), value.dtype)


def _outputs(ctx: Context, result: Any) -> None:
    """Every returned tensor becomes a sink of the design, in return order (the generated forward returns sinks in
    node order, so when that order differs, or a value also feeds other blocks, each leaves through an Identity)."""
    values = list(result) if isinstance(result, (tuple, list)) else [result]
    tensors: list[Tensor] = []
    for k, value in enumerate(values):
        if isinstance(value, Pending):
            value = value.resolve((0,) if not value.path else None)
        if isinstance(value, Tensor):
            tensors.append(value)
        elif value is None or (isinstance(value, Static) and value.value is None):  # nanoGPT's (logits, loss) with no targets
            ctx.memo.setdefault("notes", []).append(f"output {k + 1} of forward() is None here and is left out: "
                                                    "the design returns the tensors")
        else:
            ctx.problems.append(Problem("return value", ctx.where, f"output {k + 1} of forward() is not a tensor "
                                        "computed from the input; a design returns tensors only"))
    sources = {e.source for e in ctx.edges}
    sinks = [n.id for n in ctx.nodes if n.id not in sources and n.type != "Input"]
    if sinks != [t.node for t in tensors]:
        for k, value in enumerate(tensors, start=1):
            ctx.add(f"output_{k}" if len(tensors) > 1 else "output", "Identity", {}, [(value, None)])


def _is_input(ctx: Context, node_id: str) -> bool:
    return any(n.id == node_id and n.type == "Input" for n in ctx.nodes)


def module_path_of(ctx: Context, node: fx.Node) -> str:
    return str(node.target)


def submodule(ctx: Context, node: fx.Node) -> nn.Module:
    return ctx.traced.graph.get_submodule(str(node.target))
