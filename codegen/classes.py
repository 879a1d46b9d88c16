"""One ``nn.Module`` class per block definition, with constructor arguments for what differs between its uses.

A definition is used in several places (ResNet's BasicBlock in four stages, each with its own width and stride),
and its class must be right for every input it may get, not only the ones it was drawn with. Each constructor
argument of each inner layer is written by what it means, never by which other number it happens to equal:

1. the definition's own formula for it (``planes * 4``) or one of its parameters (``planes``);
2. a size the catalog declares is read from the incoming tensor (a convolution's ``in_channels``): traced back
   through the block (``codegen.sizes``) to the setting that made it (``planes``) or, where it comes straight from
   the block's input, a constructor argument (``in_channels``);
3. a literal otherwise — a kernel size of 3 stays 3, even when the input happens to have 3 channels.
A value that depends on the input in a way no single size says (a Linear after a Flatten) becomes a constructor
argument each use passes, so the class is never wrong for another input.

So the class reads like torchvision's — ``BasicBlock(in_channels, planes, stride=1, downsample=False)`` — and
``layer2.0.conv1.weight`` in the generated module is ``layer2.0.conv1.weight`` in torchvision's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.blocks import Use, block_for
from builder.catalog import Call, get_block
from builder.graph import (
    MODULE_PATH,
    PORT,
    VALUE_NAMES,
    Container,
    Definition,
    Graph,
    Node,
    value_names_problem,
)
from builder.ports import PortProblem, assign_ports
from builder.refs import is_ref, parse_ref
from builder.validate import ValidationResult
from codegen.forward import ForwardWriter
from codegen.literals import literal, module_attributes, render_call
from codegen.naming import Namespace, comment_text
from codegen.probes import Layer, Reads, argument_origins
from codegen.scope import ScopeNode, output_comments, outputs_of
from codegen.sizes import Size, SizeTracer, joined, substitute, tidy, token

INDENT = "    "
_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "choice": "str", "ints": "tuple", "int_or_tuple": "int"}


class ClassError(ValueError):
    """A definition whose uses can't share one class; the message says which layer and why."""


@dataclass
class Arg:
    name: str
    type: str
    default: Any = None
    required: bool = False  # derived from the input: no default
    param: str | None = None  # the definition's parameter it is (None for a size derived from the input)
    reads: tuple[str, int] | None = None  # (input port, dim): a size of the block's input (``in_channels``)
    values: list[Any] = field(default_factory=list)  # per use, in the order of ClassPlan.uses


@dataclass
class ClassPlan:
    definition: Definition
    class_name: str
    uses: list[Use]
    args: list[Arg] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)  # inner node id -> attribute (or index) name
    helpers: list[str] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    top: bool = False  # the model class: one use, every value a literal
    tracer: SizeTracer | None = None  # sizes inside the definition, for the classes that use this one

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)


class Expressions:
    """Writes per-use values as one expression in a class body (see the module docstring).

    ``index`` picks the uses the values come from: all of them, or only those where an optional layer exists."""

    def __init__(self, plan: ClassPlan, flat: ValidationResult, index: list[int] | None = None,
                 names: Namespace | None = None, tracer: SizeTracer | None = None) -> None:
        self.plan = plan
        self.flat = flat
        self.index = list(range(len(plan.uses))) if index is None else index
        self.names = names or Namespace({"self", "nn", "torch", "super"})
        self.tracer = tracer  # sizes inside the definition, traced by meaning (None for the model class)
        self.constructed: dict[str, list[dict[str, str]]] = {}  # instance id -> per copy: child arg -> expression

    @property
    def uses(self) -> list[Use]:
        return [self.plan.uses[i] for i in self.index]

    def subset(self, present: list[Use]) -> Expressions:
        index = [k for k, u in enumerate(self.plan.uses) if any(u is p for p in present)]
        narrowed = Expressions(self.plan, self.flat, index, self.names, self.tracer)
        narrowed.constructed = self.constructed
        return narrowed

    def param_arg(self, name: str) -> Arg:
        found = next((a for a in self.plan.args if a.param == name), None)
        if found is None:
            block_param = self.plan.definition.param(name)
            found = Arg(self.names.create(name), _TYPE_NAMES.get(block_param.param.kind.value, "object"),
                        block_param.param.default, values=[u.values[name] for u in self.plan.uses], param=name)
            self.plan.args.append(found)
        return found

    def input_arg(self, port: str, dim: int) -> Arg:
        """The constructor argument for a size of the block's input (``in_channels``), made on first use."""
        found = next((a for a in self.plan.args if a.reads == (port, dim)), None)
        if found is None:
            shapes = [self.flat.nodes[u.port_sources[port]].output.shape for u in self.plan.uses]
            number = self.plan.definition.inputs.index(port)
            name = _derived_name(port if number else "in", dim, len(shapes[0]))
            found = Arg(self.names.create(name), "int", required=True, values=[s[dim] for s in shapes],
                        reads=(port, dim))
            self.plan.args.insert(sum(a.required for a in self.plan.args), found)
        return found

    def write(self, size: Size) -> str:
        """The expression of a traced size, making the constructor arguments it names."""
        for name in size.params:
            self.param_arg(name)
        names = {token(port, dim): self.input_arg(port, dim).name for port, dim in sorted(size.reads)}
        return substitute(size.text, names) if names else tidy(size.text)

    def argument(self, values: list[Any], node: Node, param: str | None, origin: Any, where: str) -> str:
        """One constructor argument of an inner layer, by what it means (module docstring): ``param`` is the layer
        setting it carries (None for a fixed one such as batch_first=True), ``origin`` what it reads from the
        incoming tensor (``codegen.probes``; None when it reads nothing)."""
        written = node.params.get(param) if param is not None else None
        if is_ref(written):
            ref = parse_ref(written)
            if [ref.evaluate(u.values) for u in self.uses] == values:
                for name in ref.names:
                    self.param_arg(name)
                return ref.python()
        if origin is not None:
            size = self.entering(node, origin)
            return self.write(size) if size is not None else self.passed(values, node, param or where)
        if len({repr(v) for v in values}) == 1:
            return literal(values[0])
        return self.passed(values, node, param or where)

    def entering(self, node: Node, origin: Any) -> Size | None:
        """The size an argument reads from the tensor entering ``node`` (per element for a tuple)."""
        if self.tracer is None:
            return None
        if isinstance(origin, tuple):
            parts = [self.entering(node, o) for o in origin]
            return joined([p for p in parts if p is not None]) if all(p is not None for p in parts) else None
        if isinstance(origin, Reads):
            return self.tracer.entering(node, origin.port, origin.dim)
        return None

    def passed(self, values: list[Any], node: Node, what: str) -> str:
        """A value the block can't work out itself (it depends on the input in a way no single size says):
        a constructor argument, so the class stays right for any input and each use passes its own."""
        by_use = dict(zip(self.index, values))
        full = [by_use.get(k, values[0]) for k in range(len(self.plan.uses))]
        arg = Arg(self.names.create(f"{node.id}_{what}"), _TYPE_NAMES.get(_kind_of(values[0]), "object"),
                  required=True, values=full)
        self.plan.args.insert(sum(a.required for a in self.plan.args), arg)
        return arg.name


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "ints" if isinstance(value, (tuple, list)) else "object"


def _derived_name(prefix: str, dim: int, rank: int) -> str:
    if dim == rank - 1:
        return f"{prefix}_features" if rank == 1 or rank == 2 else f"{prefix}_channels"
    if dim == 0:
        return f"{prefix}_channels"
    return f"{prefix}_dim{dim + 1}"


def shape_comment(specs: list[Any]) -> str:
    """``(N, 64, 56, 56)`` when every use agrees; letters where they differ (``(N, C, H, W)``)."""
    specs = [s for s in specs if s is not None]
    if not specs:
        return ""
    rank = len(specs[0].shape)
    letters = {1: "D", 2: "TD", 3: "CHW"}.get(rank, "ABCDEFGH"[:rank])
    dims = []
    for d in range(rank):
        column = {s.shape[d] if len(s.shape) == rank else None for s in specs}
        dims.append(str(column.pop()) if len(column) == 1 else letters[d])
    batch = ["N"] if any(getattr(s, "batched", True) for s in specs) else []  # a buffer's slice has no batch
    return "(" + ", ".join([*batch, *dims]) + ")"


def scope_sources(design: Graph, graph: Graph, node: Node) -> dict[str, list[str]]:
    """Which scope nodes feed ``node``'s ports (``design`` knows the definitions, ``graph`` holds the node)."""
    assigned = assign_ports(block_for(design, node.type), graph.in_edges(node.id))
    if isinstance(assigned, PortProblem):  # validation refused such a design already
        raise ClassError(f"{node.id}: {assigned.message}")
    return {port: [e.source for e in edges] for port, edges in assigned.items()}


def scope_source_ports(design: Graph, graph: Graph, node: Node) -> dict[str, list[str | None]]:
    """Which output of each source feeds ``node``'s ports, parallel to ``scope_sources`` (empty when all main)."""
    edges = graph.in_edges(node.id)
    if all(e.source_port is None for e in edges):
        return {}
    assigned = assign_ports(block_for(design, node.type), edges)
    assert not isinstance(assigned, PortProblem)  # scope_sources has raised already
    return {port: [e.source_port for e in found] for port, found in assigned.items()}


def catalog_node(plan: ClassPlan, node: Node, exprs: Expressions, design: Graph) -> ScopeNode | None:
    """A plain layer inside a definition, written once for all of its uses."""
    present = [u for u in plan.uses if u.prefix + node.id in exprs.flat.nodes]
    if not present:
        return None
    infos = [exprs.flat.nodes[u.prefix + node.id] for u in present]
    block = get_block(node.type)
    emissions = [block.emit(info.params, info.inputs) for info in infos]
    forward = {e.forward for e in emissions}
    if len(forward) > 1:
        raise ClassError(f"{plan.definition.name} › {node.id}: its uses need different code; give them one setting")
    for emission in emissions[:1]:
        plan.helpers.extend(h for h in emission.helpers if h not in plan.helpers)
        plan.imports.update(emission.imports)
    init = None
    tensor = emissions[0].buffer is not None or any(isinstance(a, Call) for a in getattr(emissions[0].init, "args", ()))
    if tensor:  # a Parameter or Buffer: its value is written out, the same in every use
        if any(e.init != emissions[0].init for e in emissions):
            raise ClassError(f"{plan.definition.name} › {node.id}: a {node.type} inside a block needs the same shape "
                             "and values in every use of the block")
        init = render_call(emissions[0].init, nested=emissions[0].buffer is not None)
    elif emissions[0].init is not None:
        if len(present) < len(plan.uses):  # only in some uses: the others' values don't matter
            exprs = exprs.subset(present)
        init = _render_init(emissions[0].init.func, [e.init for e in emissions], infos, node, exprs, block)
    optional = len(present) < len(plan.uses)
    flag = exprs.param_arg(node.when).name if optional and node.when else ""
    sources = scope_sources(design, plan.definition.graph, node)
    if len({(e.unpacked, tuple(e.reads.items())) for e in emissions}) > 1:
        raise ClassError(f"{plan.definition.name} › {node.id}: its uses need different code; give them one setting")
    return ScopeNode(node.id, init, emissions[0].forward, sources, shape_comment([i.output for i in infos]),
                     optional=optional, flag=flag, source_ports=scope_source_ports(design, plan.definition.graph, node),
                     comments=output_comments([i.outputs for i in infos]), buffer=emissions[0].buffer,
                     path=kept_path(node), names=kept_names(node),
                     **outputs_of(block, infos[0].params, emissions[0]))


def kept_names(node: Node) -> tuple[str, ...]:
    """The names the original code gave the node's value (``meta.value_names``; codegen.forward), () if none."""
    names = node.meta.get(VALUE_NAMES)
    return tuple(names) if value_names_problem(names) is None else ()


def kept_path(node: Node) -> str:
    """The module path a node keeps (``meta.module_path``; codegen.paths), '' where its id names it."""
    path = node.meta.get(MODULE_PATH, "")
    return path if isinstance(path, str) else ""


def _render_init(func: str, calls: list[Call], infos: list[Any], node: Node, exprs: Expressions, block: Any) -> str:
    slots = slot_params(block, infos[0])
    origins = argument_origins(Layer(block, dict(infos[0].params), frozenset(node.params), dict(infos[0].inputs)))
    args = []
    for index in range(len(calls[0].args)):
        values = [c.args[index] for c in calls]
        args.append(exprs.argument(values, node, slots.get(index), origins.get(index), f"arg{index + 1}"))
    order = {name: k for k, name in enumerate(block.param_names)}
    keys = sorted(dict.fromkeys(k for c in calls for k in c.kwargs), key=lambda k: order.get(k, len(order)))
    for key in keys:
        values = []
        for call, info in zip(calls, infos):
            if key in call.kwargs:
                values.append(call.kwargs[key])
            elif key in info.params:
                values.append(_plain(info.params[key]))
            else:
                raise ClassError(f"{node.id}: {key} is set in some uses only")
        param = slots.get(key, key if key in block.param_names else None)
        args.append(f"{key}={exprs.argument(values, node, param, origins.get(key), key)}")
    return f"{func}({', '.join(args)})"


_PROBES = {"int": 987_653, "float": 0.987653}


def slot_params(block: Any, info: Any) -> dict[int | str, str]:
    """Which constructor argument carries which layer parameter, found by changing one parameter at a time and
    seeing which argument of the emitted call changes (the catalog's emit functions are plain formatting)."""
    base = block.emit(info.params, info.inputs).init
    found: dict[int | str, str] = {}
    if base is None:
        return found
    for param in block.params:
        value = info.params.get(param.name)
        probe = _probe(param, value)
        if probe is None:
            continue
        try:
            changed = block.emit({**info.params, param.name: probe}, info.inputs).init
        except Exception:  # noqa: BLE001 — a probe an emit function can't format tells nothing, and costs nothing
            continue
        for index, (old, new) in enumerate(zip(base.args, changed.args)):
            if old != new:
                found.setdefault(index, param.name)
        for key in base.kwargs.keys() | changed.kwargs.keys():
            if base.kwargs.get(key) != changed.kwargs.get(key):
                found.setdefault(key, param.name)
    return found


def _probe(param: Any, value: Any) -> Any:
    """A different value of the same kind, to see which argument moves with it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return not value
    if param.kind.value == "choice":
        return next((c for c in param.choices if c != value), None)
    if isinstance(value, (list, tuple)):
        return [_PROBES["int"]] * len(value)
    return _PROBES.get(param.kind.value)


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def class_header(plan: ClassPlan) -> list[str]:
    base = "nn.Sequential" if plan.definition.container is Container.SEQUENTIAL else "nn.Module"
    args = ["self"]
    for arg in plan.args:
        args.append(f"{arg.name}: {arg.type}" if arg.required else f"{arg.name}: {arg.type} = {_default(arg)}")
    lines = [f"class {plan.class_name}({base}):"]
    doc = comment_text(plan.definition.doc, 300)
    if doc:
        lines += [f'{INDENT}"""{doc}"""', ""]
    lines.append(f"{INDENT}def __init__({', '.join(args)}) -> None:")
    return lines


def _default(arg: Arg) -> str:
    return literal(arg.default)


def write_sequential(plan: ClassPlan, nodes: list[ScopeNode]) -> list[str]:
    for node in nodes:
        if node.init is None or node.forward != "{out} = {mod}({x})" or node.optional:
            raise ClassError(f"{plan.definition.name}: a 'sequential' block may hold only layers applied one after "
                             f"another; ‘{node.id}’ is not one")
    plan.attributes = {n.id: str(k) for k, n in enumerate(nodes)}
    body = [f"{INDENT * 3}{n.init},  # {n.id}: {n.comment}" for n in nodes]
    return [*class_header(plan), f"{INDENT * 2}super().__init__(", *body, f"{INDENT * 2})", "", ""]


def write_module(plan: ClassPlan, nodes: list[ScopeNode], consumers: dict[str, list[str]],
                 output: str) -> list[str]:
    attrs = Namespace(set(module_attributes()))
    local_names = Namespace({"self", "nn", "torch", "layer"} | {a.name for a in plan.args})
    inputs = {port: local_names.create(port, "x") for port in plan.definition.inputs}
    body = ForwardWriter(nodes, consumers, inputs, attrs, local_names).write()
    plan.attributes = body.attributes
    signature = ", ".join(f"{name}: torch.Tensor" for name in inputs.values())
    return [
        *class_header(plan),
        f"{INDENT * 2}super().__init__()",
        *[f"{INDENT * 2}{line}" for line in body.init],
        "",
        f"{INDENT}def forward(self, {signature}) -> torch.Tensor:",
        *[f"{INDENT * 2}{line}" for line in body.forward],
        f"{INDENT * 2}return {body.value(output)}",
        "",
        "",
    ]


def port_nodes(definition: Definition) -> set[str]:
    return {n.id for n in definition.graph.nodes if n.type == PORT}
